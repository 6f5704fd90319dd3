//! Worker settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Pipelines run at once, each on its own thread with its own engine; 0 means one per core.
    pub concurrency: usize,
    /// How long a claim holds a job before another worker may take it, seconds.
    pub lease_secs: f64,
    /// How often a running job's lease is extended, seconds (well under `lease_secs`).
    pub heartbeat_secs: f64,
    /// Longest sleep between claims when no notification arrives (the fallback behind poolers), seconds.
    pub poll_secs: f64,
    /// After a shutdown signal, how long in-flight jobs may run before they are released to the queue, seconds.
    pub shutdown_grace_secs: f64,
    /// How long to keep retrying the final `complete`/`fail` call through a database outage, seconds. Past it the
    /// lease expires and another worker redoes the job (the result key is deterministic, so nothing doubles).
    pub finish_retry_secs: f64,
    /// Prefix of this process's worker ids (`<prefix>-<slot>`); default: host name and process id.
    pub worker_id: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 0,
            lease_secs: 60.0,
            heartbeat_secs: 15.0,
            poll_secs: 1.0,
            shutdown_grace_secs: 30.0,
            finish_retry_secs: 45.0,
            worker_id: None,
        }
    }
}

impl WorkerConfig {
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("lease_secs", self.lease_secs),
            ("heartbeat_secs", self.heartbeat_secs),
            ("poll_secs", self.poll_secs),
            ("shutdown_grace_secs", self.shutdown_grace_secs),
            ("finish_retry_secs", self.finish_retry_secs),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("worker.{name} must be a positive number of seconds"));
            }
        }
        if self.heartbeat_secs * 2.0 > self.lease_secs {
            return Err("worker.heartbeat_secs must be at most half of worker.lease_secs".into());
        }
        Ok(())
    }

    /// The number of pipeline threads to start.
    pub fn threads(&self) -> usize {
        if self.concurrency > 0 {
            self.concurrency
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    pub fn worker_id_prefix(&self) -> String {
        self.worker_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "worker".into());
            format!("{}-{}", host.trim(), std::process::id())
        })
    }

    pub(crate) fn secs(value: f64) -> Duration {
        Duration::from_secs_f64(value)
    }
}
