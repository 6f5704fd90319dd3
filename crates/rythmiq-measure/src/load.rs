//! The load test's record (`rythmiq loadtest --output`): the JSON contract between the load generator and the report.
//!
//! Unknown fields are accepted (unlike `Constraints`) so that a newer load generator can add figures without breaking
//! an older report; missing optional figures render as "not measured".

use serde::{Deserialize, Serialize};

/// Failed requests by kind, as the load generator classifies them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailureCounts {
    /// The document did not finish within the load generator's deadline.
    pub timeout: u64,
    /// HTTP 5xx, or a job that ended failed / dead-lettered.
    pub server_error: u64,
    /// HTTP 4xx other than 429: the API refused a document the generator believed valid.
    pub validation: u64,
    /// HTTP 429: the API shed load on purpose.
    pub rejected_429: u64,
}

impl FailureCounts {
    pub fn total(&self) -> u64 {
        self.timeout + self.server_error + self.validation + self.rejected_429
    }
}

/// One bucket of the end-to-end latency histogram: requests with latency in (previous `upper_secs`, `upper_secs`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyBucket {
    pub upper_secs: f64,
    pub count: u64,
}

/// One resource sample taken while the load ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceSample {
    /// Seconds since the load started.
    pub t_secs: f64,
    /// Worker CPU as a percentage of all the machine's `cores` (100 = every core busy).
    pub worker_cpu_percent: f64,
    /// Jobs queued and not yet leased.
    pub queue_depth: u64,
    pub db_pool_in_use: u32,
    pub db_pool_size: u32,
    /// Resident memory of the server process, MiB.
    pub rss_mb: f64,
}

/// The seed's list of first bottlenecks (section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BottleneckKind {
    CpuSaturation,
    QueueBacklog,
    DbConnectionPool,
    ApiGatewayTimeout,
    MemoryPressure,
    NetworkIo,
}

impl BottleneckKind {
    pub const ALL: [BottleneckKind; 6] = [
        BottleneckKind::CpuSaturation,
        BottleneckKind::QueueBacklog,
        BottleneckKind::DbConnectionPool,
        BottleneckKind::ApiGatewayTimeout,
        BottleneckKind::MemoryPressure,
        BottleneckKind::NetworkIo,
    ];

    /// The seed's wording of each box.
    pub fn label(self) -> &'static str {
        match self {
            BottleneckKind::CpuSaturation => "CPU Saturation (worker pods at 100% CPU)",
            BottleneckKind::QueueBacklog => "Queue Backlog (jobs waiting > queue capacity)",
            BottleneckKind::DbConnectionPool => "DB Connection Pool (exhausted connections)",
            BottleneckKind::ApiGatewayTimeout => "API Gateway Timeout (upstream response > 30s)",
            BottleneckKind::MemoryPressure => "Memory Pressure (OOM or heavy swapping)",
            BottleneckKind::NetworkIo => "Network I/O (storage upload/download limits)",
        }
    }
}

/// The first bottleneck the load generator identified, with the observations that name it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    pub kind: BottleneckKind,
    /// One line per observation, e.g. "worker CPU 99% from t=40 s while queue depth grew 0 -> 180".
    pub evidence: Vec<String>,
}

/// One step of a `--ramp` run: the load held at `users` until its figures settled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RampStep {
    pub users: u32,
    pub p95_secs: f64,
    /// Failed / total requests in this step, as a fraction.
    pub error_rate: f64,
    #[serde(default)]
    pub queue_depth_max: Option<u64>,
    /// Peak worker CPU in this step, percent of all cores.
    #[serde(default)]
    pub worker_cpu_percent_peak: Option<f64>,
}

/// One submitted document, as the load generator saw it and as the API's status reported it: the record a replay of
/// the run needs (its arrival, its service on the server, when the client saw it done). Times are seconds since the
/// load started; the server's timestamps are converted with the client's clock, so they are comparable only when
/// both run on one machine (or on synchronised clocks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The simulated user that submitted it (0-based; users start at `user / spawn_rate`).
    pub user: u32,
    /// The client started the POST.
    pub submitted_at_secs: f64,
    /// The API answered 202.
    pub accepted_at_secs: f64,
    /// The status poll that first saw the job finished (`None`: it never finished, see `failed`).
    #[serde(default)]
    pub seen_done_at_secs: Option<f64>,
    /// The server's `enqueued_at`, `started_at` and `finished_at` from the last status answer.
    #[serde(default)]
    pub server_enqueued_at_secs: Option<f64>,
    #[serde(default)]
    pub server_started_at_secs: Option<f64>,
    #[serde(default)]
    pub server_finished_at_secs: Option<f64>,
    /// The job did not succeed (timeout, dead-lettered, refused).
    #[serde(default)]
    pub failed: bool,
    /// The corpus page this distinct copy was made from (its file name), to match the job with a bench's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The load test's JSON (`rythmiq loadtest --output ...`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadTestResult {
    /// When the load ran, RFC 3339.
    #[serde(default)]
    pub test_date: Option<String>,
    pub users: u32,
    pub docs_per_user: u32,
    /// Users started per second.
    pub spawn_rate: f64,
    pub duration_secs: f64,
    /// Documents submitted (each counts once, end to end).
    pub total_requests: u64,
    pub successful: u64,
    pub failed: u64,
    #[serde(default)]
    pub failures: FailureCounts,
    pub throughput_peak_docs_per_sec: f64,
    pub throughput_sustained_docs_per_sec: f64,
    /// End to end (submit to done).
    pub latency_p50_secs: f64,
    pub latency_p95_secs: f64,
    pub latency_p99_secs: f64,
    /// Either a histogram or the raw latencies (or both) feed the latency chart; neither is required.
    #[serde(default)]
    pub latency_histogram: Vec<LatencyBucket>,
    #[serde(default)]
    pub latencies_secs: Vec<f64>,
    #[serde(default)]
    pub samples: Vec<ResourceSample>,
    /// Cores of the machine the server ran on (the denominator of `worker_cpu_percent`).
    pub cores: u32,
    /// `None`: no bottleneck was reached at this load.
    #[serde(default)]
    pub first_bottleneck: Option<Bottleneck>,
    /// Present when the run was a `--ramp`.
    #[serde(default)]
    pub ramp: Vec<RampStep>,
    /// The optimisation flags the server reported (when the load test started it), as `OptimisationFlags::label`.
    #[serde(default)]
    pub server_flags: Option<String>,
    /// Worker slots of the server under test, from its `/metrics` (`rythmiq_worker_slots`) after the burst; `None`
    /// when the host does not serve that gauge (an API whose workers run in other processes, or an older server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_slots: Option<u32>,
    /// The same test at twice the users (`--users 100` for a 50-user design load).
    #[serde(default)]
    pub double_load: Option<Box<LoadTestResult>>,
    /// Every accepted document of the burst, in submission order (what a replay of the run needs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobRecord>,
}

impl LoadTestResult {
    /// failed / total; 0 when nothing was submitted (the report treats that as not measured).
    pub fn error_rate(&self) -> f64 {
        if self.total_requests == 0 {
            0.0
        } else {
            self.failed as f64 / self.total_requests as f64
        }
    }

    pub fn peak_worker_cpu_percent(&self) -> Option<f64> {
        self.samples.iter().map(|s| s.worker_cpu_percent).reduce(f64::max)
    }

    pub fn peak_queue_depth(&self) -> Option<u64> {
        self.samples.iter().map(|s| s.queue_depth).max()
    }

    /// The sample with the most pool connections in use: (in use, pool size).
    pub fn peak_db_pool(&self) -> Option<(u32, u32)> {
        self.samples.iter().max_by_key(|s| s.db_pool_in_use).map(|s| (s.db_pool_in_use, s.db_pool_size))
    }

    pub fn peak_rss_mb(&self) -> Option<f64> {
        self.samples.iter().map(|s| s.rss_mb).reduce(f64::max)
    }
}
