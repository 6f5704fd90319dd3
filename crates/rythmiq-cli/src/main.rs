//! `rythmiq`: parses argv, resolves the config, restarts itself for OpenMP when needed, installs the global log
//! subscriber and hands the command to its module in `commands/` (each a few calls into the crate that owns
//! the work). The only place that parses argv, resolves the config and installs the global log subscriber.

mod args;
mod commands;
mod config;
mod logging;
mod omp;

use clap::Parser;

use crate::args::{Cli, Command, CorpusCommand};
use crate::config::{Config, Overrides};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let overrides = Overrides {
        global: &cli.global,
        pipeline: cli.command.pipeline(),
        store: cli.command.store(),
        needs_models: cli.command.needs_models(),
    };
    let config = Config::resolve(overrides)?;
    if cli.command.needs_openmp() {
        omp::ensure_thread_limit(config.pipeline.flags.ocr_threads)?;
    }
    logging::init(cli.global.log_format);
    let server_args = overrides.to_args();
    let pipeline_args = overrides.pipeline_args();
    match cli.command {
        Command::Bench(args) if args.compare => commands::measure::compare(&config, args, pipeline_args),
        Command::Bench(args) => commands::measure::bench(config, args),
        Command::Loadtest(args) => commands::measure::loadtest(&config, args, server_args),
        Command::Report(args) => commands::measure::report(&config, args),
        Command::Plan(args) => commands::measure::plan(args),
        Command::Corpus { action: CorpusCommand::Synth { count, corpus, output } } => {
            let r = rythmiq_loadtest::synthesise(&corpus, &output, count)?;
            println!("wrote {} distinct documents to {}", r.written, output.display());
            Ok(())
        }
        Command::Config => commands::queue::print_config(&config),
        Command::Enqueue(args) => commands::queue::enqueue(config, args),
        Command::Migrate(_) => commands::queue::migrate(&config),
        Command::Ocr(args) => commands::ocr::ocr(config, args),
        Command::Serve(args) => {
            let mut config = config;
            config.api.allow_unauthenticated |= args.allow_unauthenticated;
            if let Some(addr) = args.listen {
                config.api.listen_addr = addr;
            }
            if let Some(n) = args.concurrency {
                config.worker.concurrency = n;
            }
            commands::runtime()?.block_on(commands::serve::serve(config))
        }
        Command::Worker(args) => {
            let mut config = config;
            if let Some(n) = args.concurrency {
                config.worker.concurrency = n;
            }
            commands::runtime()?.block_on(commands::serve::worker(config, args.drain, args.metrics_addr))
        }
    }
}
