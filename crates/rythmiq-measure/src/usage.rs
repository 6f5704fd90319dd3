//! The month's measured usage, read from the `cpu_metrics` table (`rythmiq report --database`).

use serde::{Deserialize, Serialize};

/// The current month's usage, from the `cpu_metrics` table (`rythmiq report --database`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonthlyUsage {
    pub cpu_hours_used: f64,
    pub documents: u64,
    /// Days of the month elapsed so far (fractional allowed).
    pub days_elapsed: f64,
}
