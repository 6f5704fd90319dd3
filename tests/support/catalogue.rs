//! The malformed-input catalogue of the reliability suite: documents generated here (from a few corpus files and
//! hand-built headers), each with what the service must do with it: refuse it at the API with a status and an
//! error code, or accept it and have the worker fail it once with a given error kind (or, for the odd but valid
//! ones, succeed). `rythmiq-cli`'s chaos test submits every entry to a running `rythmiq serve`.

use std::path::Path;

/// What the service must do with a catalogue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Refused by the API: this status and `error.code`; nothing is queued.
    Refused { status: u16, code: &'static str },
    /// Accepted (202), then dead-lettered by the worker after one attempt with this error kind.
    Fails { kind: &'static str },
    /// Accepted and processed: odd, but a document.
    Succeeds,
}

/// One catalogue entry: the request the test sends and what must come of it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: &'static str,
    /// The `Content-Type` header, or `None` for none at all.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub expect: Expect,
}

/// The API limit the catalogue's oversized entry is built against: the server under test must be configured with
/// `max_body_bytes` = this.
pub const MAX_BODY_BYTES: u64 = 4 << 20;

fn entry(name: &'static str, content_type: Option<&str>, body: Vec<u8>, expect: Expect) -> Entry {
    Entry { name, content_type: content_type.map(str::to_string), body, expect }
}

fn refused(status: u16, code: &'static str) -> Expect {
    Expect::Refused { status, code }
}

fn fails(kind: &'static str) -> Expect {
    Expect::Fails { kind }
}

/// The whole catalogue, generated; `corpus` is the corpus folder (a JPEG, a TIFF and a PDF are cut from it).
pub fn catalogue(corpus: &Path) -> Vec<Entry> {
    let read = |name: &str| std::fs::read(corpus.join(name)).unwrap_or_else(|e| panic!("corpus file {name}: {e}"));
    let tiff = read("tess_phototest.tif");
    let jpeg = read("sroie_323.jpg");
    let scanned_pdf = read("multipage/pages_scanned.pdf");
    let good_png = png(64, 32, 1, &vec![255; 64 * 32]);
    let octet = Some("application/octet-stream");
    // Every accepted entry is a distinct document: the same bytes twice would be one job (idempotency).
    vec![
        // ---- refused at the API: no queue slot spent ----
        entry("empty body", octet, Vec::new(), refused(400, "empty_body")),
        entry(
            "plain text",
            octet,
            b"hello world, this is not a document\n".to_vec(),
            refused(422, "unsupported_format"),
        ),
        entry("zip archive", octet, [b"PK\x03\x04".as_slice(), &[0; 60]].concat(), refused(422, "unsupported_format")),
        entry("gzip stream", octet, [&[0x1f, 0x8b, 8, 0][..], &[0; 60]].concat(), refused(422, "unsupported_format")),
        entry(
            "html page",
            Some("image/png"),
            b"<!doctype html><html></html>".to_vec(),
            refused(422, "unsupported_format"),
        ),
        entry(
            "elf binary",
            octet,
            [b"\x7fELF\x02\x01\x01".as_slice(), &[0; 57]].concat(),
            refused(422, "unsupported_format"),
        ),
        entry("wav audio", octet, b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0".to_vec(), refused(422, "unsupported_format")),
        entry("BM text", octet, b"BMW is a car brand, not a bitmap.".to_vec(), refused(422, "unsupported_format")),
        entry("P7 not pnm", octet, b"P7 WIDTH 4\nHEIGHT 4\n".to_vec(), refused(422, "unsupported_format")),
        entry("pdf header late", octet, b"junk first %PDF-1.7\n".to_vec(), refused(422, "unsupported_format")),
        entry("zero bytes", octet, vec![0; 1 << 20], refused(422, "unsupported_format")),
        entry(
            "json as image",
            Some("image/jpeg"),
            b"{\"not\": \"an image\"}".to_vec(),
            refused(422, "unsupported_format"),
        ),
        entry("text content type", Some("text/plain"), good_png.clone(), refused(415, "unsupported_media_type")),
        entry(
            "form urlencoded",
            Some("application/x-www-form-urlencoded"),
            b"a=b".to_vec(),
            refused(415, "unsupported_media_type"),
        ),
        entry(
            "multipart without boundary",
            Some("multipart/form-data"),
            good_png.clone(),
            refused(415, "unsupported_media_type"),
        ),
        entry(
            "multipart boundary too long",
            Some(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
            good_png.clone(),
            refused(415, "unsupported_media_type"),
        ),
        entry(
            "multipart no delimiter",
            Some("multipart/form-data; boundary=XyZ"),
            b"no parts here".to_vec(),
            refused(400, "invalid_request"),
        ),
        entry(
            "multipart no file part",
            Some("multipart/form-data; boundary=XyZ"),
            form("XyZ", "name=\"note\"", b"hello"),
            refused(400, "invalid_request"),
        ),
        entry(
            "multipart unterminated",
            Some("multipart/form-data; boundary=XyZ"),
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PNG".to_vec(),
            refused(400, "invalid_request"),
        ),
        entry(
            "multipart empty file",
            Some("multipart/form-data; boundary=XyZ"),
            form("XyZ", "name=\"file\"; filename=\"a.png\"", b""),
            refused(400, "empty_body"),
        ),
        entry(
            "multipart text file",
            Some("multipart/form-data; boundary=XyZ"),
            form("XyZ", "name=\"file\"; filename=\"a.txt\"", b"just text"),
            refused(422, "unsupported_format"),
        ),
        entry("json garbage", Some("application/json"), b"{not json".to_vec(), refused(400, "invalid_request")),
        entry(
            "json unknown field",
            Some("application/json"),
            b"{\"url\": \"http://x\"}".to_vec(),
            refused(400, "invalid_request"),
        ),
        entry(
            "json foreign bucket",
            Some("application/json"),
            b"{\"s3_uri\": \"s3://someone-else/a.png\"}".to_vec(),
            refused(422, "bucket_not_allowed"),
        ),
        entry(
            "json not s3",
            Some("application/json"),
            b"{\"s3_uri\": \"file:///etc/passwd\"}".to_vec(),
            refused(422, "invalid_s3_uri"),
        ),
        entry(
            "oversized",
            Some("image/png"),
            [&good_png[..8], &vec![0u8; MAX_BODY_BYTES as usize + 1][..]].concat(),
            refused(413, "too_large"),
        ),
        // ---- accepted, then failed once by the worker with a permanent kind ----
        entry("png signature only", Some("image/png"), b"\x89PNG\r\n\x1a\n".to_vec(), fails("corrupt_image")),
        entry("png cut in IHDR", Some("image/png"), good_png[..20].to_vec(), fails("corrupt_image")),
        entry("png without IEND", Some("image/png"), good_png[..good_png.len() - 12].to_vec(), fails("corrupt_image")),
        entry("png bad crc", Some("image/png"), flip_byte(&good_png, 29), fails("corrupt_image")),
        entry("png bomb header", Some("image/png"), png_header_only(100_000, 100_000), fails("image_too_large")),
        entry("png 1x1", Some("image/png"), png(1, 1, 1, &[0]), fails("degenerate_image")),
        entry("png 1x20000", Some("image/png"), png(1, 20000, 1, &vec![255; 20000]), fails("degenerate_image")),
        entry("png 3x20000", Some("image/png"), png(3, 20000, 1, &vec![255; 60000]), fails("degenerate_image")),
        entry("png 20000x2", Some("image/png"), png(20000, 2, 1, &vec![255; 40000]), fails("degenerate_image")),
        entry("jpeg soi only", Some("image/jpeg"), vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], fails("corrupt_image")),
        entry("jpeg cut in half", Some("image/jpeg"), jpeg[..jpeg.len() / 2].to_vec(), fails("corrupt_image")),
        entry("jpeg cut in header", Some("image/jpeg"), jpeg[..200.min(jpeg.len())].to_vec(), fails("corrupt_image")),
        entry("tiff header only", Some("image/tiff"), b"II*\0\x08\0\0\0".to_vec(), fails("corrupt_image")),
        entry("tiff zero pages", Some("image/tiff"), b"II*\0\0\0\0\0\0\0\0\0".to_vec(), fails("corrupt_image")),
        entry("tiff ifd past end", Some("image/tiff"), b"MM\0*\x7f\xff\xff\xf0".to_vec(), fails("corrupt_image")),
        entry("tiff cut in header", Some("image/tiff"), tiff[..64].to_vec(), fails("corrupt_image")),
        entry("tiff bomb header", Some("image/tiff"), tiff_header_only(100_000, 100_000), fails("image_too_large")),
        entry("gif bomb", Some("image/gif"), gif_header_only(30000, 30000), fails("image_too_large")),
        entry("gif no image", Some("image/gif"), b"GIF89a\x10\0\x10\0\0\0\0\x3B".to_vec(), fails("corrupt_image")),
        entry("gif 1x1", Some("image/gif"), gif_header_only(1, 1), fails("degenerate_image")),
        entry(
            "webp header only",
            Some("image/webp"),
            b"RIFF\x24\0\0\0WEBPVP8 \x10\0\0\0".to_vec(),
            fails("corrupt_image"),
        ),
        entry("jp2 signature only", Some("image/jp2"), b"\0\0\0\x0cjP  \r\n\x87\n".to_vec(), fails("corrupt_image")),
        entry(
            "pnm header only",
            Some("image/x-portable-graymap"),
            b"P5\n640 480\n255\n".to_vec(),
            fails("corrupt_image"),
        ),
        entry("pdf encrypted", Some("application/pdf"), encrypted_pdf(), fails("encrypted_document")),
        entry(
            "pdf garbage",
            Some("application/pdf"),
            [b"%PDF-1.7\n".to_vec(), (0..=255u8).cycle().take(5000).collect()].concat(),
            fails("corrupt_document"),
        ),
        entry(
            "pdf truncated",
            Some("application/pdf"),
            scanned_pdf[..scanned_pdf.len() / 3].to_vec(),
            fails("corrupt_document"),
        ),
        entry("pdf header only", Some("application/pdf"), b"%PDF-1.4\n".to_vec(), fails("corrupt_document")),
        entry("pdf 3000 pages", Some("application/pdf"), many_pages_pdf(3000), fails("too_many_pages")),
        entry("pdf page count lie", Some("application/pdf"), count_lie_pdf(), fails("corrupt_document")),
        entry(
            "pdf huge mediabox",
            Some("application/pdf"),
            one_page_pdf("0 0 14400 14400", b"", "", &[]),
            fails("image_too_large"),
        ),
        entry("pdf deep nesting", Some("application/pdf"), deep_pdf(100_000), fails("corrupt_document")),
        entry(
            "multipart 1x1 png",
            Some("multipart/form-data; boundary=XyZ"),
            form("XyZ", "name=\"file\"; filename=\"dot.png\"", &png(1, 1, 1, &[9])),
            fails("degenerate_image"),
        ),
        entry("no content type, 1x1", None, png(1, 1, 1, &[7]), fails("degenerate_image")),
        // ---- odd but valid ----
        entry("pdf empty page", Some("application/pdf"), one_page_pdf(LETTER, b"", "", &[]), Expect::Succeeds),
        entry("blank png", Some("image/png"), good_png.clone(), Expect::Succeeds),
        entry("tiff trailing garbage", Some("image/tiff"), [tiff.clone(), vec![0xAB; 4096]].concat(), Expect::Succeeds),
    ]
}

/// A multipart form with one part.
fn form(boundary: &str, disposition: &str, content: &[u8]) -> Vec<u8> {
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n").into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

fn flip_byte(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0xFF;
    out
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

/// A PNG of 8-bit grey (`channels` = 1) or RGBA (`channels` = 4) pixels, zlib "stored" (uncompressed) blocks.
pub fn png(width: u32, height: u32, channels: u8, pixels: &[u8]) -> Vec<u8> {
    let row = width as usize * channels as usize;
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for y in 0..height as usize {
        raw.push(0); // filter: none
        raw.extend(&pixels[y * row..(y + 1) * row]);
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        z.extend((block.len() as u16).to_le_bytes());
        z.extend((!(block.len() as u16)).to_le_bytes());
        z.extend(*block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + byte as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend(((b << 16) | a).to_be_bytes());
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, if channels == 4 { 6 } else { 0 }, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &z);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A PNG whose IHDR declares `width` x `height` and which holds no pixel data at all.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A GIF whose screen and one image declare `width` x `height`, with one empty LZW block (the probe's bomb).
pub fn gif_header_only(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
    gif
}

/// A little-endian TIFF whose one directory declares `width` x `height` (8-bit grey, one strip) and whose strip
/// holds 16 bytes.
pub fn tiff_header_only(width: u32, height: u32) -> Vec<u8> {
    // Tag, type (3 SHORT, 4 LONG), count, value.
    let entries: [(u16, u16, u32, u32); 9] = [
        (256, 4, 1, width),              // ImageWidth
        (257, 4, 1, height),             // ImageLength
        (258, 3, 1, 8),                  // BitsPerSample
        (259, 3, 1, 1),                  // Compression: none
        (262, 3, 1, 1),                  // Photometric: black is zero
        (273, 4, 1, 8 + 2 + 9 * 12 + 4), // StripOffsets: right after the directory
        (277, 3, 1, 1),                  // SamplesPerPixel
        (278, 4, 1, height),             // RowsPerStrip
        (279, 4, 1, 16),                 // StripByteCounts
    ];
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(count.to_le_bytes());
        if kind == 3 {
            out.extend((value as u16).to_le_bytes());
            out.extend([0, 0]);
        } else {
            out.extend(value.to_le_bytes());
        }
    }
    out.extend(0u32.to_le_bytes()); // no next directory
    out.extend([0x80; 16]);
    out
}

/// A PDF from object bodies (object n is `objs[n - 1]`), with a correct xref table.
pub fn pdf(objs: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut data = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objs.iter().enumerate() {
        offsets.push(data.len());
        data.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        data.extend(body);
        data.extend(b"\nendobj\n");
    }
    let xref = data.len();
    data.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        data.extend(format!("{off:010} 00000 n \n").as_bytes());
    }
    data.extend(
        format!("trailer\n<< /Size {} /Root 1 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n", objs.len() + 1)
            .as_bytes(),
    );
    data
}

/// US Letter in points.
pub const LETTER: &str = "0 0 612 792";

pub fn one_page_pdf(media_box: &str, catalog_extra: &[u8], trailer_extra: &str, extra_objs: &[Vec<u8>]) -> Vec<u8> {
    let mut catalog = b"<< /Type /Catalog /Pages 2 0 R ".to_vec();
    catalog.extend(catalog_extra);
    catalog.extend(b" >>");
    let mut objs = vec![
        catalog,
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>".to_vec(),
        b"<< /Length 0 >>\nstream\n\nendstream".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [{media_box}] /Contents 3 0 R >>").into_bytes(),
    ];
    objs.extend(extra_objs.iter().cloned());
    pdf(&objs, trailer_extra)
}

pub fn many_pages_pdf(n: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", i + 4)).collect();
    let mut objs = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes(),
        b"<< /Length 0 >>\nstream\n\nendstream".to_vec(),
    ];
    objs.extend((0..n).map(|_| b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>".to_vec()));
    pdf(&objs, "")
}

pub fn encrypted_pdf() -> Vec<u8> {
    let encrypt = format!("<< /Filter /Standard /V 1 /R 2 /O <{}> /U <{}> /P -4 >>", "11".repeat(32), "22".repeat(32));
    one_page_pdf(
        LETTER,
        b"",
        "/Encrypt 5 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>] ",
        &[encrypt.into_bytes()],
    )
}

/// A page tree claiming two billion pages over one real page.
pub fn count_lie_pdf() -> Vec<u8> {
    let objs = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [4 0 R] /Count 2000000000 >>".to_vec(),
        b"<< /Length 0 >>\nstream\n\nendstream".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>".to_vec(),
    ];
    pdf(&objs, "")
}

/// A catalog holding `depth` nested arrays.
pub fn deep_pdf(depth: usize) -> Vec<u8> {
    one_page_pdf(LETTER, &[b"/Deep ".to_vec(), b"[".repeat(depth), b"]".repeat(depth)].concat(), "", &[])
}
