//! Distinct documents for the load test, so that no cache (ours, or a content-addressed store) can serve a
//! repeat and flatter the figures.
//!
//! Each output is a corpus page with a unique marker written into the file's own metadata: a JPEG comment
//! segment, a PNG `tEXt` chunk, or trailing bytes for TIFF (an offset-addressed format that ignores them). The
//! pixels, and so the OCR work and the ground truth, are those of the source page; the content hash is new.

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct SynthReport {
    pub written: usize,
    pub files: Vec<PathBuf>,
}

const IMAGE_ENDINGS: [&str; 5] = ["jpg", "jpeg", "png", "tif", "tiff"];

/// Writes `count` distinct documents (and their `.gt.txt` when the source has one) into `out_dir`.
pub fn synthesise(corpus_dir: &Path, out_dir: &Path, count: usize) -> anyhow::Result<SynthReport> {
    use anyhow::Context as _;
    // Every I/O error names its path: `corpus synth` run from another folder must say which corpus it missed.
    let mut sources: Vec<PathBuf> = std::fs::read_dir(corpus_dir)
        .with_context(|| format!("reading the corpus folder {} (pass --corpus DIR)", corpus_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_ENDINGS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    sources.sort();
    anyhow::ensure!(!sources.is_empty(), "no JPEG, PNG or TIFF images in {}", corpus_dir.display());
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut files = Vec::with_capacity(count);
    for i in 0..count {
        let source = &sources[i % sources.len()];
        let ext = source.extension().and_then(|e| e.to_str()).unwrap_or("bin").to_ascii_lowercase();
        let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or("doc");
        let marker = format!("rythmiq-synth {i} of {stem}");
        let read = std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        let bytes = mark(&read, &ext, marker.as_bytes()).with_context(|| format!("marking {}", source.display()))?;
        let name = synth_name(i, stem, &ext);
        let path = out_dir.join(&name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        if let Ok(gt) = std::fs::read(corpus_dir.join(format!("{stem}.gt.txt"))) {
            std::fs::write(out_dir.join(format!("synth_{i:05}_{stem}.gt.txt")), gt)?;
        }
        files.push(path);
    }
    Ok(SynthReport { written: files.len(), files })
}

/// The file name of the `i`-th distinct copy of the corpus page `stem.ext`.
fn synth_name(i: usize, stem: &str, ext: &str) -> String {
    format!("synth_{i:05}_{stem}.{ext}")
}

/// The corpus page a distinct copy was made from (`synth_00012_irs_fw2_p1.png` -> `irs_fw2_p1.png`), so that a
/// load test's documents can be matched with a bench's; `None` for a name [`synthesise`] did not write.
pub fn source_name(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix("synth_")?;
    let (index, source) = rest.split_once('_')?;
    (index.len() >= 5 && index.bytes().all(|b| b.is_ascii_digit()) && !source.is_empty()).then_some(source)
}

fn mark(bytes: &[u8], ext: &str, marker: &[u8]) -> anyhow::Result<Vec<u8>> {
    match ext {
        "jpg" | "jpeg" => {
            anyhow::ensure!(bytes.starts_with(&[0xFF, 0xD8]), "not a JPEG");
            // A COM segment right after SOI: length counts its own two bytes.
            let mut out = vec![0xFF, 0xD8, 0xFF, 0xFE];
            out.extend(((marker.len() + 2) as u16).to_be_bytes());
            out.extend(marker);
            out.extend(&bytes[2..]);
            Ok(out)
        }
        "png" => {
            anyhow::ensure!(bytes.len() > 20 && bytes.ends_with(b"IEND\xAE\x42\x60\x82"), "not a complete PNG");
            let iend = bytes.len() - 12;
            let mut chunk = b"tEXt".to_vec();
            chunk.extend(b"Comment\0");
            chunk.extend(marker);
            let mut out = bytes[..iend].to_vec();
            out.extend(((chunk.len() - 4) as u32).to_be_bytes());
            out.extend(&chunk);
            out.extend(crc32(&chunk).to_be_bytes());
            out.extend(&bytes[iend..]);
            Ok(out)
        }
        _ => {
            let mut out = bytes.to_vec();
            out.extend(marker);
            Ok(out)
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_corpus_is_named_in_the_error() {
        let out = std::env::temp_dir().join(format!("rythmiq-synth-missing-{}", std::process::id()));
        let err = synthesise(Path::new("no/such/corpus-dir"), &out, 1).unwrap_err();
        let chain = format!("{err:#}");
        assert!(chain.contains("no/such/corpus-dir") && chain.contains("--corpus"), "{chain}");
    }

    #[test]
    fn a_copy_names_the_page_it_was_made_from() {
        let name = synth_name(12, "irs_fw2_p1", "png");
        assert_eq!(source_name(&name), Some("irs_fw2_p1.png"));
        assert_eq!(source_name(&synth_name(123_456, "a_b", "jpg")), Some("a_b.jpg"));
        assert_eq!(source_name("irs_fw2_p1.png"), None);
        assert_eq!(source_name("synth_12_x.png"), None);
        assert_eq!(source_name("synth_00012_"), None);
    }

    #[test]
    fn png_crc_matches_the_known_iend_value() {
        // Every PNG ends with IEND and this CRC.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn markers_make_distinct_files_that_keep_their_format() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
        let a = mark(&jpeg, "jpg", b"a").unwrap();
        let b = mark(&jpeg, "jpg", b"b").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(&[0xFF, 0xD8, 0xFF, 0xFE]) && a.ends_with(&[0xFF, 0xD9]));
        assert!(mark(b"not a jpeg", "jpg", b"x").is_err());
    }
}
