//! The load test behind `rythmiq loadtest`: simulated users submit bursts of distinct documents to the HTTP API
//! and poll each until it is done; the end-to-end latency (submit to done) is what counts. While the load runs,
//! the server's CPU and memory (from /proc, when it runs on this machine) and its queue depth and database pool
//! (from /metrics) are sampled every second. The result is the report's `LoadTestResult`.
//!
//! Invariant: it talks to the product only over HTTP (and reads /proc); it never opens the database or the store.

mod http;
mod load;
mod orchestrate;
mod synth;

pub use load::{run_load, run_ramp, LoadOptions};
pub use orchestrate::{
    every_request_failed, preflight, ramp_steps, render_summary, run_loadtest, LoadTestPlan, LocalServer,
};
pub use synth::{synthesise, SynthReport};
