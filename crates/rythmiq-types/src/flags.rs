//! The optimisation flags in force for a document, recorded on every metrics row and in every result document.

use serde::{Deserialize, Serialize};

/// Which Tesseract LSTM model the OCR stage loads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// tessdata_fast: smaller integer network, cheaper, less accurate.
    Fast,
    /// tessdata_best converted to integer: larger network, more accurate; the `tesseract` engine's default
    /// (`EngineKind::default_model`, docs/tuning.md).
    #[default]
    BestInt,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Fast => "fast",
            ModelKind::BestInt => "best_int",
        }
    }

    pub fn parse(name: &str) -> Option<ModelKind> {
        match name {
            "fast" => Some(ModelKind::Fast),
            "best_int" | "best" => Some(ModelKind::BestInt),
            _ => None,
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which OCR engine the `ocr` stage runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Tesseract LSTM, in-process (the `model` flag picks its model).
    Tesseract,
    /// PP-OCR (PP-OCRv6 small: DB detection + CTC recognition) on ONNX Runtime, one thread.
    Ppocr,
    /// Page by page: PP-OCR for receipt-shaped pages (taller than 1.5x their width), Tesseract for the rest
    /// (the rule, its optional re-reads and the measurements that chose it: docs/tuning.md). The default: the
    /// most accurate engine per CPU-second measured (docs/tuning.md, "The shipped engine").
    #[default]
    Auto,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Tesseract => "tesseract",
            EngineKind::Ppocr => "ppocr",
            EngineKind::Auto => "auto",
        }
    }

    pub fn parse(name: &str) -> Option<EngineKind> {
        match name {
            "tesseract" => Some(EngineKind::Tesseract),
            "ppocr" => Some(EngineKind::Ppocr),
            "auto" => Some(EngineKind::Auto),
            _ => None,
        }
    }

    /// Whether the engine loads the PP-OCR models.
    pub fn uses_ppocr(self) -> bool {
        self != EngineKind::Tesseract
    }

    /// The Tesseract model when none is configured: `best_int` for `tesseract`, `fast` for `auto`, whose
    /// Tesseract reads only page-shaped pages, where `fast` reads as well for a tenth less of `auto`'s CPU
    /// (docs/tuning.md). PP-OCR loads no Tesseract model; its default is `tesseract`'s.
    pub fn default_model(self) -> ModelKind {
        match self {
            EngineKind::Auto => ModelKind::Fast,
            EngineKind::Tesseract | EngineKind::Ppocr => ModelKind::BestInt,
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The optimisation switches of the readiness framework's table 5.1, as they were for one document.
///
/// The defaults are the measured choice of `rythmiq bench --compare` (docs/tuning.md): the cheapest configuration
/// whose bag-of-words F1 is within 0.5 point of the most accurate one measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimisationFlags {
    /// OpenMP threads per OCR engine (`OMP_THREAD_LIMIT` of the process).
    pub ocr_threads: u32,
    /// Pre-resize: the longest side, in pixels, that the working image is capped to before the expensive
    /// stages; `None` keeps the decoded resolution (in a config file, give a value above any page, e.g. 100000).
    pub max_working_side_px: Option<u32>,
    /// Skip `pre_ocr` on the standard path when the quality score is at or above this; `None` never skips.
    pub skip_pre_ocr_above: Option<f64>,
    pub model: ModelKind,
    /// Serve repeats of the same content + output-affecting config + model from the result cache.
    pub result_cache: bool,
    /// The OCR engine (`--engine`).
    pub engine: EngineKind,
}

impl Default for OptimisationFlags {
    fn default() -> Self {
        OptimisationFlags {
            ocr_threads: 1,
            max_working_side_px: Some(3000),
            skip_pre_ocr_above: None,
            model: EngineKind::default().default_model(),
            result_cache: false,
            engine: EngineKind::default(),
        }
    }
}

impl OptimisationFlags {
    /// A short stable label such as `threads=1,resize=off,skip_pre_ocr=off,model=fast,cache=off,engine=tesseract`.
    pub fn label(&self) -> String {
        let resize = self.max_working_side_px.map_or("off".to_string(), |px| px.to_string());
        let skip = self.skip_pre_ocr_above.map_or("off".to_string(), |q| format!("{q}"));
        format!(
            "threads={},resize={},skip_pre_ocr={},model={},cache={},engine={}",
            self.ocr_threads,
            resize,
            skip,
            self.model,
            if self.result_cache { "on" } else { "off" },
            self.engine
        )
    }
}
