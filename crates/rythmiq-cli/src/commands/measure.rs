//! The measuring commands: `bench` (and `bench --compare`), `loadtest`, `report` and `plan`. The measuring and
//! the arithmetic live in rythmiq-bench, rythmiq-loadtest and rythmiq-report; this module reads and writes the
//! files and prints the summaries.

use std::path::Path;

use anyhow::Context;
use rythmiq_bench::{cli_available, render_tables, run_bench, run_cli, summarise, BenchOptions, SplitFilter};
use rythmiq_pipeline::RouteOverride;
use rythmiq_report::Constraints;

use super::write_json;
use crate::args::{Baseline, BenchArgs, LoadtestArgs, PlanArgs, ReportArgs, Route, SplitArg};
use crate::config::Config;

fn split_filter(split: SplitArg) -> SplitFilter {
    match split {
        SplitArg::All => SplitFilter::All,
        SplitArg::Tune => SplitFilter::Tune,
        SplitArg::Holdout => SplitFilter::Holdout,
    }
}

/// The constraints file, or the framework's defaults.
fn read_constraints(path: Option<&Path>) -> anyhow::Result<Constraints> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))
        }
        None => Ok(Constraints::default()),
    }
}

/// `rythmiq bench --compare`: the A/B matrix (rythmiq_bench::run_compare), one child process per configuration.
pub fn compare(config: &Config, args: BenchArgs, base_args: Vec<String>) -> anyhow::Result<()> {
    let opts = rythmiq_bench::CompareOptions {
        exe: std::env::current_exe()?,
        base_args,
        count: args.count,
        corpus: args.corpus.clone(),
        base: config.pipeline.flags.clone(),
        model_named: config.model_named,
        extra: args.with_configs,
        split: split_filter(args.split),
        matrix: if args.engines_only { rythmiq_bench::Matrix::EnginesOnly } else { rythmiq_bench::Matrix::Full },
        scratch: std::env::temp_dir().join(format!("rythmiq-compare-{}", std::process::id())),
    };
    let result = rythmiq_bench::run_compare(&opts)?;
    print!("{}", rythmiq_bench::render_compare(&result, args.count, &args.corpus));
    write_json(&args.output, &result)?;
    println!("wrote {}", args.output.display());
    Ok(())
}

/// `rythmiq bench`: the per-stage CPU baseline, optionally recorded in the database and beside the tesseract CLI.
pub fn bench(mut config: Config, args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.count > 0, "--count must be at least 1");
    let record = args.record_metrics || config.database.url.is_some();
    config.pipeline.route = match args.route {
        Route::Auto => RouteOverride::Auto,
        Route::Fast => RouteOverride::ForceFast,
        Route::Standard => RouteOverride::ForceStandard,
    };
    let opts = BenchOptions {
        corpus_dir: args.corpus,
        count: args.count,
        output_dir: args.results_dir.unwrap_or_else(|| config.data_dir().join("bench-results")),
        progress: true,
        split: split_filter(args.split),
    };
    let threshold = config.pipeline.fast_path_threshold;
    let tessdata = config.pipeline.models_dir.join(config.pipeline.flags.model.as_str());
    let raw = run_bench(config.pipeline.clone(), &opts)?;
    if record {
        let runs: Vec<&rythmiq_types::DocumentRun> =
            raw.runs.iter().chain(raw.warm_probe.iter()).map(|m| &m.run).collect();
        let rows: Vec<rythmiq_db::MetricsRow> =
            runs.iter().flat_map(|run| rythmiq_db::MetricsRow::from_run(run, "bench")).collect();
        let inserted = super::runtime()?.block_on(async {
            let db = config.database.connect().await.context("connecting to the database")?;
            db.migrate().await?;
            anyhow::Ok(db.insert_metrics(&rows).await?)
        })?;
        eprintln!("recorded {inserted} cpu_metrics rows ({} documents)", runs.len());
    }
    let mut baselines = Vec::new();
    if args.baseline == Some(Baseline::TesseractCli) {
        anyhow::ensure!(
            cli_available(),
            "--baseline tesseract-cli needs the `tesseract` binary (bash scripts/setup installs it)"
        );
        // The distinct documents of the run, each once.
        let docs = &raw.corpus[..raw.corpus.len().min(args.count)];
        eprintln!("baseline: tesseract CLI over {} documents, defaults then OMP_THREAD_LIMIT=1 ...", docs.len());
        baselines.push(run_cli(docs, &tessdata, None));
        baselines.push(run_cli(docs, &tessdata, Some(1)));
    }
    let summary = summarise(&raw, threshold, baselines);
    print!("{}", render_tables(&summary));
    write_json(&args.output, &summary)?;
    println!("\nwrote {}", args.output.display());
    Ok(())
}

/// `rythmiq loadtest`: rythmiq_loadtest runs the burst (and starts the server with `server_args` when no
/// `--host` is given); the result is written and summarised.
pub fn loadtest(config: &Config, args: LoadtestArgs, mut server_args: Vec<String>) -> anyhow::Result<()> {
    let constraints = Constraints::default();
    if let Some(n) = args.concurrency {
        server_args.extend(["--concurrency".to_string(), n.to_string()]);
    }
    let plan = rythmiq_loadtest::LoadTestPlan {
        users: args.users,
        docs_per_user: args.docs_per_user,
        spawn_rate: args.spawn_rate,
        host: args.host,
        server_pid: args.server_pid,
        corpus: args.corpus,
        ramp_max_users: args.ramp_max_users,
        double: args.double,
        doc_timeout_secs: args.doc_timeout_secs,
        auth_token: config.api.auth_token.clone(),
        p95_limit_secs: constraints.p95_latency_limit_secs,
        error_rate_limit: constraints.error_rate_limit,
        server_exe: std::env::current_exe()?,
        server_args,
        live: args.live,
    };
    let result = super::runtime()?.block_on(rythmiq_loadtest::run_loadtest(&plan))?;
    write_json(&args.output, &result)?;
    print!("{}", rythmiq_loadtest::render_summary(&result, plan.p95_limit_secs));
    println!("wrote {}", args.output.display());
    anyhow::ensure!(
        !rythmiq_loadtest::every_request_failed(&result),
        "every one of the {} requests failed (see the failure breakdown above)",
        result.total_requests
    );
    Ok(())
}

/// This month's CPU use from the configured database.
fn monthly_usage(config: &Config, budget: f64) -> anyhow::Result<rythmiq_report::MonthlyUsage> {
    super::runtime()?.block_on(async {
        let db = config.database.connect().await.context("connecting to the database")?;
        db.migrate().await?;
        let now = chrono::Utc::now();
        let usage = db.monthly_usage(now, Some(budget)).await?;
        anyhow::Ok(rythmiq_report::MonthlyUsage {
            cpu_hours_used: usage.cpu_hours_used,
            documents: usage.documents.max(0) as u64,
            days_elapsed: usage.days_elapsed,
        })
    })
}

/// `rythmiq report`: writes `<output>.md` and `<output>.html`; prints the decision and the files (or, asked, the
/// same as JSON, or the whole Markdown). Exits with the `--fail-on` gate's code.
pub fn report(config: &Config, args: ReportArgs) -> anyhow::Result<()> {
    use rythmiq_report::{read_json, render_html, render_markdown, Report};
    let constraints = read_constraints(args.constraints.as_deref())?;
    let bench = &args.bench;
    let bench_summary = read_json(bench).with_context(|| format!("reading the bench summary {}", bench.display()))?;
    let load = args.load.as_deref().map(read_json).transpose()?;
    let compare = args.compare.as_deref().map(read_json).transpose()?;
    let usage = if args.database { Some(monthly_usage(config, constraints.budget_cpu_hours_per_month)?) } else { None };
    let mut report = Report::build(constraints, bench_summary, load, compare, usage)?;
    report.git_revision = Some(env!("RYTHMIQ_GIT_REV").to_string());
    let markdown = render_markdown(&report);
    let (md_path, html_path) = (args.output.with_extension("md"), args.output.with_extension("html"));
    std::fs::write(&md_path, &markdown).with_context(|| format!("writing {}", md_path.display()))?;
    std::fs::write(&html_path, render_html(&report)).with_context(|| format!("writing {}", html_path.display()))?;
    let d = &report.decision;
    if args.markdown {
        print!("{markdown}");
    } else if args.json {
        let summary = serde_json::json!({
            "verdict": d.verdict.label(),
            "provisional": d.provisional,
            "cpu_seconds_per_doc": report.cpu_seconds_per_doc,
            "cpu_band": report.cpu_band.label(),
            "max_sustainable_docs_per_day": report.max_sustainable_docs_per_day,
            "reasons": d.reasons,
            "missing": d.missing,
            "markdown": md_path,
            "html": html_path,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "decision: {}{} ({:.4} CPU-s/doc, band {}, max {} docs/day)",
            d.verdict.label(),
            if d.provisional { " (provisional)" } else { "" },
            report.cpu_seconds_per_doc,
            report.cpu_band.label(),
            report.max_sustainable_docs_per_day
        );
        for reason in &d.reasons {
            println!("  - {reason}");
        }
        for missing in &d.missing {
            println!("  missing: {missing}");
        }
        println!("wrote {} and {}", md_path.display(), html_path.display());
    }
    match args.fail_on.and_then(|f| rythmiq_report::gate_exit_code(d.verdict, d.provisional, f)) {
        Some(code) => std::process::exit(code.into()),
        None => Ok(()),
    }
}

/// `rythmiq plan`: the capacity plan from a bench (and a load test), as a table or JSON.
pub fn plan(args: PlanArgs) -> anyhow::Result<()> {
    let c = read_constraints(args.constraints.as_deref())?;
    let o = rythmiq_report::PlanOverrides {
        users: args.users,
        docs_per_user: args.docs_per_user,
        spawn_rate: args.spawn_rate,
        machine_cores: args.cores,
        server_slots: args.slots,
        max_cores: None,
    };
    let plan = rythmiq_report::plan_from_files(&c, &args.bench, args.load.as_deref(), &o)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}\n{}", plan.headline(plan.monthly_cpu_hours <= c.budget_cpu_hours_per_month), plan.render_text());
    }
    args.output.map_or(Ok(()), |p| write_json(&p, &plan))
}
