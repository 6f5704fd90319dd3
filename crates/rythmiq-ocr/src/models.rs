//! Where each model lives under the models directory, and the checksum check done before loading it.

use std::path::{Path, PathBuf};

use rythmiq_types::ModelKind;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {path} is missing or unreadable: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("model file {path} has sha256 {actual}, but SHA256SUMS says {expected} (truncated copy or LFS pointer?)")]
    Checksum { path: PathBuf, expected: String, actual: String },
}

/// The tessdata directory of `kind` under the models root.
pub fn model_dir(models_root: &Path, kind: ModelKind) -> PathBuf {
    models_root.join(kind.as_str())
}

/// Hashes `<root>/<dir>/<lang>.traineddata` and, when `<root>/SHA256SUMS` lists it, checks the hash.
/// Returns the hex sha256, which the result document records.
pub fn verify_model(models_root: &Path, dir: &str, lang: &str) -> Result<String, ModelError> {
    let relative = format!("{dir}/{lang}.traineddata");
    let path = models_root.join(&relative);
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Unreadable { path: path.clone(), source })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if let Ok(sums) = std::fs::read_to_string(models_root.join("SHA256SUMS")) {
        let expected = sums.lines().find_map(|line| {
            let (hash, name) = line.split_once(char::is_whitespace)?;
            (name.trim_start_matches([' ', '*']) == relative).then(|| hash.to_string())
        });
        if let Some(expected) = expected {
            if expected != actual {
                return Err(ModelError::Checksum { path, expected, actual });
            }
        }
    }
    Ok(actual)
}
