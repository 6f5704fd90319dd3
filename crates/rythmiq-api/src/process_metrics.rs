//! The standard Prometheus process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...),
//! read from `/proc/self` at each scrape: the names every Prometheus client library exports, so stock dashboards
//! and the resource alerts work unchanged. No dependency beyond libc's `sysconf`.
//!
//! They are appended as text rather than recorded through the `metrics` facade: its counters are integers, and
//! CPU seconds are fractional (a gauge would have to end in `_total`, which the exposition format forbids).

use std::fmt::Write as _;

/// One reading of this process's resources. Every field is `None` where `/proc` could not be read (not Linux).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessSample {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_memory_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_memory_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// Start time since the Unix epoch, seconds.
    pub start_time_seconds: Option<f64>,
}

impl ProcessSample {
    /// Reads `/proc/self/stat`, `/proc/self/status`, `/proc/self/fd` and `/proc/stat` (boot time).
    pub fn read() -> ProcessSample {
        let ticks = clock_ticks_per_second();
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let fields = stat.as_deref().and_then(stat_fields_after_comm);
        let field = |idx: usize| fields.as_ref().and_then(|f| f.get(idx)).and_then(|v| v.parse::<u64>().ok());
        // Fields after `(comm)`, 0-based from the state field (field 3 in proc(5)): utime is 14, stime 15,
        // starttime 22 in proc(5)'s 1-based numbering, so 11, 12 and 19 here.
        let cpu_seconds = match (field(11), field(12), ticks) {
            (Some(utime), Some(stime), Some(hz)) => Some((utime + stime) as f64 / hz),
            _ => None,
        };
        let start_time_seconds = match (field(19), ticks, boot_time_seconds()) {
            (Some(start), Some(hz), Some(btime)) => Some(btime as f64 + start as f64 / hz),
            _ => None,
        };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|dir| dir.count() as u64);
        ProcessSample {
            cpu_seconds,
            resident_memory_bytes: status_kib(&status, "VmRSS:").map(|kib| kib * 1024),
            virtual_memory_bytes: status_kib(&status, "VmSize:").map(|kib| kib * 1024),
            open_fds,
            start_time_seconds,
        }
    }

    /// Appends the Prometheus text exposition of the fields that were read, each with HELP and TYPE.
    pub fn render_into(&self, out: &mut String) {
        let mut family = |name: &str, kind: &str, help: &str, value: Option<String>| {
            if let Some(value) = value {
                let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
            }
        };
        family(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            self.cpu_seconds.map(|v| v.to_string()),
        );
        family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            self.resident_memory_bytes.map(|v| v.to_string()),
        );
        family(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            self.virtual_memory_bytes.map(|v| v.to_string()),
        );
        family("process_open_fds", "gauge", "Number of open file descriptors.", self.open_fds.map(|v| v.to_string()));
        family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            self.start_time_seconds.map(|v| v.to_string()),
        );
    }
}

/// Reads the process now and appends its metrics to `out`.
pub fn render_into(out: &mut String) {
    ProcessSample::read().render_into(out);
}

/// The whitespace-separated fields after the `(comm)` field, which may itself contain spaces and parentheses.
fn stat_fields_after_comm(stat: &str) -> Option<Vec<&str>> {
    let close = stat.rfind(')')?;
    Some(stat[close + 1..].split_whitespace().collect())
}

/// `VmRSS:    1234 kB` -> 1234.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// `btime` in `/proc/stat`: boot time, seconds since the epoch.
fn boot_time_seconds() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

fn clock_ticks_per_second() -> Option<f64> {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten()?;
    (hz > 0).then_some(hz as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_with_spaces_and_parentheses_does_not_shift_fields() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 1000 0 0";
        let fields = stat_fields_after_comm(stat).unwrap();
        assert_eq!(fields[0], "S");
        assert_eq!(fields[11], "250");
        assert_eq!(fields[12], "50");
        assert_eq!(fields[19], "1000");
    }

    #[test]
    fn reads_this_process_and_renders_every_family() {
        let sample = ProcessSample::read();
        let rss = sample.resident_memory_bytes.expect("VmRSS");
        assert!(rss > 1024 * 1024, "{rss}");
        // Burn CPU until the counter (clock-tick resolution) moves; on a loaded machine that takes longer than
        // the same wall time would suggest, so the bound is generous.
        let mut x = 0u64;
        let start = std::time::Instant::now();
        let mut later = ProcessSample::read();
        while later.cpu_seconds.unwrap() <= 0.0 && start.elapsed() < std::time::Duration::from_secs(30) {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            later = ProcessSample::read();
        }
        assert!(later.cpu_seconds.unwrap() > 0.0, "{later:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let started = later.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && started > now - 86_400.0, "{started} vs {now}");
        let mut text = String::new();
        later.render_into(&mut text);
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{text}");
            assert!(text.contains(&format!("\n{name} ")), "{text}");
        }
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"), "{text}");
    }
}
