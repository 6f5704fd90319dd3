//! The bench's record (`rythmiq bench --output`): the figures of the readiness framework's section 3.1, each
//! computed from the measured runs. The bench writes it; the report, the A/B comparison and the planner read it.

use std::collections::BTreeMap;

use rythmiq_types::{PathKind, Stage};
use serde::{Deserialize, Serialize};

/// The fast/standard split the framework expects (70% of documents on the fast path).
pub const EXPECTED_FAST_SHARE: f64 = 0.70;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Mean CPU seconds per warm document (skipped stages count as 0).
    pub cpu_seconds_per_doc: f64,
    /// Share of the total CPU per document, 0..1.
    pub share: f64,
    pub wall_seconds_per_doc: f64,
    /// Documents on which the stage was skipped.
    pub skipped: usize,
    /// Of which CPU on helper threads, per document.
    pub helper_cpu_seconds_per_doc: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PathSummary {
    pub documents: usize,
    pub cpu_seconds_per_doc: f64,
    /// Pages of those documents, and the CPU per page (a document's route is its costliest page's).
    #[serde(default)]
    pub pages: usize,
    #[serde(default)]
    pub cpu_seconds_per_page: f64,
    pub cer: Option<f64>,
    pub bow_f1: Option<f64>,
}

/// The warm documents by route, one field per [`PathKind`] (a path no document took has zero documents).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PathSplit {
    /// Documents whose every page was read from a PDF text layer (no OCR).
    pub text_layer: PathSummary,
    pub fast: PathSummary,
    pub standard: PathSummary,
}

impl PathSplit {
    pub fn get(&self, path: PathKind) -> &PathSummary {
        match path {
            PathKind::TextLayer => &self.text_layer,
            PathKind::Fast => &self.fast,
            PathKind::Standard => &self.standard,
        }
    }

    pub fn get_mut(&mut self, path: PathKind) -> &mut PathSummary {
        match path {
            PathKind::TextLayer => &mut self.text_layer,
            PathKind::Fast => &mut self.fast,
            PathKind::Standard => &mut self.standard,
        }
    }

    /// Documents that took any route: the divisor of the weighted average.
    pub fn documents(&self) -> usize {
        self.text_layer.documents + self.fast.documents + self.standard.documents
    }

    /// Fast documents / OCRed (fast + standard) documents: the framework's split; `None` when none was OCRed.
    pub fn fast_share(&self) -> Option<f64> {
        let n = self.fast.documents + self.standard.documents;
        (n > 0).then(|| self.fast.documents as f64 / n as f64)
    }

    /// CPU per page on the text_layer route divided by CPU per page on the OCR routes (fast and standard), when
    /// both were measured: what reading a PDF's text layer costs against OCRing a page.
    pub fn text_layer_cpu_ratio(&self) -> Option<f64> {
        let ocr_pages = self.fast.pages + self.standard.pages;
        let ocr_cpu = self.fast.cpu_seconds_per_page * self.fast.pages as f64
            + self.standard.cpu_seconds_per_page * self.standard.pages as f64;
        (self.text_layer.pages > 0 && ocr_pages > 0 && ocr_cpu > 0.0)
            .then(|| self.text_layer.cpu_seconds_per_page / (ocr_cpu / ocr_pages as f64))
    }

    /// (n_fast x cpu_fast + n_standard x cpu_standard) / (n_fast + n_standard): the mean weighted by the measured
    /// split. The divisor is the documents the numerator counts, never another count (a warm document without a
    /// path would otherwise drag the average down). 0 when no document was routed.
    pub fn weighted_cpu_seconds_per_doc(&self) -> f64 {
        let n = self.documents();
        if n == 0 {
            return 0.0;
        }
        (self.text_layer.documents as f64 * self.text_layer.cpu_seconds_per_doc
            + self.fast.documents as f64 * self.fast.cpu_seconds_per_doc
            + self.standard.documents as f64 * self.standard.cpu_seconds_per_doc)
            / n as f64
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColdStart {
    /// The first document on a fresh engine, model load included.
    pub cold_seconds: f64,
    /// The same document again on the warm engine.
    pub warm_seconds: f64,
    pub penalty_seconds: f64,
    pub penalty_percent: f64,
    /// CPU of loading the models (inside `cold_seconds`).
    pub model_load_seconds: f64,
    pub document: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub cer: f64,
    pub bow_f1: f64,
    /// Successful documents (cold one included) that had ground truth.
    pub documents: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerDocument {
    pub index: usize,
    pub document: String,
    pub path: Option<PathKind>,
    pub cold_start: bool,
    pub quality_score: Option<f64>,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    /// CPU seconds per stage that ran or was skipped for this document.
    pub stages: BTreeMap<Stage, f64>,
    pub cer: Option<f64>,
    pub bow_f1: Option<f64>,
    pub error: Option<String>,
    /// Its pages by the engine that read them (absent in summaries written before it existed).
    #[serde(default)]
    pub pages_by_engine: rythmiq_types::PagesByEngine,
}

/// One `tesseract` CLI configuration's figures over the distinct documents of a bench run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CliBaseline {
    pub label: String,
    /// `OMP_THREAD_LIMIT` given to the CLI (`None`: the CLI's default, OpenMP on all cores).
    pub omp_thread_limit: Option<u32>,
    pub documents: usize,
    pub cpu_seconds_per_doc: f64,
    pub wall_seconds_per_doc: f64,
    pub cer: f64,
    pub bow_f1: f64,
    /// Per document name: CPU seconds.
    pub per_document_cpu: Vec<(String, f64)>,
    pub failures: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    pub cli: Vec<CliBaseline>,
    /// Our warm CPU-seconds per document over the same distinct documents the CLI ran.
    pub pipeline_cpu_seconds_per_doc: f64,
    /// Our accuracy over the same distinct documents.
    pub pipeline_cer: Option<f64>,
    pub pipeline_bow_f1: Option<f64>,
    /// CLI CPU per document divided by ours, keyed by the CLI configuration's label (higher: we are cheaper).
    pub cpu_ratios: BTreeMap<String, f64>,
}

/// The bench's JSON output (`--output`); the report reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchSummary {
    pub run_date: String,
    pub documents: usize,
    pub warm_documents: usize,
    pub corpus_documents: usize,
    /// Mean CPU seconds per warm, successful document: the figure the capacity projections use.
    pub cpu_seconds_per_doc: f64,
    pub wall_seconds_per_doc: f64,
    /// Every stage of [`Stage::ALL`] (the bench writes them all; a record missing one renders it as not measured).
    pub stages: BTreeMap<Stage, StageSummary>,
    pub paths: PathSplit,
    /// [`PathSplit::weighted_cpu_seconds_per_doc`]: equals `cpu_seconds_per_doc` when every warm document was
    /// routed; shown as a check.
    pub weighted_cpu_seconds_per_doc: f64,
    /// [`PathSplit::text_layer_cpu_ratio`], recorded so a reader needs no arithmetic.
    #[serde(default)]
    pub text_layer_cpu_ratio: Option<f64>,
    pub cold_start: Option<ColdStart>,
    pub accuracy: Option<Accuracy>,
    pub process_cpu_seconds: f64,
    /// Sum of every stage's CPU over the measured loop.
    pub stage_cpu_seconds: f64,
    /// (process CPU - stage CPU) / process CPU over the measured loop.
    pub unattributed_cpu_share: f64,
    pub errors: BTreeMap<String, usize>,
    pub peak_rss_mb: f64,
    /// Peak RSS minus RSS before the engines loaded.
    pub engine_rss_mb: f64,
    /// The flag set, as `OptimisationFlags::label` prints it.
    pub flags: String,
    pub model: String,
    pub ocr_threads: u32,
    pub fast_path_threshold: f64,
    pub per_document: Vec<PerDocument>,
    pub baseline: Option<Baselines>,
    /// Accuracy and CPU per document kind and per split (absent in summaries written before it existed).
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
    /// The machine the CPU figures were measured on (absent in older outputs): the capacity planner names it.
    #[serde(default)]
    pub host: Option<String>,
    /// Its logical cores.
    #[serde(default)]
    pub cores: Option<u32>,
}

impl BenchSummary {
    /// The engine mix: the pages of the distinct documents read successfully (each document's first successful
    /// run), by the engine that read them. All zero for a summary written before the mix was recorded.
    pub fn pages_by_engine(&self) -> rythmiq_types::PagesByEngine {
        let mut seen = std::collections::BTreeSet::new();
        let mut mix = rythmiq_types::PagesByEngine::default();
        for d in self.per_document.iter().filter(|d| d.error.is_none()) {
            if seen.insert(d.document.as_str()) {
                mix.add(d.pages_by_engine);
            }
        }
        mix
    }
}

/// One row of the breakdown: a kind, a split, or everything.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupFigures {
    pub group: String,
    /// Distinct documents of the group that the run processed.
    pub documents: usize,
    /// Of which with ground truth and a result (the accuracy means run over these).
    pub scored_documents: usize,
    pub warm_runs: usize,
    pub cpu_seconds_per_doc: Option<f64>,
    pub cer_mean: Option<f64>,
    pub bow_f1_mean: Option<f64>,
}

/// The per-kind and per-split figures of a bench pass.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Breakdown {
    /// The `--split` the run took (`all` by default).
    pub split: String,
    pub averaging: String,
    pub overall: GroupFigures,
    pub by_kind: Vec<GroupFigures>,
    pub by_split: Vec<GroupFigures>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(documents: usize, cpu: f64) -> PathSummary {
        PathSummary { documents, cpu_seconds_per_doc: cpu, ..PathSummary::default() }
    }

    #[test]
    fn weighted_average_divides_by_the_routed_documents() {
        let split = PathSplit { fast: path(3, 0.4), standard: path(1, 0.8), ..PathSplit::default() };
        assert_eq!(split.documents(), 4);
        assert!((split.weighted_cpu_seconds_per_doc() - 0.5).abs() < 1e-12);
        assert_eq!(split.fast_share(), Some(0.75));
        let empty = PathSplit::default();
        assert_eq!(empty.weighted_cpu_seconds_per_doc(), 0.0);
        assert_eq!(empty.fast_share(), None);
        assert_eq!(split.get(PathKind::Standard).documents, 1);
    }

    #[test]
    fn typed_keys_keep_the_json_shape() {
        let split = PathSplit { fast: path(2, 0.1), standard: path(0, 0.0), ..PathSplit::default() };
        let json = serde_json::to_value(&split).unwrap();
        assert_eq!(json["fast"]["documents"], 2);
        let stages: BTreeMap<Stage, f64> = serde_json::from_str(r#"{"ocr": 1.5, "quality_scoring": 0.25}"#).unwrap();
        assert_eq!(stages[&Stage::Ocr], 1.5);
        assert_eq!(serde_json::to_string(&stages).unwrap(), r#"{"quality_scoring":0.25,"ocr":1.5}"#);
        // An unknown stage name is a parse error, not a silent extra key.
        assert!(serde_json::from_str::<BTreeMap<Stage, f64>>(r#"{"teleport": 1.0}"#).is_err());
    }
}
