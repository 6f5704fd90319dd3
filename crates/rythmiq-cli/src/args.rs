//! The command line: every subcommand, its arguments and their help. Settings that also live in the config file
//! are `Option`s without a clap default (a flag given overrides the file and the environment; one not given leaves
//! them alone), so their defaults are written in their help and checked against the code's defaults by the tests
//! below. Pipeline settings appear only on the commands that run the pipeline.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logging::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "rythmiq",
    version,
    about = "Rythmiq One: OCR document worker and its capacity-measuring kit",
    after_help = "Settings resolve as: defaults, then the --config file, then RYTHMIQ_* environment variables, \
                  then flags. `rythmiq config` prints the result."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

// Options every command takes. (Plain comments on the flattened structs: a doc comment would become the
// about text of every command that flattens them.)
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// TOML config file (sections as printed by `rythmiq config`).
    #[arg(long, global = true, env = "RYTHMIQ_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log lines on stderr: `text` (colour only on a terminal without NO_COLOR) or `json` (one object a line).
    #[arg(long, global = true, env = "RYTHMIQ_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

// How the pipeline reads documents: the flags of the commands that run it (bench, ocr, serve, worker, enqueue's
// fingerprint, and the server `loadtest` starts). Unset: the config file, then the environment, then the default.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Pipeline")]
pub struct PipelineArgs {
    /// Directory with the OCR models (fast/, best_int/, osd/, SHA256SUMS). [default: models]
    #[arg(long, env = "RYTHMIQ_MODELS_DIR", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// OpenMP threads per OCR engine; the binary restarts itself with OMP_THREAD_LIMIT set to apply it.
    /// [default: 1]
    #[arg(long, env = "RYTHMIQ_OCR_THREADS", value_name = "N")]
    pub ocr_threads: Option<u32>,
    /// Tesseract model (`best` is an alias of best_int). [default: fast with engine auto; best_int with --engine
    /// tesseract or ppocr]
    #[arg(long, env = "RYTHMIQ_MODEL", value_enum)]
    pub model: Option<ModelArg>,
    /// OCR engine: `auto` reads receipt-shaped pages with PP-OCR and the rest with Tesseract. [default: auto]
    #[arg(long, env = "RYTHMIQ_ENGINE", value_enum)]
    pub engine: Option<EngineArg>,
    /// The ONNX Runtime library the PP-OCR engine loads. [default: where scripts/setup installs it]
    #[arg(long, env = "RYTHMIQ_ORT_LIB", value_name = "FILE")]
    pub ort_lib: Option<PathBuf>,
    /// `auto` engine: re-read with PP-OCR the lines whose mean word confidence (0..100) is below this; 0 re-reads
    /// none. [default: 0]
    #[arg(long, env = "RYTHMIQ_AUTO_LINE_CONFIDENCE", value_name = "CONF")]
    pub auto_line_confidence: Option<f32>,
    /// `auto` engine: read the whole page with PP-OCR when Tesseract's mean confidence is below this.
    /// [default: never]
    #[arg(long, env = "RYTHMIQ_AUTO_PAGE_CONFIDENCE", value_name = "CONF")]
    pub auto_page_confidence: Option<f32>,
    /// Pre-resize: cap the longest side of the working image, in pixels. [default: 3000]
    #[arg(long, env = "RYTHMIQ_MAX_WORKING_SIDE_PX", value_name = "PX")]
    pub max_working_side_px: Option<u32>,
    /// Skip pre_ocr on the standard path at or above this quality score (0..1). [default: never]
    #[arg(long, env = "RYTHMIQ_SKIP_PRE_OCR_ABOVE", value_name = "SCORE")]
    pub skip_pre_ocr_above: Option<f64>,
    /// Serve repeats from the result cache. [default: false]
    #[arg(long, env = "RYTHMIQ_RESULT_CACHE", value_name = "BOOL")]
    pub result_cache: Option<bool>,
    /// Quality score (0..1) at or above which a document takes the fast path. [default: 0.8]
    #[arg(long, env = "RYTHMIQ_FAST_PATH_THRESHOLD", value_name = "SCORE")]
    pub fast_path_threshold: Option<f64>,
    /// Tesseract page segmentation mode: `auto` (by document shape) or a fixed mode number. [default: auto]
    #[arg(long, env = "RYTHMIQ_PAGE_SEG_MODE", value_name = "auto|N")]
    pub page_seg_mode: Option<String>,
    /// Images with more pixels than this are refused from their header. [default: 40000000]
    #[arg(long, env = "RYTHMIQ_MAX_IMAGE_PIXELS", value_name = "N")]
    pub max_image_pixels: Option<u64>,
    /// Documents (PDF, multi-page TIFF) with more pages than this are refused (`too_many_pages`). [default: 200]
    #[arg(long, env = "RYTHMIQ_MAX_PAGES", value_name = "N")]
    pub max_pages: Option<u32>,
    /// Resolution PDF pages without a usable text layer are rendered at for OCR. [default: 300]
    #[arg(long, env = "RYTHMIQ_PDF_DPI", value_name = "DPI")]
    pub pdf_dpi: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// tessdata_fast: cheaper, less accurate.
    Fast,
    /// tessdata_best converted to integer: more accurate.
    #[value(name = "best_int", alias = "best")]
    BestInt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// Tesseract LSTM.
    Tesseract,
    /// PP-OCR on ONNX Runtime.
    Ppocr,
    /// PP-OCR for pages taller than 1.5x their width (receipts), Tesseract for the rest (docs/tuning.md).
    Auto,
}

// Where the queue, the metrics and the documents live: the flags of the commands that use them.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Database and storage")]
pub struct StoreArgs {
    /// Local state: the embedded database file and the local object store. [default: rythmiq-data]
    #[arg(long, env = "RYTHMIQ_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Queue and metrics database (postgres://...). [default: the embedded SQLite file in the data dir]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Object storage: `s3://bucket/prefix` or a directory. [default: <data dir>/store]
    #[arg(long, env = "RYTHMIQ_STORAGE", value_name = "LOCATION")]
    pub storage: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Route {
    /// By quality score.
    Auto,
    Fast,
    Standard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OcrFormat {
    Text,
    Json,
    Tsv,
    Hocr,
}

/// Which split of the corpus manifest a bench takes: tuning looks at `tune`, the product reports on `holdout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    All,
    Tune,
    Holdout,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Baseline {
    /// The `tesseract` command-line tool on the same documents (defaults, and OMP_THREAD_LIMIT=1).
    TesseractCli,
}

#[derive(Subcommand, Debug)]
pub enum CorpusCommand {
    /// Write N distinct copies of the corpus pages (unique content hash, same pixels and ground truth).
    Synth {
        /// Copies to write.
        #[arg(long, default_value_t = 250)]
        count: usize,
        /// Source pages.
        #[arg(long, default_value = "corpus", value_name = "DIR")]
        corpus: PathBuf,
        /// Directory to write them to.
        #[arg(long, value_name = "DIR")]
        output: PathBuf,
    },
}

// A flag given twice takes its last value: `bench --compare` starts each row with the comparison's own flags and
// then the row's change.
#[derive(Args, Debug)]
#[command(args_override_self = true)]
pub struct BenchArgs {
    /// Documents to process (the corpus is cycled when smaller).
    #[arg(long, default_value_t = 50)]
    pub count: usize,
    /// Where to write the JSON summary.
    #[arg(long, default_value = "baseline_results.json", value_name = "FILE")]
    pub output: PathBuf,
    /// Corpus directory: images with optional <stem>.gt.txt ground truth.
    #[arg(long, default_value = "corpus", value_name = "DIR")]
    pub corpus: PathBuf,
    /// Force a path for every document (experiments); `auto` routes by quality score.
    #[arg(long, value_enum, default_value_t = Route::Auto)]
    pub route: Route,
    /// Also measure a baseline in the same run.
    #[arg(long, value_enum)]
    pub baseline: Option<Baseline>,
    /// Where result documents are written. [default: <data dir>/bench-results]
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    /// Also write every stage row into the `cpu_metrics` table of the configured database (the embedded file when
    /// none is configured). On by default when a database URL is configured.
    #[arg(long)]
    pub record_metrics: bool,
    /// A/B the optimisation flags: run the corpus once per configuration (baseline, each flag alone, all together,
    /// and every `--with`), each in its own process so `OMP_THREAD_LIMIT` differs, and write the comparison (the
    /// report's table 5.1) to `--output`.
    #[arg(long)]
    pub compare: bool,
    /// An extra configuration for `--compare`: `label=flags`, e.g. `lean=--max-working-side-px 1600 --model fast`.
    #[arg(long = "with", value_name = "LABEL=FLAGS")]
    pub with_configs: Vec<String>,
    /// `--compare` measures only the reference and the engine rows (and every `--with`), not the optimisation
    /// switches: the engine trade-off and its frontier in one sitting.
    #[arg(long, requires = "compare")]
    pub engines_only: bool,
    /// Which documents of the corpus's MANIFEST.tsv to run: `tune` (tuning looks only there), `holdout` (what the
    /// product reports) or `all`.
    #[arg(long, value_enum, default_value_t = SplitArg::All)]
    pub split: SplitArg,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct LoadtestArgs {
    /// Simulated users.
    #[arg(long, default_value_t = 50)]
    pub users: u32,
    /// Documents each user submits and polls to completion.
    #[arg(long, default_value_t = 5)]
    pub docs_per_user: u32,
    /// Users started per second.
    #[arg(long, default_value_t = 10.0)]
    pub spawn_rate: f64,
    /// A running API (`http://host:port`). [default: start `rythmiq serve` on 127.0.0.1 with a fresh data dir,
    /// with this command's pipeline, database and storage flags]
    #[arg(long, value_name = "URL")]
    pub host: Option<String>,
    /// Worker slots of the server this command starts (passed to its `serve --concurrency`; with `--host`, the
    /// host's own setting applies). [default: one per core]
    #[arg(long, value_name = "N", conflicts_with = "host")]
    pub concurrency: Option<usize>,
    /// The server's process id when `--host` runs on this machine (for its CPU and memory).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Source pages; every submitted document is a distinct copy (see `rythmiq corpus synth`).
    #[arg(long, default_value = "corpus", value_name = "DIR")]
    pub corpus: PathBuf,
    /// Also ramp users (5, 10, 20, ... up to this; `--ramp` alone: up to 160) until P95 or errors break their
    /// limits: the stable and breaking points.
    #[arg(
        long = "ramp",
        alias = "ramp-max-users",
        value_name = "MAX_USERS",
        num_args = 0..=1,
        default_missing_value = "160"
    )]
    pub ramp_max_users: Option<u32>,
    /// Also run twice the users (the framework's 2x-load question).
    #[arg(long)]
    pub double: bool,
    /// A document not done this long after submission is a timeout, seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub doc_timeout_secs: f64,
    /// Where to write the JSON result.
    #[arg(long, default_value = "results/loadtest.json", value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub live: rythmiq_loadtest::LiveArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The bench's JSON summary (`rythmiq bench --output`).
    #[arg(long, default_value = "baseline_results.json", value_name = "FILE")]
    pub bench: PathBuf,
    /// A load-test result (`rythmiq loadtest --output`).
    #[arg(long, value_name = "FILE")]
    pub load: Option<PathBuf>,
    /// An optimisation comparison (`rythmiq bench --compare --output`).
    #[arg(long, value_name = "FILE")]
    pub compare: Option<PathBuf>,
    /// Also read this month's CPU use from the configured database.
    #[arg(long)]
    pub database: bool,
    /// Constraints (TOML: budget_cpu_hours_per_month, documents_per_day, days_per_month, p95_latency_limit_secs,
    /// error_rate_limit). [default: the framework's]
    #[arg(long, value_name = "FILE")]
    pub constraints: Option<PathBuf>,
    /// Output path without extension: writes <output>.md and <output>.html.
    #[arg(long, default_value = "readiness-report", value_name = "PATH")]
    pub output: PathBuf,
    /// CI gate: exit 3 on NO-GO (no-go and up), 4 on ADJUST (adjust and up), 5 on a GO made on less evidence than
    /// the framework's checklist asks (provisional); 0 otherwise. The reports are written either way.
    #[arg(long, value_name = "no-go|adjust|provisional")]
    pub fail_on: Option<rythmiq_report::FailOn>,
    /// Print the decision and the files written as one JSON object instead of the text summary.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the whole Markdown report instead of the summary (the files are written either way).
    #[arg(long)]
    pub markdown: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The bench's JSON summary (its warm documents are the service times).
    #[arg(long, default_value = "baseline_results.json", value_name = "FILE")]
    pub bench: PathBuf,
    /// A measured load test: its shape becomes the design load and its P95 is set beside the prediction.
    #[arg(long, value_name = "FILE")]
    pub load: Option<PathBuf>,
    /// Design load: users. [default: the load test's, else 50]
    #[arg(long)]
    pub users: Option<u32>,
    /// Design load: documents per user. [default: the load test's, else 5]
    #[arg(long)]
    pub docs_per_user: Option<u32>,
    /// Design load: users started per second. [default: the load test's, else 10]
    #[arg(long)]
    pub spawn_rate: Option<f64>,
    /// Cores of this machine. [default: the bench's recorded cores]
    #[arg(long)]
    pub cores: Option<u32>,
    /// Worker slots of the server the `--load` run measured. [default: the slots the load test read from the
    /// server's /metrics, else one per core]
    #[arg(long)]
    pub slots: Option<u32>,
    /// Constraints TOML, as for `report` (the P95 limit and the monthly arithmetic).
    #[arg(long, value_name = "FILE")]
    pub constraints: Option<PathBuf>,
    /// Also write the plan as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the plan as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct EnqueueArgs {
    /// Documents: images, multi-page TIFFs or PDFs.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Queue priority (higher is claimed first).
    #[arg(long, default_value_t = 0)]
    pub priority: i32,
    /// One JSON object per line (id, status, file) instead of the TSV table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct OcrArgs {
    /// Images, multi-page TIFFs or PDFs.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OcrFormat::Text)]
    pub format: OcrFormat,
    /// Only these pages: N or FIRST-LAST, 1-based.
    #[arg(long, value_name = "N|FIRST-LAST")]
    pub pages: Option<String>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Listen address. [default: 127.0.0.1:8000]
    #[arg(long, env = "RYTHMIQ_LISTEN_ADDR", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serve /v1 without a token on a non-loopback address (also `[api] allow_unauthenticated`): refused unless
    /// chosen explicitly.
    #[arg(long, env = "RYTHMIQ_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
    /// Worker slots in this process (0: one per core). [default: 0]
    #[arg(long, env = "RYTHMIQ_WORKER_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<usize>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Pipelines to run at once (0: one per core). [default: 0]
    #[arg(long, env = "RYTHMIQ_WORKER_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<usize>,
    /// Exit once the queue is empty instead of waiting for more work (batch runs, tests).
    #[arg(long)]
    pub drain: bool,
    /// Where /healthz, /readyz and /metrics are served for the pod's probes and Prometheus (containers set
    /// 0.0.0.0:9100). With --drain, no probe server unless this is given. [default: 127.0.0.1:9100]
    #[arg(long, env = "RYTHMIQ_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Per-stage CPU baseline over a corpus, cold and warm, with accuracy against ground truth.
    Bench(BenchArgs),
    /// Load test: a burst of simulated users, each submitting documents and polling them to completion, against
    /// `--host` or a `rythmiq serve` it starts itself on loopback; samples the server while the load runs.
    Loadtest(LoadtestArgs),
    /// Corpus tools.
    Corpus {
        #[command(subcommand)]
        action: CorpusCommand,
    },
    /// Fill in the GO/NO-GO readiness report from measured data (Markdown and HTML files, the arithmetic shown);
    /// prints the decision and the files written.
    Report(ReportArgs),
    /// Capacity planner: simulate the burst on N cores (= worker slots) from a bench's per-document CPU and wall
    /// times; prints P50/P95/P99 and throughput per N and the smallest N holding P95 under the limit, at the design
    /// load and twice it.
    Plan(PlanArgs),
    /// Print the effective configuration (file, then RYTHMIQ_* environment) as TOML, secrets masked.
    Config,
    /// Store documents in the configured storage and queue them (what the API's POST does, for batch use); prints
    /// one line per file: job id, queued or duplicate, file.
    Enqueue(EnqueueArgs),
    /// OCR files and print the results to stdout: the worker's pipeline, routing and flags, without a database
    /// or a queue. Pages are separated by a form feed in text output, as the tesseract CLI does.
    Ocr(OcrArgs),
    /// Apply the database migrations (idempotent) and exit.
    Migrate(MigrateArgs),
    /// Run the HTTP API and an in-process worker pool: the single-node deployment.
    Serve(ServeArgs),
    /// Run queue-consuming workers until SIGTERM/SIGINT: one warm pipeline per slot (default one per core).
    Worker(WorkerArgs),
}

impl Command {
    /// The pipeline flags of the commands that take them.
    pub fn pipeline(&self) -> Option<&PipelineArgs> {
        match self {
            Command::Bench(a) => Some(&a.pipeline),
            Command::Loadtest(a) => Some(&a.pipeline),
            Command::Enqueue(a) => Some(&a.pipeline),
            Command::Ocr(a) => Some(&a.pipeline),
            Command::Serve(a) => Some(&a.pipeline),
            Command::Worker(a) => Some(&a.pipeline),
            Command::Corpus { .. } | Command::Report(_) | Command::Plan(_) | Command::Config | Command::Migrate(_) => {
                None
            }
        }
    }

    /// The database and storage flags of the commands that take them.
    pub fn store(&self) -> Option<&StoreArgs> {
        match self {
            Command::Bench(a) => Some(&a.store),
            Command::Loadtest(a) => Some(&a.store),
            Command::Report(a) => Some(&a.store),
            Command::Enqueue(a) => Some(&a.store),
            Command::Serve(a) => Some(&a.store),
            Command::Worker(a) => Some(&a.store),
            Command::Migrate(a) => Some(&a.store),
            Command::Corpus { .. } | Command::Plan(_) | Command::Config | Command::Ocr(_) => None,
        }
    }

    /// Whether the command loads OCR models in this process (so they must be present before it starts).
    /// `loadtest` checks its server's models through the server; `config` only prints.
    pub fn needs_models(&self) -> bool {
        matches!(
            self,
            Command::Bench(_) | Command::Enqueue(_) | Command::Ocr(_) | Command::Serve(_) | Command::Worker(_)
        )
    }

    /// Whether OpenMP settings must be in place when the process starts: the commands that run OCR here, and
    /// `config`, which shows what is in effect.
    pub fn needs_openmp(&self) -> bool {
        matches!(self, Command::Bench(_) | Command::Ocr(_) | Command::Serve(_) | Command::Worker(_) | Command::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn help_of(name: &str) -> String {
        let mut cli = Cli::command();
        cli.build();
        let sub = cli.find_subcommand_mut(name).expect("subcommand");
        sub.render_long_help().to_string()
    }

    /// The defaults written in the help are the code's defaults.
    #[test]
    fn documented_defaults_match_the_code() {
        let p = rythmiq_pipeline::PipelineConfig::default();
        let help = help_of("bench");
        let default_after = |flag: &str| {
            let from = help.find(&format!("--{flag} <")).unwrap_or_else(|| panic!("--{flag} in bench help"));
            let rest = &help[from..];
            let at = rest.find("[default: ").expect("a default") + "[default: ".len();
            rest[at..rest[at..].find(']').expect("closing bracket") + at].to_string()
        };
        assert_eq!(default_after("ocr-threads"), p.flags.ocr_threads.to_string());
        use rythmiq_types::EngineKind;
        assert_eq!(
            default_after("model"),
            format!(
                "{} with engine auto; {} with --engine tesseract or ppocr",
                EngineKind::Auto.default_model().as_str(),
                EngineKind::Tesseract.default_model().as_str()
            )
        );
        assert_eq!(EngineKind::Ppocr.default_model(), EngineKind::Tesseract.default_model());
        assert_eq!(p.flags.model, p.flags.engine.default_model());
        assert_eq!(default_after("engine"), p.flags.engine.to_string());
        assert_eq!(default_after("models-dir"), p.models_dir.display().to_string());
        assert_eq!(default_after("auto-line-confidence"), p.auto_line_confidence.to_string());
        assert_eq!(p.auto_page_confidence, None, "documented as never");
        assert_eq!(default_after("max-working-side-px"), p.flags.max_working_side_px.expect("a cap").to_string());
        assert_eq!(p.flags.skip_pre_ocr_above, None, "documented as never");
        assert_eq!(default_after("result-cache"), p.flags.result_cache.to_string());
        assert_eq!(default_after("fast-path-threshold"), p.fast_path_threshold.to_string());
        assert_eq!(p.page_seg_mode, rythmiq_pipeline::PageSegPolicy::ByKind, "documented as auto");
        assert_eq!(default_after("max-image-pixels"), p.max_image_pixels.to_string());
        assert_eq!(default_after("max-pages"), p.max_pages.to_string());
        assert_eq!(default_after("pdf-dpi"), p.pdf_dpi.to_string());
        let api = rythmiq_api::ApiConfig::default();
        assert!(help_of("serve").contains(&format!("[default: {}]", api.listen_addr)));
        let worker = rythmiq_worker::WorkerConfig::default();
        assert!(help_of("worker").contains(&format!("[default: {}]", worker.concurrency)));
    }

    /// Every argument of every command says what it is for.
    #[test]
    fn every_argument_has_help() {
        let mut cli = Cli::command();
        cli.build();
        let mut missing = Vec::new();
        let mut stack: Vec<&clap::Command> = vec![&cli];
        while let Some(cmd) = stack.pop() {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{} {}", cmd.get_name(), arg.get_id()));
                }
            }
            stack.extend(cmd.get_subcommands());
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    /// The pipeline flags are on the commands that run the pipeline and nowhere else.
    #[test]
    fn pipeline_flags_only_where_they_apply() {
        for name in ["bench", "loadtest", "enqueue", "ocr", "serve", "worker"] {
            assert!(help_of(name).contains("--ocr-threads"), "{name} runs the pipeline");
        }
        for name in ["report", "plan", "config", "migrate", "corpus"] {
            let help = help_of(name);
            assert!(!help.contains("--ocr-threads") && !help.contains("--model"), "{name}: {help}");
        }
        let help = help_of("bench");
        assert!(
            help.contains("Pipeline:") && help.contains("Database and storage:") && help.contains("Global options:")
        );
        assert!(help.contains("[env: RYTHMIQ_MODEL") && help.contains("- best_int:"), "{help}");
    }
}
