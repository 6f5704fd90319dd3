//! Domain types shared by every Rythmiq One crate. No I/O, no engine, no database: just the vocabulary.

mod error;
mod flags;
pub mod intake;
mod result;
mod stage;

pub use error::{ErrorChain, ErrorKind, PipelineError};
pub use flags::{EngineKind, ModelKind, OptimisationFlags};
pub use result::{BBox, Block, Line, ModelInfo, Page, QualityFeatures, ResultDocument, Word, RESULT_SCHEMA_VERSION};
pub use stage::{DocumentRun, PagesByEngine, PathKind, Stage, StageRecord};

/// Lower-case hex sha256 of `bytes`: the content hash that keys idempotent enqueues, result keys and the cache.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
