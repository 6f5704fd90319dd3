//! Documents of several pages (issue 10) and the decode defects of issue 11: multi-page TIFF and PDFs on every
//! route (text layer, scanned, mixed), boxes in the coordinates of the page as submitted, `rythmiq ocr`'s output,
//! and every new error kind with a real hostile file, on one pipeline that keeps working after each.

use rythmiq_bench::accuracy::AccuracyCounts;
use rythmiq_pipeline::oneshot::{run_ocr, OutputFormat};
use rythmiq_pipeline::PipelineConfig;
use rythmiq_suite::{corpus_dir, ground_truth, on_pipeline_thread, repo_root, test_config, TestPipeline};
use rythmiq_types::{ErrorKind, PathKind, ResultDocument, Stage};

fn multipage_dir() -> std::path::PathBuf {
    corpus_dir().join("multipage")
}

/// The ground truth of the two corpus pages the multi-page documents are made of.
fn page_truths() -> [String; 2] {
    [ground_truth("tess_phototest.tif"), ground_truth("sroie_019.jpg")]
}

fn assert_valid(result: &ResultDocument) {
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo_root().join("schemas/result-document.v2.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let instance = serde_json::to_value(result).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "result document violates the schema: {errors:#?}");
}

/// CER of each page of `result` against its ground truth, summed over the pages.
fn pages_cer(result: &ResultDocument) -> f64 {
    let mut total = AccuracyCounts::default();
    for (page, truth) in result.pages.iter().zip(page_truths()) {
        total.add(&AccuracyCounts::measure(&page.text, &truth));
    }
    total.cer()
}

/// The same two pages submitted as single images: the bar the multi-page documents must meet.
fn single_pages_cer(p: &mut TestPipeline) -> f64 {
    let mut total = AccuracyCounts::default();
    for (doc, truth) in ["tess_phototest.tif", "sroie_019.jpg"].iter().zip(page_truths()) {
        let result = p.process(doc).result.unwrap_or_else(|| panic!("{doc} failed"));
        total.add(&AccuracyCounts::measure(&result.text, &truth));
    }
    total.cer()
}

#[test]
fn text_layer_pdf_skips_ocr_on_every_page() {
    on_pipeline_thread("rq-t-textpdf", || {
        let mut p = TestPipeline::new(test_config(), &multipage_dir());
        let out = p.process("pages_text.pdf");
        let result = out.result.unwrap_or_else(|| panic!("{:?}", out.run.error));
        assert_eq!(out.run.path, Some(PathKind::TextLayer));
        assert_eq!(out.run.pages, 2);
        assert_eq!(result.pages.len(), 2);
        assert!(result.pages.iter().all(|p| p.route == PathKind::TextLayer));
        // The text is the document's own: exact up to whitespace.
        assert!(pages_cer(&result) < 0.01, "CER {}", pages_cer(&result));
        assert_eq!(result.text.matches('\u{c}').count(), 1, "pages separated by one form feed");
        // The stages still run and are measured; the image stages are skipped.
        for stage in [Stage::Fetch, Stage::QualityScoring, Stage::Ocr, Stage::SchemaAdaptation, Stage::Upload] {
            assert!(!out.run.stage(stage).unwrap().skipped, "{stage}");
        }
        assert!(out.run.stage(Stage::PreOcr).unwrap().skipped && out.run.stage(Stage::Enhancement).unwrap().skipped);
        // The PDF tools' CPU is booked to quality_scoring as helper CPU (their rusage).
        assert!(out.run.stage(Stage::QualityScoring).unwrap().helper_cpu_seconds >= 0.0);
        // Boxes are pixels at the render DPI: a US-letter page at 300 dpi.
        assert_eq!((result.pages[0].width_px, result.pages[0].height_px, result.pages[0].dpi), (2550, 3300, Some(300)));
        let first = &result.pages[0].blocks[0].lines[0].words[0];
        assert_eq!(first.text, "This");
        // 56 pt from the left edge = 233 px at 300 dpi.
        assert!((first.bbox.left - 233).abs() <= 2, "{:?}", first.bbox);
        assert_valid(&result);
    });
}

#[test]
fn scanned_pdf_and_multipage_tiff_read_every_page_as_well_as_the_pngs() {
    on_pipeline_thread("rq-t-scanpdf", || {
        let mut single = TestPipeline::new(test_config(), &corpus_dir());
        let bar = single_pages_cer(&mut single);
        let mut p = TestPipeline::new(test_config(), &multipage_dir());
        for doc in ["pages_scanned.pdf", "pages_fax.tif"] {
            let out = p.process(doc);
            let result = out.result.unwrap_or_else(|| panic!("{doc}: {:?}", out.run.error));
            assert_eq!(result.pages.len(), 2, "{doc}: every page");
            assert_eq!(out.run.pages, 2);
            assert!(result.pages.iter().all(|p| p.route != PathKind::TextLayer), "{doc}: no text layer to use");
            let cer = pages_cer(&result);
            assert!(cer <= bar + 0.005, "{doc}: CER {cer} against {bar} for the same pages as single images");
            assert_eq!(result.text.matches('\u{c}').count(), 1);
            assert_valid(&result);
        }
    });
}

#[test]
fn mixed_pdf_is_routed_page_by_page() {
    on_pipeline_thread("rq-t-mixed", || {
        let mut p = TestPipeline::new(test_config(), &multipage_dir());
        let out = p.process("pages_mixed.pdf");
        let result = out.result.unwrap_or_else(|| panic!("{:?}", out.run.error));
        assert_eq!(result.pages[0].route, PathKind::TextLayer);
        assert_ne!(result.pages[1].route, PathKind::TextLayer);
        assert_eq!(out.run.path, Some(result.pages[1].route), "the document takes its costliest page's route");
        assert!(!out.run.stage(Stage::Ocr).unwrap().skipped);
        assert!(pages_cer(&result) < 0.15, "CER {}", pages_cer(&result));
        // Page 2's boxes are in its own pixels at 300 dpi: the receipt image embedded at 300 dpi, 447x915.
        assert_eq!((result.pages[1].width_px, result.pages[1].height_px), (447, 915));
        assert_valid(&result);
    });
}

/// For the confident words of `result`'s first page: the ink inside the word's box, searched in a margin around
/// it on the submitted image, hugs the box (each edge within `tol` px). A box left in working-image pixels
/// (scaled or turned) lands beside its word and fails.
fn assert_boxes_on_ink(result: &ResultDocument, original: &rythmiq_imaging::GrayImage, tol: i32) {
    let page = &result.pages[0];
    assert_eq!((page.width_px, page.height_px), (original.width(), original.height()), "page size as submitted");
    let (mut checked, mut hugging) = (0, 0);
    for word in page.blocks.iter().flat_map(|b| &b.lines).flat_map(|l| &l.words) {
        if word.confidence < 90.0 || word.text.chars().filter(|c| c.is_alphanumeric()).count() < 4 {
            continue;
        }
        let b = word.bbox;
        let m = 2 * tol;
        let (x0, y0) = ((b.left - m).max(0) as u32, (b.top - m).max(0) as u32);
        let (x1, y1) =
            ((b.right + m).min(original.width() as i32) as u32, (b.bottom + m).min(original.height() as i32) as u32);
        // The ink's extent inside the box, widened only where the ink continues into the margin.
        let (mut l, mut t, mut r, mut bt) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
        for y in y0..y1 {
            for x in x0..x1 {
                let inside =
                    (x as i32) >= b.left && (x as i32) < b.right && (y as i32) >= b.top && (y as i32) < b.bottom;
                if inside && original.get(x, y) < 128 {
                    (l, t, r, bt) = (l.min(x as i32), t.min(y as i32), r.max(x as i32 + 1), bt.max(y as i32 + 1));
                }
            }
        }
        checked += 1;
        let ok = l != i32::MAX
            && (l - b.left).abs() <= tol
            && (t - b.top).abs() <= tol
            && (r - b.right).abs() <= tol
            && (bt - b.bottom).abs() <= tol;
        hugging += usize::from(ok);
    }
    assert!(checked >= 10, "too few confident words to check ({checked})");
    assert!(hugging * 10 >= checked * 9, "{hugging} of {checked} word boxes sit on their ink in the submitted image");
}

#[test]
fn boxes_are_in_the_coordinates_of_the_page_as_submitted() {
    on_pipeline_thread("rq-t-boxes", || {
        let mut p = TestPipeline::new(test_config(), &corpus_dir());
        // Pre-resized from 2550x3300 to the 3000 px cap (scale 0.91): boxes must come back scaled.
        let out = p.process("ocrmypdf_linn.png");
        let result = out.result.expect("result");
        assert!(result.pages[0].scale_applied < 0.95);
        let original =
            rythmiq_ocr::decode(&rythmiq_suite::corpus_bytes("ocrmypdf_linn.png"), Default::default()).unwrap();
        assert_boxes_on_ink(&result, &original.image, 3);

        // Turned a quarter before OCR: boxes must come back in the sideways page's own axes.
        let out = p.process("tess_phototest-rotated-L.png");
        let result = out.result.expect("result");
        assert_eq!(result.pages[0].rotation_applied_degrees % 180, 90);
        let original =
            rythmiq_ocr::decode(&rythmiq_suite::corpus_bytes("tess_phototest-rotated-L.png"), Default::default())
                .unwrap();
        assert_boxes_on_ink(&result, &original.image, 3);
    });
}

#[test]
fn rythmiq_ocr_prints_text_tsv_hocr_and_json_for_selected_pages() {
    on_pipeline_thread("rq-t-oneshot", || {
        let file = multipage_dir().join("pages_mixed.pdf");
        let run = |format, range| {
            let mut out = Vec::new();
            let outcomes = run_ocr(test_config(), std::slice::from_ref(&file), format, range, &mut out).unwrap();
            assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
            String::from_utf8(out).unwrap()
        };
        let text = run(OutputFormat::Text, None);
        let pages: Vec<&str> = text.split('\u{c}').collect();
        assert_eq!(pages.len(), 2, "pages separated by a form feed, as the tesseract CLI does");
        let truths = page_truths();
        assert!(AccuracyCounts::measure(pages[0], &truths[0]).cer() < 0.01);
        assert!(AccuracyCounts::measure(pages[1], &truths[1]).cer() < 0.2);
        let second_only = run(OutputFormat::Text, Some((2, 2)));
        assert!(!second_only.contains('\u{c}'));
        assert!(AccuracyCounts::measure(&second_only, &truths[1]).cer() < 0.2, "--pages 2-2 is page 2");
        let tsv = run(OutputFormat::Tsv, None);
        assert!(tsv.starts_with("level\tpage_num\tblock_num"));
        assert!(tsv.lines().any(|l| l.starts_with("5\t2\t")), "words of page 2");
        let hocr = run(OutputFormat::Hocr, None);
        assert_eq!(hocr.matches("class=\"ocr_page\"").count(), 2);
        let json = run(OutputFormat::Json, Some((1, 1)));
        let doc: ResultDocument = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(doc.pages.len(), 1);
        assert_eq!(doc.pages[0].route, PathKind::TextLayer);

        // The same intake as the API: a text file is refused, typed, and the other files still run.
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "not a document").unwrap();
        let mut out = Vec::new();
        let outcomes = run_ocr(test_config(), &[notes, file.clone()], OutputFormat::Text, None, &mut out).unwrap();
        assert_eq!(outcomes[0].error.as_ref().map(|e| e.0), Some(ErrorKind::UnsupportedFormat));
        assert!(outcomes[1].error.is_none());
    });
}

// ---- hostile files ----

/// A PDF from object bodies (object n is `objs[n - 1]`), with a correct xref table.
fn pdf(objs: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
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

const LETTER: &str = "0 0 612 792";

fn one_page_pdf(media_box: &str, catalog_extra: &[u8], trailer_extra: &str, extra_objs: &[Vec<u8>]) -> Vec<u8> {
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

fn many_pages_pdf(n: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", i + 4)).collect();
    let mut objs = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes(),
        b"<< /Length 0 >>\nstream\n\nendstream".to_vec(),
    ];
    objs.extend((0..n).map(|_| b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>".to_vec()));
    pdf(&objs, "")
}

/// A PNG of 8-bit grey (`channels` = 1) or RGBA (`channels` = 4) pixels, zlib "stored" (uncompressed) blocks.
fn png(width: u32, height: u32, channels: u8, pixels: &[u8]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    }
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
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn hostile_documents_fail_once_with_their_kind_and_the_pipeline_goes_on() {
    on_pipeline_thread("rq-t-hostile", || {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(name), bytes).unwrap();
        let encrypt =
            format!("<< /Filter /Standard /V 1 /R 2 /O <{}> /U <{}> /P -4 >>", "11".repeat(32), "22".repeat(32));
        write(
            "encrypted.pdf",
            one_page_pdf(
                LETTER,
                b"",
                "/Encrypt 5 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>] ",
                &[encrypt.into_bytes()],
            ),
        );
        write("garbage.pdf", [b"%PDF-1.7\n".to_vec(), (0..=255u8).cycle().take(5000).collect()].concat());
        let full = std::fs::read(multipage_dir().join("pages_scanned.pdf")).unwrap();
        write("truncated.pdf", full[..full.len() / 3].to_vec());
        write("many_pages.pdf", many_pages_pdf(3000));
        write("count_lie.pdf", {
            let mut objs = vec![
                b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
                b"<< /Type /Pages /Kids [4 0 R] /Count 2000000000 >>".to_vec(),
                b"<< /Length 0 >>\nstream\n\nendstream".to_vec(),
            ];
            objs.push(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>".to_vec());
            pdf(&objs, "")
        });
        // 14400 pt square (200 inches): 60000 x 60000 px at 300 dpi, far above the pixel limit.
        write("huge_mediabox.pdf", one_page_pdf("0 0 14400 14400", b"", "", &[]));
        let depth = 100_000;
        write(
            "deep.pdf",
            one_page_pdf(LETTER, &[b"/Deep ".to_vec(), b"[".repeat(depth), b"]".repeat(depth)].concat(), "", &[]),
        );
        write("empty_page.pdf", one_page_pdf(LETTER, b"", "", &[]));
        write("sliver_1x1.png", png(1, 1, 1, &[0]));
        write("sliver_1x20000.png", png(1, 20000, 1, &vec![255; 20000]));
        write("sliver_3x20000.png", png(3, 20000, 1, &vec![255; 60000]));
        std::fs::copy(multipage_dir().join("pages_fax.tif"), dir.path().join("fax.tif")).unwrap();
        std::fs::copy(corpus_dir().join("tess_phototest.tif"), dir.path().join("good.tif")).unwrap();

        let config = PipelineConfig { max_pages: 1000, ..test_config() };
        let mut p = TestPipeline::new(config, dir.path());
        let cases = [
            ("encrypted.pdf", ErrorKind::EncryptedDocument),
            ("garbage.pdf", ErrorKind::CorruptDocument),
            ("truncated.pdf", ErrorKind::CorruptDocument),
            ("many_pages.pdf", ErrorKind::TooManyPages),
            ("count_lie.pdf", ErrorKind::CorruptDocument),
            ("huge_mediabox.pdf", ErrorKind::ImageTooLarge),
            ("deep.pdf", ErrorKind::CorruptDocument),
            ("sliver_1x1.png", ErrorKind::DegenerateImage),
            ("sliver_1x20000.png", ErrorKind::DegenerateImage),
            ("sliver_3x20000.png", ErrorKind::DegenerateImage),
        ];
        for (key, kind) in cases {
            let out = p.process(key);
            let (got, message) = out.run.error.clone().unwrap_or_else(|| panic!("{key} was accepted"));
            assert_eq!(got, kind, "{key}: {message}");
            assert!(!got.is_retryable(), "{key}: never retried");
            assert!(out.run.stages.len() <= 2, "{key} was refused before any page work: {:?}", out.run.stages);
            assert!(out.result.is_none());
        }
        // A page with neither text nor images is an empty page, not an error.
        let empty = p.process("empty_page.pdf");
        let result = empty.result.unwrap_or_else(|| panic!("{:?}", empty.run.error));
        assert_eq!((result.pages.len(), result.text.as_str()), (1, ""));
        assert_eq!(result.pages[0].route, PathKind::TextLayer);
        // The page limit holds for TIFFs too.
        let mut strict = TestPipeline::new(PipelineConfig { max_pages: 1, ..test_config() }, dir.path());
        assert_eq!(strict.process("fax.tif").run.error.map(|e| e.0), Some(ErrorKind::TooManyPages));
        assert_eq!(strict.process("many_pages.pdf").run.error.map(|e| e.0), Some(ErrorKind::TooManyPages));
        // And the pipeline is still good for real work.
        let good = p.process("good.tif");
        assert!(good.run.error.is_none(), "{:?}", good.run.error);
    });
}

#[test]
fn text_carried_only_by_alpha_is_read_on_white() {
    on_pipeline_thread("rq-t-alpha", || {
        let page =
            rythmiq_ocr::decode(&rythmiq_suite::corpus_bytes("tess_phototest.tif"), Default::default()).unwrap().image;
        // Black everywhere; the ink is opaque and the paper transparent. A viewer shows black text on white.
        let rgba: Vec<u8> = page.pixels().iter().flat_map(|&g| [0, 0, 0, 255 - g]).collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alpha.png"), png(page.width(), page.height(), 4, &rgba)).unwrap();
        let mut p = TestPipeline::new(test_config(), dir.path());
        let out = p.process("alpha.png");
        let result = out.result.unwrap_or_else(|| panic!("{:?}", out.run.error));
        let cer = AccuracyCounts::measure(&result.text, &ground_truth("tess_phototest.tif")).cer();
        assert!(cer < 0.05, "CER {cer}: the alpha channel's text was lost");
    });
}
