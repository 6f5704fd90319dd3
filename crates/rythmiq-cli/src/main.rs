//! `rythmiq`: the only place that parses argv, resolves the config and installs the global log subscriber.

mod config;
mod logging;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use rythmiq_bench::{cli_available, render_tables, run_bench, run_cli, summarise, BenchOptions};
use rythmiq_pipeline::RouteOverride;

use crate::config::{Config, Overrides};

#[derive(Parser, Debug)]
#[command(name = "rythmiq", version, about = "Rythmiq One: OCR document worker and its capacity-measuring kit")]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Route {
    Auto,
    Fast,
    Standard,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OcrFormat {
    Text,
    Json,
    Tsv,
    Hocr,
}

/// Which split of the corpus manifest a bench takes: tuning looks at `tune`, the product reports on `holdout`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum SplitArg {
    All,
    Tune,
    Holdout,
}

impl SplitArg {
    fn filter(self) -> rythmiq_bench::SplitFilter {
        match self {
            SplitArg::All => rythmiq_bench::SplitFilter::All,
            SplitArg::Tune => rythmiq_bench::SplitFilter::Tune,
            SplitArg::Holdout => rythmiq_bench::SplitFilter::Holdout,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum Baseline {
    /// Also run the `tesseract` command-line tool on the same documents (defaults, and OMP_THREAD_LIMIT=1).
    TesseractCli,
}

#[derive(Subcommand, Debug)]
enum CorpusCommand {
    /// Write N distinct copies of the corpus pages (unique content hash, same pixels and ground truth).
    Synth {
        #[arg(long, default_value_t = 250)]
        count: usize,
        #[arg(long, default_value = "corpus")]
        corpus: PathBuf,
        #[arg(long)]
        output: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Per-stage CPU baseline over a corpus, cold and warm, with accuracy against ground truth.
    Bench {
        /// Documents to process (the corpus is cycled when smaller).
        #[arg(long, default_value_t = 50)]
        count: usize,
        /// Where to write the JSON summary.
        #[arg(long, default_value = "baseline_results.json")]
        output: PathBuf,
        /// Corpus directory: images with optional <stem>.gt.txt ground truth.
        #[arg(long, default_value = "corpus")]
        corpus: PathBuf,
        /// Force a path for every document (experiments); `auto` routes by quality score.
        #[arg(long, value_enum, default_value_t = Route::Auto)]
        route: Route,
        /// Also measure a baseline in the same run.
        #[arg(long, value_enum)]
        baseline: Option<Baseline>,
        /// Where result documents are written (default: <data_dir>/bench-results).
        #[arg(long)]
        results_dir: Option<PathBuf>,
        /// Also write every stage row into the `cpu_metrics` table of the configured database (the embedded
        /// file when none is configured). On by default when a database URL is configured.
        #[arg(long)]
        record_metrics: bool,
        /// A/B the optimisation flags: run the corpus once per configuration (baseline, each flag alone, all
        /// together, and every `--with`), each in its own process so `OMP_THREAD_LIMIT` differs, and write the
        /// comparison (the report's table 5.1) to `--output`.
        #[arg(long)]
        compare: bool,
        /// An extra configuration for `--compare`: `label=flags`, e.g. `lean=--max-working-side-px 1600 --model fast`.
        #[arg(long = "with", value_name = "LABEL=FLAGS")]
        with_configs: Vec<String>,
        /// `--compare` measures only the reference and the engine rows (and every `--with`), not the optimisation
        /// switches: the engine trade-off and its frontier in one sitting.
        #[arg(long, requires = "compare")]
        engines_only: bool,
        /// Which documents of the corpus's MANIFEST.tsv to run: `tune` (tuning looks only there), `holdout` (what
        /// the product reports) or `all`.
        #[arg(long, value_enum, default_value_t = SplitArg::All)]
        split: SplitArg,
    },
    /// Load test: a burst of simulated users, each submitting documents and polling them to completion, against
    /// `--host` or a `rythmiq serve` it starts itself on loopback; samples the server while the load runs.
    Loadtest {
        #[arg(long, default_value_t = 50)]
        users: u32,
        #[arg(long, default_value_t = 5)]
        docs_per_user: u32,
        /// Users started per second.
        #[arg(long, default_value_t = 10.0)]
        spawn_rate: f64,
        /// A running API (`http://host:port`); default: start `rythmiq serve` on 127.0.0.1 with a fresh data dir.
        #[arg(long)]
        host: Option<String>,
        /// The server's process id when `--host` runs on this machine (for its CPU and memory).
        #[arg(long)]
        server_pid: Option<u32>,
        /// Source pages; every submitted document is a distinct copy (see `rythmiq corpus synth`).
        #[arg(long, default_value = "corpus")]
        corpus: PathBuf,
        /// Also ramp users (5, 10, 20, ... up to this; `--ramp` alone: up to 160) until P95 or errors break their
        /// limits: the stable and breaking points.
        #[arg(long = "ramp", alias = "ramp-max-users", value_name = "MAX_USERS", num_args = 0..=1, default_missing_value = "160")]
        ramp_max_users: Option<u32>,
        /// Also run twice the users (the framework's 2x-load question).
        #[arg(long)]
        double: bool,
        /// A document not done this long after submission is a timeout, seconds.
        #[arg(long, default_value_t = 120.0)]
        doc_timeout_secs: f64,
        #[arg(long, default_value = "results/loadtest.json")]
        output: PathBuf,
    },
    /// Corpus tools.
    Corpus {
        #[command(subcommand)]
        action: CorpusCommand,
    },
    /// Fill in the GO/NO-GO readiness report from measured data (Markdown and HTML), with the arithmetic shown.
    Report {
        /// The bench's JSON summary (`rythmiq bench --output`).
        #[arg(long, default_value = "baseline_results.json")]
        bench: PathBuf,
        /// A load-test result (`rythmiq loadtest --output`).
        #[arg(long)]
        load: Option<PathBuf>,
        /// An optimisation comparison (`rythmiq bench --compare --output`).
        #[arg(long)]
        compare: Option<PathBuf>,
        /// Also read this month's CPU use from the configured database.
        #[arg(long)]
        database: bool,
        /// Constraints (TOML: budget_cpu_hours_per_month, documents_per_day, days_per_month,
        /// p95_latency_limit_secs, error_rate_limit); defaults are the framework's.
        #[arg(long)]
        constraints: Option<PathBuf>,
        /// Output path without extension: writes <output>.md and <output>.html.
        #[arg(long, default_value = "readiness-report")]
        output: PathBuf,
        /// CI gate: exit 3 on NO-GO (no-go and up), 4 on ADJUST (adjust and up), 5 on a GO made on less evidence
        /// than the framework's checklist asks (provisional); 0 otherwise. The reports are written either way.
        #[arg(long, value_name = "no-go|adjust|provisional")]
        fail_on: Option<rythmiq_report::FailOn>,
    },
    /// Capacity planner: simulate the burst on N cores (= worker slots) from a bench's per-document CPU and wall
    /// times; prints P50/P95/P99 and throughput per N and the smallest N holding P95 under the limit, at the design
    /// load and twice it.
    Plan {
        /// The bench's JSON summary (its warm documents are the service times).
        #[arg(long, default_value = "baseline_results.json")]
        bench: PathBuf,
        /// A measured load test: its shape becomes the design load and its P95 is set beside the prediction.
        #[arg(long)]
        load: Option<PathBuf>,
        /// Design load (default: the load test's, else 50 users x 5 documents at 10 users/s).
        #[arg(long)]
        users: Option<u32>,
        #[arg(long)]
        docs_per_user: Option<u32>,
        #[arg(long)]
        spawn_rate: Option<f64>,
        /// Cores of this machine (default: the bench's recorded cores).
        #[arg(long)]
        cores: Option<u32>,
        /// Worker slots of the server the `--load` run measured (default: one per core).
        #[arg(long)]
        slots: Option<u32>,
        /// Constraints TOML, as for `report` (the P95 limit and the monthly arithmetic).
        #[arg(long)]
        constraints: Option<PathBuf>,
        /// Also write the plan as JSON.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Print the effective configuration (file, then RYTHMIQ_* environment, then flags) as TOML, secrets masked.
    Config,
    /// Store documents in the configured storage and queue them (what the API's POST does, for batch use).
    Enqueue {
        /// Image files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, default_value_t = 0)]
        priority: i32,
    },
    /// OCR files and print the results to stdout: the worker's pipeline, routing and flags, without a database
    /// or a queue. Pages are separated by a form feed in text output, as the tesseract CLI does.
    Ocr {
        /// Images, multi-page TIFFs or PDFs.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = OcrFormat::Text)]
        format: OcrFormat,
        /// Only these pages: N or FIRST-LAST, 1-based.
        #[arg(long)]
        pages: Option<String>,
    },
    /// Apply the database migrations (idempotent) and exit.
    Migrate,
    /// Run the HTTP API (port 8000) and an in-process worker pool: the single-node deployment.
    Serve {
        /// Listen address (default from config: 127.0.0.1:8000).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Serve /v1 without a token on a non-loopback address (also RYTHMIQ_ALLOW_UNAUTHENTICATED=true or
        /// `[api] allow_unauthenticated`): refused unless chosen explicitly.
        #[arg(long)]
        allow_unauthenticated: bool,
        /// Worker slots in this process (0: one per core).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Run queue-consuming workers until SIGTERM/SIGINT: one warm pipeline per slot (default one per core).
    Worker {
        /// Pipelines to run at once (0: one per core).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Exit once the queue is empty instead of waiting for more work (batch runs, tests).
        #[arg(long)]
        drain: bool,
        /// Where /healthz, /readyz and /metrics are served for the pod's probes and Prometheus (default
        /// 127.0.0.1:9100; containers set 0.0.0.0:9100). With --drain, no probe server unless this is given.
        #[arg(long, env = "RYTHMIQ_METRICS_ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::resolve(&cli.overrides)?;
    ensure_omp_thread_limit(config.pipeline.flags.ocr_threads)?;
    let log_format = logging::LogFormat::parse(cli.overrides.log_format.as_deref())?;
    logging::init(log_format);
    match cli.command {
        Command::Bench { count, output, corpus, compare: true, with_configs, split, engines_only, .. } => {
            let matrix = if engines_only { rythmiq_bench::Matrix::EnginesOnly } else { rythmiq_bench::Matrix::Full };
            compare(&config, count, output, corpus, (with_configs, matrix), split)
        }
        Command::Bench { count, output, corpus, route, baseline, results_dir, record_metrics, split, .. } => {
            let record = record_metrics || config.database.url.is_some();
            bench(config, BenchArgs { count, output, corpus, route, baseline, results_dir, record, split })
        }
        Command::Report { bench, load, compare, database, constraints, output, fail_on } => {
            let decision = report(&config, bench, load, compare, database, constraints, output)?;
            match fail_on.and_then(|f| rythmiq_report::gate_exit_code(decision.verdict, decision.provisional, f)) {
                Some(code) => std::process::exit(code.into()),
                None => Ok(()),
            }
        }
        Command::Loadtest {
            users,
            docs_per_user,
            spawn_rate,
            host,
            server_pid,
            corpus,
            ramp_max_users,
            double,
            doc_timeout_secs,
            output,
        } => {
            let constraints = rythmiq_report::Constraints::default();
            let plan = rythmiq_loadtest::LoadTestPlan {
                users,
                docs_per_user,
                spawn_rate,
                host,
                server_pid,
                corpus,
                ramp_max_users,
                double,
                doc_timeout_secs,
                auth_token: config.api.auth_token.clone(),
                p95_limit_secs: constraints.p95_latency_limit_secs,
                error_rate_limit: constraints.error_rate_limit,
                server_exe: std::env::current_exe()?,
                server_args: cli.overrides.to_args(),
            };
            runtime()?.block_on(loadtest(plan, output))
        }
        Command::Plan { bench, load, users, docs_per_user, spawn_rate, cores, slots, constraints, output } => {
            let c = match constraints {
                Some(p) => {
                    toml::from_str(&std::fs::read_to_string(&p)?).with_context(|| format!("parsing {}", p.display()))?
                }
                None => rythmiq_report::Constraints::default(),
            };
            let o = rythmiq_report::PlanOverrides {
                users,
                docs_per_user,
                spawn_rate,
                machine_cores: cores,
                server_slots: slots,
                max_cores: None,
            };
            let plan = rythmiq_report::plan_from_files(&c, &bench, load.as_deref(), &o)?;
            print!("{}\n{}", plan.headline(plan.monthly_cpu_hours <= c.budget_cpu_hours_per_month), plan.render_text());
            output.map_or(Ok(()), |p| {
                std::fs::write(&p, serde_json::to_vec_pretty(&plan)?)
                    .with_context(|| format!("writing {}", p.display()))
            })
        }
        Command::Corpus { action: CorpusCommand::Synth { count, corpus, output } } => {
            let r = rythmiq_loadtest::synthesise(&corpus, &output, count)?;
            println!("wrote {} distinct documents to {}", r.written, output.display());
            Ok(())
        }
        Command::Config => {
            // Read back from the environment: proves the restart took effect, not just what was asked for.
            let omp = std::env::var("OMP_THREAD_LIMIT").unwrap_or_default();
            println!("# OMP_THREAD_LIMIT in effect: {omp}");
            println!("# OMP_WAIT_POLICY in effect: {}", std::env::var("OMP_WAIT_POLICY").unwrap_or_default());
            print!("{}", config.to_masked_toml()?);
            Ok(())
        }
        Command::Enqueue { files, priority } => runtime()?.block_on(enqueue(config, files, priority)),
        Command::Ocr { files, format, pages } => ocr(config, files, format, pages),
        Command::Migrate => runtime()?.block_on(async {
            let db = config.database.connect().await.context("connecting to the database")?;
            db.migrate().await.context("applying migrations")?;
            println!("migrations applied ({:?})", db.backend());
            Ok(())
        }),
        Command::Worker { concurrency, drain, metrics_addr } => {
            let mut config = config;
            if let Some(n) = concurrency {
                config.worker.concurrency = n;
            }
            runtime()?.block_on(worker(config, drain, metrics_addr))
        }
        Command::Serve { listen, concurrency, allow_unauthenticated } => {
            let mut config = config;
            config.api.allow_unauthenticated |= allow_unauthenticated;
            if let Some(addr) = listen {
                config.api.listen_addr = addr;
            }
            if let Some(n) = concurrency {
                config.worker.concurrency = n;
            }
            runtime()?.block_on(serve(config))
        }
    }
}

fn report(
    config: &Config,
    bench: PathBuf,
    load: Option<PathBuf>,
    compare: Option<PathBuf>,
    database: bool,
    constraints: Option<PathBuf>,
    output: PathBuf,
) -> anyhow::Result<rythmiq_report::Decision> {
    use rythmiq_report::{read_json, render_html, render_markdown, Constraints, MonthlyUsage, Report};
    let constraints: Constraints = match constraints {
        Some(path) => {
            toml::from_str(&std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => Constraints::default(),
    };
    let bench_summary = read_json(&bench).with_context(|| format!("reading the bench summary {}", bench.display()))?;
    let load = load.map(|p| read_json(&p)).transpose()?;
    let compare = compare.map(|p| read_json(&p)).transpose()?;
    let usage = if database {
        let budget = constraints.budget_cpu_hours_per_month;
        Some(runtime()?.block_on(async {
            let db = config.database.connect().await.context("connecting to the database")?;
            db.migrate().await?;
            let now = chrono::Utc::now();
            let usage = db.monthly_usage(now, Some(budget)).await?;
            let days_elapsed = (now - usage.month_start.and_hms_opt(0, 0, 0).expect("midnight").and_utc()).num_seconds()
                as f64
                / 86_400.0;
            anyhow::Ok(MonthlyUsage {
                cpu_hours_used: usage.cpu_hours_used,
                documents: usage.documents.max(0) as u64,
                days_elapsed,
            })
        })?)
    } else {
        None
    };
    let report = Report::build(constraints, bench_summary, load, compare, usage)?;
    let markdown = render_markdown(&report);
    let (md_path, html_path) = (output.with_extension("md"), output.with_extension("html"));
    std::fs::write(&md_path, &markdown).with_context(|| format!("writing {}", md_path.display()))?;
    std::fs::write(&html_path, render_html(&report)).with_context(|| format!("writing {}", html_path.display()))?;
    // A short summary: the full Markdown is in the file (and on the HTML page).
    let d = &report.decision;
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
    Ok(report.decision)
}

async fn loadtest(plan: rythmiq_loadtest::LoadTestPlan, output: PathBuf) -> anyhow::Result<()> {
    let result = rythmiq_loadtest::run_loadtest(&plan).await?;
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&output, serde_json::to_vec_pretty(&result)?)
        .with_context(|| format!("writing {}", output.display()))?;
    print!("{}", rythmiq_loadtest::render_summary(&result, plan.p95_limit_secs));
    println!("wrote {}", output.display());
    anyhow::ensure!(
        !rythmiq_loadtest::every_request_failed(&result),
        "every one of the {} requests failed (see the failure breakdown above)",
        result.total_requests
    );
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Resolves to true on SIGTERM or SIGINT (Kubernetes sends SIGTERM, then SIGKILL after the grace period).
fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Registered now, not in the task: a SIGTERM that arrives before the task first runs must still be caught.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    tokio::spawn(async move {
        let mut term = match term {
            Ok(s) => s,
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutdown signal: no new claims; finishing in-flight jobs");
        let _ = tx.send(true);
    });
    rx
}

/// A factory that opens the configured store on each pipeline thread (an S3 client per thread and runtime).
fn store_factory(config: &Config) -> rythmiq_worker::StoreFactory {
    let location = config.storage_location();
    let s3 = config.storage.s3.clone();
    std::sync::Arc::new(move || {
        rythmiq_storage::StoreUri::parse(&location)
            .and_then(|uri| uri.open(&s3))
            .map_err(|e| format!("opening storage {location}: {e}"))
    })
}

/// The fingerprint of the output-affecting config, as jobs record it (part of the idempotency key).
fn config_hash(config: &Config) -> anyhow::Result<String> {
    // The same checked hash the engine records in every result, so job keys and result keys agree.
    let model_sha =
        rythmiq_ocr::verify_model(&config.pipeline.models_dir, config.pipeline.flags.model.as_str(), "eng")?;
    Ok(config.pipeline.output_fingerprint(&model_sha))
}

fn ocr(config: Config, files: Vec<PathBuf>, format: OcrFormat, pages: Option<String>) -> anyhow::Result<()> {
    use rythmiq_pipeline::oneshot::{parse_page_range, run_ocr, OutputFormat};
    let range = pages.as_deref().map(parse_page_range).transpose().map_err(|e| anyhow::anyhow!(e))?;
    let format = match format {
        OcrFormat::Text => OutputFormat::Text,
        OcrFormat::Json => OutputFormat::Json,
        OcrFormat::Tsv => OutputFormat::Tsv,
        OcrFormat::Hocr => OutputFormat::Hocr,
    };
    let stdout = std::io::stdout();
    let outcomes =
        run_ocr(config.pipeline, &files, format, range, &mut stdout.lock()).map_err(|e| anyhow::anyhow!(e))?;
    let failed: Vec<_> = outcomes.iter().filter_map(|o| o.error.as_ref().map(|e| (&o.file, e))).collect();
    for (file, (kind, message)) in &failed {
        eprintln!("{}: {kind}: {message}", file.display());
    }
    anyhow::ensure!(failed.is_empty(), "{} of {} files failed", failed.len(), outcomes.len());
    Ok(())
}

async fn enqueue(config: Config, files: Vec<PathBuf>, priority: i32) -> anyhow::Result<()> {
    let db = config.database.connect().await.context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let store = rythmiq_storage::StoreUri::parse(&config.storage_location())?.open(&config.storage.s3)?;
    let config_hash = config_hash(&config)?;
    let mut refused = 0usize;
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        // The same intake as the API and `rythmiq ocr`: what the API refuses is not queued from here either.
        if let Err(err) = rythmiq_types::intake::validate(&bytes) {
            eprintln!("{}: refused: {err}", file.display());
            refused += 1;
            continue;
        }
        let sha = rythmiq_types::sha256_hex(&bytes);
        let key = format!("inputs/{sha}");
        store.put(&key, bytes, "application/octet-stream").await?;
        let mut job = rythmiq_db::NewJob::new(key, sha, config_hash.clone());
        job.priority = priority;
        let queued = db.enqueue(&job).await?;
        println!("{}\t{}\t{}", queued.id, if queued.created { "queued" } else { "duplicate" }, file.display());
    }
    anyhow::ensure!(refused == 0, "{refused} of {} files refused (nothing was queued for them)", files.len());
    Ok(())
}

/// Installs the process-wide Prometheus recorder (the latency histogram gets the SLA-aligned buckets).
fn install_metrics() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(rythmiq_worker::telemetry::DOCUMENT_LATENCY_SECONDS.into()),
            &rythmiq_worker::LATENCY_BUCKETS_SECS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(rythmiq_worker::telemetry::STAGE_CPU_SECONDS.into()),
            &rythmiq_worker::STAGE_CPU_BUCKETS_SECS,
        )?
        .install_recorder()?;
    rythmiq_worker::describe_metrics();
    rythmiq_api::telemetry::describe();
    Ok(handle)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let handle = install_metrics()?;
    let db = config.database.connect().await.context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let location = config.storage_location();
    let uri = rythmiq_storage::StoreUri::parse(&location)?;
    let s3_bucket = match &uri {
        rythmiq_storage::StoreUri::S3 { bucket, .. } => Some(bucket.clone()),
        _ => None,
    };
    let store = uri.open(&config.storage.s3)?;
    let store_description = store.describe();
    let mut state = rythmiq_api::AppState::new(db.clone(), store, config.api.clone(), config_hash(&config)?);
    state.prometheus = Some(handle);
    state.s3_bucket = s3_bucket;
    let ready = state.ready.clone();
    let shutdown = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(config.api.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.api.listen_addr))?;
    banner(&config, "serve", Some(listener.local_addr()?.to_string()), &store_description).print(logging::format());
    eprintln!("serving with flags {}", config.pipeline.flags.label());
    eprintln!("listening on http://{}", listener.local_addr()?);
    let workers = tokio::spawn(rythmiq_worker::run_workers(
        db,
        config.pipeline.clone(),
        store_factory(&config),
        config.worker.clone(),
        shutdown.clone(),
    ));
    ready.store(true, std::sync::atomic::Ordering::Release);
    let mut api_shutdown = shutdown.clone();
    rythmiq_api::serve(listener, state, async move {
        let _ = api_shutdown.wait_for(|stop| *stop).await;
    })
    .await?;
    let summary = workers.await?.map_err(|e| anyhow::anyhow!(e))?;
    eprintln!(
        "stopped: {} succeeded, {} failed (will retry), {} dead-lettered, {} released",
        summary.succeeded, summary.failed, summary.dead_lettered, summary.released
    );
    Ok(())
}

async fn worker(config: Config, drain: bool, metrics_addr: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let handle = install_metrics()?;
    let db = config.database.connect().await.context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let mut shutdown = shutdown_signal();
    let store = rythmiq_storage::StoreUri::parse(&config.storage_location())?.open(&config.storage.s3)?;
    let mut state = rythmiq_api::AppState::new(db.clone(), store, config.api.clone(), config_hash(&config)?);
    state.prometheus = Some(handle.clone());
    let ready = state.ready.clone();
    // A batch run (--drain) has nobody probing it: no listener unless asked for.
    let probe_addr = match (metrics_addr, drain) {
        (Some(addr), _) => Some(addr),
        (None, false) => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9100))),
        (None, true) => None,
    };
    if let Some(addr) = probe_addr {
        // The API's own probe handlers (no /v1 routes): one /readyz and /metrics for both kinds of pod.
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        eprintln!("probes listening on http://{}", listener.local_addr()?);
        rythmiq_api::telemetry::spawn_upkeep(handle, std::time::Duration::from_secs(5));
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, rythmiq_api::probe_router(state)).await {
                tracing::error!(error = %format!("{err:#}"), "probe server failed");
            }
        });
    }
    let storage = config.storage_location();
    banner(&config, "worker", probe_addr.map(|a| a.to_string()), &storage).print(logging::format());
    if drain {
        shutdown = rythmiq_worker::drain_when_idle(db.clone(), shutdown);
    }
    ready.store(true, std::sync::atomic::Ordering::Release);
    let summary = rythmiq_worker::run_workers(
        db,
        config.pipeline.clone(),
        store_factory(&config),
        config.worker.clone(),
        shutdown,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    eprintln!(
        "worker stopped: {} succeeded, {} failed (will retry), {} dead-lettered, {} released, {} stale",
        summary.succeeded, summary.failed, summary.dead_lettered, summary.released, summary.stale
    );
    Ok(())
}

/// The start-up banner of `serve` and `worker`: database, storage, model, engines and worker slots, one line.
fn banner(config: &Config, command: &'static str, listen: Option<String>, storage: &str) -> logging::Banner {
    let flags = &config.pipeline.flags;
    let slots = config.worker.threads();
    logging::Banner {
        command,
        database: config.database_description(),
        storage: storage.to_string(),
        model: format!(
            "{} ({})",
            flags.model.as_str(),
            config.pipeline.models_dir.join(flags.model.as_str()).display()
        ),
        engines: format!("tesseract {} x{slots}", rythmiq_ocr::tesseract_version()),
        worker_slots: slots,
        listen,
    }
}

/// Tesseract's OpenMP runtime reads `OMP_THREAD_LIMIT` and `OMP_WAIT_POLICY` once, when the process starts; setting
/// them later has no effect. So when the limit differs from the configured OCR threads, or no wait policy is set,
/// the binary restarts itself with them set. The policy defaults to PASSIVE: with `--ocr-threads 2` an ACTIVE
/// (spinning) idle OpenMP thread burns CPU between parallel regions that no stage asked for (docs/tuning.md has
/// both measured). A policy the operator set is kept.
fn ensure_omp_thread_limit(threads: u32) -> anyhow::Result<()> {
    let wanted = threads.to_string();
    let policy = std::env::var("OMP_WAIT_POLICY").unwrap_or_else(|_| "PASSIVE".to_string());
    if std::env::var("OMP_THREAD_LIMIT").ok().as_deref() == Some(wanted.as_str())
        && std::env::var_os("OMP_WAIT_POLICY").is_some()
    {
        return Ok(());
    }
    if std::env::var_os("RYTHMIQ_REEXECED").is_some() {
        anyhow::bail!("OMP_THREAD_LIMIT is still not {wanted} after restarting; refusing to loop");
    }
    let exe = std::env::current_exe().context("locating the executable to restart it")?;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_THREAD_LIMIT", &wanted)
        .env("OMP_WAIT_POLICY", &policy)
        .env("RYTHMIQ_REEXECED", "1")
        .exec();
    Err(anyhow::anyhow!("restarting with OMP_THREAD_LIMIT={wanted} failed: {err}"))
}

fn compare(
    config: &Config,
    count: usize,
    output: PathBuf,
    corpus: PathBuf,
    (extra, matrix): (Vec<String>, rythmiq_bench::Matrix),
    split: SplitArg,
) -> anyhow::Result<()> {
    let opts = rythmiq_bench::CompareOptions {
        exe: std::env::current_exe()?,
        count,
        corpus: corpus.clone(),
        base: config.pipeline.flags.clone(),
        extra,
        split: split.filter(),
        matrix,
        scratch: std::env::temp_dir().join(format!("rythmiq-compare-{}", std::process::id())),
    };
    let result = rythmiq_bench::run_compare(&opts)?;
    print!("{}", rythmiq_bench::render_compare(&result, count, &corpus));
    std::fs::write(&output, serde_json::to_vec_pretty(&result)?)
        .with_context(|| format!("writing {}", output.display()))?;
    println!("wrote {}", output.display());
    Ok(())
}

struct BenchArgs {
    count: usize,
    output: PathBuf,
    corpus: PathBuf,
    route: Route,
    baseline: Option<Baseline>,
    results_dir: Option<PathBuf>,
    record: bool,
    split: SplitArg,
}

fn bench(mut config: Config, args: BenchArgs) -> anyhow::Result<()> {
    let BenchArgs { count, output, corpus, route, baseline, results_dir, record, split } = args;
    anyhow::ensure!(count > 0, "--count must be at least 1");
    config.pipeline.route = match route {
        Route::Auto => RouteOverride::Auto,
        Route::Fast => RouteOverride::ForceFast,
        Route::Standard => RouteOverride::ForceStandard,
    };
    let opts = BenchOptions {
        corpus_dir: corpus,
        count,
        output_dir: results_dir.unwrap_or_else(|| config.data_dir().join("bench-results")),
        progress: true,
        split: split.filter(),
    };
    let threshold = config.pipeline.fast_path_threshold;
    let tessdata = config.pipeline.models_dir.join(config.pipeline.flags.model.as_str());
    let raw = run_bench(config.pipeline.clone(), &opts)?;
    if record {
        let runs: Vec<&rythmiq_types::DocumentRun> =
            raw.runs.iter().chain(raw.warm_probe.iter()).map(|m| &m.run).collect();
        let rows: Vec<rythmiq_db::MetricsRow> =
            runs.iter().flat_map(|run| rythmiq_db::MetricsRow::from_run(run, "bench")).collect();
        let inserted = runtime()?.block_on(async {
            let db = config.database.connect().await.context("connecting to the database")?;
            db.migrate().await?;
            anyhow::Ok(db.insert_metrics(&rows).await?)
        })?;
        eprintln!("recorded {inserted} cpu_metrics rows ({} documents)", runs.len());
    }
    let mut baselines = Vec::new();
    if baseline == Some(Baseline::TesseractCli) {
        anyhow::ensure!(
            cli_available(),
            "--baseline tesseract-cli needs the `tesseract` binary (bash scripts/setup installs it)"
        );
        // The distinct documents of the run, each once.
        let n_distinct = raw.corpus.len().min(count);
        let docs = &raw.corpus[..n_distinct];
        eprintln!("baseline: tesseract CLI over {n_distinct} documents, defaults then OMP_THREAD_LIMIT=1 ...");
        baselines.push(run_cli(docs, &tessdata, None));
        baselines.push(run_cli(docs, &tessdata, Some(1)));
    }
    let summary = summarise(&raw, threshold, baselines);
    print!("{}", render_tables(&summary));
    std::fs::write(&output, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("writing {}", output.display()))?;
    println!("\nwrote {}", output.display());
    Ok(())
}
