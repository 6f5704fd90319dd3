//! Runs a document tool (poppler's `pdfinfo`, `pdftotext`, `pdftoppm`) as a child process in a small sandbox:
//! address-space, CPU-time and file-size limits (`ulimit` in a `sh` that then `exec`s), a wall-clock kill
//! (`timeout -s KILL`), bounded output. A hostile PDF that crashes or exhausts the tool kills the child, never
//! the worker. The child's CPU (user + system, its own children included) is read from `wait4`'s rusage, so the
//! stage that ran it can be charged for it.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

/// Limits for one tool run.
#[derive(Clone, Copy, Debug)]
pub struct ToolLimits {
    /// Address-space limit (RLIMIT_AS), bytes.
    pub max_memory_bytes: u64,
    /// CPU-time limit (RLIMIT_CPU), seconds.
    pub max_cpu_secs: u64,
    /// Wall-clock limit, seconds: the child is SIGKILLed past it.
    pub max_wall_secs: u64,
    /// Output above this many bytes is cut off and the run reported as failed.
    pub max_output_bytes: u64,
}

/// What a tool run produced.
#[derive(Debug)]
pub struct ToolOutput {
    pub stdout: Vec<u8>,
    /// The tail of stderr (for the error message; never holds our paths, the tools print only their own text).
    pub stderr: String,
    /// Exit code, or `None` when killed by a signal (a crash, a limit, the wall-clock kill).
    pub exit_code: Option<i32>,
    /// The output was longer than `max_output_bytes`.
    pub truncated: bool,
    /// User + system CPU of the child and everything it waited for, seconds.
    pub cpu_seconds: f64,
}

impl ToolOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.truncated
    }
}

/// Runs `program args...` under `limits`, with `cwd` as its working directory and stdin closed.
pub fn run_tool(
    program: &str,
    args: &[&std::ffi::OsStr],
    cwd: &Path,
    limits: ToolLimits,
) -> std::io::Result<ToolOutput> {
    // ulimit -v takes KiB; -f 0 forbids writing any file (the tools write to stdout only).
    let script = format!(
        "ulimit -v {} && ulimit -t {} && ulimit -f 0 && exec timeout -s KILL {} \"$@\"",
        (limits.max_memory_bytes / 1024).max(1),
        limits.max_cpu_secs.max(1),
        limits.max_wall_secs.max(1),
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // A pipe, not a file: with `ulimit -f 0` a tool that warns into a file would be killed by SIGXFSZ.
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr_pipe = child.stderr.take();
    let stdout_pipe = child.stdout.take();
    let max_output = limits.max_output_bytes;
    // stderr is drained on a short-lived thread so that neither pipe can fill up and stall the child.
    let (read, stderr) = std::thread::scope(|scope| {
        let stderr_reader = scope.spawn(move || {
            let mut text = Vec::new();
            if let Some(pipe) = stderr_pipe {
                let mut pipe = pipe;
                let _ = (&mut pipe).take(64 * 1024).read_to_end(&mut text);
                // Keep draining past the cap so the child never blocks on a full pipe.
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            }
            String::from_utf8_lossy(&text).into_owned()
        });
        let mut stdout = Vec::new();
        let read = match stdout_pipe {
            Some(pipe) => pipe.take(max_output + 1).read_to_end(&mut stdout).map(|_| stdout),
            None => Ok(stdout),
        };
        let over = read.as_ref().is_ok_and(|out| out.len() as u64 > max_output);
        if over {
            // Stop it now rather than at the wall-clock limit.
            let _ = child.kill();
        }
        (read, stderr_reader.join().unwrap_or_default())
    });
    let mut stdout = read?;
    let truncated = stdout.len() as u64 > limits.max_output_bytes;
    if truncated {
        stdout.truncate(limits.max_output_bytes as usize);
    }
    let (exit_code, cpu_seconds) = crate::sys_wait::wait_with_rusage(child.id())?;
    let stderr = stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("; ");
    Ok(ToolOutput { stdout, stderr, exit_code, truncated, cpu_seconds })
}
