//! The seven pipeline stages, the two routes through them, and the per-stage measurement record.

use serde::{Deserialize, Serialize};

use crate::{EngineKind, ErrorKind, ModelKind, OptimisationFlags};

/// A pipeline stage, in execution order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Fetch,
    QualityScoring,
    PreOcr,
    Enhancement,
    Ocr,
    SchemaAdaptation,
    Upload,
}

impl Stage {
    /// Every stage, in the order the pipeline runs them.
    pub const ALL: [Stage; 7] = [
        Stage::Fetch,
        Stage::QualityScoring,
        Stage::PreOcr,
        Stage::Enhancement,
        Stage::Ocr,
        Stage::SchemaAdaptation,
        Stage::Upload,
    ];

    /// The stable name used in metrics rows, JSON and Prometheus labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Fetch => "fetch",
            Stage::QualityScoring => "quality_scoring",
            Stage::PreOcr => "pre_ocr",
            Stage::Enhancement => "enhancement",
            Stage::Ocr => "ocr",
            Stage::SchemaAdaptation => "schema_adaptation",
            Stage::Upload => "upload",
        }
    }

    /// Parses the stable name back.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the fast path skips this stage.
    pub fn skipped_on_fast_path(self) -> bool {
        matches!(self, Stage::PreOcr | Stage::Enhancement)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The route a page takes: its PDF text layer when it has a usable one, otherwise by its quality score. A
/// document's route is the costliest of its pages' (`standard` > `fast` > `text_layer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// A PDF page with a usable text layer: no OCR; `pre_ocr` and `enhancement` are skipped, the other stages
    /// run (the `ocr` stage adapts the text layer's words).
    TextLayer,
    /// Quality at or above the threshold: `pre_ocr` and `enhancement` are skipped.
    Fast,
    /// Everything else: all seven stages run.
    Standard,
}

impl PathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::TextLayer => "text_layer",
            PathKind::Fast => "fast",
            PathKind::Standard => "standard",
        }
    }

    pub fn parse(name: &str) -> Option<PathKind> {
        match name {
            "text_layer" => Some(PathKind::TextLayer),
            "fast" => Some(PathKind::Fast),
            "standard" => Some(PathKind::Standard),
            _ => None,
        }
    }
}

impl std::fmt::Display for PathKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one stage cost for one document. This is the unit the `cpu_metrics` table stores, one row each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: Stage,
    /// CPU of the thread that ran the stage plus every helper thread it used (OpenMP, scoped helpers), seconds.
    pub cpu_seconds: f64,
    /// The part of `cpu_seconds` that was spent on helper threads, seconds.
    pub helper_cpu_seconds: f64,
    /// Wall-clock duration of the stage, seconds.
    pub wall_seconds: f64,
    /// The stage did not run on this document's path (recorded, never left out).
    pub skipped: bool,
}

impl StageRecord {
    pub fn skipped(stage: Stage) -> StageRecord {
        StageRecord { stage, cpu_seconds: 0.0, helper_cpu_seconds: 0.0, wall_seconds: 0.0, skipped: true }
    }
}

/// A document's pages by the engine whose reading its result kept (`auto` reads some pages with each); a page of
/// the `text_layer` route was read by no engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagesByEngine {
    pub tesseract: u32,
    pub ppocr: u32,
}

impl PagesByEngine {
    /// One more page read by `engine` (`auto` is not a reader: it picks one of the two).
    pub fn count(&mut self, engine: EngineKind) {
        match engine {
            EngineKind::Tesseract => self.tesseract += 1,
            EngineKind::Ppocr => self.ppocr += 1,
            EngineKind::Auto => {}
        }
    }

    pub fn add(&mut self, other: PagesByEngine) {
        self.tesseract += other.tesseract;
        self.ppocr += other.ppocr;
    }

    pub fn total(&self) -> u32 {
        self.tesseract + self.ppocr
    }
}

/// The measured outcome of one document through the pipeline: what the metrics store and the bench consume.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentRun {
    /// Caller-chosen document id (the job id in the worker, the file name in the bench).
    pub document_id: String,
    /// Path taken; `None` when the document failed before routing.
    pub path: Option<PathKind>,
    /// The fast path's OCR came back with low confidence and the document was run again on the standard path
    /// (its `ocr` stage holds both attempts).
    pub rerouted: bool,
    /// Quality score from `quality_scoring`, when it ran.
    pub quality_score: Option<f64>,
    /// First document on a fresh engine: its `ocr` stage includes the model load.
    pub cold_start: bool,
    /// CPU spent loading models during this document (0 when warm); already included in its `ocr`/`pre_ocr` stage.
    pub model_load_cpu_seconds: f64,
    /// One record per stage that was reached, in order; skipped stages are present with `skipped = true`.
    pub stages: Vec<StageRecord>,
    pub model: ModelKind,
    pub flags: OptimisationFlags,
    pub input_bytes: u64,
    pub pages: u32,
    /// Set when the document failed; the stages it reached are still recorded.
    pub error: Option<(ErrorKind, String)>,
    /// Where the result document was written, when it was.
    pub result_key: Option<String>,
    /// Whether the result came from the result cache (OCR skipped).
    pub cache_hit: bool,
    /// Its pages by the engine that read them (none on a cache hit).
    #[serde(default)]
    pub pages_by_engine: PagesByEngine,
}

impl DocumentRun {
    /// Total CPU seconds over every stage.
    pub fn cpu_seconds(&self) -> f64 {
        self.stages.iter().map(|s| s.cpu_seconds).sum()
    }

    /// Total wall seconds over every stage.
    pub fn wall_seconds(&self) -> f64 {
        self.stages.iter().map(|s| s.wall_seconds).sum()
    }

    pub fn stage(&self, stage: Stage) -> Option<&StageRecord> {
        self.stages.iter().find(|s| s.stage == stage)
    }
}
