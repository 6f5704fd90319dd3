//! The worker: claims jobs from the queue and runs each on one of N pipeline threads, each with its own warm OCR
//! engine, object store and I/O runtime.
//!
//! Per job: claim (lease + attempt token) → the pipeline on a dedicated thread, while the async side extends the
//! lease by heartbeat → `complete` (result key + the run's `cpu_metrics` rows, one transaction, fenced by the
//! token) or `fail` (retry with backoff, or dead-letter). On shutdown: stop claiming, let in-flight jobs finish
//! within the grace period, release the rest back to the queue.
//!
//! Invariant: the worker never touches SQL or a storage backend directly: the queue is `rythmiq_db::Database`,
//! storage comes from a factory the binary provides.
//!
//! Seam: a slot sees the queue through [`JobQueue`] and the pipeline through [`JobProcessor`]; [`run_workers`]
//! wires in the database and the OCR pipeline, [`run_pool`] takes any of each (the tests script a processor).

mod config;
mod drain;
mod pool;
mod seam;
pub mod telemetry;

pub use config::WorkerConfig;
pub use drain::drain_when_idle;
pub use pool::{run_pool, run_workers, WorkerSummary};
pub use seam::{pipeline_processors, JobProcessor, JobQueue, ProcessorFactory, StoreFactory};
pub use telemetry::{describe_metrics, LATENCY_BUCKETS_SECS, STAGE_CPU_BUCKETS_SECS};
