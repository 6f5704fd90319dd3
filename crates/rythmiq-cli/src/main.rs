//! `rythmiq`: the only place that parses argv, resolves the config and installs the global log subscriber.

mod config;

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
    /// Apply the database migrations (idempotent) and exit.
    Migrate,
    /// Run the HTTP API (port 8000) and an in-process worker pool: the single-node deployment.
    Serve {
        /// Listen address (default from config: 0.0.0.0:8000).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
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
        /// Where /healthz, /readyz and /metrics are served for the pod's probes and Prometheus.
        #[arg(long, default_value = "0.0.0.0:9100")]
        metrics_addr: std::net::SocketAddr,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::resolve(&cli.overrides)?;
    ensure_omp_thread_limit(config.pipeline.flags.ocr_threads)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match cli.command {
        Command::Bench { count, output, corpus, compare: true, with_configs, .. } => {
            compare(count, output, corpus, with_configs)
        }
        Command::Bench { count, output, corpus, route, baseline, results_dir, record_metrics, .. } => {
            let record = record_metrics || config.database.url.is_some();
            bench(config, BenchArgs { count, output, corpus, route, baseline, results_dir, record })
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
        } => runtime()?.block_on(loadtest(LoadArgs {
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
            auth_token: config.api.auth_token.clone(),
        })),
        Command::Plan { bench, load, users, docs_per_user, spawn_rate, cores, slots, constraints, output } => {
            let c = match constraints {
                Some(p) => toml::from_str(&std::fs::read_to_string(&p)?).with_context(|| format!("parsing {}", p.display()))?,
                None => rythmiq_report::Constraints::default(),
            };
            let o = rythmiq_report::PlanOverrides { users, docs_per_user, spawn_rate, machine_cores: cores, server_slots: slots, max_cores: None };
            let plan = rythmiq_report::plan_from_files(&c, &bench, load.as_deref(), &o)?;
            print!("{}\n{}", plan.headline(plan.monthly_cpu_hours <= c.budget_cpu_hours_per_month), plan.render_text());
            output.map_or(Ok(()), |p| std::fs::write(&p, serde_json::to_vec_pretty(&plan)?).with_context(|| format!("writing {}", p.display())))
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
            print!("{}", config.to_masked_toml()?);
            Ok(())
        }
        Command::Enqueue { files, priority } => runtime()?.block_on(enqueue(config, files, priority)),
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
        Command::Serve { listen, concurrency } => {
            let mut config = config;
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
        Some(path) => toml::from_str(&std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("parsing {}", path.display()))?,
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
            let days_elapsed = (now - usage.month_start.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
                .num_seconds() as f64
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
    print!("{markdown}");
    println!("\nwrote {} and {}", md_path.display(), html_path.display());
    Ok(report.decision)
}

struct LoadArgs {
    users: u32,
    docs_per_user: u32,
    spawn_rate: f64,
    host: Option<String>,
    server_pid: Option<u32>,
    corpus: PathBuf,
    ramp_max_users: Option<u32>,
    double: bool,
    doc_timeout_secs: f64,
    output: PathBuf,
    auth_token: Option<String>,
}

/// A `rythmiq serve` child on loopback with its own data directory, stopped (SIGTERM) on drop.
struct LocalServer {
    child: std::process::Child,
    addr: String,
    _data: PathBuf,
}

impl LocalServer {
    fn start(data_dir: PathBuf) -> anyhow::Result<LocalServer> {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RYTHMIQ_DATA_DIR", &data_dir)
            .env_remove("RYTHMIQ_REEXECED")
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
        let mut line = String::new();
        loop {
            line.clear();
            anyhow::ensure!(stderr.read_line(&mut line)? > 0, "rythmiq serve exited before listening");
            if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                let addr = addr.to_string();
                // Keep draining the server's log so it never blocks on a full pipe.
                std::thread::spawn(move || for _ in stderr.lines() {});
                return Ok(LocalServer { child, addr, _data: data_dir });
            }
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

async fn loadtest(args: LoadArgs) -> anyhow::Result<()> {
    use rythmiq_loadtest::{run_load, run_ramp, synthesise, LoadOptions};
    let constraints = rythmiq_report::Constraints::default();
    let ramp_steps: Vec<u32> = match args.ramp_max_users {
        Some(max) => std::iter::successors(Some(5u32), |u| Some(u * 2)).take_while(|u| *u <= max).collect(),
        None => Vec::new(),
    };
    let per_run = (args.users * args.docs_per_user) as usize;
    let needed = per_run
        + if args.double { per_run * 2 } else { 0 }
        + ramp_steps.iter().map(|u| (u * args.docs_per_user) as usize).sum::<usize>();
    let scratch = std::env::temp_dir().join(format!("rythmiq-loadtest-{}", std::process::id()));
    let docs = synthesise(&args.corpus, &scratch.join("docs"), needed)?.files;
    let server = match &args.host {
        Some(_) => None,
        None => Some(LocalServer::start(scratch.join("data"))?),
    };
    let addr = match (&args.host, &server) {
        (Some(host), _) => host.trim_start_matches("http://").trim_end_matches('/').to_string(),
        (None, Some(s)) => s.addr.clone(),
        (None, None) => unreachable!("a server was started"),
    };
    let opts = LoadOptions {
        addr,
        users: args.users,
        docs_per_user: args.docs_per_user,
        spawn_rate: args.spawn_rate,
        auth_token: args.auth_token.clone(),
        poll_interval: std::time::Duration::from_millis(250),
        doc_timeout: std::time::Duration::from_secs_f64(args.doc_timeout_secs),
        server_pid: args.server_pid.or(server.as_ref().map(|s| s.child.id())),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        p95_limit_secs: constraints.p95_latency_limit_secs,
        error_rate_limit: constraints.error_rate_limit,
    };
    eprintln!("load: {} users x {} documents, {} users/s, against {}", opts.users, opts.docs_per_user, opts.spawn_rate, opts.addr);
    let mut result = run_load(&opts, &docs[..per_run]).await?;
    let mut offset = per_run;
    if args.double {
        let double = LoadOptions { users: args.users * 2, ..opts.clone() };
        eprintln!("load: 2x, {} users", double.users);
        result.double_load = Some(Box::new(run_load(&double, &docs[offset..offset + per_run * 2]).await?));
        offset += per_run * 2;
    }
    if !ramp_steps.is_empty() {
        eprintln!("load: ramp over {ramp_steps:?} users");
        result.ramp = run_ramp(&opts, &docs[offset..], &ramp_steps).await?;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.output, serde_json::to_vec_pretty(&result)?)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let r = &result;
    println!("LOAD TEST: {} users x {} documents, spawn rate {}/s, {:.1} s", r.users, r.docs_per_user, r.spawn_rate, r.duration_secs);
    println!("  throughput: peak {:.3} docs/s (best 5 s window), sustained {} / {:.1} s = {:.3} docs/s", r.throughput_peak_docs_per_sec, r.successful, r.duration_secs, r.throughput_sustained_docs_per_sec);
    println!("  end-to-end latency: P50 {:.2} s, P95 {:.2} s, P99 {:.2} s (limit P95 < {:.0} s)", r.latency_p50_secs, r.latency_p95_secs, r.latency_p99_secs, constraints.p95_latency_limit_secs);
    println!(
        "  requests {}: {} succeeded, {} failed ({:.2}%): timeout {}, server error {}, validation {}, rejected (429) {}",
        r.total_requests,
        r.successful,
        r.failed,
        if r.total_requests > 0 { r.failed as f64 / r.total_requests as f64 * 100.0 } else { 0.0 },
        r.failures.timeout,
        r.failures.server_error,
        r.failures.validation,
        r.failures.rejected_429
    );
    let peak = |f: fn(&rythmiq_report::ResourceSample) -> f64| r.samples.iter().map(f).fold(0.0, f64::max);
    println!(
        "  peaks: server CPU {:.0}% of {} cores, queue depth {}, DB pool {}/{}, RSS {:.0} MB",
        peak(|s| s.worker_cpu_percent),
        r.cores,
        peak(|s| s.queue_depth as f64),
        peak(|s| s.db_pool_in_use as f64),
        peak(|s| s.db_pool_size as f64),
        peak(|s| s.rss_mb)
    );
    match &r.first_bottleneck {
        Some(b) => println!("  first bottleneck: {:?}: {}", b.kind, b.evidence.join("; ")),
        None => println!("  first bottleneck: none reached"),
    }
    for step in &r.ramp {
        println!("  ramp {} users: P95 {:.2} s, errors {:.2}%", step.users, step.p95_secs, step.error_rate * 100.0);
    }
    if let Some(d) = &r.double_load {
        println!("  2x ({} users): P95 {:.2} s, {} failed of {}", d.users, d.latency_p95_secs, d.failed, d.total_requests);
    }
    println!("wrote {}", args.output.display());
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Resolves to true on SIGTERM or SIGINT (Kubernetes sends SIGTERM, then SIGKILL after the grace period).
fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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
    let model_sha = rythmiq_ocr::verify_model(&config.pipeline.models_dir, config.pipeline.flags.model.as_str(), "eng")?;
    Ok(config.pipeline.output_fingerprint(&model_sha))
}

async fn enqueue(config: Config, files: Vec<PathBuf>, priority: i32) -> anyhow::Result<()> {
    let db = config.database.connect().await.context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let store = rythmiq_storage::StoreUri::parse(&config.storage_location())?.open(&config.storage.s3)?;
    let config_hash = config_hash(&config)?;
    for file in files {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        anyhow::ensure!(!bytes.is_empty(), "{} is empty", file.display());
        let sha = rythmiq_types::sha256_hex(&bytes);
        let key = format!("inputs/{sha}");
        store.put(&key, bytes, "application/octet-stream").await?;
        let mut job = rythmiq_db::NewJob::new(key, sha, config_hash.clone());
        job.priority = priority;
        let queued = db.enqueue(&job).await?;
        println!("{}\t{}\t{}", queued.id, if queued.created { "queued" } else { "duplicate" }, file.display());
    }
    Ok(())
}

/// Installs the process-wide Prometheus recorder (the latency histogram gets the SLA-aligned buckets).
fn install_metrics() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("rythmiq_document_latency_seconds".into()),
            &rythmiq_worker::LATENCY_BUCKETS_SECS,
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
    let mut state = rythmiq_api::AppState::new(db.clone(), store, config.api.clone(), config_hash(&config)?);
    state.prometheus = Some(handle);
    state.s3_bucket = s3_bucket;
    let ready = state.ready.clone();
    let shutdown = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(config.api.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.api.listen_addr))?;
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

/// `/healthz`, `/readyz` and `/metrics` for a worker pod (no `/v1` routes: workers take no submissions).
async fn probes(addr: std::net::SocketAddr, handle: metrics_exporter_prometheus::PrometheusHandle, db: rythmiq_db::Database) -> anyhow::Result<()> {
    use axum::routing::get;
    let metrics_handle = handle.clone();
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let db = db.clone();
                async move {
                    match tokio::time::timeout(std::time::Duration::from_secs(2), db.queue_depth()).await {
                        Ok(Ok(_)) => (axum::http::StatusCode::OK, "ready\n"),
                        _ => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n"),
                    }
                }
            }),
        )
        .route("/metrics", get(move || {
            let handle = metrics_handle.clone();
            async move { handle.render() }
        }));
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    rythmiq_api::telemetry::spawn_upkeep(handle, std::time::Duration::from_secs(5));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn worker(config: Config, drain: bool, metrics_addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let handle = install_metrics()?;
    let db = config.database.connect().await.context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let probe_db = db.clone();
    tokio::spawn(async move {
        if let Err(err) = probes(metrics_addr, handle, probe_db).await {
            tracing::error!(error = %err, "probe server failed");
        }
    });
    let mut shutdown = shutdown_signal();
    if drain {
        // Stop once nothing is queued, running or waiting for a retry.
        let (tx, rx) = tokio::sync::watch::channel(false);
        let watch_db = db.clone();
        let mut signal = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                    _ = signal.changed() => { let _ = tx.send(true); return; }
                }
                if watch_db.queue_depth().await.is_ok_and(|d| d.ready + d.delayed + d.running == 0) {
                    let _ = tx.send(true);
                    return;
                }
            }
        });
        shutdown = rx;
    }
    let summary = rythmiq_worker::run_workers(db, config.pipeline.clone(), store_factory(&config), config.worker.clone(), shutdown)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    eprintln!(
        "worker stopped: {} succeeded, {} failed (will retry), {} dead-lettered, {} released, {} stale",
        summary.succeeded, summary.failed, summary.dead_lettered, summary.released, summary.stale
    );
    Ok(())
}

/// Tesseract's OpenMP runtime reads `OMP_THREAD_LIMIT` once, when the process starts; setting it later has no
/// effect. So when it differs from the configured OCR threads, the binary restarts itself with it set.
fn ensure_omp_thread_limit(threads: u32) -> anyhow::Result<()> {
    let wanted = threads.to_string();
    if std::env::var("OMP_THREAD_LIMIT").ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    if std::env::var_os("RYTHMIQ_REEXECED").is_some() {
        anyhow::bail!("OMP_THREAD_LIMIT is still not {wanted} after restarting; refusing to loop");
    }
    let exe = std::env::current_exe().context("locating the executable to restart it")?;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_THREAD_LIMIT", &wanted)
        .env("RYTHMIQ_REEXECED", "1")
        .exec();
    Err(anyhow::anyhow!("restarting with OMP_THREAD_LIMIT={wanted} failed: {err}"))
}

/// The configurations `bench --compare` measures: the baseline, each optimisation alone, then all together.
fn compare_configs(extra: &[String]) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let flag = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let mut configs = vec![
        ("baseline".to_string(), vec![]),
        ("ocr_threads=2".to_string(), flag(&["--ocr-threads", "2"])),
        ("pre_resize=1600px".to_string(), flag(&["--max-working-side-px", "1600"])),
        ("skip_pre_ocr>=0.9".to_string(), flag(&["--skip-pre-ocr-above", "0.9"])),
        ("model=best_int".to_string(), flag(&["--model", "best_int"])),
        ("result_cache".to_string(), flag(&["--result-cache", "true"])),
    ];
    let all: Vec<String> = configs.iter().flat_map(|(_, a)| a.clone()).filter(|a| a != "best_int" && a != "--model").collect();
    configs.push(("all (fast model)".to_string(), all));
    for spec in extra {
        let (label, args) = spec.split_once('=').ok_or_else(|| anyhow::anyhow!("--with {spec:?}: expected LABEL=FLAGS"))?;
        configs.push((label.to_string(), args.split_whitespace().map(String::from).collect()));
    }
    Ok(configs)
}

fn percentile(mut values: Vec<f64>, q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

fn compare(count: usize, output: PathBuf, corpus: PathBuf, extra: Vec<String>) -> anyhow::Result<()> {
    use rythmiq_report::{CompareResult, CompareRow};
    let exe = std::env::current_exe()?;
    let scratch = std::env::temp_dir().join(format!("rythmiq-compare-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut summaries = Vec::new();
    for (idx, (label, args)) in compare_configs(&extra)?.into_iter().enumerate() {
        eprintln!("compare: {label} ({})", if args.is_empty() { "defaults".to_string() } else { args.join(" ") });
        let out = scratch.join(format!("{idx}.json"));
        // Each configuration in a fresh process: the OpenMP thread limit is per process, and a fresh results
        // directory keeps one configuration's cache from serving another's.
        let status = std::process::Command::new(&exe)
            .args(&args)
            .args(["bench", "--count", &count.to_string(), "--corpus"])
            .arg(&corpus)
            .arg("--output")
            .arg(&out)
            .arg("--results-dir")
            .arg(scratch.join(format!("results-{idx}")))
            .env_remove("RYTHMIQ_REEXECED")
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "the {label} run failed ({status})");
        let summary: rythmiq_bench::BenchSummary = serde_json::from_slice(&std::fs::read(&out)?)?;
        summaries.push((label, summary));
    }
    let base_cpu = summaries[0].1.cpu_seconds_per_doc;
    let base_acc = summaries[0].1.accuracy.clone();
    let rows: Vec<CompareRow> = summaries
        .iter()
        .map(|(label, s)| {
            let acc = s.accuracy.as_ref();
            CompareRow {
                label: label.clone(),
                flags: s.flags.clone(),
                cpu_seconds_per_doc: s.cpu_seconds_per_doc,
                saving_percent: if base_cpu > 0.0 { (base_cpu - s.cpu_seconds_per_doc) / base_cpu * 100.0 } else { 0.0 },
                cer: acc.map(|a| a.cer),
                bow_f1: acc.map(|a| a.bow_f1),
                cer_delta: acc.zip(base_acc.as_ref()).map(|(a, b)| a.cer - b.cer),
                bow_f1_delta: acc.zip(base_acc.as_ref()).map(|(a, b)| a.bow_f1 - b.bow_f1),
                p95_wall_secs: percentile(
                    s.per_document.iter().filter(|d| !d.cold_start && d.error.is_none()).map(|d| d.wall_seconds).collect(),
                    0.95,
                ),
                peak_rss_mb: Some(s.peak_rss_mb),
            }
        })
        .collect();
    println!("OPTIMISATION A/B over {count} documents of {} (each configuration in its own process)", corpus.display());
    println!("{:<22} {:>10} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8}", "configuration", "CPU-s/doc", "saving", "CER", "BoW F1", "dCER", "dF1", "P95 wall", "RSS MB");
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.2}%", x * 100.0));
    let pts = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:+.2}pt", x * 100.0));
    for r in &rows {
        println!(
            "{:<22} {:>10.4} {:>8.1}% {:>8} {:>8} {:>9} {:>9} {:>8.3}s {:>8.1}",
            r.label,
            r.cpu_seconds_per_doc,
            r.saving_percent,
            pct(r.cer),
            pct(r.bow_f1),
            pts(r.cer_delta),
            pts(r.bow_f1_delta),
            r.p95_wall_secs.unwrap_or(0.0),
            r.peak_rss_mb.unwrap_or(0.0)
        );
    }
    println!("saving = (baseline {base_cpu:.4} - configuration) / baseline; deltas are against the baseline row");
    let result = CompareResult { run_date: Some(chrono::Utc::now().to_rfc3339()), rows };
    std::fs::write(&output, serde_json::to_vec_pretty(&result)?).with_context(|| format!("writing {}", output.display()))?;
    println!("wrote {}", output.display());
    let _ = std::fs::remove_dir_all(&scratch);
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
}

fn bench(mut config: Config, args: BenchArgs) -> anyhow::Result<()> {
    let BenchArgs { count, output, corpus, route, baseline, results_dir, record } = args;
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
    };
    let threshold = config.pipeline.fast_path_threshold;
    let tessdata = config.pipeline.models_dir.join(config.pipeline.flags.model.as_str());
    let raw = run_bench(config.pipeline.clone(), &opts)?;
    if record {
        let runs: Vec<&rythmiq_types::DocumentRun> = raw.runs.iter().chain(raw.warm_probe.iter()).map(|m| &m.run).collect();
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
        anyhow::ensure!(cli_available(), "--baseline tesseract-cli needs the `tesseract` binary (bash scripts/setup installs it)");
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
