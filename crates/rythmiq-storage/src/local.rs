//! A directory as an object store: the embedded default, and the bench's corpus reader.

use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use crate::{validate_key, ObjectStore, StorageError};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root`, created if missing.
    pub fn new(root: impl Into<PathBuf>) -> Result<LocalStore, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| StorageError::Unavailable(format!("cannot create store directory: {e}")))?;
        Ok(LocalStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

fn map_io(key: &str, err: std::io::Error) -> StorageError {
    match err.kind() {
        IoKind::NotFound => StorageError::NotFound(key.to_string()),
        IoKind::PermissionDenied => StorageError::AccessDenied(key.to_string()),
        _ => StorageError::Unavailable(format!("{key}: {err}")),
    }
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let path = self.path(key)?;
        if path.is_dir() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        std::fs::read(&path).map_err(|e| map_io(key, e))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        let parent = path.parent().expect("a validated key has a parent: the root");
        std::fs::create_dir_all(parent).map_err(|e| map_io(key, e))?;
        // Write aside, then rename: readers never see a half-written object, and a crash leaves only a temp file.
        let tmp = parent.join(format!(
            ".{}.tmp-{}-{:?}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("object"),
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&tmp, &bytes).map_err(|e| map_io(key, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            map_io(key, e)
        })
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.path(key)?.is_file())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match std::fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == IoKind::NotFound => Ok(()),
            Err(e) => Err(map_io(key, e)),
        }
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}
