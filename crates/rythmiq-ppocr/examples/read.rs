//! Reads images with the PP-OCR engine and prints one JSON object per image (file, thread CPU seconds, the text
//! of each detected box), the same format as `reference.py`, for the agreement check in the README:
//!
//!     cargo run --release -p rythmiq-ppocr --example read -- corpus/*.jpg > ours.jsonl
//!
//! Each line also carries the CPU of each phase (detection and recognition: pre-processing, inference,
//! post-processing). `PPOCR_MAX_SIDE` and `PPOCR_DET_LIMIT` override the page side limit and the detector's
//! short-side floor, `PPOCR_REC_BATCH` the lines per recognition call, `PPOCR_DET_STRIP` the detection strip height, `PPOCR_ARENA=1` and `PPOCR_MEM_PATTERN=1` turn ONNX Runtime's CPU arena and memory pattern
//! on, for sweeps; the totals per phase and the peak RSS go to stderr at the end.

use std::path::{Path, PathBuf};

/// The process's peak RSS so far, kB (0 when unreadable).
fn peak_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lib = std::env::var_os("RYTHMIQ_ORT_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(rythmiq_ppocr::DEFAULT_RUNTIME_PATH));
    let load = cpu_time::ThreadTime::now();
    let mut options = rythmiq_ppocr::PpOcrOptions::default();
    if let Some(v) = std::env::var("PPOCR_MAX_SIDE").ok().and_then(|v| v.parse().ok()) {
        options.max_side_len = v;
    }
    if let Some(v) = std::env::var("PPOCR_DET_LIMIT").ok().and_then(|v| v.parse().ok()) {
        options.det.limit_side_len = v;
    }
    if let Some(v) = std::env::var("PPOCR_DET_STRIP").ok().and_then(|v| v.parse().ok()) {
        options.det_strip_rows = v;
    }
    if let Some(v) = std::env::var("PPOCR_REC_BATCH").ok().and_then(|v| v.parse().ok()) {
        options.rec_batch = v;
    }
    options.cpu_arena = std::env::var("PPOCR_ARENA").is_ok_and(|v| v == "1");
    options.memory_pattern = std::env::var("PPOCR_MEM_PATTERN").is_ok_and(|v| v == "1");
    let mut engine = rythmiq_ppocr::PpOcrEngine::load_with(&root.join("models"), &lib, options)?;
    eprintln!("load: {:.2} CPU-s", load.elapsed().as_secs_f64());
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let img = rythmiq_ocr::decode(
            &bytes,
            rythmiq_ocr::DecodeLimits { max_image_pixels: 40_000_000, ..rythmiq_ocr::DecodeLimits::default() },
        )?
        .image;
        let start = cpu_time::ThreadTime::now();
        let before = engine.profile;
        let (work, _) = rythmiq_ppocr::working_image(&img, engine.options.max_side_len);
        let boxes = engine.detect(&work)?;
        let hwm_det = peak_kb();
        let lines = engine.recognize_boxes(&work, &boxes)?;
        let cpu = start.elapsed().as_secs_f64();
        let texts: Vec<&str> =
            lines.iter().filter(|d| d.score() >= rythmiq_ppocr::TEXT_SCORE).map(|d| d.text.as_str()).collect();
        let name = Path::new(&path).file_name().and_then(|n| n.to_str()).unwrap_or(&path).to_string();
        let p = engine.profile;
        let ms = |a: f64, b: f64| ((a - b) * 1000.0).round() / 1000.0;
        let phases = serde_json::json!({
            "det_pre": ms(p.det_pre, before.det_pre), "det_infer": ms(p.det_infer, before.det_infer),
            "det_post": ms(p.det_post, before.det_post), "rec_pre": ms(p.rec_pre, before.rec_pre),
            "rec_infer": ms(p.rec_infer, before.rec_infer), "rec_post": ms(p.rec_post, before.rec_post),
            "boxes": p.lines - before.lines, "det_input": [work.width(), work.height()],
            "peak_kb_after_det": hwm_det, "peak_kb_after_rec": peak_kb(),
        });
        println!(
            "{}",
            serde_json::json!({ "file": name, "cpu_s": (cpu * 1000.0).round() / 1000.0, "phases": phases, "lines": texts })
        );
    }
    eprintln!("phases over {} pages (CPU-s): {:?}", engine.profile.pages, engine.profile);
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: ?");
    eprintln!("options {options:?}; peak RSS {peak}");
    Ok(())
}
