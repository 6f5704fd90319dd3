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
    },
    /// Print the effective configuration (file, then RYTHMIQ_* environment, then flags) as TOML.
    Config,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::resolve(&cli.overrides)?;
    ensure_omp_thread_limit(config.pipeline.flags.ocr_threads)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match cli.command {
        Command::Bench { count, output, corpus, route, baseline, results_dir } => {
            bench(config, count, output, corpus, route, baseline, results_dir)
        }
        Command::Config => {
            // Read back from the environment: proves the restart took effect, not just what was asked for.
            let omp = std::env::var("OMP_THREAD_LIMIT").unwrap_or_default();
            println!("# OMP_THREAD_LIMIT in effect: {omp}");
            print!("{}", toml::to_string_pretty(&config)?);
            Ok(())
        }
    }
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

fn bench(
    mut config: Config,
    count: usize,
    output: PathBuf,
    corpus: PathBuf,
    route: Route,
    baseline: Option<Baseline>,
    results_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
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
    let raw = run_bench(config.pipeline, &opts)?;
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
