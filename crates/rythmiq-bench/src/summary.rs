//! Turns a bench pass into the figures of the readiness framework's section 3.1 (and the JSON the report reads),
//! each computed from the measured runs, with the arithmetic printed beside it.

use std::collections::BTreeMap;

use rythmiq_measure::stats::mean_or_zero as mean;
pub use rythmiq_measure::{
    render_section_3_1, Accuracy, Baselines, BenchSummary, CliBaseline, ColdStart, PathSplit, PathSummary, PerDocument,
    StageSummary,
};
use rythmiq_types::{DocumentRun, PathKind, Stage};

use crate::accuracy::AccuracyCounts;
use crate::breakdown::{breakdown, render_breakdown};
use crate::run::{Measured, RawBench};

fn accuracy_of<'a>(runs: impl IntoIterator<Item = &'a Measured>) -> Option<(AccuracyCounts, usize)> {
    let mut total = AccuracyCounts::default();
    let mut n = 0;
    for m in runs {
        if let (Some(text), Some(gt)) = (&m.text, &m.ground_truth) {
            total.add(&AccuracyCounts::measure(text, gt));
            n += 1;
        }
    }
    (n > 0).then_some((total, n))
}

/// Aggregates a bench pass. `fast_path_threshold` is recorded for the report.
pub fn summarise(raw: &RawBench, fast_path_threshold: f64, baselines: Vec<CliBaseline>) -> BenchSummary {
    let ok = |m: &&Measured| m.run.error.is_none();
    // Warm: not the cold first document. The headline figures are warm (steady state of a long-lived worker).
    let warm: Vec<&Measured> = raw.runs.iter().filter(|m| !m.run.cold_start).filter(ok).collect();
    let n_warm = warm.len();
    let stage_cpu = |runs: &[&Measured], stage: Stage| -> f64 {
        mean(runs.iter().map(|m| m.run.stage(stage).map_or(0.0, |s| s.cpu_seconds)))
    };
    let cpu_per_doc = mean(warm.iter().map(|m| m.run.cpu_seconds()));
    let mut stages = BTreeMap::new();
    for stage in Stage::ALL {
        let cpu = stage_cpu(&warm, stage);
        stages.insert(
            stage,
            StageSummary {
                cpu_seconds_per_doc: cpu,
                share: if cpu_per_doc > 0.0 { cpu / cpu_per_doc } else { 0.0 },
                wall_seconds_per_doc: mean(warm.iter().map(|m| m.run.stage(stage).map_or(0.0, |s| s.wall_seconds))),
                skipped: warm.iter().filter(|m| m.run.stage(stage).is_some_and(|s| s.skipped)).count(),
                helper_cpu_seconds_per_doc: mean(
                    warm.iter().map(|m| m.run.stage(stage).map_or(0.0, |s| s.helper_cpu_seconds)),
                ),
            },
        );
    }
    // Accuracy counts every successful document, the cold one included: a cold start changes the cost, never
    // the text (leaving it out would drop the corpus's first page from every accuracy figure).
    let successful: Vec<&Measured> = raw.runs.iter().filter(ok).collect();
    let mut paths = PathSplit::default();
    for path in [PathKind::TextLayer, PathKind::Fast, PathKind::Standard] {
        let on_path: Vec<&Measured> = warm.iter().copied().filter(|m| m.run.path == Some(path)).collect();
        let acc = accuracy_of(successful.iter().copied().filter(|m| m.run.path == Some(path)));
        let n_pages: usize = on_path.iter().map(|m| m.run.pages as usize).sum();
        let cpu: f64 = on_path.iter().map(|m| m.run.cpu_seconds()).sum();
        *paths.get_mut(path) = PathSummary {
            documents: on_path.len(),
            cpu_seconds_per_doc: mean(on_path.iter().map(|m| m.run.cpu_seconds())),
            pages: n_pages,
            cpu_seconds_per_page: if n_pages > 0 { cpu / n_pages as f64 } else { 0.0 },
            cer: acc.map(|(c, _)| c.cer()),
            bow_f1: acc.map(|(c, _)| c.bow_f1()),
        };
    }
    let text_layer_cpu_ratio = paths.text_layer_cpu_ratio();
    let weighted = paths.weighted_cpu_seconds_per_doc();
    let cold_start = raw.runs.first().filter(|m| m.run.cold_start && m.run.error.is_none()).and_then(|cold| {
        let probe = raw.warm_probe.as_ref().filter(|p| p.run.error.is_none())?;
        let (c, w) = (cold.run.cpu_seconds(), probe.run.cpu_seconds());
        Some(ColdStart {
            cold_seconds: c,
            warm_seconds: w,
            penalty_seconds: c - w,
            penalty_percent: if w > 0.0 { (c - w) / w * 100.0 } else { 0.0 },
            model_load_seconds: cold.run.model_load_cpu_seconds,
            document: cold.doc_name.clone(),
        })
    });
    let accuracy = accuracy_of(successful.iter().copied()).map(|(c, n)| Accuracy {
        cer: c.cer(),
        bow_f1: c.bow_f1(),
        documents: n,
    });
    let all_runs: Vec<&DocumentRun> = raw.runs.iter().chain(raw.warm_probe.iter()).map(|m| &m.run).collect();
    let stage_cpu_seconds: f64 = all_runs.iter().map(|r| r.cpu_seconds()).sum();
    let unattributed = if raw.process_cpu_seconds > 0.0 {
        (raw.process_cpu_seconds - stage_cpu_seconds) / raw.process_cpu_seconds
    } else {
        0.0
    };
    let mut errors = BTreeMap::new();
    for r in &all_runs {
        if let Some((kind, _)) = &r.error {
            *errors.entry(kind.to_string()).or_insert(0) += 1;
        }
    }
    let per_document = raw
        .runs
        .iter()
        .enumerate()
        .map(|(index, m)| {
            let acc = accuracy_of(std::iter::once(m));
            PerDocument {
                index,
                document: m.doc_name.clone(),
                path: m.run.path,
                cold_start: m.run.cold_start,
                quality_score: m.run.quality_score,
                cpu_seconds: m.run.cpu_seconds(),
                wall_seconds: m.run.wall_seconds(),
                stages: m.run.stages.iter().map(|s| (s.stage, s.cpu_seconds)).collect(),
                cer: acc.map(|(c, _)| c.cer()),
                bow_f1: acc.map(|(c, _)| c.bow_f1()),
                error: m.run.error.as_ref().map(|(k, msg)| format!("{k}: {msg}")),
                pages_by_engine: m.run.pages_by_engine,
            }
        })
        .collect();
    let baseline = (!baselines.is_empty()).then(|| {
        // Like for like: our mean warm CPU per distinct document, over the documents the CLI ran.
        let mut by_doc: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let warm_probe = raw.warm_probe.iter().filter(|p| p.run.error.is_none());
        let warm_and_probe: Vec<&Measured> = warm.iter().copied().chain(warm_probe).collect();
        for m in &warm_and_probe {
            by_doc.entry(m.doc_name.as_str()).or_default().push(m.run.cpu_seconds());
        }
        let names: Vec<&str> = baselines[0].per_document_cpu.iter().map(|(n, _)| n.as_str()).collect();
        let ours = mean(names.iter().filter_map(|n| by_doc.get(n).map(|v| mean(v.iter().copied()))));
        let cpu_ratios = baselines
            .iter()
            .map(|b| (b.label.clone(), if ours > 0.0 { b.cpu_seconds_per_doc / ours } else { 0.0 }))
            .collect();
        let same_docs = names.iter().filter_map(|n| warm_and_probe.iter().copied().find(|m| m.doc_name == *n));
        let acc = accuracy_of(same_docs);
        Baselines {
            cli: baselines,
            pipeline_cpu_seconds_per_doc: ours,
            pipeline_cer: acc.map(|(c, _)| c.cer()),
            pipeline_bow_f1: acc.map(|(c, _)| c.bow_f1()),
            cpu_ratios,
        }
    });
    let first = raw.runs.first().map(|m| &m.run);
    BenchSummary {
        run_date: raw.started_at.to_rfc3339(),
        documents: raw.runs.len(),
        warm_documents: n_warm,
        corpus_documents: raw.corpus.len(),
        cpu_seconds_per_doc: cpu_per_doc,
        wall_seconds_per_doc: mean(warm.iter().map(|m| m.run.wall_seconds())),
        stages,
        paths,
        weighted_cpu_seconds_per_doc: weighted,
        text_layer_cpu_ratio,
        cold_start,
        accuracy,
        process_cpu_seconds: raw.process_cpu_seconds,
        stage_cpu_seconds,
        unattributed_cpu_share: unattributed,
        errors,
        peak_rss_mb: raw.peak_rss_bytes as f64 / 1048576.0,
        engine_rss_mb: raw.peak_rss_bytes.saturating_sub(raw.rss_before_engine_bytes) as f64 / 1048576.0,
        flags: first.map(|r| r.flags.label()).unwrap_or_default(),
        model: first.map(|r| r.model.to_string()).unwrap_or_default(),
        ocr_threads: first.map_or(1, |r| r.flags.ocr_threads),
        fast_path_threshold,
        per_document,
        baseline,
        breakdown: Some(breakdown(raw, raw.split)),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()),
        cores: std::thread::available_parallelism().ok().map(|n| n.get() as u32),
    }
}

/// The section 3.1 tables, filled in, with the arithmetic: the same text the report shows.
pub fn render_tables(s: &BenchSummary) -> String {
    let mut out = render_section_3_1(s);
    if let Some(b) = &s.breakdown {
        out.push_str(&render_breakdown(b));
    }
    out
}
