//! One burst (`run_load`) and a ramp of bursts (`run_ramp`) against a running API.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rythmiq_measure::stats::percentile_of_sorted;
use rythmiq_measure::{Bottleneck, BottleneckKind, FailureCounts, JobRecord, LoadTestResult, RampStep, ResourceSample};

use crate::http;
use crate::live::{Live, Progress};
use crate::locust_csv::{RequestKind, RequestSample};

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// `host:port` of the API.
    pub addr: String,
    pub users: u32,
    pub docs_per_user: u32,
    /// Users started per second.
    pub spawn_rate: f64,
    pub auth_token: Option<String>,
    pub poll_interval: Duration,
    /// A document not done this long after its submission counts as a timeout.
    pub doc_timeout: Duration,
    /// The server process, when it runs on this machine: its CPU and RSS are sampled from /proc.
    pub server_pid: Option<u32>,
    pub cores: u32,
    pub p95_limit_secs: f64,
    pub error_rate_limit: f64,
    /// Live progress on stderr while the burst runs.
    pub progress: Progress,
}

/// How one document fared.
#[derive(Clone, Debug)]
enum Outcome {
    Done { latency_secs: f64, finished_at_secs: f64 },
    Failed(FailureKind),
}

#[derive(Clone, Copy, Debug)]
enum FailureKind {
    Timeout,
    ServerError,
    Validation,
    Rejected,
}

/// What one user measured: each document's outcome, the accepted documents' records, every request's time.
#[derive(Debug, Default)]
struct UserRun {
    outcomes: Vec<Outcome>,
    jobs: Vec<JobRecord>,
    requests: Vec<RequestSample>,
}

/// The clocks of one burst: the monotonic start and the same instant in UTC (to place the server's timestamps).
#[derive(Clone, Copy, Debug)]
struct Clock {
    start: Instant,
    start_utc: chrono::DateTime<chrono::Utc>,
}

impl Clock {
    fn now() -> Clock {
        Clock { start: Instant::now(), start_utc: chrono::Utc::now() }
    }

    fn secs(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    /// An RFC 3339 timestamp of the server as seconds since the start (negative when before it).
    fn server_secs(&self, v: &serde_json::Value) -> Option<f64> {
        let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
        Some((t.with_timezone(&chrono::Utc) - self.start_utc).num_microseconds()? as f64 / 1e6)
    }
}

fn content_type(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("tif" | "tiff") => "image/tiff",
        _ => "application/octet-stream",
    }
}

fn classify(status: u16) -> FailureKind {
    match status {
        429 => FailureKind::Rejected,
        400..=499 => FailureKind::Validation,
        _ => FailureKind::ServerError,
    }
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// One simulated user: submit its documents back to back (the burst), then poll them all until done.
async fn user(opts: Arc<LoadOptions>, index: u32, docs: Vec<PathBuf>, clock: Clock, live: Arc<Live>) -> UserRun {
    let mut auth = Vec::new();
    let bearer = opts.auth_token.as_ref().map(|t| format!("Bearer {t}"));
    if let Some(b) = &bearer {
        auth.push(("Authorization", b.as_str()));
    }
    // (id, submitted, its record)
    let mut pending: Vec<(String, Instant, JobRecord)> = Vec::new();
    let mut run = UserRun::default();
    let failed = |run: &mut UserRun, kind: FailureKind, submitted: Instant| {
        run.outcomes.push(Outcome::Failed(kind));
        run.requests.push(RequestSample {
            kind: RequestKind::EndToEnd,
            millis: millis(submitted),
            ok: false,
            bytes: 0,
        });
        live.failed();
    };
    for doc in &docs {
        let submitted = Instant::now();
        let Ok(bytes) = tokio::fs::read(doc).await else {
            failed(&mut run, FailureKind::Validation, submitted);
            continue;
        };
        let mut headers = auth.clone();
        headers.push(("Content-Type", content_type(doc)));
        let submitted = Instant::now();
        live.submitted();
        let answer =
            http::request(&opts.addr, "POST", "/v1/documents", &headers, &bytes, Duration::from_secs(30)).await;
        let ok = matches!(&answer, Ok(r) if r.status == 202);
        let size = answer.as_ref().map_or(0, |r| r.body.len());
        run.requests.push(RequestSample { kind: RequestKind::Submit, millis: millis(submitted), ok, bytes: size });
        match answer {
            Ok(r) if r.status == 202 => {
                let id = serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(String::from));
                match id {
                    Some(id) => {
                        let record = JobRecord {
                            user: index,
                            submitted_at_secs: clock.secs(submitted),
                            accepted_at_secs: clock.secs(Instant::now()),
                            seen_done_at_secs: None,
                            server_enqueued_at_secs: None,
                            server_started_at_secs: None,
                            server_finished_at_secs: None,
                            failed: false,
                            source: doc
                                .file_name()
                                .and_then(|n| n.to_str())
                                .and_then(crate::synth::source_name)
                                .map(String::from),
                        };
                        pending.push((id, submitted, record));
                    }
                    None => failed(&mut run, FailureKind::ServerError, submitted),
                }
            }
            Ok(r) => failed(&mut run, classify(r.status), submitted),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => failed(&mut run, FailureKind::Timeout, submitted),
            Err(_) => failed(&mut run, FailureKind::ServerError, submitted),
        }
    }
    // Polls on a fixed schedule (every `poll_interval` from the end of the submissions), not a sleep after each
    // round, so a slow round does not push every later poll back: the planner's model of the client.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + opts.poll_interval, opts.poll_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pending.is_empty() {
        ticks.tick().await;
        let mut still = Vec::new();
        for (id, submitted, mut record) in pending {
            let path = format!("/v1/documents/{id}");
            let asked = Instant::now();
            let answer = http::request(&opts.addr, "GET", &path, &auth, b"", Duration::from_secs(10)).await;
            let ok = matches!(&answer, Ok(r) if r.status == 200);
            let size = answer.as_ref().map_or(0, |r| r.body.len());
            run.requests.push(RequestSample { kind: RequestKind::Poll, millis: millis(asked), ok, bytes: size });
            let body = answer
                .ok()
                .filter(|r| r.status == 200)
                .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok());
            let state = body.as_ref().and_then(|v| v["status"].as_str().map(String::from));
            if let Some(v) = &body {
                record.server_enqueued_at_secs = clock.server_secs(&v["enqueued_at"]);
                record.server_started_at_secs = clock.server_secs(&v["started_at"]);
                record.server_finished_at_secs = clock.server_secs(&v["finished_at"]);
            }
            match state.as_deref() {
                Some("succeeded") => {
                    let latency_secs = submitted.elapsed().as_secs_f64();
                    let now = clock.secs(Instant::now());
                    record.seen_done_at_secs = Some(now);
                    run.outcomes.push(Outcome::Done { latency_secs, finished_at_secs: now });
                    run.requests.push(RequestSample {
                        kind: RequestKind::EndToEnd,
                        millis: latency_secs * 1000.0,
                        ok: true,
                        bytes: 0,
                    });
                    live.done(latency_secs);
                    run.jobs.push(record);
                }
                Some("dead_lettered") => {
                    failed(&mut run, FailureKind::ServerError, submitted);
                    run.jobs.push(JobRecord { failed: true, ..record });
                }
                _ if submitted.elapsed() > opts.doc_timeout => {
                    failed(&mut run, FailureKind::Timeout, submitted);
                    run.jobs.push(JobRecord { failed: true, ..record });
                }
                _ => still.push((id, submitted, record)),
            }
        }
        pending = still;
    }
    run
}

/// CPU seconds (utime + stime) and RSS in MB of a process, from /proc.
fn proc_usage(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // USER_HZ is 100 on Linux.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks / 100.0, rss_kb / 1024.0))
}

/// Reads `rythmiq_queue_depth` (waiting jobs: ready + delayed) and the pool gauges from the API's /metrics.
async fn scrape(opts: &LoadOptions) -> (u64, u32, u32) {
    let bearer = opts.auth_token.as_ref().map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
    let Ok(r) = http::request(&opts.addr, "GET", "/metrics", &headers, b"", Duration::from_secs(5)).await else {
        return (0, 0, 0);
    };
    let text = String::from_utf8_lossy(&r.body);
    let value = |prefix: &str| -> f64 {
        text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    let waiting = value("rythmiq_queue_depth{state=\"ready\"}") + value("rythmiq_queue_depth{state=\"delayed\"}");
    let in_use = value("rythmiq_db_pool_connections{state=\"in_use\"}");
    let max = value("rythmiq_db_pool_connections{state=\"max\"}");
    (waiting as u64, in_use as u32, max as u32)
}

/// Samples the server every second until `stop` is set.
async fn sampler(
    opts: Arc<LoadOptions>,
    start: Instant,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<ResourceSample> {
    let mut samples = Vec::new();
    let mut last = opts.server_pid.and_then(proc_usage).map(|(cpu, _)| (cpu, Instant::now()));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (queue_depth, db_pool_in_use, db_pool_size) = scrape(&opts).await;
        let (mut worker_cpu_percent, mut rss_mb) = (0.0, 0.0);
        if let (Some(pid), Some((cpu0, t0))) = (opts.server_pid, last) {
            if let Some((cpu, rss)) = proc_usage(pid) {
                let dt = t0.elapsed().as_secs_f64();
                worker_cpu_percent = ((cpu - cpu0) / dt / opts.cores.max(1) as f64 * 100.0).clamp(0.0, 100.0);
                rss_mb = rss;
                last = Some((cpu, Instant::now()));
            }
        }
        samples.push(ResourceSample {
            t_secs: start.elapsed().as_secs_f64(),
            worker_cpu_percent,
            queue_depth,
            db_pool_in_use,
            db_pool_size,
            rss_mb,
        });
    }
    samples
}

/// One burst of `opts.users` users, each submitting `opts.docs_per_user` documents from `docs` (each used once).
pub async fn run_load(opts: &LoadOptions, docs: &[PathBuf]) -> anyhow::Result<LoadTestResult> {
    Ok(run_load_with_requests(opts, docs).await?.0)
}

/// [`run_load`], and every request's time (for the locust-style stats CSV).
pub async fn run_load_with_requests(
    opts: &LoadOptions,
    docs: &[PathBuf],
) -> anyhow::Result<(LoadTestResult, Vec<RequestSample>)> {
    let needed = (opts.users * opts.docs_per_user) as usize;
    anyhow::ensure!(docs.len() >= needed, "{needed} distinct documents needed, {} given", docs.len());
    anyhow::ensure!(opts.spawn_rate > 0.0, "spawn rate must be positive");
    let opts_arc = Arc::new(opts.clone());
    let clock = Clock::now();
    let start = clock.start;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampling = tokio::spawn(sampler(opts_arc.clone(), start, stop.clone()));
    let live = Arc::new(Live::default());
    let progress = tokio::spawn(crate::live::report(live.clone(), opts.progress, needed as u64, start, stop.clone()));
    let mut users = Vec::new();
    for u in 0..opts.users {
        let first = u as usize * opts.docs_per_user as usize;
        let mine = docs[first..first + opts.docs_per_user as usize].to_vec();
        let opts = opts_arc.clone();
        let live = live.clone();
        let delay = Duration::from_secs_f64(f64::from(u) / opts.spawn_rate);
        users.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            user(opts, u, mine, clock, live).await
        }));
    }
    let mut runs = Vec::new();
    for u in users {
        runs.push(u.await?);
    }
    let duration_secs = start.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = sampling.await?;
    progress.await?;
    let mut outcomes = Vec::new();
    let mut jobs = Vec::new();
    let mut requests = Vec::new();
    for r in runs {
        outcomes.extend(r.outcomes);
        jobs.extend(r.jobs);
        requests.extend(r.requests);
    }
    jobs.sort_by(|a, b| a.submitted_at_secs.total_cmp(&b.submitted_at_secs));
    let mut result = summarise(opts, outcomes, samples, duration_secs);
    result.jobs = jobs;
    Ok((result, requests))
}

fn summarise(
    opts: &LoadOptions,
    outcomes: Vec<Outcome>,
    samples: Vec<ResourceSample>,
    duration_secs: f64,
) -> LoadTestResult {
    let mut failures = FailureCounts::default();
    let mut latencies = Vec::new();
    let mut finished_at = Vec::new();
    for o in &outcomes {
        match o {
            Outcome::Done { latency_secs, finished_at_secs } => {
                latencies.push(*latency_secs);
                finished_at.push(*finished_at_secs);
            }
            Outcome::Failed(FailureKind::Timeout) => failures.timeout += 1,
            Outcome::Failed(FailureKind::ServerError) => failures.server_error += 1,
            Outcome::Failed(FailureKind::Validation) => failures.validation += 1,
            Outcome::Failed(FailureKind::Rejected) => failures.rejected_429 += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    finished_at.sort_by(f64::total_cmp);
    // Peak: the most completions in any 5-second window; sustained: completions over the whole run.
    let window = 5.0;
    let peak = finished_at
        .iter()
        .enumerate()
        .map(|(i, &t)| finished_at[i..].iter().take_while(|&&u| u < t + window).count())
        .max()
        .unwrap_or(0) as f64
        / window.min(duration_secs.max(1e-9));
    let sustained = if duration_secs > 0.0 { latencies.len() as f64 / duration_secs } else { 0.0 };
    let failed = failures.timeout + failures.server_error + failures.validation + failures.rejected_429;
    let first_bottleneck = bottleneck(opts, &samples, &failures, &latencies);
    LoadTestResult {
        test_date: Some(chrono::Utc::now().to_rfc3339()),
        users: opts.users,
        docs_per_user: opts.docs_per_user,
        spawn_rate: opts.spawn_rate,
        duration_secs,
        total_requests: outcomes.len() as u64,
        successful: latencies.len() as u64,
        failed,
        failures,
        throughput_peak_docs_per_sec: peak.max(sustained),
        throughput_sustained_docs_per_sec: sustained,
        latency_p50_secs: percentile_of_sorted(&latencies, 50.0),
        latency_p95_secs: percentile_of_sorted(&latencies, 95.0),
        latency_p99_secs: percentile_of_sorted(&latencies, 99.0),
        latency_histogram: Vec::new(),
        latencies_secs: latencies,
        samples,
        cores: opts.cores,
        first_bottleneck,
        ramp: Vec::new(),
        server_flags: None,
        server_slots: None,
        double_load: None,
        jobs: Vec::new(),
    }
}

/// The first of the framework's bottlenecks that the samples show, with its evidence.
fn bottleneck(
    opts: &LoadOptions,
    samples: &[ResourceSample],
    failures: &FailureCounts,
    latencies: &[f64],
) -> Option<Bottleneck> {
    let peak_cpu = samples.iter().map(|s| s.worker_cpu_percent).fold(0.0, f64::max);
    let max_queue = samples.iter().map(|s| s.queue_depth).max().unwrap_or(0);
    let saturated = samples.iter().filter(|s| s.worker_cpu_percent >= 90.0).count();
    let pool_full = samples.iter().filter(|s| s.db_pool_size > 0 && s.db_pool_in_use >= s.db_pool_size).count();
    if saturated > 0 {
        return Some(Bottleneck {
            kind: BottleneckKind::CpuSaturation,
            evidence: vec![
                format!("server CPU at or above 90% of {} cores in {saturated} of {} one-second samples (peak {peak_cpu:.0}%)", opts.cores, samples.len()),
                format!("queue depth peaked at {max_queue} waiting jobs while the CPU was saturated"),
            ],
        });
    }
    if failures.rejected_429 > 0 {
        return Some(Bottleneck {
            kind: BottleneckKind::QueueBacklog,
            evidence: vec![format!(
                "{} submissions rejected with 429 (queue depth limit); max queue depth {max_queue}",
                failures.rejected_429
            )],
        });
    }
    if pool_full > 0 {
        return Some(Bottleneck {
            kind: BottleneckKind::DbConnectionPool,
            evidence: vec![format!("all pool connections in use in {pool_full} samples")],
        });
    }
    if failures.timeout > 0 || percentile_of_sorted(latencies, 95.0) > opts.p95_limit_secs {
        return Some(Bottleneck {
            kind: BottleneckKind::ApiGatewayTimeout,
            evidence: vec![format!(
                "{} documents timed out; P95 {:.1} s against {:.0} s",
                failures.timeout,
                percentile_of_sorted(latencies, 95.0),
                opts.p95_limit_secs
            )],
        });
    }
    None
}

/// Bursts of growing size until P95 passes its limit or errors pass theirs: the stable and breaking points.
pub async fn run_ramp(opts: &LoadOptions, docs: &[PathBuf], steps: &[u32]) -> anyhow::Result<Vec<RampStep>> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    for &users in steps {
        let step = LoadOptions { users, ..opts.clone() };
        let needed = (users * opts.docs_per_user) as usize;
        if offset + needed > docs.len() {
            anyhow::bail!("ramp step of {users} users needs {needed} more distinct documents");
        }
        let r = run_load(&step, &docs[offset..offset + needed]).await?;
        offset += needed;
        let error_rate = if r.total_requests > 0 { r.failed as f64 / r.total_requests as f64 } else { 0.0 };
        tracing::info!(users, p95 = r.latency_p95_secs, error_rate, "ramp step");
        out.push(RampStep {
            users,
            p95_secs: r.latency_p95_secs,
            error_rate,
            queue_depth_max: r.samples.iter().map(|s| s.queue_depth).max(),
            worker_cpu_percent_peak: r.samples.iter().map(|s| s.worker_cpu_percent).reduce(f64::max),
        });
        if r.latency_p95_secs > opts.p95_limit_secs || error_rate > opts.error_rate_limit {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LoadOptions {
        LoadOptions {
            addr: "127.0.0.1:1".into(),
            users: 2,
            docs_per_user: 2,
            spawn_rate: 1.0,
            auth_token: None,
            poll_interval: Duration::from_millis(10),
            doc_timeout: Duration::from_secs(1),
            server_pid: None,
            cores: 2,
            p95_limit_secs: 30.0,
            error_rate_limit: 0.01,
            progress: Progress::Off,
        }
    }

    #[test]
    fn summary_counts_outcomes_and_percentiles_by_nearest_rank() {
        let outcomes = vec![
            Outcome::Done { latency_secs: 1.0, finished_at_secs: 1.0 },
            Outcome::Done { latency_secs: 2.0, finished_at_secs: 2.0 },
            Outcome::Done { latency_secs: 3.0, finished_at_secs: 3.0 },
            Outcome::Failed(FailureKind::Rejected),
        ];
        let r = summarise(&opts(), outcomes, Vec::new(), 10.0);
        assert_eq!((r.total_requests, r.successful, r.failed, r.failures.rejected_429), (4, 3, 1, 1));
        assert_eq!((r.latency_p50_secs, r.latency_p95_secs), (2.0, 3.0));
        assert!((r.throughput_sustained_docs_per_sec - 0.3).abs() < 1e-12);
        // Three completions inside one 5-second window: 0.6 documents per second at the peak.
        assert!((r.throughput_peak_docs_per_sec - 0.6).abs() < 1e-12);
        assert!(matches!(r.first_bottleneck.map(|b| b.kind), Some(BottleneckKind::QueueBacklog)));
    }

    #[test]
    fn saturated_cpu_is_named_first() {
        let sample = |cpu| ResourceSample {
            t_secs: 1.0,
            worker_cpu_percent: cpu,
            queue_depth: 7,
            db_pool_in_use: 1,
            db_pool_size: 8,
            rss_mb: 100.0,
        };
        let b = bottleneck(&opts(), &[sample(50.0), sample(97.0)], &FailureCounts::default(), &[1.0]).unwrap();
        assert!(matches!(b.kind, BottleneckKind::CpuSaturation));
        assert!(b.evidence[0].contains("peak 97%"), "{:?}", b.evidence);
        assert!(bottleneck(&opts(), &[sample(40.0)], &FailureCounts::default(), &[1.0]).is_none());
    }
}
