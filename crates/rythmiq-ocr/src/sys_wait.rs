//! `wait4(2)`: reaps a child and returns its rusage (std's `Child::wait` drops it).

/// Waits for process `pid`; returns its exit code (`None` when a signal ended it) and its CPU seconds (user +
/// system, including the children it waited for: `timeout` waits for the tool).
pub fn wait_with_rusage(pid: u32) -> std::io::Result<(Option<i32>, f64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid out-pointers; `pid` is our own unreaped child.
        let ret = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if ret == pid as libc::pid_t {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    let cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Ok((code, cpu))
}
