//! The report reads both dialects share: one SQL text each (`sql/*.sql`), one row type deriving `sqlx::FromRow`,
//! one conversion to the public shape, and the month's arithmetic. The dialects only bind the time range
//! (`Database::read_range` in lib.rs): a `timestamptz` on PostgreSQL, the fixed-width UTC text on SQLite.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use rythmiq_types::{ErrorKind, PathKind, Stage};

use crate::{parse_stored, DbError, ErrorCount, MonthlyUsage, PathShare, StageCost};

pub(crate) const STAGE_BREAKDOWN: &str = include_str!("../sql/stage_breakdown.sql");
pub(crate) const PATH_DISTRIBUTION: &str = include_str!("../sql/path_distribution.sql");
pub(crate) const ERROR_COUNTS: &str = include_str!("../sql/error_counts.sql");
pub(crate) const MONTH_TOTALS: &str = include_str!("../sql/month_totals.sql");

/// The budget when neither the caller nor `rythmiq_settings` gives one (the migrations' default).
pub(crate) const DEFAULT_BUDGET_HOURS: f64 = 200.0;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StageCostRow {
    stage: String,
    runs: i64,
    skipped_runs: i64,
    cpu_seconds_total: f64,
    cpu_seconds_per_document: f64,
    wall_seconds_per_document: f64,
    percent_of_cpu: f64,
}

impl TryFrom<StageCostRow> for StageCost {
    type Error = DbError;
    fn try_from(row: StageCostRow) -> Result<StageCost, DbError> {
        Ok(StageCost {
            stage: parse_stored(&row.stage, Stage::parse)?,
            runs: row.runs,
            skipped_runs: row.skipped_runs,
            cpu_seconds_total: row.cpu_seconds_total,
            cpu_seconds_per_document: row.cpu_seconds_per_document,
            wall_seconds_per_document: row.wall_seconds_per_document,
            percent_of_cpu: row.percent_of_cpu,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PathShareRow {
    path: Option<String>,
    documents: i64,
    percent_of_documents: f64,
    cpu_seconds_per_document: f64,
}

impl TryFrom<PathShareRow> for PathShare {
    type Error = DbError;
    fn try_from(row: PathShareRow) -> Result<PathShare, DbError> {
        Ok(PathShare {
            path: row.path.as_deref().map(|p| parse_stored(p, PathKind::parse)).transpose()?,
            documents: row.documents,
            percent_of_documents: row.percent_of_documents,
            cpu_seconds_per_document: row.cpu_seconds_per_document,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ErrorCountRow {
    error_kind: String,
    documents: i64,
}

impl TryFrom<ErrorCountRow> for ErrorCount {
    type Error = DbError;
    fn try_from(row: ErrorCountRow) -> Result<ErrorCount, DbError> {
        Ok(ErrorCount { kind: parse_stored(&row.error_kind, ErrorKind::parse)?, documents: row.documents })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MonthTotalsRow {
    pub cpu_seconds: f64,
    pub documents: i64,
    pub stored_budget_hours: Option<f64>,
}

/// The first instant of the UTC month containing `at`, and of the next month.
pub(crate) fn month_bounds(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = NaiveDate::from_ymd_opt(at.year(), at.month(), 1).expect("day 1 exists");
    let next = first.checked_add_months(chrono::Months::new(1)).expect("the next month exists");
    let midnight = |day: NaiveDate| Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"));
    (midnight(first), midnight(next))
}

impl MonthlyUsage {
    /// The month containing `as_of` from its raw totals: the arithmetic of `get_monthly_cpu_usage()`, on both
    /// databases. The budget is `budget_hours_opt`, else the stored one, else 200 hours. The projection
    /// extrapolates the burn so far linearly to the month's end (none at the month's first instant).
    pub(crate) fn from_totals(as_of: DateTime<Utc>, totals: MonthTotalsRow, budget_hours_opt: Option<f64>) -> Self {
        let (lo, hi) = month_bounds(as_of);
        let seconds = |d: chrono::Duration| d.num_microseconds().unwrap_or(0) as f64 / 1e6;
        let budget = budget_hours_opt.or(totals.stored_budget_hours).unwrap_or(DEFAULT_BUDGET_HOURS);
        let cpu_hours = totals.cpu_seconds / 3600.0;
        let elapsed_secs = seconds(as_of.clamp(lo, hi) - lo);
        MonthlyUsage {
            month_start: lo.date_naive(),
            cpu_hours_used: cpu_hours,
            documents: totals.documents,
            cpu_seconds_per_document: (totals.documents > 0).then(|| totals.cpu_seconds / totals.documents as f64),
            budget_cpu_hours: budget,
            percent_of_budget: 100.0 * cpu_hours / budget,
            projected_month_end_hours: (elapsed_secs > 0.0).then(|| cpu_hours * seconds(hi - lo) / elapsed_secs),
            days_elapsed: elapsed_secs / 86_400.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_cross_the_year() {
        let (lo, hi) = month_bounds(Utc.with_ymd_and_hms(2026, 12, 15, 8, 0, 0).unwrap());
        assert_eq!(lo, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(hi, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    }

    #[test]
    fn month_arithmetic_by_hand() {
        // 15 February 2026 00:00: 14 of 28 days gone, 7200 CPU-s over 4 documents, a 10-hour budget.
        let as_of = Utc.with_ymd_and_hms(2026, 2, 15, 0, 0, 0).unwrap();
        let totals = MonthTotalsRow { cpu_seconds: 7200.0, documents: 4, stored_budget_hours: Some(50.0) };
        let usage = MonthlyUsage::from_totals(as_of, totals, Some(10.0));
        assert_eq!(usage.month_start, NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        assert_eq!(usage.cpu_hours_used, 2.0);
        assert_eq!(usage.cpu_seconds_per_document, Some(1800.0));
        assert_eq!(usage.budget_cpu_hours, 10.0, "the override wins over the stored budget");
        assert_eq!(usage.percent_of_budget, 20.0);
        assert_eq!(usage.projected_month_end_hours, Some(4.0), "2 h in 14 of 28 days");
        assert_eq!(usage.days_elapsed, 14.0);
        let empty = MonthTotalsRow { cpu_seconds: 0.0, documents: 0, stored_budget_hours: None };
        let first_instant = MonthlyUsage::from_totals(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(), empty, None);
        assert_eq!(first_instant.budget_cpu_hours, DEFAULT_BUDGET_HOURS);
        assert_eq!((first_instant.cpu_seconds_per_document, first_instant.projected_month_end_hours), (None, None));
    }
}
