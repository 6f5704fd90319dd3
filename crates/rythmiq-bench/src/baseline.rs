//! The `tesseract` command-line tool on the same documents, in the same run: what users would do without us.
//! Its CPU is the children's rusage (user + system), which includes every OpenMP thread it starts.

use std::path::Path;
use std::process::Command;

pub use rythmiq_measure::CliBaseline;

use crate::accuracy::AccuracyCounts;
use crate::corpus::CorpusDoc;

fn children_cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    use nix::sys::time::TimeValLike;
    // getrusage(RUSAGE_CHILDREN) cannot fail with a valid `who`; 0 would show as a free CLI, never as a wrong ratio.
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| (u.user_time().num_microseconds() + u.system_time().num_microseconds()) as f64 / 1e6)
        .unwrap_or(0.0)
}

/// Whether a `tesseract` binary is on PATH.
pub fn cli_available() -> bool {
    Command::new("tesseract").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Runs `tesseract <image> stdout --psm 3 -l eng` with the same model directory as the pipeline, one document at
/// a time (children run one after another, so the rusage deltas are per document).
pub fn run_cli(docs: &[CorpusDoc], tessdata: &Path, omp_thread_limit: Option<u32>) -> CliBaseline {
    let label = match omp_thread_limit {
        Some(n) => format!("tesseract CLI (OMP_THREAD_LIMIT={n})"),
        None => "tesseract CLI (defaults)".to_string(),
    };
    let mut counts = AccuracyCounts::default();
    let (mut total_cpu, mut total_wall, mut failures) = (0.0, 0.0, 0usize);
    let mut per_document_cpu = Vec::new();
    for doc in docs {
        let mut cmd = Command::new("tesseract");
        cmd.arg(&doc.path).arg("stdout").args(["--psm", "3", "-l", "eng", "--tessdata-dir"]).arg(tessdata);
        match omp_thread_limit {
            Some(n) => cmd.env("OMP_THREAD_LIMIT", n.to_string()),
            None => cmd.env_remove("OMP_THREAD_LIMIT"),
        };
        let before = children_cpu_seconds();
        let started = std::time::Instant::now();
        let output = cmd.output();
        total_wall += started.elapsed().as_secs_f64();
        let cpu = children_cpu_seconds() - before;
        total_cpu += cpu;
        per_document_cpu.push((doc.name.clone(), cpu));
        match output {
            Ok(out) if out.status.success() => {
                if let Some(gt) = &doc.ground_truth {
                    counts.add(&AccuracyCounts::measure(&String::from_utf8_lossy(&out.stdout), gt));
                }
            }
            _ => failures += 1,
        }
    }
    let n = docs.len().max(1) as f64;
    CliBaseline {
        label,
        omp_thread_limit,
        documents: docs.len(),
        cpu_seconds_per_doc: total_cpu / n,
        wall_seconds_per_doc: total_wall / n,
        cer: counts.cer(),
        bow_f1: counts.bow_f1(),
        per_document_cpu,
        failures,
    }
}
