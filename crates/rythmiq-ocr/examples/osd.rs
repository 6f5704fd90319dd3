//! Prints Tesseract's orientation estimate for each image given: `cargo run --release --example osd -- FILE...`.

fn main() {
    let models = std::path::PathBuf::from(std::env::var("RYTHMIQ_MODELS_DIR").unwrap_or_else(|_| "models".into()));
    let mut osd = rythmiq_ocr::OsdEngine::load(&models).expect("osd model");
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("readable file");
        let decoded = rythmiq_ocr::decode(&bytes, Default::default()).expect("decodable image");
        let start = std::time::Instant::now();
        let found = osd.detect(&decoded.image, decoded.dpi).expect("osd");
        println!("{path}: {found:?} in {:?}", start.elapsed());
    }
}
