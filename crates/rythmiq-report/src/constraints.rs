//! The hard constraints (configuration) and the decision bands derived from the CPU budget.
//!
//! The bands follow the seed's monthly-hours column (180 / 200 / 225 / 300 hours of a 200-hour budget), expressed as
//! fractions of the budget so they move with it: GO at or under 90%, GO (marginal) to 100%, ADJUST to 112.5%,
//! OPTIMIZE to 150%, NO-GO above. The per-document CPU thresholds and the volume bands are derived from those
//! fractions; the seed's per-document column (0.72 s for 180 hours) is not used because it does not follow from its
//! own constraints.

use serde::{Deserialize, Serialize};

/// The non-negotiable constraints of the framework's section 1. Every field has the seed's value as its default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Constraints {
    /// Infrastructure quota, CPU-hours per calendar month.
    pub budget_cpu_hours_per_month: f64,
    /// Business target volume, documents per day.
    pub documents_per_day: u32,
    /// Days per month used to turn daily volume into monthly CPU (the seed uses 30).
    pub days_per_month: u32,
    /// SLA: end-to-end latency (submit to done) at the 95th percentile must not exceed this, seconds.
    pub p95_latency_limit_secs: f64,
    /// SLA: failed / total requests must stay under this fraction (0.01 = 1%).
    pub error_rate_limit: f64,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints {
            budget_cpu_hours_per_month: 200.0,
            documents_per_day: 1000,
            days_per_month: 30,
            p95_latency_limit_secs: 30.0,
            error_rate_limit: 0.01,
        }
    }
}

/// A constraint that cannot produce a meaningful decision (each would divide by zero or make every band empty).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConstraintsError {
    #[error("{field} must be a finite number greater than 0 (got {value})")]
    NotPositive { field: &'static str, value: f64 },
    #[error("error_rate_limit must be a fraction in (0, 1), e.g. 0.01 for 1% (got {0})")]
    ErrorRateNotFraction(f64),
}

/// Relative tolerance for "at or under" comparisons: far below any measurement's precision, but enough that a value
/// sitting exactly on a band edge (34.2 s x 30000 docs is 1026000.0000000001, not 190 h x 3600 x 1.5) is not pushed into the
/// next band by rounding.
pub(crate) const EDGE_TOLERANCE: f64 = 1e-9;

/// `a <= b`, allowing for floating-point representation error.
pub(crate) fn at_or_under(a: f64, b: f64) -> bool {
    a <= b + b.abs() * EDGE_TOLERANCE
}

/// Floors a count that should be an integer when the inputs are exact (1000.0 must not become 999).
pub(crate) fn floor_count(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 {
        (x * (1.0 + EDGE_TOLERANCE)).floor() as u64
    } else {
        0
    }
}

/// Where the projected monthly CPU at the target volume falls against the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// At or under 90% of the budget.
    Go,
    /// Over 90%, at or under 100%.
    GoMarginal,
    /// Over 100%, at or under 112.5%.
    Adjust,
    /// Over 112.5%, at or under 150%.
    Optimize,
    /// Over 150%.
    NoGo,
}

impl Band {
    /// The upper edge of each bounded band, as a fraction of the budget, lowest first.
    pub const EDGES: [(Band, f64); 4] =
        [(Band::Go, 0.90), (Band::GoMarginal, 1.00), (Band::Adjust, 1.125), (Band::Optimize, 1.50)];

    pub fn label(self) -> &'static str {
        match self {
            Band::Go => "GO",
            Band::GoMarginal => "GO (marginal)",
            Band::Adjust => "ADJUST",
            Band::Optimize => "OPTIMIZE",
            Band::NoGo => "NO-GO",
        }
    }

    /// The seed's final decision box has three outcomes: OPTIMIZE is an ADJUST whose condition is optimisation.
    pub fn verdict(self) -> Verdict {
        match self {
            Band::Go | Band::GoMarginal => Verdict::Go,
            Band::Adjust | Band::Optimize => Verdict::Adjust,
            Band::NoGo => Verdict::NoGo,
        }
    }
}

/// The primary recommendation (section 6.1). Ordered so that the worst of several checks is the `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Go,
    Adjust,
    NoGo,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Go => "GO",
            Verdict::Adjust => "ADJUST",
            Verdict::NoGo => "NO-GO",
        }
    }
}

/// One derived row of the decision matrix: the upper edge of a band.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BandEdge {
    pub band: Band,
    /// Upper edge as a fraction of the budget (0.9 for GO).
    pub budget_fraction: f64,
    /// budget x fraction.
    pub monthly_hours_max: f64,
    /// budget x 3600 x fraction / (documents/day x days/month).
    pub cpu_seconds_per_doc_max: f64,
    /// For the measured CPU per document: budget x 3600 x fraction / (CPU/doc x days/month), floored.
    pub max_docs_per_day_at_measured: u64,
}

impl Constraints {
    /// Checks that every constraint can take part in the arithmetic (positive, error limit a fraction).
    pub fn validate(&self) -> Result<(), ConstraintsError> {
        let positive = [
            ("budget_cpu_hours_per_month", self.budget_cpu_hours_per_month),
            ("documents_per_day", f64::from(self.documents_per_day)),
            ("days_per_month", f64::from(self.days_per_month)),
            ("p95_latency_limit_secs", self.p95_latency_limit_secs),
        ];
        for (field, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConstraintsError::NotPositive { field, value });
            }
        }
        if !(self.error_rate_limit > 0.0 && self.error_rate_limit < 1.0) {
            return Err(ConstraintsError::ErrorRateNotFraction(self.error_rate_limit));
        }
        Ok(())
    }

    /// The budget in CPU-seconds per month.
    pub fn budget_cpu_seconds_per_month(&self) -> f64 {
        self.budget_cpu_hours_per_month * 3600.0
    }

    /// Documents per month at the target volume.
    pub fn documents_per_month(&self) -> f64 {
        f64::from(self.documents_per_day) * f64::from(self.days_per_month)
    }

    /// CPU-hours per month = CPU-s/doc x docs/day x days / 3600.
    pub fn monthly_cpu_hours(&self, cpu_seconds_per_doc: f64, docs_per_day: f64) -> f64 {
        cpu_seconds_per_doc * docs_per_day * f64::from(self.days_per_month) / 3600.0
    }

    /// The per-document CPU that spends exactly `fraction` of the budget at the target volume.
    pub fn cpu_seconds_per_doc_at(&self, fraction: f64) -> f64 {
        self.budget_cpu_seconds_per_month() * fraction / self.documents_per_month()
    }

    /// The largest whole number of documents per day whose monthly CPU stays at or under `fraction` of the budget.
    pub fn max_docs_per_day_at(&self, cpu_seconds_per_doc: f64, fraction: f64) -> u64 {
        floor_count(
            self.budget_cpu_seconds_per_month() * fraction / (cpu_seconds_per_doc * f64::from(self.days_per_month)),
        )
    }

    /// The band of a per-document CPU figure at the target volume. Each edge is inclusive ("at or under").
    pub fn band_for_cpu(&self, cpu_seconds_per_doc: f64) -> Band {
        // Compare monthly CPU-seconds with the budget share directly, rather than dividing into a ratio first, so
        // the inputs of an exact edge meet the edge with one rounding on each side.
        let monthly_secs = cpu_seconds_per_doc * self.documents_per_month();
        Band::EDGES
            .iter()
            .find(|(_, fraction)| at_or_under(monthly_secs, self.budget_cpu_seconds_per_month() * fraction))
            .map_or(Band::NoGo, |(band, _)| *band)
    }

    /// The derived decision matrix for a measured CPU per document.
    pub fn band_edges(&self, cpu_seconds_per_doc: f64) -> Vec<BandEdge> {
        Band::EDGES
            .iter()
            .map(|&(band, fraction)| BandEdge {
                band,
                budget_fraction: fraction,
                monthly_hours_max: self.budget_cpu_hours_per_month * fraction,
                cpu_seconds_per_doc_max: self.cpu_seconds_per_doc_at(fraction),
                max_docs_per_day_at_measured: self.max_docs_per_day_at(cpu_seconds_per_doc, fraction),
            })
            .collect()
    }

    /// The seed's three projection volumes (700, 1000, 1300 for a 1000/day target) are 70%, 100% and 130% of the
    /// target, so they follow the configured volume.
    pub fn projection_volumes(&self) -> [u32; 3] {
        let t = f64::from(self.documents_per_day);
        [(t * 0.7).round() as u32, self.documents_per_day, (t * 1.3).round() as u32]
    }
}
