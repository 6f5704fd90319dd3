//! The versioned result document that `schema_adaptation` produces and `upload` stores.
//! Its JSON Schema is `schemas/result-document.v2.json` at the repository root; tests validate against it.
//! (`v1`, whose boxes were in working-image pixels and which had no per-page text or route, is superseded.)

use serde::{Deserialize, Serialize};

use crate::{ModelKind, OptimisationFlags, PathKind};

/// Bumped on any change a consumer could notice; consumers must check it.
pub const RESULT_SCHEMA_VERSION: &str = "rythmiq.result/v2";

/// Measured image features and the quality score derived from them. All lengths are in pixels of the working image
/// (the decoded image after any pre-resize; `Page::scale_applied` relates the two).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityFeatures {
    pub width_px: u32,
    pub height_px: u32,
    /// Resolution stated in the file header, if any.
    pub dpi: Option<u32>,
    /// Median height of text-like connected components (roughly the x-height), pixels.
    pub text_height_px: f64,
    /// Spread between dark and light grey levels (5th to 95th percentile), 0..1.
    pub contrast: f64,
    /// Mean absolute Laplacian response on edges, normalised 0..1 (higher is sharper).
    pub sharpness: f64,
    /// Estimated noise standard deviation in grey levels (Immerkaer's method).
    pub noise_sigma: f64,
    /// Estimated skew of text lines, degrees (positive: counter-clockwise).
    pub skew_degrees: f64,
    /// Estimated clockwise rotation of the page content: 0, 90, 180 or 270.
    pub orientation_degrees: u32,
    /// Confidence of the orientation estimate, 0..1.
    pub orientation_confidence: f64,
    /// Fraction of dark (ink) pixels.
    pub ink_ratio: f64,
    /// The combined score in [0, 1]; at or above the routing threshold the document takes the fast path.
    pub score: f64,
}

/// An axis-aligned box, in pixels of the page as submitted: origin at the top-left corner, x to the right, y down,
/// `right`/`bottom` exclusive. For an image that is the image's own pixel grid (before any pre-resize, rotation or
/// deskew); for a PDF page it is the page rendered at `Page::dpi` (points x dpi / 72).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BBox {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub text: String,
    pub bbox: BBox,
    /// Tesseract's word confidence, 0..100.
    pub confidence: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub bbox: BBox,
    pub words: Vec<Word>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub bbox: BBox,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// 0-based position of the page in the submitted document.
    pub page_idx: u32,
    /// The route this page took (`text_layer` for a PDF page read from its text layer, without OCR).
    pub route: PathKind,
    /// Size of the page as submitted, in the pixels its boxes use.
    pub width_px: u32,
    pub height_px: u32,
    /// Resolution of that pixel grid: the header's for an image (when stated), the render DPI for a PDF page.
    pub dpi: Option<u32>,
    /// The page's plain text: lines separated by `\n`, blocks by a blank line.
    pub text: String,
    /// Mean word confidence, 0..100 (100 for a text layer, 0 when no words).
    pub mean_confidence: f32,
    /// Clockwise rotation applied before OCR (0 on the fast path).
    pub rotation_applied_degrees: u32,
    /// Deskew applied before OCR, degrees.
    pub deskew_applied_degrees: f64,
    /// Scale factor applied before OCR (1.0 when unchanged).
    pub scale_applied: f64,
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub kind: ModelKind,
    pub sha256: String,
    pub tesseract_version: String,
    /// Segmentation mode of the last OCRed page (0 when every page came from a text layer).
    pub page_seg_mode: u32,
}

/// The product's output for one document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultDocument {
    pub schema_version: String,
    /// sha256 of the input bytes. The document holds no job or request id: it is a pure function of the input
    /// and the output-affecting config, so a retried upload writes the same bytes under the same key.
    pub content_sha256: String,
    pub path: PathKind,
    pub quality: QualityFeatures,
    pub model: ModelInfo,
    pub flags: OptimisationFlags,
    pub pages: Vec<Page>,
    /// Plain text of every page, in order, pages separated by a form feed (`\f`) as the tesseract CLI does.
    pub text: String,
    /// Mean word confidence over every page's words, 0..100 (0 when no words).
    pub mean_confidence: f32,
}
