//! The load test behind `rythmiq loadtest`: simulated users submit bursts of distinct documents to the HTTP API
//! and poll each until it is done; the end-to-end latency (submit to done) is what counts. While the load runs,
//! the server's CPU and memory (from /proc, when it runs on this machine) and its queue depth and database pool
//! (from /metrics) are sampled every second, and progress is shown live. The result is the report's `LoadTestResult`
//! (with every accepted document's record, for a replay), and optionally a locust-style stats CSV.
//!
//! Invariant: it talks to the product only over HTTP (and reads /proc); it never opens the database or the store.

mod http;
mod live;
mod load;
mod locust_csv;
mod orchestrate;
mod synth;

pub use live::{LiveArgs, Progress, Snapshot};
pub use load::{run_load, run_load_with_requests, run_ramp, LoadOptions};
pub use locust_csv::{stats_csv, RequestKind, RequestSample, LOCUST_STATS_HEADER};
pub use orchestrate::{
    every_request_failed, preflight, ramp_steps, render_summary, run_loadtest, stats_csv_path, LoadTestPlan,
    LocalServer,
};
pub use synth::{source_name, synthesise, SynthReport};
