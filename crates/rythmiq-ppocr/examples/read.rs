//! Reads images with the PP-OCR engine and prints one JSON object per image (file, thread CPU seconds, the text
//! of each detected box), the same format as `reference.py`, for the agreement check in the README:
//!
//!     cargo run --release -p rythmiq-ppocr --example read -- corpus/*.jpg > ours.jsonl

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lib = std::env::var_os("RYTHMIQ_ORT_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(rythmiq_ppocr::DEFAULT_RUNTIME_PATH));
    let load = cpu_time::ThreadTime::now();
    let mut engine = rythmiq_ppocr::PpOcrEngine::load(&root.join("models"), &lib)?;
    eprintln!("load: {:.2} CPU-s", load.elapsed().as_secs_f64());
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let img = rythmiq_ocr::decode(
            &bytes,
            rythmiq_ocr::DecodeLimits { max_image_pixels: 40_000_000, ..rythmiq_ocr::DecodeLimits::default() },
        )?
        .image;
        let start = cpu_time::ThreadTime::now();
        let (work, _) = rythmiq_ppocr::working_image(&img);
        let boxes = engine.detect(&work)?;
        let lines = engine.recognize_boxes(&work, &boxes)?;
        let cpu = start.elapsed().as_secs_f64();
        let texts: Vec<&str> =
            lines.iter().filter(|d| d.score() >= rythmiq_ppocr::TEXT_SCORE).map(|d| d.text.as_str()).collect();
        let name = Path::new(&path).file_name().and_then(|n| n.to_str()).unwrap_or(&path).to_string();
        println!("{}", serde_json::json!({ "file": name, "cpu_s": (cpu * 1000.0).round() / 1000.0, "lines": texts }));
    }
    Ok(())
}
