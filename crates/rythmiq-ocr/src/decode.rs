//! Document decoding: a document is a list of pages. Images go through Leptonica (the decoder Tesseract itself
//! uses): JPEG, PNG, TIFF (any compression, 1-bit included, every page of a multi-page file), BMP, PNM, GIF, WebP,
//! JPEG 2000. PDFs go through poppler in a sandboxed child process (`pdf.rs`). Every page's header is read first
//! so that a decompression bomb is refused before a single pixel is allocated (GIF's from our own parse of its
//! header: Leptonica decodes a GIF fully to read its size).

use std::os::raw::c_int;
use std::sync::Once;

use rythmiq_imaging::GrayImage;
use rythmiq_types::{ErrorKind, PipelineError};

use crate::sys;

/// The shortest side, in pixels, an image may have: below it no line of text fits (1x1, 1x20000 and 3x20000
/// images can never succeed, so they fail at once with `degenerate_image` instead of reaching the OCR engine).
pub const MIN_SIDE_PX: u32 = 8;

/// Limits checked before decoding.
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    /// Width x height above this is refused from the header alone (per page; for a PDF, at `pdf_dpi`).
    pub max_image_pixels: u64,
    /// Documents with more pages than this are refused from their structure (`too_many_pages`).
    pub max_pages: u32,
    /// Resolution PDF pages are rendered at for OCR, and the unit of a PDF page's boxes.
    pub pdf_dpi: u32,
    /// Sandbox of the PDF tools.
    pub pdf_tool: crate::sandbox::ToolLimits,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            // 40 MP holds an A4 page at 600 dpi (35 MP) and the corpus' largest scan (4961 x 7016 = 34.8 MP).
            max_image_pixels: 40_000_000,
            max_pages: 200,
            pdf_dpi: 300,
            pdf_tool: crate::sandbox::ToolLimits {
                max_memory_bytes: 1 << 30,
                max_cpu_secs: 60,
                max_wall_secs: 120,
                max_output_bytes: 64 << 20,
            },
        }
    }
}

/// A decoded page.
#[derive(Debug)]
pub struct Decoded {
    pub image: GrayImage,
    /// Horizontal resolution from the header, when it states one.
    pub dpi: Option<u32>,
    /// Leptonica's format name: `jpeg`, `png`, `tiff`, ...
    pub format: &'static str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the document is empty (0 bytes)")]
    Empty,
    #[error("unsupported format: {0}")]
    Unsupported(String),
    #[error("corrupt or truncated {format} image")]
    Corrupt { format: &'static str },
    #[error("image is {width}x{height} = {pixels} pixels, above the limit of {limit}")]
    TooLarge { width: u32, height: u32, pixels: u64, limit: u64 },
    #[error("image is {width}x{height}: a side under {MIN_SIDE_PX} pixels cannot hold text")]
    Degenerate { width: u32, height: u32 },
    #[error("the document has {n_pages} pages, above the limit of {limit}")]
    TooManyPages { n_pages: u64, limit: u32 },
    #[error("the PDF is encrypted or password-protected")]
    Encrypted,
    #[error("corrupt PDF: {0}")]
    CorruptDocument(String),
    #[error("the PDF tools failed to run: {0}")]
    Tool(String),
}

impl From<DecodeError> for PipelineError {
    fn from(err: DecodeError) -> Self {
        let kind = match err {
            DecodeError::Empty => ErrorKind::EmptyInput,
            DecodeError::Unsupported(_) => ErrorKind::UnsupportedFormat,
            DecodeError::Corrupt { .. } => ErrorKind::CorruptImage,
            DecodeError::TooLarge { .. } => ErrorKind::ImageTooLarge,
            DecodeError::Degenerate { .. } => ErrorKind::DegenerateImage,
            DecodeError::TooManyPages { .. } => ErrorKind::TooManyPages,
            DecodeError::Encrypted => ErrorKind::EncryptedDocument,
            DecodeError::CorruptDocument(_) => ErrorKind::CorruptDocument,
            // A missing or broken poppler install is ours to fix, not the submitter's: retryable.
            DecodeError::Tool(_) => ErrorKind::Internal,
        };
        PipelineError::new(kind, err.to_string())
    }
}

fn quiet_leptonica() {
    static ONCE: Once = Once::new();
    // SAFETY: sets a process-global severity level; Leptonica reads it without synchronisation, so we set it
    // exactly once before any decode.
    ONCE.call_once(|| unsafe {
        sys::setMsgSeverity(sys::L_SEVERITY_NONE);
    });
}

pub(crate) fn format_name(format: c_int) -> &'static str {
    match format {
        1 => "bmp",
        2 => "jpeg",
        3 => "png",
        4..=10 | 17 => "tiff",
        11 => "pnm",
        13 => "gif",
        14 => "jp2",
        15 => "webp",
        _ => "unknown",
    }
}

/// Decodes the first page of `bytes` into a grey image, refusing empty, unknown, damaged, degenerate and
/// oversized input with a typed error. PDFs are refused here: [`open`] reads them.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<Decoded, DecodeError> {
    let format = sniff_image(bytes)?;
    decode_image_page(bytes, format, 0, limits)
}

/// Leptonica's format code of `bytes`, refusing empty input, PDFs and unknown formats.
pub(crate) fn sniff_image(bytes: &[u8]) -> Result<c_int, DecodeError> {
    quiet_leptonica();
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.starts_with(b"%PDF") {
        return Err(DecodeError::Unsupported("PDF: open it as a document".to_string()));
    }
    // findFileFormatBuffer reads up to 12 bytes unconditionally: give it a padded copy of the head.
    let mut head = [0u8; 16];
    let n = bytes.len().min(head.len());
    head[..n].copy_from_slice(&bytes[..n]);
    let mut format: c_int = 0;
    // SAFETY: `head` is 16 readable bytes; `format` is a valid out-pointer.
    unsafe { sys::findFileFormatBuffer(head.as_ptr(), &mut format) };
    match format {
        sys::IFF_UNKNOWN => Err(DecodeError::Unsupported("not a known image format".to_string())),
        sys::IFF_PS | sys::IFF_LPDF | sys::IFF_SPIX => {
            Err(DecodeError::Unsupported(format!("leptonica format {format}")))
        }
        _ => Ok(format),
    }
}

pub(crate) fn is_tiff(format: c_int) -> bool {
    format_name(format) == "tiff"
}

/// Checks a page's size from its header: over the pixel limit, or degenerate.
fn check_size(w: c_int, h: c_int, limits: &DecodeLimits, name: &'static str) -> Result<(), DecodeError> {
    if w <= 0 || h <= 0 {
        return Err(DecodeError::Corrupt { format: name });
    }
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_image_pixels {
        return Err(DecodeError::TooLarge {
            width: w as u32,
            height: h as u32,
            pixels,
            limit: limits.max_image_pixels,
        });
    }
    if (w as u32) < MIN_SIDE_PX || (h as u32) < MIN_SIDE_PX {
        return Err(DecodeError::Degenerate { width: w as u32, height: h as u32 });
    }
    Ok(())
}

/// The number of pages of a TIFF, counted from its directory chain up to `max_pages + 1` (so a file claiming a
/// million pages costs at most that many header reads).
pub(crate) fn tiff_page_count(bytes: &[u8], max_pages: u32) -> u32 {
    let mut n = 0u32;
    while n <= max_pages {
        let (mut w, mut h, mut bps, mut spp, mut res, mut cmap, mut fmt) = (0, 0, 0, 0, 0, 0, 0);
        // SAFETY: `bytes` is valid for its length; all out-pointers are valid.
        let ok = unsafe {
            sys::readHeaderMemTiff(
                bytes.as_ptr(),
                bytes.len(),
                n as c_int,
                &mut w,
                &mut h,
                &mut bps,
                &mut spp,
                &mut res,
                &mut cmap,
                &mut fmt,
            )
        };
        if ok != 0 {
            break;
        }
        n += 1;
    }
    n
}

/// Decodes page `page_idx` of an image (0 for single-page formats), after checking its header.
pub(crate) fn decode_image_page(
    bytes: &[u8],
    format: c_int,
    page_idx: u32,
    limits: DecodeLimits,
) -> Result<Decoded, DecodeError> {
    let name = format_name(format);
    let (mut w, mut h) = (0, 0);
    if is_tiff(format) {
        let (mut bps, mut spp, mut res, mut cmap, mut fmt) = (0, 0, 0, 0, 0);
        // SAFETY: `bytes` is valid for its length; all out-pointers are valid.
        let ok = unsafe {
            sys::readHeaderMemTiff(
                bytes.as_ptr(),
                bytes.len(),
                page_idx as c_int,
                &mut w,
                &mut h,
                &mut bps,
                &mut spp,
                &mut res,
                &mut cmap,
                &mut fmt,
            )
        };
        if ok != 0 {
            return Err(DecodeError::Corrupt { format: name });
        }
    } else if format == sys::IFF_GIF {
        // Leptonica's header read decodes the whole GIF: read the sizes ourselves.
        let (gw, gh) = gif_dimensions(bytes).ok_or(DecodeError::Corrupt { format: name })?;
        (w, h) = (gw as c_int, gh as c_int);
    } else {
        let (mut bps, mut spp, mut cmap, mut hdr_format) = (0, 0, 0, 0);
        // SAFETY: `bytes` is valid for `bytes.len()` bytes; all out-pointers are valid.
        let ok = unsafe {
            sys::pixReadHeaderMem(
                bytes.as_ptr(),
                bytes.len(),
                &mut hdr_format,
                &mut w,
                &mut h,
                &mut bps,
                &mut spp,
                &mut cmap,
            )
        };
        if ok != 0 {
            return Err(DecodeError::Corrupt { format: name });
        }
    }
    check_size(w, h, &limits, name)?;
    if format == sys::IFF_JFIF_JPEG && !jpeg_is_complete(bytes) {
        // libjpeg fills a truncated scan with grey and only warns; a half page is not a page.
        return Err(DecodeError::Corrupt { format: name });
    }
    // SAFETY: as above; the returned Pix (or NULL) is owned by us and destroyed below.
    let mut pix = unsafe {
        if is_tiff(format) {
            sys::pixReadMemTiff(bytes.as_ptr(), bytes.len(), page_idx as c_int)
        } else {
            sys::pixReadMem(bytes.as_ptr(), bytes.len())
        }
    };
    if pix.is_null() {
        return Err(DecodeError::Corrupt { format: name });
    }
    // SAFETY: `pix` is a valid Pix. The GIF's decoded size may differ from its header's: check it again.
    let (dw, dh) = unsafe { (sys::pixGetWidth(pix), sys::pixGetHeight(pix)) };
    if let Err(err) = check_size(dw, dh, &limits, name) {
        unsafe { sys::pixDestroy(&mut pix) };
        return Err(err);
    }
    // Text carried by the alpha channel alone (dark or transparent RGB under a text-shaped mask) is lost by a
    // plain grey conversion: flatten on white using alpha first, as a viewer shows the image.
    // SAFETY: `pix` is valid; pixRemoveAlpha returns a new Pix (or a clone) that we own.
    if unsafe { sys::pixGetSpp(pix) } == 4 {
        let mut flat = unsafe { sys::pixRemoveAlpha(pix) };
        unsafe { sys::pixDestroy(&mut pix) };
        if flat.is_null() {
            return Err(DecodeError::Corrupt { format: name });
        }
        std::mem::swap(&mut pix, &mut flat);
    }
    // SAFETY: `pix` is a valid Pix; pixConvertTo8 returns a new Pix (or a clone) that we own.
    let mut grey = unsafe { sys::pixConvertTo8(pix, 0) };
    let dpi = unsafe { sys::pixGetXRes(pix) };
    unsafe { sys::pixDestroy(&mut pix) };
    if grey.is_null() {
        return Err(DecodeError::Corrupt { format: name });
    }
    let image = unsafe { copy_grey(grey) };
    unsafe { sys::pixDestroy(&mut grey) };
    Ok(Decoded {
        image: image.ok_or(DecodeError::Corrupt { format: name })?,
        dpi: (dpi > 0).then_some(dpi as u32),
        format: name,
    })
}

/// The largest width and height a GIF declares: its logical screen, and every image descriptor's extent (giflib
/// allocates by those). `None` when the block structure is broken before the first image.
fn gif_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let u16_at = |i: usize| -> Option<u32> { Some(u16::from_le_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as u32) };
    let (mut w, mut h) = (u16_at(6)?, u16_at(8)?);
    let flags = *bytes.get(10)?;
    let mut pos = 13usize;
    if flags & 0x80 != 0 {
        pos += 3 << ((flags & 0x07) + 1);
    }
    let skip_sub_blocks = |mut p: usize| -> Option<usize> {
        loop {
            let len = *bytes.get(p)? as usize;
            p += 1;
            if len == 0 {
                return Some(p);
            }
            p += len;
        }
    };
    let mut n_images = 0;
    while let Some(&tag) = bytes.get(pos) {
        match tag {
            0x21 => pos = skip_sub_blocks(pos + 2)?,
            0x2C => {
                let (left, top, iw, ih) = (u16_at(pos + 1)?, u16_at(pos + 3)?, u16_at(pos + 5)?, u16_at(pos + 7)?);
                w = w.max(left + iw);
                h = h.max(top + ih);
                n_images += 1;
                let iflags = *bytes.get(pos + 9)?;
                pos += 10;
                if iflags & 0x80 != 0 {
                    pos += 3 << ((iflags & 0x07) + 1);
                }
                // LZW minimum code size, then the image data's sub-blocks.
                pos = match skip_sub_blocks(pos + 1) {
                    Some(p) => p,
                    None => break,
                };
            }
            _ => break,
        }
    }
    (n_images > 0).then_some((w, h))
}

/// Copies an 8-bpp Pix into a packed `GrayImage`.
///
/// # Safety
/// `pix` must be a valid 8-bpp Pix.
unsafe fn copy_grey(pix: *mut sys::Pix) -> Option<GrayImage> {
    if sys::pixGetDepth(pix) != 8 {
        return None;
    }
    let (w, h, wpl) = (sys::pixGetWidth(pix) as usize, sys::pixGetHeight(pix) as usize, sys::pixGetWpl(pix) as usize);
    let data = sys::pixGetData(pix) as *const u8;
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let line = std::slice::from_raw_parts(data.add(y * wpl * 4), wpl * 4);
        // Leptonica stores bytes big-endian within each 32-bit word.
        let swizzle = if cfg!(target_endian = "little") { 3 } else { 0 };
        out.extend((0..w).map(|x| line[x ^ swizzle]));
    }
    GrayImage::from_raw(w as u32, h as u32, out)
}

/// A JPEG is complete when an end-of-image marker (FF D9) follows the last scan; trailing padding is allowed.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unknown_are_typed() {
        assert_eq!(decode(&[], DecodeLimits::default()).unwrap_err(), DecodeError::Empty);
        assert!(matches!(
            decode(b"hello world, not an image", DecodeLimits::default()),
            Err(DecodeError::Unsupported(_))
        ));
        assert!(
            matches!(decode(b"%PDF-1.7\n...", DecodeLimits::default()), Err(DecodeError::Unsupported(m)) if m.contains("PDF"))
        );
    }

    /// A 30000 x 30000 GIF whose pixels are one LZW clear code short of empty: Leptonica would decode it fully
    /// (1.8 GB) to read its size. It must be refused from the header, before any pixel.
    #[test]
    fn gif_bomb_is_refused_from_its_header() {
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&30000u16.to_le_bytes());
        gif.extend_from_slice(&30000u16.to_le_bytes());
        gif.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]); // 2-colour global table
        gif.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
        gif.extend_from_slice(&30000u16.to_le_bytes());
        gif.extend_from_slice(&30000u16.to_le_bytes());
        gif.extend_from_slice(&[0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
        assert_eq!(gif_dimensions(&gif), Some((30000, 30000)));
        let err = decode(&gif, DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { width: 30000, height: 30000, .. }), "{err:?}");
    }

    #[test]
    fn gif_image_larger_than_its_screen_counts() {
        let mut gif = b"GIF87a".to_vec();
        gif.extend_from_slice(&[16, 0, 16, 0, 0, 0, 0]);
        gif.extend_from_slice(&[0x21, 0xF9, 4, 0, 0, 0, 0, 0]); // a graphic control extension
        gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0x30, 0x75, 0x30, 0x75, 0, 2, 1, 0, 0, 0x3B]);
        assert_eq!(gif_dimensions(&gif), Some((30000, 30000)));
        assert!(gif_dimensions(b"GIF89a\x10\0").is_none());
    }
}
