//! Tesseract and Leptonica through their C APIs, in-process.
//!
//! - [`open`]: a document's bytes to its pages (images, multi-page TIFFs, PDFs through sandboxed poppler tools),
//!   with the structure, page count and every page's size checked before any page is decoded;
//! - [`decode`]: bytes to an 8-bit grey image, with the size checked from the header before any pixel is decoded.
//! - [`OcrEngine`]: one loaded LSTM model; keep one per worker thread and reuse it (warm).
//! - [`OsdEngine`]: Tesseract's orientation detector, used by the standard path only.
//!
//! Invariant: this crate is the only one with `unsafe` and the only one that links C.

mod decode;
mod document;
mod engine;
mod heap;
mod models;
pub mod pdf;
pub mod sandbox;
mod sys;
mod sys_wait;

pub use decode::{decode, DecodeError, DecodeLimits, Decoded, MIN_SIDE_PX};
pub use document::{open, Document, LoadedPage, PageContent};
pub use engine::{tesseract_version, OcrEngine, OcrError, OcrPage, Orientation, OsdEngine};
pub use heap::release_freed_heap;
pub use models::{model_dir, verify_model, ModelError};
