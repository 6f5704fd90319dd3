//! Pipeline configuration: a serde struct that files, `RYTHMIQ_*` variables and flags fill in, and `build()`
//! that validates it into the runtime settings.

use std::path::PathBuf;

use rythmiq_types::{EngineKind, ModelKind, OptimisationFlags, PipelineError};
use serde::{Deserialize, Serialize};

/// How the OCR stage picks Tesseract's page segmentation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageSegPolicy {
    /// By document shape: tall narrow pages (receipts: height above 1.6 x width) use mode 6 (one uniform block,
    /// which keeps right-aligned prices on their line); everything else mode 3 (automatic layout, for columns).
    /// Measured on the sample corpus: see docs/tuning.md.
    ByKind,
    /// Always this mode.
    Fixed(u32),
}

/// Which path to take, normally decided by the quality score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteOverride {
    Auto,
    ForceFast,
    ForceStandard,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Directory holding `fast/`, `best_int/`, `osd/` and `SHA256SUMS`.
    pub models_dir: PathBuf,
    /// Quality score at or above which a document takes the fast path (skips `pre_ocr` and `enhancement`).
    pub fast_path_threshold: f64,
    /// Forces a path for experiments (`bench --route`); production leaves it `auto`.
    pub route: RouteOverride,
    /// Width x height above this is refused from the image header, before decoding.
    pub max_image_pixels: u64,
    /// Inputs above this many bytes are refused before decoding.
    pub max_input_bytes: u64,
    /// Documents (PDF, multi-page TIFF) with more pages than this are refused from their structure
    /// (`too_many_pages`).
    pub max_pages: u32,
    /// Resolution PDF pages without a usable text layer are rendered at for OCR; also the unit of every PDF
    /// page's boxes (pixels at this DPI).
    pub pdf_dpi: u32,
    /// Text height (median glyph height, pixels) that `enhancement` rescales toward.
    pub target_text_height_px: f64,
    pub page_seg_mode: PageSegPolicy,
    /// When the fast path's OCR mean word confidence (0..100) is below this, the document is run again on the
    /// standard path (an upside-down page scores well on image quality but reads as garbage); `None` never.
    pub reroute_below_confidence: Option<f32>,
    /// A page PP-OCR read with a mean word confidence (0..100) below this is read again turned half a turn, and the
    /// more confident reading is kept: PP-OCR reads upside-down text confidently enough to pass the reroute (70-75
    /// on turned receipts, 93 or more upright, on tune; docs/tuning.md), and OSD is unreliable on receipts.
    /// `None` never.
    pub ppocr_turn_below_confidence: Option<f32>,
    /// Minimum OSD confidence to rotate a page. On the sample corpus truly turned pages scored 9.6-11.0 and
    /// upright receipts up to 2.95 with a wrong answer, so 5 separates them.
    pub min_orientation_confidence: f32,
    /// The optimisation switches (recorded on every metrics row).
    pub flags: OptimisationFlags,
    /// The ONNX Runtime library the PP-OCR engine loads (`scripts/install-onnxruntime` puts it at the default).
    pub ort_lib: PathBuf,
    /// `auto` engine: a Tesseract line whose mean word confidence (0..100) is below this is re-read by PP-OCR.
    pub auto_line_confidence: f32,
    /// `auto` engine: when Tesseract's page mean word confidence is below this, PP-OCR reads the whole page
    /// instead; `None` never.
    pub auto_page_confidence: Option<f32>,
    /// `auto` engine: pages taller than this many times their width (receipts) go to PP-OCR alone, without a
    /// Tesseract pass; `None` never.
    pub auto_ppocr_min_aspect: Option<f64>,
    /// `auto` engine: pages whose quality score is below this go to PP-OCR alone; `None` never.
    pub auto_ppocr_below_score: Option<f64>,
    /// PP-OCR: pages with a longer side above this are scaled down before detection and recognition.
    pub ppocr_max_side_px: u32,
    /// PP-OCR: the detector's input has its shorter side raised to at least this.
    pub ppocr_det_min_side_px: u32,
}

/// The `auto` engine's line threshold (0: no line re-reads), measured (docs/tuning.md, engine section).
pub const DEFAULT_AUTO_LINE_CONFIDENCE: f32 = 0.0;
/// The `auto` engine's whole-page threshold, measured (docs/tuning.md, engine section).
pub const DEFAULT_AUTO_PAGE_CONFIDENCE: Option<f32> = None;
/// The `auto` engine's shape rule, measured (docs/tuning.md, engine section).
pub const DEFAULT_AUTO_PPOCR_MIN_ASPECT: Option<f64> = Some(1.5);
/// The `auto` engine's quality rule, measured (docs/tuning.md, engine section).
pub const DEFAULT_AUTO_PPOCR_BELOW_SCORE: Option<f64> = None;
/// PP-OCR's upside-down check, measured (docs/tuning.md, "Upside-down pages under PP-OCR").
pub const DEFAULT_PPOCR_TURN_BELOW_CONFIDENCE: Option<f32> = Some(84.0);

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            models_dir: PathBuf::from("models"),
            fast_path_threshold: 0.8,
            route: RouteOverride::Auto,
            max_image_pixels: 40_000_000,
            max_input_bytes: 50 * 1024 * 1024,
            max_pages: 200,
            pdf_dpi: 300,
            target_text_height_px: 24.0,
            page_seg_mode: PageSegPolicy::ByKind,
            min_orientation_confidence: 5.0,
            reroute_below_confidence: Some(50.0),
            ppocr_turn_below_confidence: DEFAULT_PPOCR_TURN_BELOW_CONFIDENCE,
            flags: OptimisationFlags::default(),
            ort_lib: PathBuf::from(rythmiq_ppocr::DEFAULT_RUNTIME_PATH),
            auto_line_confidence: DEFAULT_AUTO_LINE_CONFIDENCE,
            auto_page_confidence: DEFAULT_AUTO_PAGE_CONFIDENCE,
            auto_ppocr_min_aspect: DEFAULT_AUTO_PPOCR_MIN_ASPECT,
            auto_ppocr_below_score: DEFAULT_AUTO_PPOCR_BELOW_SCORE,
            ppocr_max_side_px: rythmiq_ppocr::MAX_SIDE_LEN,
            ppocr_det_min_side_px: rythmiq_ppocr::DET_MIN_SIDE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid pipeline config: {0}")]
pub struct ConfigError(pub String);

impl PipelineConfig {
    /// Checks every field's range; the pipeline only ever sees a validated config.
    /// [`Self::validate_settings`], then [`Self::check_models`]: everything a pipeline needs to start.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_settings()?;
        self.check_models()
    }

    /// The settings are in range (what a command that never loads a model checks).
    pub fn validate_settings(&self) -> Result<(), ConfigError> {
        let err = |m: &str| Err(ConfigError(m.to_string()));
        if !(0.0..=1.0).contains(&self.fast_path_threshold) {
            return err("fast_path_threshold must be within 0..=1");
        }
        if self.max_image_pixels == 0 || self.max_input_bytes == 0 {
            return err("max_image_pixels and max_input_bytes must be positive");
        }
        if !(1..=10_000).contains(&self.max_pages) {
            return err("max_pages must be within 1..=10000");
        }
        if !(72..=1200).contains(&self.pdf_dpi) {
            return err("pdf_dpi must be within 72..=1200");
        }
        if !(6.0..=200.0).contains(&self.target_text_height_px) {
            return err("target_text_height_px must be within 6..=200");
        }
        if !(1..=64).contains(&self.flags.ocr_threads) {
            return err("flags.ocr_threads must be within 1..=64");
        }
        if let Some(px) = self.flags.max_working_side_px {
            if px < 256 {
                return err("flags.max_working_side_px must be at least 256");
            }
        }
        if let Some(q) = self.flags.skip_pre_ocr_above {
            if !(0.0..=1.0).contains(&q) {
                return err("flags.skip_pre_ocr_above must be within 0..=1");
            }
        }
        if let PageSegPolicy::Fixed(psm) = self.page_seg_mode {
            if !(1..=13).contains(&psm) || psm == 2 {
                return err("page_seg_mode must be 1 or 3..=13 (0 and 2 produce no text)");
            }
        }
        if !(0.0..=100.0).contains(&self.auto_line_confidence) {
            return err("auto_line_confidence must be within 0..=100");
        }
        if self.auto_page_confidence.is_some_and(|c| !(0.0..=100.0).contains(&c)) {
            return err("auto_page_confidence must be within 0..=100");
        }
        if self.ppocr_turn_below_confidence.is_some_and(|c| !(0.0..=100.0).contains(&c)) {
            return err("ppocr_turn_below_confidence must be within 0..=100");
        }
        if self.auto_ppocr_min_aspect.is_some_and(|a| !(a > 0.0 && a.is_finite())) {
            return err("auto_ppocr_min_aspect must be a positive number");
        }
        if self.auto_ppocr_below_score.is_some_and(|q| !(0.0..=1.0).contains(&q)) {
            return err("auto_ppocr_below_score must be within 0..=1");
        }
        if !(320..=8000).contains(&self.ppocr_max_side_px) || !(32..=4000).contains(&self.ppocr_det_min_side_px) {
            return err("ppocr_max_side_px must be within 320..=8000 and ppocr_det_min_side_px within 32..=4000");
        }
        Ok(())
    }

    /// The configured OCR model is where the config says.
    pub fn check_models(&self) -> Result<(), ConfigError> {
        let model_file = self.models_dir.join(self.flags.model.as_str()).join("eng.traineddata");
        if !model_file.is_file() {
            return Err(ConfigError(format!(
                "model {} not found at {} (set models_dir / RYTHMIQ_MODELS_DIR)",
                self.flags.model,
                model_file.display()
            )));
        }
        Ok(())
    }

    /// This config's output fingerprint: [`Self::output_fingerprint`] of the model its engine loads (the model
    /// file's sha256, checked against `models/SHA256SUMS`, without loading it; the PP-OCR models' pinned hash for
    /// the `ppocr` engine). The one function both intake (API, `rythmiq enqueue`) and the worker's pipeline call:
    /// intake stores it on each job, the pipeline refuses a job admitted under another (`config_mismatch`).
    pub fn fingerprint(&self) -> Result<String, PipelineError> {
        let model_sha256 = match self.flags.engine {
            EngineKind::Ppocr => rythmiq_ppocr::models_sha256(),
            EngineKind::Tesseract | EngineKind::Auto => {
                rythmiq_ocr::verify_model(&self.models_dir, self.flags.model.as_str(), "eng")
                    .map_err(|err| PipelineError::from(rythmiq_ocr::OcrError::from(err)))?
            }
        };
        Ok(self.output_fingerprint(&model_sha256))
    }

    /// The part of the config that changes the output. Its hash keys results and the result cache, so a result
    /// made under another model or setting is never served for this one.
    pub fn output_fingerprint(&self, model_sha256: &str) -> String {
        let f = &self.flags;
        let text = format!(
            "{}|model={}:{}|threshold={}|route={:?}|target={}|psm={:?}|osd={}|reroute={:?}|resize={:?}|skip_pre_ocr={:?}|pdf_dpi={}|v={}",
            rythmiq_types::RESULT_SCHEMA_VERSION,
            f.model,
            model_sha256,
            self.fast_path_threshold,
            self.route,
            self.target_text_height_px,
            self.page_seg_mode,
            self.min_orientation_confidence,
            self.reroute_below_confidence,
            f.max_working_side_px,
            f.skip_pre_ocr_above,
            self.pdf_dpi,
            env!("CARGO_PKG_VERSION"),
        );
        // Tesseract alone keeps the fingerprint it always had (results made before engines existed stay valid).
        let text = match f.engine {
            EngineKind::Tesseract => text,
            EngineKind::Ppocr => {
                format!(
                    "{text}|engine=ppocr:{}{}|ppocr_turn={:?}",
                    rythmiq_ppocr::models_sha256(),
                    self.ppocr_sizes(),
                    self.ppocr_turn_below_confidence
                )
            }
            EngineKind::Auto => {
                format!(
                    "{text}|engine=auto:{}{}|ppocr_turn={:?}|auto_line={}|auto_page={:?}|auto_aspect={:?}|auto_score={:?}",
                    rythmiq_ppocr::models_sha256(),
                    self.ppocr_sizes(),
                    self.ppocr_turn_below_confidence,
                    self.auto_line_confidence,
                    self.auto_page_confidence,
                    self.auto_ppocr_min_aspect,
                    self.auto_ppocr_below_score
                )
            }
        };
        rythmiq_types::sha256_hex(text.as_bytes())[..16].to_string()
    }

    /// The PP-OCR settings that change its output, for the fingerprint.
    fn ppocr_sizes(&self) -> String {
        let o = self.ppocr_options();
        format!(
            "|ppocr_side={}/{}|det_strip={}|rec_batch={}",
            o.max_side_len, o.det.limit_side_len, o.det_strip_rows, o.rec_batch
        )
    }

    /// The `auto` engine's rule from this config.
    pub fn auto_rule(&self) -> crate::engines::AutoRule {
        crate::engines::AutoRule {
            ppocr_min_aspect: self.auto_ppocr_min_aspect,
            ppocr_below_score: self.auto_ppocr_below_score,
            page_confidence: self.auto_page_confidence,
            line_confidence: self.auto_line_confidence,
        }
    }

    /// The PP-OCR engine's options from this config.
    pub fn ppocr_options(&self) -> rythmiq_ppocr::PpOcrOptions {
        let mut o = rythmiq_ppocr::PpOcrOptions { max_side_len: self.ppocr_max_side_px, ..Default::default() };
        o.det.limit_side_len = self.ppocr_det_min_side_px;
        o
    }

    pub fn model(&self) -> ModelKind {
        self.flags.model
    }
}
