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
pub fn run_tool(program: &str, args: &[&std::ffi::OsStr], cwd: &Path, limits: ToolLimits) -> std::io::Result<ToolOutput> {
    // ulimit -v takes KiB; -f 0 forbids writing any file (the tools write to stdout only).
    let script = format!(
        "ulimit -v {} && ulimit -t {} && ulimit -f 0 && exec timeout -s KILL {} \"$@\"",
        (limits.max_memory_bytes / 1024).max(1),
        limits.max_cpu_secs.max(1),
        limits.max_wall_secs.max(1),
    );
    let mut stderr_file = tempfile::tempfile()?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr_file.try_clone()?))
        .spawn()?;
    let mut stdout = Vec::new();
    let mut truncated = false;
    if let Some(pipe) = child.stdout.take() {
        let mut limited = pipe.take(limits.max_output_bytes + 1);
        limited.read_to_end(&mut stdout)?;
        if stdout.len() as u64 > limits.max_output_bytes {
            truncated = true;
            stdout.truncate(limits.max_output_bytes as usize);
            // Stop it now rather than at the wall-clock limit; the pipe is closed when `limited` drops.
            let _ = child.kill();
        }
    }
    let (exit_code, cpu_seconds) = crate::sys_wait::wait_with_rusage(child.id())?;
    let mut stderr = String::new();
    use std::io::Seek;
    stderr_file.seek(std::io::SeekFrom::Start(0))?;
    stderr_file.take(64 * 1024).read_to_string(&mut stderr).ok();
    let stderr = stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("; ");
    Ok(ToolOutput { stdout, stderr, exit_code, truncated, cpu_seconds })
}
