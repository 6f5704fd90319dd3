//! The restart that makes `ocr_threads` reach OpenMP.
//!
//! Tesseract's OpenMP runtime reads `OMP_THREAD_LIMIT` and `OMP_WAIT_POLICY` once, when the process starts;
//! setting them later has no effect (and Tesseract's parallel regions name their own thread counts, so the
//! thread-limit variable is the only knob that caps them). So when the limit differs from the configured OCR
//! threads, or no wait policy is set, the binary restarts itself with them set. The policy defaults to PASSIVE:
//! with `--ocr-threads 2` an ACTIVE (spinning) idle OpenMP thread burns CPU between parallel regions that no stage
//! asked for (docs/tuning.md has both measured). A policy the operator set is kept. Library users that embed the
//! pipeline without this restart still measure correctly: the stage clock scans for OpenMP threads whenever the
//! config or the environment allows them (`rythmiq_pipeline::cpu::helpers_possible`).

use std::os::unix::process::CommandExt;

use anyhow::Context;

pub fn ensure_thread_limit(threads: u32) -> anyhow::Result<()> {
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
