//! `rythmiq loadtest` end to end: synthesise the distinct documents, start a `rythmiq serve` on loopback when no
//! `--host` is given (with the loadtest command's own flags and config, so the server runs what was asked), check
//! that the host answers before any load, run the burst (then 2x and the ramp when asked) and print the summary.
//!
//! Invariant: like the rest of the crate, it reaches the product only over HTTP and by starting its binary.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use rythmiq_measure::LoadTestResult;

use crate::http;
use crate::live::{LiveArgs, Progress};
use crate::load::{run_load, run_load_with_requests, run_ramp, LoadOptions};
use crate::synth::synthesise;

/// Everything one `rythmiq loadtest` run needs.
#[derive(Clone, Debug)]
pub struct LoadTestPlan {
    pub users: u32,
    pub docs_per_user: u32,
    pub spawn_rate: f64,
    /// A running API; `None` starts `server_exe serve` on loopback.
    pub host: Option<String>,
    pub server_pid: Option<u32>,
    pub corpus: PathBuf,
    pub ramp_max_users: Option<u32>,
    pub double: bool,
    pub doc_timeout_secs: f64,
    pub auth_token: Option<String>,
    pub p95_limit_secs: f64,
    pub error_rate_limit: f64,
    /// The `rythmiq` binary to start as the server.
    pub server_exe: PathBuf,
    /// The loadtest command's pipeline, database and storage flags and `--config`, given to the server after
    /// `serve`.
    pub server_args: Vec<String>,
    /// Progress and the locust-style CSV.
    pub live: LiveArgs,
}

/// A `rythmiq serve` child on loopback with its own data directory, stopped (SIGTERM) on drop.
pub struct LocalServer {
    child: Child,
    addr: String,
    /// The flags the server reported it runs with (its `serving with flags ...` line).
    flags: Option<String>,
    _data: PathBuf,
}

impl LocalServer {
    pub fn start(exe: &std::path::Path, server_args: &[String], data_dir: PathBuf) -> anyhow::Result<LocalServer> {
        let mut child = Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(server_args)
            .env("RYTHMIQ_DATA_DIR", &data_dir)
            .env_remove("RYTHMIQ_REEXECED")
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} serve", exe.display()))?;
        let stderr = child.stderr.take().context("the server's stderr was not piped")?;
        let mut stderr = std::io::BufReader::new(stderr);
        let mut line = String::new();
        let mut flags = None;
        loop {
            line.clear();
            anyhow::ensure!(stderr.read_line(&mut line)? > 0, "rythmiq serve exited before listening");
            if let Some(f) = line.trim().strip_prefix("serving with flags ") {
                flags = Some(f.to_string());
            }
            if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                let addr = addr.to_string();
                // Keep draining the server's log so it never blocks on a full pipe.
                std::thread::spawn(move || for _ in stderr.lines() {});
                return Ok(LocalServer { child, addr, flags, _data: data_dir });
            }
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let _ = kill(nix::unistd::Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// Fails fast, with the address in the message, when the host does not answer `/healthz`.
pub async fn preflight(addr: &str) -> anyhow::Result<()> {
    match http::request(addr, "GET", "/healthz", &[], b"", Duration::from_secs(5)).await {
        Ok(r) if r.status == 200 => Ok(()),
        Ok(r) => anyhow::bail!("http://{addr}/healthz answered {}: is this a rythmiq API?", r.status),
        Err(err) => anyhow::bail!("http://{addr} does not answer ({err}); start `rythmiq serve` or fix --host"),
    }
}

/// The worker slots the host runs, from its `/metrics` (`rythmiq_worker_slots`, set once its workers started):
/// `None` when the gauge is absent or zero (workers in other processes) or `/metrics` does not answer.
pub async fn server_slots(addr: &str) -> Option<u32> {
    let r = http::request(addr, "GET", "/metrics", &[], b"", Duration::from_secs(5)).await.ok()?;
    if r.status != 200 {
        return None;
    }
    parse_slots_gauge(&String::from_utf8_lossy(&r.body))
}

/// The value of the unlabelled `rythmiq_worker_slots` sample in a Prometheus text exposition, when positive.
pub fn parse_slots_gauge(exposition: &str) -> Option<u32> {
    let value = exposition.lines().find_map(|l| l.strip_prefix("rythmiq_worker_slots "))?;
    let n: f64 = value.trim().parse().ok()?;
    (n >= 1.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX)).then_some(n as u32)
}

/// `PREFIX_stats.csv`, as `locust --csv PREFIX` names it.
pub fn stats_csv_path(prefix: &std::path::Path) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push("_stats.csv");
    PathBuf::from(name)
}

/// The `1, 2, 4 ...`-style ramp steps: 5, 10, 20, ... up to `max`.
pub fn ramp_steps(max: Option<u32>) -> Vec<u32> {
    match max {
        Some(max) => std::iter::successors(Some(5u32), |u| u.checked_mul(2)).take_while(|u| *u <= max).collect(),
        None => Vec::new(),
    }
}

/// Runs the whole plan and returns the result (the server, when started here, is stopped before returning).
pub async fn run_loadtest(plan: &LoadTestPlan) -> anyhow::Result<LoadTestResult> {
    let steps = ramp_steps(plan.ramp_max_users);
    let per_run = (plan.users * plan.docs_per_user) as usize;
    let needed = per_run
        + if plan.double { per_run * 2 } else { 0 }
        + steps.iter().map(|u| (u * plan.docs_per_user) as usize).sum::<usize>();
    let scratch = std::env::temp_dir().join(format!("rythmiq-loadtest-{}", std::process::id()));
    let server = match &plan.host {
        Some(_) => None,
        None => Some(LocalServer::start(&plan.server_exe, &plan.server_args, scratch.join("data"))?),
    };
    let addr = match (&plan.host, &server) {
        (Some(host), _) => host.trim_start_matches("http://").trim_end_matches('/').to_string(),
        (_, Some(s)) => s.addr().to_string(),
        (None, None) => anyhow::bail!("no --host and no local server"),
    };
    preflight(&addr).await?;
    let docs = synthesise(&plan.corpus, &scratch.join("docs"), needed)?.files;
    let opts = LoadOptions {
        addr,
        users: plan.users,
        docs_per_user: plan.docs_per_user,
        spawn_rate: plan.spawn_rate,
        auth_token: plan.auth_token.clone(),
        poll_interval: Duration::from_millis(250),
        doc_timeout: Duration::from_secs_f64(plan.doc_timeout_secs),
        server_pid: plan.server_pid.or(server.as_ref().map(LocalServer::pid)),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        p95_limit_secs: plan.p95_limit_secs,
        error_rate_limit: plan.error_rate_limit,
        progress: Progress::for_stderr(plan.live.progress_every),
    };
    eprintln!(
        "load: {} users x {} documents, {} users/s, against {}{}",
        opts.users,
        opts.docs_per_user,
        opts.spawn_rate,
        opts.addr,
        server.as_ref().and_then(|s| s.flags.as_deref()).map_or(String::new(), |f| format!(" (server flags {f})"))
    );
    let (mut result, requests) = run_load_with_requests(&opts, &docs[..per_run]).await?;
    if let Some(prefix) = &plan.live.csv {
        let path = stats_csv_path(prefix);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, crate::locust_csv::stats_csv(&requests, result.duration_secs))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("load: wrote {}", path.display());
    }
    result.server_flags = server.as_ref().and_then(|s| s.flags.clone());
    result.server_slots = server_slots(&opts.addr).await;
    let mut offset = per_run;
    if plan.double {
        let double = LoadOptions { users: plan.users * 2, ..opts.clone() };
        eprintln!("load: 2x, {} users", double.users);
        result.double_load = Some(Box::new(run_load(&double, &docs[offset..offset + per_run * 2]).await?));
        offset += per_run * 2;
    }
    if !steps.is_empty() {
        eprintln!("load: ramp over {steps:?} users");
        result.ramp = run_ramp(&opts, &docs[offset..], &steps).await?;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(result)
}

/// The terminal summary of a load test.
pub fn render_summary(r: &LoadTestResult, p95_limit_secs: f64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "LOAD TEST: {} users x {} documents, spawn rate {}/s, {:.1} s",
        r.users, r.docs_per_user, r.spawn_rate, r.duration_secs
    );
    let _ = writeln!(
        w,
        "  throughput: peak {:.3} docs/s (best 5 s window), sustained {} / {:.1} s = {:.3} docs/s",
        r.throughput_peak_docs_per_sec, r.successful, r.duration_secs, r.throughput_sustained_docs_per_sec
    );
    let _ = writeln!(
        w,
        "  end-to-end latency: P50 {:.2} s, P95 {:.2} s, P99 {:.2} s (limit P95 < {:.0} s)",
        r.latency_p50_secs, r.latency_p95_secs, r.latency_p99_secs, p95_limit_secs
    );
    let _ = writeln!(
        w,
        "  requests {}: {} succeeded, {} failed ({:.2}%): timeout {}, server error {}, validation {}, rejected (429) {}",
        r.total_requests,
        r.successful,
        r.failed,
        r.error_rate() * 100.0,
        r.failures.timeout,
        r.failures.server_error,
        r.failures.validation,
        r.failures.rejected_429
    );
    let peak = |f: fn(&rythmiq_measure::ResourceSample) -> f64| r.samples.iter().map(f).fold(0.0, f64::max);
    let _ = writeln!(
        w,
        "  peaks: server CPU {:.0}% of {} cores, queue depth {}, DB pool {}/{}, RSS {:.0} MB",
        peak(|s| s.worker_cpu_percent),
        r.cores,
        peak(|s| s.queue_depth as f64),
        peak(|s| s.db_pool_in_use as f64),
        peak(|s| s.db_pool_size as f64),
        peak(|s| s.rss_mb)
    );
    let _ = match &r.first_bottleneck {
        Some(b) => writeln!(w, "  first bottleneck: {:?}: {}", b.kind, b.evidence.join("; ")),
        None => writeln!(w, "  first bottleneck: none reached"),
    };
    for step in &r.ramp {
        let _ = writeln!(
            w,
            "  ramp {} users: P95 {:.2} s, errors {:.2}%",
            step.users,
            step.p95_secs,
            step.error_rate * 100.0
        );
    }
    if let Some(d) = &r.double_load {
        let _ = writeln!(
            w,
            "  2x ({} users): P95 {:.2} s, {} failed of {}",
            d.users, d.latency_p95_secs, d.failed, d.total_requests
        );
    }
    out
}

/// Every request failed: the run measured nothing but the failure, and the command must say so with its exit code.
pub fn every_request_failed(r: &LoadTestResult) -> bool {
    r.total_requests > 0 && r.successful == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_doubles_from_five_up_to_the_maximum() {
        assert_eq!(ramp_steps(Some(160)), [5, 10, 20, 40, 80, 160]);
        assert_eq!(ramp_steps(Some(30)), [5, 10, 20]);
        assert!(ramp_steps(None).is_empty());
        assert!(ramp_steps(Some(4)).is_empty());
    }

    #[test]
    fn the_csv_is_named_as_locust_names_it() {
        assert_eq!(
            stats_csv_path(std::path::Path::new("results/load_test")),
            PathBuf::from("results/load_test_stats.csv")
        );
    }

    #[test]
    fn the_slots_gauge_is_read_only_when_it_names_a_whole_positive_count() {
        let page = "# HELP rythmiq_worker_slots Worker slots\n# TYPE rythmiq_worker_slots gauge\n\
                    rythmiq_worker_slots_other 9\nrythmiq_worker_slots 4\n";
        assert_eq!(parse_slots_gauge(page), Some(4));
        assert_eq!(parse_slots_gauge("rythmiq_worker_slots 0\n"), None, "an API without workers");
        assert_eq!(parse_slots_gauge("rythmiq_worker_slots 2.5\n"), None);
        assert_eq!(parse_slots_gauge("rythmiq_jobs_in_flight 1\n"), None);
    }

    #[tokio::test]
    async fn preflight_names_the_host_that_does_not_answer() {
        // A port nothing listens on: bind, note it, drop the listener.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = preflight(&format!("127.0.0.1:{port}")).await.unwrap_err().to_string();
        assert!(err.contains(&format!("http://127.0.0.1:{port} does not answer")), "{err}");
    }
}
