//! The optimisation A/B comparison's record (`rythmiq bench --compare --output`): one row per configuration, each
//! measured on the same corpus in its own process.

use serde::{Deserialize, Serialize};

/// One configuration of the optimisation A/B comparison, measured on the same corpus as the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    pub label: String,
    /// The flag set, as `BenchSummary::flags` prints it.
    pub flags: String,
    pub cpu_seconds_per_doc: f64,
    /// CPU saved against the comparison's reference row, percent (negative: costs more).
    pub saving_percent: f64,
    pub cer: Option<f64>,
    pub bow_f1: Option<f64>,
    /// Against the reference row; positive CER delta means more errors.
    pub cer_delta: Option<f64>,
    pub bow_f1_delta: Option<f64>,
    pub p95_wall_secs: Option<f64>,
    pub peak_rss_mb: Option<f64>,
}

/// The optimisation flags' A/B results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareResult {
    #[serde(default)]
    pub run_date: Option<String>,
    pub rows: Vec<CompareRow>,
}
