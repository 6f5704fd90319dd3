//! Turns a bench pass into the figures of the readiness framework's section 3.1 (and the JSON the report reads),
//! each computed from the measured runs, with the arithmetic printed beside it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rythmiq_types::{DocumentRun, PathKind, Stage};
use serde::{Deserialize, Serialize};

use crate::accuracy::AccuracyCounts;
use crate::baseline::CliBaseline;
use crate::run::{Measured, RawBench};

#[derive(Clone, Debug, Serialize, Deserialize)]
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

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PathSummary {
    pub documents: usize,
    pub cpu_seconds_per_doc: f64,
    pub cer: Option<f64>,
    pub bow_f1: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
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

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Accuracy {
    pub cer: f64,
    pub bow_f1: f64,
    /// Successful documents (cold one included) that had ground truth.
    pub documents: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PerDocument {
    pub index: usize,
    pub document: String,
    pub path: Option<PathKind>,
    pub cold_start: bool,
    pub quality_score: Option<f64>,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    pub stages: BTreeMap<String, f64>,
    pub cer: Option<f64>,
    pub bow_f1: Option<f64>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Baselines {
    pub cli: Vec<CliBaseline>,
    /// Our warm CPU-seconds per document over the same distinct documents the CLI ran.
    pub pipeline_cpu_seconds_per_doc: f64,
    /// Our accuracy over the same distinct documents.
    pub pipeline_cer: Option<f64>,
    pub pipeline_bow_f1: Option<f64>,
    /// CLI CPU per document divided by ours, per CLI configuration (higher: we are cheaper).
    pub cpu_ratios: BTreeMap<String, f64>,
}

/// The bench's JSON output (`--output`); the report reads it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchSummary {
    pub run_date: String,
    pub documents: usize,
    pub warm_documents: usize,
    pub corpus_documents: usize,
    /// Mean CPU seconds per warm, successful document: the figure the capacity projections use.
    pub cpu_seconds_per_doc: f64,
    pub wall_seconds_per_doc: f64,
    pub stages: BTreeMap<String, StageSummary>,
    pub paths: BTreeMap<String, PathSummary>,
    /// Mean weighted by the measured path split (equals `cpu_seconds_per_doc` by construction; shown as a check).
    pub weighted_cpu_seconds_per_doc: f64,
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
    pub flags: String,
    pub model: String,
    pub ocr_threads: u32,
    pub fast_path_threshold: f64,
    pub per_document: Vec<PerDocument>,
    pub baseline: Option<Baselines>,
    /// The machine the CPU figures were measured on (absent in older outputs): the capacity planner names it.
    #[serde(default)]
    pub host: Option<String>,
    /// Its logical cores.
    #[serde(default)]
    pub cores: Option<u32>,
}

fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

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
            stage.as_str().to_string(),
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
    let mut paths = BTreeMap::new();
    for path in [PathKind::Fast, PathKind::Standard] {
        let on_path: Vec<&Measured> = warm.iter().copied().filter(|m| m.run.path == Some(path)).collect();
        let acc = accuracy_of(successful.iter().copied().filter(|m| m.run.path == Some(path)));
        paths.insert(
            path.as_str().to_string(),
            PathSummary {
                documents: on_path.len(),
                cpu_seconds_per_doc: mean(on_path.iter().map(|m| m.run.cpu_seconds())),
                cer: acc.map(|(c, _)| c.cer()),
                bow_f1: acc.map(|(c, _)| c.bow_f1()),
            },
        );
    }
    let weighted = if n_warm == 0 {
        0.0
    } else {
        paths.values().map(|p| p.documents as f64 * p.cpu_seconds_per_doc).sum::<f64>() / n_warm as f64
    };
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
    let accuracy = accuracy_of(successful.iter().copied())
        .map(|(c, n)| Accuracy { cer: c.cer(), bow_f1: c.bow_f1(), documents: n });
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
                stages: m.run.stages.iter().map(|s| (s.stage.as_str().to_string(), s.cpu_seconds)).collect(),
                cer: acc.map(|(c, _)| c.cer()),
                bow_f1: acc.map(|(c, _)| c.bow_f1()),
                error: m.run.error.as_ref().map(|(k, msg)| format!("{k}: {msg}")),
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
        host: std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()),
        cores: std::thread::available_parallelism().ok().map(|n| n.get() as u32),
    }
}

/// The section 3.1 tables, filled in, with the arithmetic.
pub fn render_tables(s: &BenchSummary) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "Run Date: {}", s.run_date);
    let _ = writeln!(
        w,
        "Documents Processed: {} ({} warm and successful, 1 cold, corpus of {} distinct; flags {})",
        s.documents, s.warm_documents, s.corpus_documents, s.flags
    );
    let _ = writeln!(w, "\nSTAGE BREAKDOWN (CPU seconds per warm document)");
    for stage in Stage::ALL {
        let st = &s.stages[stage.as_str()];
        let skipped = if st.skipped > 0 { format!("  skipped on {} docs", st.skipped) } else { String::new() };
        let _ = writeln!(
            w,
            "  {:<18} {:>8.4} s ({:>5.1}%)  wall {:>7.4} s{}",
            format!("{}:", stage.as_str()),
            st.cpu_seconds_per_doc,
            st.share * 100.0,
            st.wall_seconds_per_doc,
            skipped
        );
    }
    let _ = writeln!(w, "  {:<18} {:>8.4} s  (sum of the stage means above)", "TOTAL:", s.cpu_seconds_per_doc);
    let _ = writeln!(w, "\nPATH BREAKDOWN (threshold: quality score >= {:.2} takes the fast path)", s.fast_path_threshold);
    let (f, st) = (&s.paths["fast"], &s.paths["standard"]);
    let acc = |p: &PathSummary| match (p.cer, p.bow_f1) {
        (Some(c), Some(b)) => format!("  CER {:.2}%  BoW F1 {:.2}%", c * 100.0, b * 100.0),
        _ => String::new(),
    };
    let _ = writeln!(w, "  Fast Path:     {:>4} docs @ {:.4} s avg CPU{}", f.documents, f.cpu_seconds_per_doc, acc(f));
    let _ = writeln!(w, "  Standard Path: {:>4} docs @ {:.4} s avg CPU{}", st.documents, st.cpu_seconds_per_doc, acc(st));
    let _ = writeln!(
        w,
        "  Weighted Avg:  ({} x {:.4} + {} x {:.4}) / {} = {:.4} s",
        f.documents, f.cpu_seconds_per_doc, st.documents, st.cpu_seconds_per_doc, s.warm_documents,
        s.weighted_cpu_seconds_per_doc
    );
    if s.warm_documents > 0 {
        let fast_share = f.documents as f64 / s.warm_documents as f64 * 100.0;
        let _ = writeln!(w, "  Split: {:.0}% fast / {:.0}% standard (the framework expects 70/30)", fast_share, 100.0 - fast_share);
    }
    let _ = writeln!(w, "\nCOLD START IMPACT");
    match &s.cold_start {
        Some(c) => {
            let _ = writeln!(w, "  Cold execution: {:.4} s ({}, includes model loading of {:.4} s)", c.cold_seconds, c.document, c.model_load_seconds);
            let _ = writeln!(w, "  Warm execution: {:.4} s (the same document on the warm engine)", c.warm_seconds);
            let _ = writeln!(
                w,
                "  Cold start penalty: {:.4} - {:.4} = {:.4} s (+{:.1}%)",
                c.cold_seconds, c.warm_seconds, c.penalty_seconds, c.penalty_percent
            );
        }
        None => {
            let _ = writeln!(w, "  not measured: the first document failed");
        }
    }
    let _ = writeln!(w, "\nACCURACY (case-folded, whitespace collapsed)");
    match &s.accuracy {
        Some(a) => {
            let _ = writeln!(w, "  CER {:.2}%   bag-of-words F1 {:.2}%   over {} documents with ground truth", a.cer * 100.0, a.bow_f1 * 100.0, a.documents);
        }
        None => {
            let _ = writeln!(w, "  no ground truth in the corpus");
        }
    }
    let _ = writeln!(w, "\nCPU ATTRIBUTION");
    let _ = writeln!(
        w,
        "  process CPU {:.3} s, stage CPU {:.3} s, unattributed ({:.3} - {:.3}) / {:.3} = {:.2}%",
        s.process_cpu_seconds,
        s.stage_cpu_seconds,
        s.process_cpu_seconds,
        s.stage_cpu_seconds,
        s.process_cpu_seconds,
        s.unattributed_cpu_share * 100.0
    );
    let _ = writeln!(w, "  peak RSS {:.1} MB (engines and working images: +{:.1} MB)", s.peak_rss_mb, s.engine_rss_mb);
    if !s.errors.is_empty() {
        let _ = writeln!(w, "\nERRORS");
        for (kind, n) in &s.errors {
            let _ = writeln!(w, "  {kind}: {n}");
        }
    }
    if let Some(b) = &s.baseline {
        let _ = writeln!(w, "\nBASELINE: the tesseract CLI on the same {} documents, same model, --psm 3", b.cli.first().map_or(0, |c| c.documents));
        let _ = writeln!(
            w,
            "  {:<40} {:>9.4} CPU-s/doc  CER {:>6}  BoW F1 {:>6}",
            "rythmiq pipeline (warm)",
            b.pipeline_cpu_seconds_per_doc,
            b.pipeline_cer.map_or("-".into(), |c| format!("{:.2}%", c * 100.0)),
            b.pipeline_bow_f1.map_or("-".into(), |f| format!("{:.2}%", f * 100.0)),
        );
        for c in &b.cli {
            let _ = writeln!(
                w,
                "  {:<40} {:>9.4} CPU-s/doc  CER {:>5.2}%  BoW F1 {:>5.2}%  ratio {:.4} / {:.4} = {:.2}x{}",
                c.label,
                c.cpu_seconds_per_doc,
                c.cer * 100.0,
                c.bow_f1 * 100.0,
                c.cpu_seconds_per_doc,
                b.pipeline_cpu_seconds_per_doc,
                b.cpu_ratios.get(&c.label).copied().unwrap_or(0.0),
                if c.failures > 0 { format!("  ({} failures)", c.failures) } else { String::new() }
            );
        }
    }
    out
}
