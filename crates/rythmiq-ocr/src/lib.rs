//! Tesseract and Leptonica through their C APIs, in-process.
//!
//! - [`decode`]: bytes to an 8-bit grey image, with the size checked from the header before any pixel is decoded.
//! - [`OcrEngine`]: one loaded LSTM model; keep one per worker thread and reuse it (warm).
//! - [`OsdEngine`]: Tesseract's orientation detector, used by the standard path only.
//!
//! Invariant: this crate is the only one with `unsafe` and the only one that links C.

mod decode;
mod engine;
mod models;
mod sys;

pub use decode::{decode, DecodeError, DecodeLimits, Decoded};
pub use engine::{tesseract_version, OcrEngine, OcrError, OcrPage, OsdEngine, Orientation};
pub use models::{model_dir, verify_model, ModelError};
