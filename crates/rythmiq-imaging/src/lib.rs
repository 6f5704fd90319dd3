//! Grey-image operations in plain Rust: the measurements behind the quality score, and the corrections of the
//! standard path (rotation, deskew, normalisation, denoise, rescale, sharpen). Nothing here decodes files or
//! calls C: the OCR crate decodes, this crate only sees 8-bit grey pixels.

mod gray;
mod ops;
mod quality;

pub use gray::GrayImage;
pub use ops::{
    denoise_median3, histogram, otsu_threshold, percentile, resize, rotate_quarter, rotate_small, stretch_contrast,
    unsharp_mask,
};
pub use quality::{measure, score, skew_and_orientation, text_height, Measured, ScoreWeights};
