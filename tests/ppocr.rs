//! The PP-OCR engine on known pages (CER against ground truth, under a bound), its model checksums, and the
//! `--engine` choice through the whole pipeline (recorded in the result and the metrics label, part of the key).
//!
//! Needs the ONNX Runtime library that `scripts/setup` installs (target/tools/onnxruntime/), or RYTHMIQ_ORT_LIB.

use rythmiq_bench::accuracy::AccuracyCounts;
use rythmiq_ocr::{decode, DecodeLimits};
use rythmiq_ppocr::PpOcrEngine;
use rythmiq_suite::{
    corpus_bytes, corpus_dir, ground_truth, models_dir, ort_lib, repo_root, test_config, TestPipeline,
};
use rythmiq_types::{EngineKind, PagesByEngine};

fn engine() -> PpOcrEngine {
    PpOcrEngine::load(&models_dir(), &ort_lib())
        .unwrap_or_else(|e| panic!("{e} (run `bash scripts/setup` to install the runtime)"))
}

fn page_text(engine: &mut PpOcrEngine, name: &str) -> String {
    let img = decode(&corpus_bytes(name), DecodeLimits { max_image_pixels: 40_000_000, ..DecodeLimits::default() })
        .expect("decode")
        .image;
    let page = engine.recognize(&img).expect("recognize");
    page.blocks
        .iter()
        .flat_map(|b| &b.lines)
        .map(|l| l.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn ppocr_reads_a_receipt_and_a_clean_page_within_the_cer_bound() {
    let mut engine = engine();
    // Bounds: the measured CER (crate README) plus a margin; Tesseract's own CER on these pages is higher on the
    // receipt.
    for (name, max_cer, min_f1) in [("sroie_000.jpg", 0.15, 0.80), ("tess_phototest.tif", 0.10, 0.85)] {
        let text = page_text(&mut engine, name);
        let acc = AccuracyCounts::measure(&text, &ground_truth(name));
        assert!(acc.cer() < max_cer, "{name}: CER {:.3} >= {max_cer}\n{text}", acc.cer());
        assert!(acc.bow_f1() > min_f1, "{name}: BoW-F1 {:.3} <= {min_f1}\n{text}", acc.bow_f1());
    }
}

#[test]
fn the_committed_models_have_the_pinned_sha256_and_a_changed_byte_is_refused() {
    let root = models_dir();
    rythmiq_ppocr::read_verified(&root, rythmiq_ppocr::DET_MODEL, rythmiq_ppocr::DET_SHA256).expect("det model");
    rythmiq_ppocr::read_verified(&root, rythmiq_ppocr::REC_MODEL, rythmiq_ppocr::REC_SHA256).expect("rec model");
    // SHA256SUMS (checked by the Docker build) agrees with the pinned hashes.
    let sums = std::fs::read_to_string(root.join("SHA256SUMS")).expect("SHA256SUMS");
    for (file, sha) in
        [(rythmiq_ppocr::DET_MODEL, rythmiq_ppocr::DET_SHA256), (rythmiq_ppocr::REC_MODEL, rythmiq_ppocr::REC_SHA256)]
    {
        assert!(sums.lines().any(|l| l.starts_with(sha) && l.ends_with(file)), "{file} not in SHA256SUMS with {sha}");
    }
    // One flipped byte in a copy: the engine refuses to load it.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("ppocr")).expect("dir");
    let mut det = std::fs::read(root.join(rythmiq_ppocr::DET_MODEL)).expect("read");
    det[1000] ^= 0xff;
    std::fs::write(dir.path().join(rythmiq_ppocr::DET_MODEL), det).expect("write");
    std::fs::copy(root.join(rythmiq_ppocr::REC_MODEL), dir.path().join(rythmiq_ppocr::REC_MODEL)).expect("copy");
    let err = PpOcrEngine::load(dir.path(), &ort_lib()).expect_err("a changed model must be refused");
    assert!(matches!(err, rythmiq_ppocr::PpOcrError::Checksum { .. }), "{err}");
}

#[test]
fn a_missing_runtime_is_a_clear_error() {
    let missing = repo_root().join("target/no-such-dir/libonnxruntime.so");
    // Refused whether or not another test of this process loaded the runtime first.
    match PpOcrEngine::load(&models_dir(), &missing) {
        Err(e @ rythmiq_ppocr::PpOcrError::RuntimeMissing { .. }) => {
            assert!(e.to_string().contains("no-such-dir"), "{e}")
        }
        Err(e) => panic!("expected RuntimeMissing, got {e}"),
        Ok(_) => panic!("a missing runtime library was accepted"),
    }
}

#[test]
fn the_engine_flag_reaches_the_result_the_metrics_label_and_the_key() {
    let mut keys = Vec::new();
    for engine in [EngineKind::Tesseract, EngineKind::Ppocr, EngineKind::Auto] {
        let mut config = test_config();
        config.flags.engine = engine;
        config.ort_lib = ort_lib();
        let mut p = TestPipeline::new(config, &corpus_dir());
        let out = p.process("sroie_000.jpg");
        assert!(out.run.error.is_none(), "{engine}: {:?}", out.run.error);
        assert!(out.run.flags.label().ends_with(&format!("engine={engine}")), "{}", out.run.flags.label());
        let result = out.result.expect("result");
        assert_eq!(result.flags.engine, engine);
        let acc = AccuracyCounts::measure(&result.text, &ground_truth("sroie_000.jpg"));
        assert!(acc.bow_f1() > 0.5, "{engine}: F1 {:.3}", acc.bow_f1());
        // All OCR CPU is on the ocr stage's clock: no helper threads are left unaccounted.
        let ocr = out.run.stages.iter().find(|s| s.stage == rythmiq_types::Stage::Ocr).expect("ocr stage");
        assert!(ocr.cpu_seconds > 0.0);
        keys.push(out.run.result_key.expect("key"));
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "each engine has its own result key: {keys:?}");
}

#[test]
fn auto_gives_receipt_shaped_pages_to_ppocr_and_the_rest_to_tesseract() {
    // The shipped rule (docs/tuning.md): PP-OCR alone above 1.5x taller than wide. sroie_000.jpg is 463x1013
    // (2.19), tess_phototest.tif 640x480 (0.75): auto's text must be exactly one engine's on each.
    // The run records which engine read the page (the bench's and the report's engine mix).
    let read = |engine: EngineKind, name: &str| {
        let mut config = test_config();
        config.flags.engine = engine;
        config.ort_lib = ort_lib();
        assert_eq!(config.auto_ppocr_min_aspect, Some(1.5), "the measured default");
        let mut p = TestPipeline::new(config, &corpus_dir());
        let out = p.process(name);
        assert!(out.run.error.is_none(), "{engine} {name}: {:?}", out.run.error);
        (out.result.expect("result").text, out.run.pages_by_engine)
    };
    let by = |tesseract, ppocr| PagesByEngine { tesseract, ppocr };
    let (receipt_auto, mix) = read(EngineKind::Auto, "sroie_000.jpg");
    assert_eq!(mix, by(0, 1), "the receipt's page was PP-OCR's");
    assert_eq!(read(EngineKind::Ppocr, "sroie_000.jpg"), (receipt_auto.clone(), by(0, 1)), "a receipt is PP-OCR's");
    let (receipt_tess, mix) = read(EngineKind::Tesseract, "sroie_000.jpg");
    assert_ne!(receipt_auto, receipt_tess);
    assert_eq!(mix, by(1, 0));
    let (page_auto, mix) = read(EngineKind::Auto, "tess_phototest.tif");
    assert_eq!(mix, by(1, 0), "the landscape page was Tesseract's");
    assert_eq!(read(EngineKind::Tesseract, "tess_phototest.tif").0, page_auto, "a landscape page is Tesseract's");
}

#[test]
fn an_upside_down_receipt_is_read_again_turned_and_its_boxes_land_on_the_page_as_submitted() {
    // sroie_000.jpg half a turn round, as a binary PGM (the decoder reads PNM): clean, so it takes the fast path,
    // where no OSD runs, and PP-OCR reads it confidently as garbage unless the turn check catches it.
    let decoded = decode(&corpus_bytes("sroie_000.jpg"), DecodeLimits::default()).expect("decode");
    let turned = rythmiq_imaging::rotate_quarter(&decoded.image, 180);
    let dir = tempfile::tempdir().unwrap();
    let mut pgm = format!("P5\n{} {}\n255\n", turned.width(), turned.height()).into_bytes();
    pgm.extend_from_slice(turned.pixels());
    std::fs::write(dir.path().join("turned.pgm"), pgm).unwrap();
    let truth = ground_truth("sroie_000.jpg");
    let read = |engine: EngineKind, turn: Option<f32>| {
        let mut config = test_config();
        config.flags.engine = engine;
        config.ppocr_turn_below_confidence = turn;
        let mut p = TestPipeline::new(config, dir.path());
        let out = p.process("turned.pgm");
        assert!(out.run.error.is_none(), "{engine}: {:?}", out.run.error);
        let result = out.result.expect("result");
        let f1 = AccuracyCounts::measure(&result.text, &truth).bow_f1();
        (f1, result.pages[0].rotation_applied_degrees, result.pages[0].clone())
    };
    let default = rythmiq_pipeline::PipelineConfig::default().ppocr_turn_below_confidence;
    assert_eq!(default, Some(84.0), "the measured default (docs/tuning.md)");
    for engine in [EngineKind::Auto, EngineKind::Ppocr] {
        let (f1, degrees, page) = read(engine, default);
        assert_eq!(degrees, 180, "{engine}: read turned");
        assert!(f1 > 0.8, "{engine}: F1 {f1:.3} on the turned receipt");
        // Boxes are on the page as submitted: the receipt's first line (its top on the upright page) sits at the
        // bottom of the turned image.
        let first = &page.blocks[0].lines[0].bbox;
        let height = turned.height() as i32;
        assert!(first.top > height / 2, "{engine}: first line at {first:?} of a {height}-high page");
        let (off, degrees, _) = read(engine, None);
        assert_eq!(degrees, 0);
        assert!(off < 0.3, "{engine}: without the check the turned receipt reads as garbage (F1 {off:.3})");
    }
}
