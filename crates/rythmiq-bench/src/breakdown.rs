//! Accuracy and CPU per document kind and per split, from the kinds and splits of the corpus manifest.
//!
//! Averaging (printed with the table): CER and bag-of-words F1 are the mean of the per-document figures over the
//! distinct documents with ground truth (a document the run cycled over counts once; its text is deterministic),
//! so a long page does not outweigh a short receipt. CPU-s/doc is the mean over the warm, successful runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::accuracy::AccuracyCounts;
use crate::corpus::{CorpusDoc, SplitFilter, KINDS};
use crate::run::{Measured, RawBench};

/// How the group figures are averaged, as printed and written to JSON.
pub const AVERAGING: &str =
    "CER and BoW F1: mean per distinct document with ground truth; CPU-s/doc: mean per warm successful run";

pub use rythmiq_measure::{Breakdown, GroupFigures};

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// What the breakdown needs of one measured run.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub document: &'a str,
    pub ok: bool,
    pub cold_start: bool,
    pub cpu_seconds: f64,
    pub text: Option<&'a str>,
    pub ground_truth: Option<&'a str>,
}

impl<'a> Observation<'a> {
    pub fn of(m: &'a Measured) -> Observation<'a> {
        Observation {
            document: &m.doc_name,
            ok: m.run.error.is_none(),
            cold_start: m.run.cold_start,
            cpu_seconds: m.run.cpu_seconds(),
            text: m.text.as_deref(),
            ground_truth: m.ground_truth.as_deref(),
        }
    }
}

fn figures<'a>(group: &str, runs: impl IntoIterator<Item = &'a Observation<'a>>) -> GroupFigures {
    let mut seen = BTreeSet::new();
    let (mut cer, mut f1, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut documents = BTreeSet::new();
    let mut warm_runs = 0;
    for m in runs {
        documents.insert(m.document);
        if !m.ok {
            continue;
        }
        if !m.cold_start {
            warm_runs += 1;
            cpu.push(m.cpu_seconds);
        }
        if let (Some(text), Some(gt)) = (m.text, m.ground_truth) {
            if seen.insert(m.document) {
                let c = AccuracyCounts::measure(text, gt);
                cer.push(c.cer());
                f1.push(c.bow_f1());
            }
        }
    }
    GroupFigures {
        group: group.to_string(),
        documents: documents.len(),
        scored_documents: cer.len(),
        warm_runs,
        cpu_seconds_per_doc: mean(&cpu),
        cer_mean: mean(&cer),
        bow_f1_mean: mean(&f1),
    }
}

/// Groups the runs of `raw` by the kind and split its corpus gives each document (`unlisted` without one).
pub fn breakdown(raw: &RawBench, split: SplitFilter) -> Breakdown {
    let runs: Vec<Observation> = raw.runs.iter().map(Observation::of).collect();
    breakdown_of(&raw.corpus, &runs, split)
}

/// [`breakdown`] over observations of runs of `corpus`'s documents.
pub fn breakdown_of(corpus: &[CorpusDoc], runs: &[Observation], split: SplitFilter) -> Breakdown {
    let labels: BTreeMap<&str, (&str, &str)> = corpus
        .iter()
        .map(|d| {
            let kind = d.kind.as_deref().unwrap_or("unlisted");
            (d.name.as_str(), (kind, d.split.map_or("unlisted", |s| s.as_str())))
        })
        .collect();
    let label = |m: &Observation| labels.get(m.document).copied().unwrap_or(("unlisted", "unlisted"));
    let mut kinds: Vec<&str> = KINDS.to_vec();
    kinds.push("unlisted");
    let by_kind = kinds
        .into_iter()
        .map(|k| figures(k, runs.iter().filter(|m| label(m).0 == k)))
        .filter(|g| g.documents > 0)
        .collect();
    let by_split = ["tune", "holdout", "unlisted"]
        .into_iter()
        .map(|s| figures(s, runs.iter().filter(|m| label(m).1 == s)))
        .filter(|g| g.documents > 0)
        .collect();
    Breakdown {
        split: split.as_str().to_string(),
        averaging: AVERAGING.to_string(),
        overall: figures("all", runs.iter()),
        by_kind,
        by_split,
    }
}

/// The breakdown as a text table.
pub fn render_breakdown(b: &Breakdown) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "\nBY KIND AND SPLIT (split: {}; `--split tune|holdout|all`, default all)", b.split);
    let _ = writeln!(w, "  averaging: {}", b.averaging);
    let _ =
        writeln!(w, "  {:<16} {:>5} {:>7} {:>10} {:>8} {:>8}", "group", "docs", "scored", "CPU-s/doc", "CER", "BoW F1");
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.2}%", x * 100.0));
    let row = |w: &mut String, g: &GroupFigures| {
        let _ = writeln!(
            w,
            "  {:<16} {:>5} {:>7} {:>10} {:>8} {:>8}",
            g.group,
            g.documents,
            g.scored_documents,
            g.cpu_seconds_per_doc.map_or("-".to_string(), |c| format!("{c:.4}")),
            pct(g.cer_mean),
            pct(g.bow_f1_mean)
        );
    };
    for g in &b.by_kind {
        row(w, g);
    }
    for g in &b.by_split {
        row(w, &GroupFigures { group: format!("split={}", g.group), ..g.clone() });
    }
    row(w, &b.overall);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Split;

    fn doc(name: &str, kind: &str, split: Split) -> CorpusDoc {
        CorpusDoc {
            name: name.into(),
            path: name.into(),
            ground_truth: None,
            kind: Some(kind.into()),
            split: Some(split),
        }
    }

    fn obs<'a>(document: &'a str, text: &'a str, gt: &'a str, cold_start: bool, cpu_seconds: f64) -> Observation<'a> {
        Observation { document, ok: true, cold_start, cpu_seconds, text: Some(text), ground_truth: Some(gt) }
    }

    #[test]
    fn kinds_and_splits_average_per_distinct_document() {
        let corpus = vec![
            doc("r1", "receipt", Split::Tune),
            doc("r2", "receipt", Split::Holdout),
            doc("f1", "form", Split::Holdout),
        ];
        let runs = vec![
            obs("r1", "a b", "a b", true, 9.0),    // cold: F1 1.0, CPU not counted
            obs("r2", "a", "a b c d", false, 1.0), // F1 2 * 1 * 0.25 / 1.25 = 0.4
            obs("f1", "x y", "x z", false, 2.0),   // F1 0.5
            obs("r1", "a b", "a b", false, 3.0),   // a cycled repeat: its CPU counts, its accuracy once
            Observation { ok: false, ..obs("f1", "", "x z", false, 5.0) },
        ];
        let b = breakdown_of(&corpus, &runs, SplitFilter::All);
        let receipt = b.by_kind.iter().find(|g| g.group == "receipt").unwrap();
        assert_eq!((receipt.documents, receipt.scored_documents, receipt.warm_runs), (2, 2, 2));
        assert!((receipt.bow_f1_mean.unwrap() - 0.7).abs() < 1e-12, "mean of 1.0 and 0.4");
        assert_eq!(receipt.cpu_seconds_per_doc, Some(2.0), "mean of the warm runs 1.0 and 3.0");
        let holdout = b.by_split.iter().find(|g| g.group == "holdout").unwrap();
        assert!((holdout.bow_f1_mean.unwrap() - 0.45).abs() < 1e-12, "mean of 0.4 and 0.5");
        assert_eq!(b.by_kind.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(), ["receipt", "form"]);
        assert_eq!(b.overall.scored_documents, 3);
        assert!(render_breakdown(&b).contains("split: all"));
    }

    #[test]
    fn documents_outside_the_manifest_are_reported_as_unlisted() {
        let runs = vec![obs("zz.png", "a", "a", false, 1.0)];
        let b = breakdown_of(&[], &runs, SplitFilter::All);
        assert_eq!(b.by_kind.len(), 1);
        assert_eq!(b.by_kind[0].group, "unlisted");
        assert_eq!(b.by_split[0].group, "unlisted");
    }
}
