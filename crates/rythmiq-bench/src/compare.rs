//! `bench --compare`: the optimisation A/B matrix (the readiness framework's table 5.1). Each configuration runs the
//! whole bench in its own process (the OpenMP thread limit is per process, and a fresh results directory keeps one
//! configuration's cache from serving another's); the rows are computed from the bench records those runs wrote.
//!
//! Invariant: a row is only kept when the flags its bench recorded are the flags its label names; a configuration
//! that silently ran something else is an error, not a row.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rythmiq_measure::stats::percentile;
use rythmiq_measure::{pareto_frontier, BenchSummary, CompareResult, CompareRow};
use rythmiq_types::{EngineKind, ModelKind, OptimisationFlags};

/// One optimisation switch as `bench --compare` sets it: the command-line flag and its effect on the flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FlagChange {
    OcrThreads(u32),
    MaxWorkingSidePx(u32),
    SkipPreOcrAbove(f64),
    Model(ModelKind),
    ResultCache(bool),
    Engine(EngineKind),
}

impl FlagChange {
    /// The global flags that make a `rythmiq` process run with this change.
    pub fn args(self) -> Vec<String> {
        let (flag, value) = match self {
            FlagChange::OcrThreads(n) => ("--ocr-threads", n.to_string()),
            FlagChange::MaxWorkingSidePx(px) => ("--max-working-side-px", px.to_string()),
            FlagChange::SkipPreOcrAbove(q) => ("--skip-pre-ocr-above", q.to_string()),
            FlagChange::Model(m) => ("--model", m.as_str().to_string()),
            FlagChange::ResultCache(on) => ("--result-cache", on.to_string()),
            FlagChange::Engine(e) => ("--engine", e.as_str().to_string()),
        };
        vec![flag.to_string(), value]
    }

    pub fn apply(self, flags: &mut OptimisationFlags) {
        match self {
            FlagChange::OcrThreads(n) => flags.ocr_threads = n,
            FlagChange::MaxWorkingSidePx(px) => flags.max_working_side_px = Some(px),
            FlagChange::SkipPreOcrAbove(q) => flags.skip_pre_ocr_above = Some(q),
            FlagChange::Model(m) => flags.model = m,
            FlagChange::ResultCache(on) => flags.result_cache = on,
            FlagChange::Engine(e) => flags.engine = e,
        }
    }
}

/// The single-flag rows, each against the reference configuration: the framework's five optimisations. The
/// model row measures the other Tesseract model than the reference's ([`model_change`]), so it is never the
/// reference again.
pub const SINGLE_CHANGES: [(&str, FlagChange); 5] = [
    ("ocr_threads=2", FlagChange::OcrThreads(2)),
    ("pre_resize=1600px", FlagChange::MaxWorkingSidePx(1600)),
    ("skip_pre_ocr>=0.9", FlagChange::SkipPreOcrAbove(0.9)),
    ("model=fast", FlagChange::Model(ModelKind::Fast)),
    ("result_cache", FlagChange::ResultCache(true)),
];

/// The model row against a reference running `model`: the lighter model against `best_int`, and `best_int`
/// against a reference that already runs `fast` (what the heavier model would buy).
pub fn model_change(model: ModelKind) -> (String, FlagChange) {
    let other = match model {
        ModelKind::Fast => ModelKind::BestInt,
        ModelKind::BestInt => ModelKind::Fast,
    };
    (format!("model={other}"), FlagChange::Model(other))
}

/// The engine rows, each against the reference configuration.
pub const ENGINE_CHANGES: [(&str, FlagChange); 3] = [
    ("engine=tesseract", FlagChange::Engine(EngineKind::Tesseract)),
    ("engine=ppocr", FlagChange::Engine(EngineKind::Ppocr)),
    ("engine=auto", FlagChange::Engine(EngineKind::Auto)),
];

/// One row to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareConfig {
    pub label: String,
    /// Global flags given to the `rythmiq` process before `bench`.
    pub args: Vec<String>,
    /// The flags the row must have run with; `None` for a free-form `--with` row (its flags are recorded, not
    /// checked).
    pub expected: Option<OptimisationFlags>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("--with {0:?}: expected LABEL=FLAGS, e.g. lean=--max-working-side-px 1600 --model fast")]
    BadSpec(String),
    #[error("cannot start the {label} run: {source}")]
    Spawn { label: String, source: std::io::Error },
    #[error("the {label} run failed ({status})")]
    RunFailed { label: String, status: std::process::ExitStatus },
    #[error("cannot read the {label} run's summary {path}: {detail}")]
    Summary { label: String, path: PathBuf, detail: String },
    /// The row's bench recorded other flags than its label names: the comparison would measure the wrong thing.
    #[error("the {label} row ran with flags {recorded}, not the {expected} its label names")]
    WrongFlags { label: String, expected: String, recorded: String },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Which rows `bench --compare` measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Matrix {
    /// The reference, each optimisation alone, all together, the engines, then every `--with`.
    #[default]
    Full,
    /// The reference, the engines, then every `--with` (`--engines-only`: the engine trade-off in one sitting).
    EnginesOnly,
}

/// The matrix: the reference (`base`, the flags in force), each single change, all of them together, the engine
/// rows, then every `--with LABEL=FLAGS`; [`Matrix::EnginesOnly`] leaves out the optimisation rows.
///
/// `model_named`: the reference's Tesseract model was named (flag, environment or file). When it was not, each
/// engine row runs its engine's default model (`EngineKind::default_model`), as a user of that engine would,
/// and says so in its arguments.
pub fn configurations(
    base: &OptimisationFlags,
    model_named: bool,
    extra: &[String],
    matrix: Matrix,
) -> Result<Vec<CompareConfig>, CompareError> {
    let row = |label: &str, changes: &[FlagChange]| {
        let mut expected = base.clone();
        changes.iter().for_each(|c| c.apply(&mut expected));
        CompareConfig {
            label: label.to_string(),
            args: changes.iter().flat_map(|c| c.args()).collect(),
            expected: Some(expected),
        }
    };
    let mut configs = vec![row("baseline", &[])];
    if matrix == Matrix::Full {
        let singles: Vec<(String, FlagChange)> = SINGLE_CHANGES
            .iter()
            .map(|(label, change)| match change {
                FlagChange::Model(_) => model_change(base.model),
                _ => (label.to_string(), *change),
            })
            .collect();
        configs.extend(singles.iter().map(|(label, change)| row(label, &[*change])));
        // Every optimisation at once: the lighter model, never the heavier one a `fast` reference's model row tries.
        let all: Vec<FlagChange> =
            singles.iter().map(|(_, c)| *c).filter(|c| *c != FlagChange::Model(ModelKind::BestInt)).collect();
        configs.push(row("all", &all));
    }
    // The OCR engines: the rows above are the reference engine's; these change only the engine (a reference that
    // already runs an engine gets no row of its own engine again).
    configs.extend(
        ENGINE_CHANGES.iter().filter(|(_, change)| !matches!(change, FlagChange::Engine(e) if *e == base.engine)).map(
            |(label, change)| {
                let engine_model = match change {
                    FlagChange::Engine(e) if !model_named => e.default_model(),
                    _ => base.model,
                };
                if engine_model == base.model {
                    row(label, &[*change])
                } else {
                    row(label, &[*change, FlagChange::Model(engine_model)])
                }
            },
        ),
    );
    for spec in extra {
        let (label, args) = spec.split_once('=').ok_or_else(|| CompareError::BadSpec(spec.clone()))?;
        if label.trim().is_empty() {
            return Err(CompareError::BadSpec(spec.clone()));
        }
        configs.push(CompareConfig {
            label: label.trim().to_string(),
            args: args.split_whitespace().map(String::from).collect(),
            expected: None,
        });
    }
    Ok(configs)
}

/// Checks that a row's bench ran the configuration its label names (from the flags it recorded).
pub fn verify_row(config: &CompareConfig, summary: &BenchSummary) -> Result<(), CompareError> {
    match &config.expected {
        Some(expected) if expected.label() != summary.flags => Err(CompareError::WrongFlags {
            label: config.label.clone(),
            expected: expected.label(),
            recorded: summary.flags.clone(),
        }),
        _ => Ok(()),
    }
}

/// A run's (CER, BoW F1): the mean over its distinct documents (the breakdown's overall figures), so a long page
/// weighs as much as a short receipt; pooled over all words for records without a breakdown.
fn accuracy(s: &BenchSummary) -> Option<(f64, f64)> {
    match s.breakdown.as_ref().map(|b| &b.overall) {
        Some(g) if g.cer_mean.is_some() && g.bow_f1_mean.is_some() => g.cer_mean.zip(g.bow_f1_mean),
        _ => s.accuracy.as_ref().map(|a| (a.cer, a.bow_f1)),
    }
}

/// The rows from the measured summaries; the first summary is the reference the savings and deltas are against.
pub fn rows(summaries: &[(String, BenchSummary)]) -> Vec<CompareRow> {
    let Some((_, reference)) = summaries.first() else {
        return Vec::new();
    };
    let base_cpu = reference.cpu_seconds_per_doc;
    let base_acc = accuracy(reference);
    summaries
        .iter()
        .map(|(label, s)| {
            let acc = accuracy(s);
            let warm_wall: Vec<f64> =
                s.per_document.iter().filter(|d| !d.cold_start && d.error.is_none()).map(|d| d.wall_seconds).collect();
            CompareRow {
                label: label.clone(),
                flags: s.flags.clone(),
                cpu_seconds_per_doc: s.cpu_seconds_per_doc,
                saving_percent: if base_cpu > 0.0 {
                    (base_cpu - s.cpu_seconds_per_doc) / base_cpu * 100.0
                } else {
                    0.0
                },
                cer: acc.map(|a| a.0),
                bow_f1: acc.map(|a| a.1),
                cer_delta: acc.zip(base_acc).map(|(a, b)| a.0 - b.0),
                bow_f1_delta: acc.zip(base_acc).map(|(a, b)| a.1 - b.1),
                p95_wall_secs: percentile(&warm_wall, 95.0),
                peak_rss_mb: Some(s.peak_rss_mb),
                by_kind: s
                    .breakdown
                    .as_ref()
                    .map(|b| b.by_kind.iter().filter(|g| g.documents > 0).cloned().collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// What one `bench --compare` measures.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// The `rythmiq` executable each configuration runs in.
    pub exe: PathBuf,
    /// The flags this comparison was given (`--engine`, `--config`, ...), passed to every row before the row's own
    /// change (a later flag overrides an earlier one).
    pub base_args: Vec<String>,
    pub count: usize,
    pub corpus: PathBuf,
    /// The flags in force for the reference row.
    pub base: OptimisationFlags,
    /// Whether the reference's Tesseract model was named (see [`configurations`]).
    pub model_named: bool,
    /// `--with LABEL=FLAGS` specs.
    pub extra: Vec<String>,
    /// The corpus split every row runs (tuning compares on `tune`; the product reports `holdout`).
    pub split: crate::SplitFilter,
    pub matrix: Matrix,
    /// Where each run's summary and results go (removed afterwards).
    pub scratch: PathBuf,
}

/// Runs every configuration, each in a fresh process, and checks each ran what its label names.
pub fn run_compare(opts: &CompareOptions) -> Result<CompareResult, CompareError> {
    let configs = configurations(&opts.base, opts.model_named, &opts.extra, opts.matrix)?;
    std::fs::create_dir_all(&opts.scratch)
        .map_err(|source| CompareError::Write { path: opts.scratch.clone(), source })?;
    let mut summaries = Vec::new();
    for (idx, config) in configs.iter().enumerate() {
        let all_args: Vec<&str> = opts.base_args.iter().chain(&config.args).map(String::as_str).collect();
        let shown = if all_args.is_empty() { "defaults".to_string() } else { all_args.join(" ") };
        eprintln!("compare: {} ({shown})", config.label);
        let out = opts.scratch.join(format!("{idx}.json"));
        let status = Command::new(&opts.exe)
            .arg("bench")
            .args(&opts.base_args)
            .args(&config.args)
            .args(["--count", &opts.count.to_string(), "--split", opts.split.as_str(), "--corpus"])
            .arg(&opts.corpus)
            .arg("--output")
            .arg(&out)
            .arg("--results-dir")
            .arg(opts.scratch.join(format!("results-{idx}")))
            .env_remove("RYTHMIQ_REEXECED")
            .stdout(Stdio::null())
            .status()
            .map_err(|source| CompareError::Spawn { label: config.label.clone(), source })?;
        if !status.success() {
            return Err(CompareError::RunFailed { label: config.label.clone(), status });
        }
        let summary = read_summary(&config.label, &out)?;
        verify_row(config, &summary)?;
        summaries.push((config.label.clone(), summary));
    }
    let _ = std::fs::remove_dir_all(&opts.scratch);
    Ok(CompareResult { run_date: Some(chrono::Utc::now().to_rfc3339()), rows: rows(&summaries) })
}

fn read_summary(label: &str, path: &Path) -> Result<BenchSummary, CompareError> {
    let summary_err =
        |detail: String| CompareError::Summary { label: label.to_string(), path: path.to_path_buf(), detail };
    let bytes = std::fs::read(path).map_err(|e| summary_err(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| summary_err(e.to_string()))
}

/// The comparison as a terminal table, with the arithmetic of the saving.
pub fn render_compare(result: &CompareResult, count: usize, corpus: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "OPTIMISATION A/B over {count} documents of {} (each configuration in its own process)",
        corpus.display()
    );
    let _ = writeln!(
        w,
        "{:<22} {:>10} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "configuration", "CPU-s/doc", "saving", "CER", "BoW F1", "dCER", "dF1", "P95 wall", "RSS MB"
    );
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.2}%", x * 100.0));
    let pts = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:+.2}pt", x * 100.0));
    for r in &result.rows {
        let _ = writeln!(
            w,
            "{:<22} {:>10.4} {:>8.1}% {:>8} {:>8} {:>9} {:>9} {:>9} {:>8}",
            r.label,
            r.cpu_seconds_per_doc,
            r.saving_percent,
            pct(r.cer),
            pct(r.bow_f1),
            pts(r.cer_delta),
            pts(r.bow_f1_delta),
            r.p95_wall_secs.map_or("-".to_string(), |s| format!("{s:.3}s")),
            r.peak_rss_mb.map_or("-".to_string(), |m| format!("{m:.1}"))
        );
    }
    if let Some(base) = result.rows.first() {
        let _ = writeln!(
            w,
            "saving = ({} {:.4} - configuration) / {:.4}; deltas are against the {} row",
            base.label, base.cpu_seconds_per_doc, base.cpu_seconds_per_doc, base.label
        );
    }
    let _ = writeln!(
        w,
        "accuracy: CER and BoW F1 are the mean over the distinct documents with ground truth (per document, then averaged)"
    );
    render_engine_kinds(w, result);
    render_frontier(w, result);
    out
}

/// The reference row and the engine rows, per document kind.
fn render_engine_kinds(w: &mut String, result: &CompareResult) {
    use std::fmt::Write as _;
    let rows: Vec<&CompareRow> = result
        .rows
        .iter()
        .enumerate()
        .filter(|(i, r)| *i == 0 || r.label.starts_with("engine="))
        .map(|(_, r)| r)
        .filter(|r| !r.by_kind.is_empty())
        .collect();
    if rows.len() < 2 {
        return;
    }
    let _ = writeln!(w, "\nENGINES BY DOCUMENT KIND (mean per document of the kind; CPU over its warm runs)");
    let _ = writeln!(
        w,
        "{:<22} {:<14} {:>5} {:>10} {:>8} {:>8}",
        "configuration", "kind", "docs", "CPU-s/doc", "BoW F1", "CER"
    );
    let opt = |v: Option<f64>, pct: bool| {
        v.map_or("-".to_string(), |x| if pct { format!("{:.2}%", x * 100.0) } else { format!("{x:.4}") })
    };
    for r in rows {
        for g in &r.by_kind {
            let _ = writeln!(
                w,
                "{:<22} {:<14} {:>5} {:>10} {:>8} {:>8}",
                r.label,
                g.group,
                g.documents,
                opt(g.cpu_seconds_per_doc, false),
                opt(g.bow_f1_mean, true),
                opt(g.cer_mean, true)
            );
        }
    }
}

/// The configurations no other beats on both CPU and BoW F1, cheapest first, with their ratios to the reference
/// row of the same run.
fn render_frontier(w: &mut String, result: &CompareResult) {
    use std::fmt::Write as _;
    let Some(base) = result.rows.first() else { return };
    let front = pareto_frontier(&result.rows);
    if front.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "\nACCURACY PER CPU FRONTIER (no other configuration has both less or equal CPU and higher or equal F1)"
    );
    let _ =
        writeln!(w, "{:<22} {:>10} {:>8} {:>12} {:>10}", "configuration", "CPU-s/doc", "BoW F1", "CPU ratio", "dF1");
    for i in front {
        let r = &result.rows[i];
        let ratio = if base.cpu_seconds_per_doc > 0.0 { r.cpu_seconds_per_doc / base.cpu_seconds_per_doc } else { 0.0 };
        let _ = writeln!(
            w,
            "{:<22} {:>10.4} {:>8} {:>11.2}x {:>10}",
            r.label,
            r.cpu_seconds_per_doc,
            r.bow_f1.map_or("-".to_string(), |f| format!("{:.2}%", f * 100.0)),
            ratio,
            r.bow_f1.zip(base.bow_f1).map_or("-".to_string(), |(f, b)| format!("{:+.2}pt", (f - b) * 100.0))
        );
    }
    let _ = writeln!(
        w,
        "CPU ratio = configuration CPU-s/doc / {} {:.4}; dF1 = configuration F1 - {} F1 (same run)",
        base.label, base.cpu_seconds_per_doc, base.label
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rythmiq_measure::{Accuracy, PathSplit};

    use super::*;

    /// The `tesseract` engine with its default model (the reference before `auto` was the default).
    fn tesseract() -> OptimisationFlags {
        OptimisationFlags { engine: EngineKind::Tesseract, model: ModelKind::BestInt, ..OptimisationFlags::default() }
    }

    fn summary(flags: &OptimisationFlags, cpu: f64, bow_f1: f64) -> BenchSummary {
        BenchSummary {
            run_date: String::new(),
            documents: 2,
            warm_documents: 1,
            corpus_documents: 1,
            cpu_seconds_per_doc: cpu,
            wall_seconds_per_doc: cpu,
            stages: BTreeMap::new(),
            paths: PathSplit::default(),
            weighted_cpu_seconds_per_doc: cpu,
            cold_start: None,
            accuracy: Some(Accuracy { cer: 0.05, bow_f1, documents: 2 }),
            process_cpu_seconds: 0.0,
            stage_cpu_seconds: 0.0,
            unattributed_cpu_share: 0.0,
            errors: BTreeMap::new(),
            peak_rss_mb: 10.0,
            engine_rss_mb: 5.0,
            flags: flags.label(),
            model: flags.model.to_string(),
            ocr_threads: flags.ocr_threads,
            fast_path_threshold: 0.8,
            per_document: Vec::new(),
            baseline: None,
            text_layer_cpu_ratio: None,
            breakdown: None,
            host: None,
            cores: None,
        }
    }

    #[test]
    fn the_matrix_measures_the_lighter_model_and_a_real_all_row() {
        let base = tesseract();
        assert_eq!(base.model, ModelKind::BestInt, "the reference runs the tesseract engine's default model");
        let configs =
            configurations(&base, false, &["tiny=--max-working-side-px 400".to_string()], Matrix::Full).unwrap();
        let labels: Vec<&str> = configs.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "baseline",
                "ocr_threads=2",
                "pre_resize=1600px",
                "skip_pre_ocr>=0.9",
                "model=fast",
                "result_cache",
                "all",
                "engine=ppocr",
                "engine=auto",
                "tiny"
            ],
            "the reference engine (tesseract) gets no second row"
        );
        let expected = |label: &str| configs.iter().find(|c| c.label == label).unwrap().expected.clone();
        assert_eq!(expected("baseline"), Some(base.clone()));
        assert_eq!(expected("model=fast").unwrap().model, ModelKind::Fast);
        let model_row = configs.iter().find(|c| c.label == "model=fast").unwrap();
        assert_eq!(model_row.args, ["--model", "fast"]);
        // "all" is every single change at once, the lighter model included.
        let all = expected("all").unwrap();
        assert_eq!(
            all.label(),
            "threads=2,resize=1600,skip_pre_ocr=0.9,model=fast,cache=on,engine=tesseract",
            "the all row sets every optimisation"
        );
        let all_args = &configs.iter().find(|c| c.label == "all").unwrap().args;
        for (_, change) in SINGLE_CHANGES {
            let args = change.args();
            assert!(all_args.windows(2).any(|w| w == args.as_slice()), "{args:?} missing from {all_args:?}");
        }
        assert_eq!(expected("tiny"), None);
        assert_eq!(configs.last().unwrap().args, ["--max-working-side-px", "400"]);
        assert!(matches!(
            configurations(&base, false, &["no-equals".into()], Matrix::Full),
            Err(CompareError::BadSpec(_))
        ));
    }

    #[test]
    fn a_row_that_ran_other_flags_than_its_label_is_refused() {
        let base = tesseract();
        let configs = configurations(&base, false, &[], Matrix::Full).unwrap();
        let model_row = configs.iter().find(|c| c.label == "model=fast").unwrap();
        // The bench recorded the default model: the row did not measure what it says.
        let wrong = summary(&base, 1.0, 0.9);
        let err = verify_row(model_row, &wrong).unwrap_err();
        assert!(matches!(err, CompareError::WrongFlags { .. }), "{err}");
        assert!(err.to_string().contains("model=fast"), "{err}");
        let right = summary(model_row.expected.as_ref().unwrap(), 0.5, 0.85);
        verify_row(model_row, &right).unwrap();
    }

    #[test]
    fn rows_compute_savings_and_deltas_against_the_first() {
        let base = OptimisationFlags::default();
        let mut fast = base.clone();
        fast.model = ModelKind::Fast;
        let rows =
            rows(&[("baseline".into(), summary(&base, 2.0, 0.90)), ("model=fast".into(), summary(&fast, 1.5, 0.85))]);
        assert_eq!(rows[0].saving_percent, 0.0);
        assert!((rows[1].saving_percent - 25.0).abs() < 1e-9, "(2.0 - 1.5) / 2.0 = 25%");
        assert!((rows[1].bow_f1_delta.unwrap() + 0.05).abs() < 1e-9);
        assert_eq!(rows[1].flags, fast.label());
        let text = render_compare(&CompareResult { run_date: None, rows }, 2, Path::new("corpus"));
        assert!(text.contains("saving = (baseline 2.0000 - configuration) / 2.0000"), "{text}");
    }

    fn kind(group: &str, cpu: f64, f1: f64) -> rythmiq_measure::GroupFigures {
        rythmiq_measure::GroupFigures {
            group: group.into(),
            documents: 2,
            scored_documents: 2,
            warm_runs: 2,
            cpu_seconds_per_doc: Some(cpu),
            cer_mean: Some(1.0 - f1),
            bow_f1_mean: Some(f1),
        }
    }

    fn with_kinds(mut s: BenchSummary, kinds: Vec<rythmiq_measure::GroupFigures>) -> BenchSummary {
        let mut absent = kind("photo", 0.0, 0.0);
        absent.documents = 0;
        let mut by_kind = kinds;
        by_kind.push(absent);
        s.breakdown = Some(rythmiq_measure::Breakdown { by_kind, ..Default::default() });
        s
    }

    #[test]
    fn engines_only_measures_the_reference_then_the_other_engines() {
        let base = tesseract();
        let labels = |flags: &OptimisationFlags| -> Vec<String> {
            configurations(flags, false, &["x=--model fast".into()], Matrix::EnginesOnly)
                .unwrap()
                .into_iter()
                .map(|c| c.label)
                .collect()
        };
        assert_eq!(labels(&base), ["baseline", "engine=ppocr", "engine=auto", "x"]);
        let auto = OptimisationFlags { engine: EngineKind::Auto, ..base.clone() };
        assert_eq!(labels(&auto), ["baseline", "engine=tesseract", "engine=ppocr", "x"]);
    }

    #[test]
    fn an_engine_row_runs_its_engines_default_model_unless_the_model_was_named() {
        let base = tesseract();
        let auto_row = |named: bool| {
            configurations(&base, named, &[], Matrix::EnginesOnly)
                .unwrap()
                .into_iter()
                .find(|c| c.label == "engine=auto")
                .unwrap()
        };
        let shipped = auto_row(false);
        assert_eq!(shipped.args, ["--engine", "auto", "--model", "fast"]);
        assert_eq!(shipped.expected.unwrap().model, ModelKind::Fast);
        let named = auto_row(true);
        assert_eq!(named.args, ["--engine", "auto"]);
        assert_eq!(named.expected.unwrap().model, ModelKind::BestInt);
        // The default reference (auto, fast) measures the heavier model, keeps the lighter one in "all", and runs
        // Tesseract alone with its own default model.
        let shipped = OptimisationFlags::default();
        assert_eq!((shipped.engine, shipped.model), (EngineKind::Auto, ModelKind::Fast));
        let configs = configurations(&shipped, false, &[], Matrix::Full).unwrap();
        let find = |label: &str| configs.iter().find(|c| c.label == label).unwrap_or_else(|| panic!("{label}"));
        assert_eq!(find("model=best_int").args, ["--model", "best_int"]);
        assert_eq!(find("all").expected.as_ref().unwrap().model, ModelKind::Fast);
        assert_eq!(find("engine=tesseract").args, ["--engine", "tesseract", "--model", "best_int"]);
        assert_eq!(find("engine=ppocr").args, ["--engine", "ppocr", "--model", "best_int"]);
    }

    #[test]
    fn engine_rows_carry_kinds_and_the_frontier_names_the_undominated_rows() {
        let base = OptimisationFlags::default();
        let with = |engine| OptimisationFlags { engine, ..base.clone() };
        let threads = OptimisationFlags { ocr_threads: 2, ..base.clone() };
        let rows = rows(&[
            ("baseline".into(), with_kinds(summary(&base, 1.0, 0.78), vec![kind("receipt", 0.8, 0.70)])),
            ("ocr_threads=2".into(), summary(&threads, 5.0, 0.78)),
            (
                "engine=ppocr".into(),
                with_kinds(summary(&with(EngineKind::Ppocr), 3.0, 0.91), vec![kind("receipt", 2.5, 0.88)]),
            ),
            (
                "engine=auto".into(),
                with_kinds(summary(&with(EngineKind::Auto), 1.5, 0.89), vec![kind("receipt", 1.9, 0.87)]),
            ),
        ]);
        assert_eq!(rows[2].by_kind.len(), 1, "kinds without documents are left out");
        assert!(rows[1].by_kind.is_empty());
        let text = render_compare(&CompareResult { run_date: None, rows }, 2, Path::new("corpus"));
        assert!(text.contains("mean per document"), "{text}");
        let kinds = text.split("ENGINES BY DOCUMENT KIND").nth(1).expect("kind table");
        let ppocr_receipt = kinds.lines().find(|l| l.starts_with("engine=ppocr")).expect("ppocr row");
        assert!(ppocr_receipt.contains("receipt") && ppocr_receipt.contains("2.5000"), "{ppocr_receipt}");
        assert!(ppocr_receipt.contains("88.00%") && ppocr_receipt.contains("12.00%"), "{ppocr_receipt}");
        assert!(!kinds.contains("ocr_threads=2"), "only the reference and the engines are broken down");
        let front = text.split("ACCURACY PER CPU FRONTIER").nth(1).expect("frontier");
        let labels: Vec<&str> =
            front.lines().skip(2).map_while(|l| l.split_whitespace().next()).filter(|l| *l != "CPU").collect();
        assert_eq!(labels, ["baseline", "engine=auto", "engine=ppocr"], "{front}");
        let auto = front.lines().find(|l| l.starts_with("engine=auto")).expect("auto");
        assert!(auto.contains("1.50x") && auto.contains("+11.00pt"), "{auto}");
    }

    #[test]
    fn row_accuracy_is_the_mean_per_document_when_the_run_has_one() {
        let base = OptimisationFlags::default();
        // Pooled over all words 0.90 (one long page dominates); per document 0.70.
        let mut per_doc = summary(&base, 1.0, 0.90);
        per_doc.breakdown = Some(rythmiq_measure::Breakdown { overall: kind("all", 1.0, 0.70), ..Default::default() });
        let rows = rows(&[("baseline".into(), per_doc), ("pooled".into(), summary(&base, 1.0, 0.90))]);
        assert!((rows[0].bow_f1.unwrap() - 0.70).abs() < 1e-12);
        assert!((rows[0].cer.unwrap() - 0.30).abs() < 1e-12);
        assert!((rows[1].bow_f1.unwrap() - 0.90).abs() < 1e-12, "a record without a breakdown keeps its pooled figure");
        assert!((rows[1].bow_f1_delta.unwrap() - 0.20).abs() < 1e-12);
    }
}
