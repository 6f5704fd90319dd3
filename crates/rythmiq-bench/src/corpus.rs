//! A benchmark corpus: a directory of documents (images, multi-page TIFFs, PDFs), each with an optional
//! `<stem>.gt.txt` ground truth beside it (pages separated by a form feed for multi-page documents).

use std::path::{Path, PathBuf};

/// File endings taken as documents.
const IMAGE_ENDINGS: [&str; 10] = ["jpg", "jpeg", "png", "tif", "tiff", "bmp", "pnm", "webp", "gif", "pdf"];

#[derive(Clone, Debug)]
pub struct CorpusDoc {
    /// File name, also the key in the corpus store.
    pub name: String,
    pub path: PathBuf,
    pub ground_truth: Option<String>,
}

/// The documents of `dir`, sorted by name.
pub fn load_corpus(dir: &Path) -> anyhow::Result<Vec<CorpusDoc>> {
    let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("cannot read corpus {}: {e}", dir.display()))?;
    let mut docs = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else { continue };
        if !path.is_file() || !IMAGE_ENDINGS.contains(&ext.to_ascii_lowercase().as_str()) {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let ground_truth = std::fs::read_to_string(dir.join(format!("{stem}.gt.txt"))).ok();
        docs.push(CorpusDoc { name, path, ground_truth });
    }
    docs.sort_by(|a, b| a.name.cmp(&b.name));
    if docs.is_empty() {
        anyhow::bail!("no images in corpus {}", dir.display());
    }
    Ok(docs)
}
