//! The seven-stage document pipeline (`fetch`, `quality_scoring`, `pre_ocr`, `enhancement`, `ocr`,
//! `schema_adaptation`, `upload`), run page by page inside a document, its text_layer/fast/standard routing, and
//! per-stage CPU capture. See README.md for the diagram.
//!
//! Invariant: the pipeline never sees HTTP, SQL or a storage backend: inputs and results go through
//! `rythmiq_storage::ObjectStore`, and measurements leave as `DocumentRun` values for others to persist.

pub mod config;
pub mod cpu;
pub mod engines;
pub mod geometry;
pub mod oneshot;
mod pipeline;
mod stages;

pub use config::{ConfigError, PageSegPolicy, PipelineConfig, RouteOverride};
pub use pipeline::{route, Pipeline, Processed};
pub use stages::{Ocr, Upload};
