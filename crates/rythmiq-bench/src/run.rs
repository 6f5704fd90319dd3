//! Runs the pipeline over a corpus on one dedicated, uniquely named thread, and gathers what the summary needs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use rythmiq_pipeline::cpu::{memory_bytes, name_current_thread, process_cpu_seconds};
use rythmiq_pipeline::{Pipeline, PipelineConfig};
use rythmiq_storage::{LocalStore, ObjectStore};
use rythmiq_types::DocumentRun;

use crate::corpus::{load_corpus_split, CorpusDoc, SplitFilter};

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub corpus_dir: PathBuf,
    /// Documents to process; the corpus is cycled when smaller.
    pub count: usize,
    /// Where result documents are written (a local store).
    pub output_dir: PathBuf,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
    /// Which split of a manifest corpus to run (`All` without a manifest).
    pub split: SplitFilter,
}

/// One measured document with its OCR text (for accuracy, computed after the measurement window).
#[derive(Debug)]
pub struct Measured {
    pub run: DocumentRun,
    pub doc_name: String,
    pub text: Option<String>,
    pub ground_truth: Option<String>,
}

/// Everything one bench pass measured.
#[derive(Debug)]
pub struct RawBench {
    /// The documents of the split the run took, in run order.
    pub corpus: Vec<CorpusDoc>,
    pub split: SplitFilter,
    /// The N documents, in order; the first ran on a fresh engine.
    pub runs: Vec<Measured>,
    /// The first document again, on the now-warm engine: the like-for-like warm figure for the cold start.
    pub warm_probe: Option<Measured>,
    /// Process CPU over the measured loop (all threads).
    pub process_cpu_seconds: f64,
    pub wall_seconds: f64,
    pub rss_before_engine_bytes: u64,
    pub peak_rss_bytes: u64,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Runs `opts.count` documents through a fresh pipeline built from `config`.
pub fn run_bench(config: PipelineConfig, opts: &BenchOptions) -> anyhow::Result<RawBench> {
    let corpus = load_corpus_split(&opts.corpus_dir, opts.split)?;
    let input: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&opts.corpus_dir)?);
    let output: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&opts.output_dir)?);
    let opts = opts.clone();
    // The pipeline lives on its own named thread: its CPU clock and its helpers' attribution need a unique name.
    std::thread::Builder::new()
        .name("rq-bench".into())
        .spawn(move || -> anyhow::Result<RawBench> {
            name_current_thread("rq-bench")?;
            let mut pipeline = Pipeline::new(config, input, output)?;
            let progress = progress_bar(opts.count as u64, opts.progress);
            let started_at = chrono::Utc::now();
            let (rss_before_engine_bytes, _) = memory_bytes();
            let cpu_start = process_cpu_seconds();
            let wall_start = std::time::Instant::now();
            let mut runs = Vec::with_capacity(opts.count);
            for i in 0..opts.count {
                let doc = &corpus[i % corpus.len()];
                let processed = pipeline.process(&format!("{:04}-{}", i, doc.name), &doc.name);
                report_progress(&progress, i, opts.count, &doc.name, &processed.run);
                runs.push(Measured {
                    doc_name: doc.name.clone(),
                    text: processed.result.map(|r| r.text),
                    ground_truth: doc.ground_truth.clone(),
                    run: processed.run,
                });
            }
            let first = &corpus[0];
            let probe = pipeline.process(&format!("warm-probe-{}", first.name), &first.name);
            let warm_probe = Some(Measured {
                doc_name: first.name.clone(),
                text: probe.result.map(|r| r.text),
                ground_truth: first.ground_truth.clone(),
                run: probe.run,
            });
            let process_cpu_seconds = process_cpu_seconds() - cpu_start;
            let wall_seconds = wall_start.elapsed().as_secs_f64();
            if let Some(bar) = progress {
                bar.finish_and_clear();
            }
            let (_, peak_rss_bytes) = memory_bytes();
            Ok(RawBench {
                corpus,
                split: opts.split,
                runs,
                warm_probe,
                process_cpu_seconds,
                wall_seconds,
                rss_before_engine_bytes,
                peak_rss_bytes,
                started_at,
            })
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the bench thread panicked"))?
}

fn progress_bar(len: u64, wanted: bool) -> Option<indicatif::ProgressBar> {
    (wanted && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    })
}

fn report_progress(bar: &Option<indicatif::ProgressBar>, i: usize, n: usize, name: &str, run: &DocumentRun) {
    let what = match (&run.error, run.path) {
        (Some((kind, _)), _) => format!("error {kind}"),
        (None, Some(path)) => format!("{path} {:.3} CPU-s", run.cpu_seconds()),
        (None, None) => "done".to_string(),
    };
    match bar {
        Some(bar) => {
            bar.set_message(format!("{name}: {what}"));
            bar.inc(1);
        }
        None => eprintln!("[{}/{}] {name}: {what}{}", i + 1, n, if run.cold_start { " (cold)" } else { "" }),
    }
}
