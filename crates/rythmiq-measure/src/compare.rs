//! The optimisation A/B comparison's record (`rythmiq bench --compare --output`): one row per configuration, each
//! measured on the same corpus in its own process.

use serde::{Deserialize, Serialize};

use crate::GroupFigures;

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
    /// CPU-s/doc, BoW F1 and CER per document kind (the corpus manifest's kinds; accuracy is the mean per
    /// document of the kind). Empty for records written before kinds were measured.
    #[serde(default)]
    pub by_kind: Vec<GroupFigures>,
}

/// The rows no other row beats on both CPU and accuracy (BoW F1): another row with no more CPU-s/doc and no less
/// F1, better on one of them, dominates a row. Returns their indices, cheapest first; rows without accuracy are
/// left out.
pub fn pareto_frontier(rows: &[CompareRow]) -> Vec<usize> {
    let scored: Vec<(usize, f64, f64)> =
        rows.iter().enumerate().filter_map(|(i, r)| r.bow_f1.map(|f| (i, r.cpu_seconds_per_doc, f))).collect();
    let mut front: Vec<(usize, f64, f64)> = scored
        .iter()
        .copied()
        .filter(|&(i, cpu, f1)| !scored.iter().any(|&(j, c, f)| j != i && c <= cpu && f >= f1 && (c < cpu || f > f1)))
        .collect();
    front.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    front.into_iter().map(|(i, _, _)| i).collect()
}

/// The optimisation flags' A/B results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareResult {
    #[serde(default)]
    pub run_date: Option<String>,
    pub rows: Vec<CompareRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, cpu: f64, f1: Option<f64>) -> CompareRow {
        CompareRow {
            label: label.into(),
            flags: String::new(),
            cpu_seconds_per_doc: cpu,
            saving_percent: 0.0,
            cer: None,
            bow_f1: f1,
            cer_delta: None,
            bow_f1_delta: None,
            p95_wall_secs: None,
            peak_rss_mb: None,
            by_kind: Vec::new(),
        }
    }

    #[test]
    fn the_frontier_keeps_only_rows_nothing_beats_on_both_cpu_and_accuracy() {
        let rows = [
            row("tesseract", 1.0, Some(0.78)),
            row("threads=2", 5.0, Some(0.78)),
            row("ppocr", 3.0, Some(0.91)),
            row("auto", 1.6, Some(0.88)),
            row("worse auto", 1.7, Some(0.85)),
            row("no truth", 0.1, None),
            row("cheap", 0.8, Some(0.60)),
        ];
        let front: Vec<&str> = pareto_frontier(&rows).into_iter().map(|i| rows[i].label.as_str()).collect();
        assert_eq!(front, ["cheap", "tesseract", "auto", "ppocr"]);
    }

    #[test]
    fn an_exact_tie_keeps_both_rows() {
        let rows = [row("a", 1.0, Some(0.8)), row("b", 1.0, Some(0.8))];
        assert_eq!(pareto_frontier(&rows), vec![0, 1]);
    }

    #[test]
    fn a_record_without_kinds_still_reads() {
        let json = r#"{"label":"x","flags":"","cpu_seconds_per_doc":1.0,"saving_percent":0.0,"cer":null,
            "bow_f1":null,"cer_delta":null,"bow_f1_delta":null,"p95_wall_secs":null,"peak_rss_mb":null}"#;
        let r: CompareRow = serde_json::from_str(json).expect("old record");
        assert!(r.by_kind.is_empty());
    }
}
