//! A criterion `Measurement` over the calling thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), so `cargo bench`
//! reports per-stage CPU seconds, the unit the capacity answer is in, and a busy neighbour on a shared machine
//! shows up as less wall time per core, not as a slower stage. OpenMP is limited to one thread for benches
//! (`.cargo/config.toml`), so the stage's whole cost is on this thread.

use std::time::Duration;

use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::Throughput;

/// CPU time of the benchmarking thread.
pub struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }

    fn end(&self, started: ThreadTime) -> Duration {
        started.elapsed()
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds of CPU, shown in the largest unit that keeps the typical value at or above 1, with "CPU" beside it.
struct CpuFormatter;

impl CpuFormatter {
    fn unit(typical_ns: f64) -> (f64, &'static str) {
        if typical_ns >= 1e9 {
            (1e-9, "s CPU")
        } else if typical_ns >= 1e6 {
            (1e-6, "ms CPU")
        } else if typical_ns >= 1e3 {
            (1e-3, "µs CPU")
        } else {
            (1.0, "ns CPU")
        }
    }
}

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical_value: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = Self::unit(typical_value);
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, _typical_value: f64, throughput: &Throughput, values: &mut [f64]) -> &'static str {
        // Elements (documents) per CPU second.
        let per = match throughput {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => *n as f64,
        };
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "elem/CPU-s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns CPU"
    }
}
