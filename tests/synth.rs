//! The load test's distinct documents: every copy has a new content hash, yet decodes to exactly the pixels of its
//! source page, so the OCR work (and the ground truth) is the corpus page's.

use rythmiq_ocr::{decode, DecodeLimits};
use rythmiq_suite::corpus_dir;

#[test]
fn synthesised_documents_are_distinct_files_with_the_source_pixels() {
    let out = tempfile::tempdir().unwrap();
    // Sorted by name, the first 31 corpus files hold PNG pages and JPEG receipts and scans (the corpus has 106).
    let report = rythmiq_loadtest::synthesise(&corpus_dir(), out.path(), 31).unwrap();
    assert_eq!(report.written, 31);
    let mut hashes = std::collections::HashSet::new();
    for path in &report.files {
        let bytes = std::fs::read(path).unwrap();
        assert!(hashes.insert(rythmiq_types::sha256_hex(&bytes)), "{} repeats a content hash", path.display());
        let name = path.file_name().unwrap().to_str().unwrap();
        let source = name.splitn(3, '_').nth(2).unwrap();
        let original = decode(&std::fs::read(corpus_dir().join(source)).unwrap(), DecodeLimits::default()).unwrap();
        let copy = decode(&bytes, DecodeLimits::default()).unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        assert!(copy.image == original.image, "{name} changed pixels");
        let gt = path.with_extension("gt.txt");
        assert!(gt.is_file(), "ground truth copied for {name}");
    }
}
