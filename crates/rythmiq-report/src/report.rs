//! `Report::build`: every figure of sections 3 to 6 computed from the inputs, and the decision.
//!
//! The decision rule, in one place:
//! - CPU: the band of the projected monthly CPU at the target volume (see `constraints`).
//! - Latency (load test P95 vs the limit): over the limit is ADJUST when the excess is queueing (a single document's
//!   warm wall time, bench P95, is under the limit and the P95 is at most twice the limit: more concurrency or intake
//!   control can bring it in); NO-GO when one document alone takes longer than the limit or the P95 is over twice it.
//! - Errors (failed / total vs the limit): over the limit is ADJUST when the hard failures (server errors and
//!   validation rejections of valid documents) alone stay within the limit, so the excess is timeouts and 429s
//!   (capacity and intake tuning); NO-GO when the system itself fails documents beyond the limit. Without a load test
//!   the bench's failed documents are the error rate, and any excess there is NO-GO (failures without load).
//! - The verdict is the worst of the three; latency and errors can fail it whatever the CPU says. When any item of
//!   the framework's section 2 checklist is unmet (see `evidence`), the decision is provisional, whatever its verdict.

use chrono::Utc;
use rythmiq_measure::BenchSummary;
use serde::{Deserialize, Serialize};

use crate::constraints::{at_or_under, Band, BandEdge, Constraints, Verdict};
use crate::evidence::Evidence;
use crate::plan::CapacityPlan;
use crate::ReportError;
use rythmiq_measure::stats::{mean, percentile, std_dev};
use rythmiq_measure::{CompareResult, LoadTestResult, MonthlyUsage, RampStep};

/// The seed's monitoring ceiling on cold starts (section 6.4), as a share of jobs.
pub const COLD_START_MAX_SHARE: f64 = 0.05;
/// The fast/standard split the framework expects (section 2.2), as the fast share.
pub use rythmiq_measure::EXPECTED_FAST_SHARE;

/// One row of the monthly projections (section 3.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub docs_per_day: u32,
    /// CPU-s/doc x docs/day x days / 3600.
    pub cpu_hours_per_month: f64,
    /// cpu_hours_per_month / budget.
    pub budget_share: f64,
    pub within_budget: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    NotMeasured,
}

/// A latency or error-rate check against its limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub status: CheckStatus,
    /// What this check alone makes of the decision (GO when it passes or was not measured).
    pub verdict: Verdict,
    pub measured: Option<f64>,
    pub limit: f64,
    /// Where the figure comes from ("load test, 50 users" / "bench, no load").
    pub source: String,
    /// Why the check gave its verdict, with the numbers.
    pub reason: String,
}

/// Section 6.1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// One line per check that set or confirmed the verdict.
    pub reasons: Vec<String>,
    /// True when the evidence falls short of the framework's checklist (see [`Report::evidence`]): shown as
    /// "PROVISIONAL <verdict>", never a plain GO.
    pub provisional: bool,
    /// The measurements still missing, each with the command that takes it.
    pub missing: Vec<String>,
    /// Caveats that do not change the verdict (a bench smaller than the framework asks, ...).
    pub caveats: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimisationNeed {
    /// Within the GO band.
    None,
    /// The seed's #1-3 (configuration changes).
    Minor,
    /// The seed's #4-5 (model swap, caching).
    Major,
    /// No measured optimisation closes the gap and the CPU is past the NO-GO edge.
    VolumeReduction,
}

/// A measured optimisation (one row of the A/B comparison) judged against the target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClosingOption {
    pub label: String,
    pub flags: String,
    pub cpu_seconds_per_doc: f64,
    pub saving_percent: f64,
    pub cer_delta: Option<f64>,
    pub bow_f1_delta: Option<f64>,
    /// It saves CPU against the comparison's reference (so it is an optimisation, not the reference row itself)
    /// and its CPU per document is at or under the target.
    pub closes_gap: bool,
    /// The band its CPU per document would give at the target volume.
    pub band: Band,
}

/// Section 5.2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimisationGap {
    pub current_cpu_seconds_per_doc: f64,
    /// The GO edge: budget x 3600 x 0.9 / (docs/day x days).
    pub target_cpu_seconds_per_doc: f64,
    /// current - target; negative is headroom.
    pub gap_seconds: f64,
    /// gap / current x 100, 0 when there is headroom.
    pub reduction_needed_percent: f64,
    pub need: OptimisationNeed,
    /// Every measured comparison row, those closing the gap first (least accuracy cost first).
    pub options: Vec<ClosingOption>,
}

/// Section 6.2: what it would take to reach GO. Computed whatever the verdict, shown as binding only for ADJUST.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    /// The volume the budget sustains at the measured CPU (100% of budget).
    pub reduce_volume_to_docs_per_day: u64,
    /// Labels of the measured optimisations that close the gap, best first.
    pub apply_optimisations: Vec<String>,
    /// Monthly CPU at the target volume / 0.9: the budget under which the target volume is a clean GO.
    pub increase_budget_to_hours: f64,
    /// Whether the launch must wait for optimisation work, in words (days cannot be measured).
    pub defer_launch: String,
    /// Conditions the latency and error checks add.
    pub service_conditions: Vec<String>,
}

/// Section 4.2, from the ramp steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreakingPoint {
    /// The largest step (before the first failing one) within both the P95 and the error limit.
    pub stable_up_to_users: Option<u32>,
    /// The first step over either limit; `None` when the ramp never broke.
    pub breaking: Option<RampStep>,
    pub highest_users_tried: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoubleLoadOutcome {
    /// Error rate within the limit (latency may rise).
    DegradesGracefully,
    /// Over the error limit, but mostly 429s and hard failures within the limit: load is shed on purpose.
    RejectsExcess,
    /// Over the error limit with timeouts or server errors dominating.
    Unstable,
}

/// Section 4.3, measured rather than predicted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoubleLoadBehaviour {
    pub users: u32,
    pub outcome: DoubleLoadOutcome,
    pub queue_depth_max: Option<u64>,
    pub p95_secs: f64,
    pub error_rate: f64,
    pub rejected_429: u64,
    pub failed: u64,
}

/// Residual risk 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColdStartRisk {
    pub penalty_seconds: f64,
    pub penalty_percent: f64,
    pub model_load_seconds: f64,
    /// max(penalty, model load): a negative or tiny measured penalty is noise of a single pair of runs, while the
    /// model load is paid by every cold start.
    pub cost_per_cold_start_secs: f64,
    /// Cold starts at the monitoring ceiling (5% of jobs): 0.05 x docs/day x days x cost / 3600.
    pub monthly_hours_at_ceiling: f64,
    pub budget_share_at_ceiling: f64,
}

/// Residual risk 2: the fast/standard split drifting from what was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathDriftRisk {
    pub fast_documents: usize,
    pub standard_documents: usize,
    pub measured_fast_share: f64,
    pub fast_cpu_seconds_per_doc: f64,
    /// `None` when no document took the standard path (its cost is unknown).
    pub standard_cpu_seconds_per_doc: Option<f64>,
    /// 0.7 x fast + 0.3 x standard.
    pub cpu_at_expected_split: Option<f64>,
    pub hours_at_expected_split: Option<f64>,
    /// Every document on the standard path.
    pub hours_all_standard: Option<f64>,
    pub band_all_standard: Option<Band>,
    /// The fast share below which the target volume leaves the GO band; `Some(0.0)` when even all-standard is GO.
    pub fast_share_floor_for_go: Option<f64>,
}

/// Residual risk 3: how much one document (and one burst) can cost more than the mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficRisk {
    pub documents: usize,
    pub mean_cpu_secs: f64,
    pub p95_cpu_secs: f64,
    pub max_cpu_secs: f64,
    pub p95_over_mean: f64,
    /// Standard deviation / mean.
    pub coefficient_of_variation: f64,
    /// A day of P95-cost documents at the target volume: p95 x docs/day / 3600.
    pub heavy_day_hours: f64,
    pub heavy_day_share_of_daily_budget: f64,
    /// Load test peak / sustained throughput.
    pub burst_ratio: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Risks {
    pub cold_start: Option<ColdStartRisk>,
    pub path_drift: PathDriftRisk,
    pub traffic: Option<TrafficRisk>,
}

/// Burn rate from the database's monthly usage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BurnRate {
    pub hours_per_day: f64,
    pub share_of_daily_budget: f64,
    /// hours/day x days/month.
    pub projected_month_hours: f64,
    pub production_cpu_seconds_per_doc: Option<f64>,
    pub docs_per_day: f64,
}

/// Section 6.4's alert thresholds, derived from the constraints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitoring {
    /// budget / days per month.
    pub daily_budget_hours: f64,
    pub daily_warning_hours: f64,
    pub daily_critical_hours: f64,
    /// Measured CPU/doc x docs/day / 3600.
    pub expected_daily_hours: f64,
    /// The seed warns at 25 s of a 30 s limit: the same 5/6 of the configured limit.
    pub p95_warning_secs: f64,
    pub p95_critical_secs: f64,
    /// The seed warns at 0.5% of a 1% limit: half the configured limit.
    pub error_warning: f64,
    pub error_critical: f64,
    pub cold_start_max_share: f64,
    pub fast_share_floor_for_go: Option<f64>,
    pub burn: Option<BurnRate>,
}

/// The filled-in framework. Built once from the inputs; both renderers only format it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// RFC 3339; the decision date. Public so a caller can pin it (reproducible output).
    pub generated_at: String,
    /// Shown in 6.1 when set; otherwise the sign-off is by hand in section 7.
    pub approving_engineer: Option<String>,
    /// The git revision of the binary that wrote the report (the CLI sets it from its build); `None` shows
    /// "unknown".
    #[serde(default)]
    pub git_revision: Option<String>,
    pub constraints: Constraints,
    pub bench: BenchSummary,
    pub load: Option<LoadTestResult>,
    pub compare: Option<CompareResult>,
    pub usage: Option<MonthlyUsage>,
    pub cpu_seconds_per_doc: f64,
    pub band_edges: Vec<BandEdge>,
    pub projections: Vec<Projection>,
    /// Largest whole docs/day within 100% of the budget at the measured CPU.
    pub max_sustainable_docs_per_day: u64,
    pub monthly_hours_at_target: f64,
    pub budget_share_at_target: f64,
    pub cpu_band: Band,
    pub latency: Check,
    pub errors: Check,
    pub decision: Decision,
    /// The framework's section 2 checklist, ticked from the inputs.
    pub evidence: Evidence,
    /// The capacity planner's answer for the design load (the load test's, else the framework's burst); `None`
    /// only when the bench has no warm, successful document.
    pub plan: Option<CapacityPlan>,
    pub gap: OptimisationGap,
    pub conditions: Conditions,
    pub breaking_point: Option<BreakingPoint>,
    pub double_load: Option<DoubleLoadBehaviour>,
    pub risks: Risks,
    pub monitoring: Monitoring,
}

pub(crate) const LOADTEST_CMD: &str = "rythmiq loadtest --users 50 --docs-per-user 5 --spawn-rate 10";

impl Report {
    /// Computes every figure and the decision. Fails only on invalid constraints or a bench without a CPU figure;
    /// every other missing input leaves its part "not measured".
    pub fn build(
        constraints: Constraints,
        bench: BenchSummary,
        load_opt: Option<LoadTestResult>,
        compare_opt: Option<CompareResult>,
        usage_opt: Option<MonthlyUsage>,
    ) -> Result<Report, ReportError> {
        constraints.validate()?;
        let cpu = bench.cpu_seconds_per_doc;
        if bench.warm_documents == 0 || !(cpu.is_finite() && cpu > 0.0) {
            return Err(ReportError::NoCpuMeasurement);
        }
        // A load test that submitted nothing measured nothing.
        let load_opt = load_opt.filter(|l| l.total_requests > 0);
        let c = &constraints;
        let target_docs = f64::from(c.documents_per_day);

        let projections = c
            .projection_volumes()
            .into_iter()
            .map(|docs| {
                let hours = c.monthly_cpu_hours(cpu, f64::from(docs));
                Projection {
                    docs_per_day: docs,
                    cpu_hours_per_month: hours,
                    budget_share: hours / c.budget_cpu_hours_per_month,
                    within_budget: at_or_under(hours, c.budget_cpu_hours_per_month),
                }
            })
            .collect();
        let monthly_hours_at_target = c.monthly_cpu_hours(cpu, target_docs);
        let cpu_band = c.band_for_cpu(cpu);
        let warm_ok: Vec<&rythmiq_measure::PerDocument> =
            bench.per_document.iter().filter(|d| !d.cold_start && d.error.is_none()).collect();
        let warm_wall: Vec<f64> = warm_ok.iter().map(|d| d.wall_seconds).collect();
        let warm_cpu: Vec<f64> = warm_ok.iter().map(|d| d.cpu_seconds).collect();

        let latency = latency_check(c, load_opt.as_ref(), percentile(&warm_wall, 95.0));
        let errors = error_check(c, load_opt.as_ref(), &bench);
        let mut decision = decide(c, &bench, cpu_band, monthly_hours_at_target, &latency, &errors, load_opt.is_none());
        let evidence = Evidence::assess(c, &bench, load_opt.as_ref());
        decision.provisional |= !evidence.complete();
        decision.missing.extend(evidence.missing_lines());
        let plan = crate::plan::plan(&crate::capacity::plan_input(c, &bench, load_opt.as_ref(), None)).ok();
        if let Some(p) = &plan {
            decision.reasons.push(format!(
                "capacity: {} (planner, section 3.4)",
                p.headline(at_or_under(monthly_hours_at_target, c.budget_cpu_hours_per_month))
            ));
        }
        let gap = optimisation_gap(c, cpu, cpu_band, compare_opt.as_ref());
        let conditions = conditions(c, cpu, monthly_hours_at_target, &gap, &latency, &errors);
        let breaking_point = load_opt.as_ref().and_then(|l| breaking_point(c, &l.ramp));
        let double_load = load_opt.as_ref().and_then(|l| l.double_load.as_deref()).map(|d| double_load(c, d));
        let path_drift = path_drift(c, &bench);
        let traffic = traffic_risk(c, &warm_cpu, load_opt.as_ref());
        let cold_start = bench.cold_start.as_ref().map(|cs| {
            let cost = cs.penalty_seconds.max(cs.model_load_seconds).max(0.0);
            let hours = COLD_START_MAX_SHARE * c.documents_per_month() * cost / 3600.0;
            ColdStartRisk {
                penalty_seconds: cs.penalty_seconds,
                penalty_percent: cs.penalty_percent,
                model_load_seconds: cs.model_load_seconds,
                cost_per_cold_start_secs: cost,
                monthly_hours_at_ceiling: hours,
                budget_share_at_ceiling: hours / c.budget_cpu_hours_per_month,
            }
        });
        let daily_budget_hours = c.budget_cpu_hours_per_month / f64::from(c.days_per_month);
        let burn = usage_opt.as_ref().filter(|u| u.days_elapsed > 0.0).map(|u| {
            let hours_per_day = u.cpu_hours_used / u.days_elapsed;
            BurnRate {
                hours_per_day,
                share_of_daily_budget: hours_per_day / daily_budget_hours,
                projected_month_hours: hours_per_day * f64::from(c.days_per_month),
                production_cpu_seconds_per_doc: (u.documents > 0)
                    .then(|| u.cpu_hours_used * 3600.0 / u.documents as f64),
                docs_per_day: u.documents as f64 / u.days_elapsed,
            }
        });
        let monitoring = Monitoring {
            daily_budget_hours,
            daily_warning_hours: daily_budget_hours * 0.8,
            daily_critical_hours: daily_budget_hours,
            expected_daily_hours: cpu * target_docs / 3600.0,
            p95_warning_secs: c.p95_latency_limit_secs * 25.0 / 30.0,
            p95_critical_secs: c.p95_latency_limit_secs,
            error_warning: c.error_rate_limit / 2.0,
            error_critical: c.error_rate_limit,
            cold_start_max_share: COLD_START_MAX_SHARE,
            fast_share_floor_for_go: path_drift.fast_share_floor_for_go,
            burn,
        };

        Ok(Report {
            generated_at: Utc::now().to_rfc3339(),
            approving_engineer: None,
            git_revision: None,
            band_edges: c.band_edges(cpu),
            projections,
            max_sustainable_docs_per_day: c.max_docs_per_day_at(cpu, 1.0),
            monthly_hours_at_target,
            budget_share_at_target: monthly_hours_at_target / c.budget_cpu_hours_per_month,
            cpu_band,
            cpu_seconds_per_doc: cpu,
            latency,
            errors,
            decision,
            evidence,
            plan,
            gap,
            conditions,
            breaking_point,
            double_load,
            risks: Risks { cold_start, path_drift, traffic },
            monitoring,
            constraints,
            bench,
            load: load_opt,
            compare: compare_opt,
            usage: usage_opt,
        })
    }
}

pub(crate) fn latency_check(c: &Constraints, load: Option<&LoadTestResult>, service_p95_opt: Option<f64>) -> Check {
    let limit = c.p95_latency_limit_secs;
    let Some(load) = load else {
        return Check {
            status: CheckStatus::NotMeasured,
            verdict: Verdict::Go,
            measured: None,
            limit,
            source: "no load test".into(),
            reason: format!("not measured: run `{LOADTEST_CMD}`"),
        };
    };
    let p95 = load.latency_p95_secs;
    let source = format!("load test, {} users x {} docs", load.users, load.docs_per_user);
    if at_or_under(p95, limit) {
        return Check {
            status: CheckStatus::Pass,
            verdict: Verdict::Go,
            measured: Some(p95),
            limit,
            source,
            reason: format!("P95 {p95:.2} s <= limit {limit:.0} s"),
        };
    }
    let service_too_slow = service_p95_opt.is_some_and(|s| s > limit);
    let (verdict, why) = if service_too_slow {
        (
            Verdict::NoGo,
            format!(
                "one warm document alone takes {:.2} s (bench wall P95) > {limit:.0} s: no amount of concurrency fixes it",
                service_p95_opt.unwrap_or_default()
            ),
        )
    } else if p95 > 2.0 * limit {
        (
            Verdict::NoGo,
            format!("P95 {p95:.2} s > 2 x {limit:.0} s = {:.0} s: more than queueing can explain", 2.0 * limit),
        )
    } else {
        (
            Verdict::Adjust,
            format!(
                "the excess is queueing (bench wall P95 per document {}): add worker concurrency or cap intake, then re-run the load test",
                service_p95_opt.map_or("not measured".into(), |s| format!("{s:.2} s"))
            ),
        )
    };
    Check {
        status: CheckStatus::Fail,
        verdict,
        measured: Some(p95),
        limit,
        source,
        reason: format!("P95 {p95:.2} s > limit {limit:.0} s; {why}"),
    }
}

pub(crate) fn error_check(c: &Constraints, load: Option<&LoadTestResult>, bench: &BenchSummary) -> Check {
    let limit = c.error_rate_limit;
    if let Some(load) = load {
        let total = load.total_requests as f64;
        let rate = load.error_rate();
        let source = format!("load test, {} of {} requests failed", load.failed, load.total_requests);
        if at_or_under(rate, limit) {
            return Check {
                status: CheckStatus::Pass,
                verdict: Verdict::Go,
                measured: Some(rate),
                limit,
                source,
                reason: format!(
                    "{} / {} = {:.2}% <= {:.2}%",
                    load.failed,
                    load.total_requests,
                    rate * 100.0,
                    limit * 100.0
                ),
            };
        }
        let hard = load.failures.server_error + load.failures.validation;
        let hard_rate = hard as f64 / total;
        let (verdict, why) = if at_or_under(hard_rate, limit) {
            (
                Verdict::Adjust,
                format!(
                    "server errors + validation = {hard} / {} = {:.2}% are within the limit; the excess is {} timeouts and {} 429 rejections (capacity/intake tuning)",
                    load.total_requests,
                    hard_rate * 100.0,
                    load.failures.timeout,
                    load.failures.rejected_429
                ),
            )
        } else {
            (
                Verdict::NoGo,
                format!(
                    "server errors + validation alone = {hard} / {} = {:.2}% > {:.2}%: the system fails documents",
                    load.total_requests,
                    hard_rate * 100.0,
                    limit * 100.0
                ),
            )
        };
        return Check {
            status: CheckStatus::Fail,
            verdict,
            measured: Some(rate),
            limit,
            source,
            reason: format!(
                "{} / {} = {:.2}% > {:.2}%; {why}",
                load.failed,
                load.total_requests,
                rate * 100.0,
                limit * 100.0
            ),
        };
    }
    // No load test: the bench's failed documents are the only error measurement (no load, so a lower bound).
    let (failed, total) = if bench.per_document.is_empty() {
        (bench.errors.values().sum::<usize>(), bench.documents)
    } else {
        (bench.per_document.iter().filter(|d| d.error.is_some()).count(), bench.per_document.len())
    };
    let rate = if total == 0 { 0.0 } else { failed as f64 / total as f64 };
    let source = format!("bench without load, {failed} of {total} documents failed");
    if at_or_under(rate, limit) {
        Check {
            status: CheckStatus::Pass,
            verdict: Verdict::Go,
            measured: Some(rate),
            limit,
            source,
            reason: format!(
                "{failed} / {total} = {:.2}% <= {:.2}% without load; under load not measured: run `{LOADTEST_CMD}`",
                rate * 100.0,
                limit * 100.0
            ),
        }
    } else {
        Check {
            status: CheckStatus::Fail,
            verdict: Verdict::NoGo,
            measured: Some(rate),
            limit,
            source,
            reason: format!(
                "{failed} / {total} = {:.2}% > {:.2}% already without load: the pipeline fails documents",
                rate * 100.0,
                limit * 100.0
            ),
        }
    }
}

fn decide(
    c: &Constraints,
    bench: &BenchSummary,
    band: Band,
    monthly_hours: f64,
    latency: &Check,
    errors: &Check,
    no_load: bool,
) -> Decision {
    let mut reasons = vec![format!(
        "CPU: {:.4} s/doc x {} docs/day x {} days / 3600 = {:.2} h/month = {:.1}% of {:.0} h -> {}",
        bench.cpu_seconds_per_doc,
        c.documents_per_day,
        c.days_per_month,
        monthly_hours,
        monthly_hours / c.budget_cpu_hours_per_month * 100.0,
        c.budget_cpu_hours_per_month,
        band.label()
    )];
    for (name, check) in [("latency", latency), ("errors", errors)] {
        reasons.push(format!(
            "{name} ({}): {} -> {}",
            check.source,
            check.reason,
            match check.status {
                CheckStatus::Pass => "pass",
                CheckStatus::Fail => check.verdict.label(),
                CheckStatus::NotMeasured => "not measured",
            }
        ));
    }
    let verdict = band.verdict().max(latency.verdict).max(errors.verdict);
    let mut missing = Vec::new();
    if no_load {
        missing.push(format!("latency P95, error rate and resources under load: not measured, run `{LOADTEST_CMD}`"));
    }
    // The bench's size and the routes it measured are checklist items (`evidence`), not caveats.
    let caveats = Vec::new();
    Decision { verdict, reasons, provisional: no_load, missing, caveats }
}

fn optimisation_gap(c: &Constraints, cpu: f64, band: Band, compare: Option<&CompareResult>) -> OptimisationGap {
    let target = c.cpu_seconds_per_doc_at(Band::EDGES[0].1);
    let gap = cpu - target;
    let mut options: Vec<ClosingOption> = compare
        .map(|cmp| {
            cmp.rows
                .iter()
                .map(|r| ClosingOption {
                    label: r.label.clone(),
                    flags: r.flags.clone(),
                    cpu_seconds_per_doc: r.cpu_seconds_per_doc,
                    saving_percent: r.saving_percent,
                    cer_delta: r.cer_delta,
                    bow_f1_delta: r.bow_f1_delta,
                    closes_gap: r.saving_percent > 0.0 && at_or_under(r.cpu_seconds_per_doc, target),
                    band: c.band_for_cpu(r.cpu_seconds_per_doc),
                })
                .collect()
        })
        .unwrap_or_default();
    // Closing rows first; among them the least accuracy cost (CER increase), then the cheapest.
    options.sort_by(|a, b| {
        b.closes_gap
            .cmp(&a.closes_gap)
            .then(a.cer_delta.unwrap_or(f64::INFINITY).total_cmp(&b.cer_delta.unwrap_or(f64::INFINITY)))
            .then(a.cpu_seconds_per_doc.total_cmp(&b.cpu_seconds_per_doc))
    });
    let any_closes = options.iter().any(|o| o.closes_gap);
    let need = match band {
        Band::Go => OptimisationNeed::None,
        Band::GoMarginal | Band::Adjust => OptimisationNeed::Minor,
        Band::Optimize => OptimisationNeed::Major,
        // Past 150% only a measured optimisation that reaches the target avoids cutting volume.
        Band::NoGo if any_closes => OptimisationNeed::Major,
        Band::NoGo => OptimisationNeed::VolumeReduction,
    };
    OptimisationGap {
        current_cpu_seconds_per_doc: cpu,
        target_cpu_seconds_per_doc: target,
        gap_seconds: gap,
        reduction_needed_percent: if gap > 0.0 { gap / cpu * 100.0 } else { 0.0 },
        need,
        options,
    }
}

fn conditions(
    c: &Constraints,
    cpu: f64,
    monthly_hours: f64,
    gap: &OptimisationGap,
    latency: &Check,
    errors: &Check,
) -> Conditions {
    let apply: Vec<String> = gap.options.iter().filter(|o| o.closes_gap).map(|o| o.label.clone()).collect();
    let defer_launch = if gap.gap_seconds <= 0.0 {
        "0 days: no optimisation work is needed".to_string()
    } else if !apply.is_empty() {
        "0 days if the measured flag change is adopted (re-run `rythmiq bench` with it to confirm)".to_string()
    } else {
        "not measured: no measured optimisation closes the gap; run the optimisation A/B comparison, or estimate the engineering work".to_string()
    };
    let mut service_conditions = Vec::new();
    if latency.status == CheckStatus::Fail {
        service_conditions
            .push(format!("bring latency P95 at or under {:.0} s ({})", c.p95_latency_limit_secs, latency.reason));
    }
    if errors.status == CheckStatus::Fail {
        service_conditions.push(format!(
            "bring the error rate at or under {:.2}% ({})",
            c.error_rate_limit * 100.0,
            errors.reason
        ));
    }
    Conditions {
        reduce_volume_to_docs_per_day: c.max_docs_per_day_at(cpu, 1.0),
        apply_optimisations: apply,
        increase_budget_to_hours: monthly_hours / Band::EDGES[0].1,
        defer_launch,
        service_conditions,
    }
}

fn step_passes(c: &Constraints, s: &RampStep) -> bool {
    at_or_under(s.p95_secs, c.p95_latency_limit_secs) && at_or_under(s.error_rate, c.error_rate_limit)
}

pub(crate) fn breaking_point(c: &Constraints, ramp: &[RampStep]) -> Option<BreakingPoint> {
    if ramp.is_empty() {
        return None;
    }
    let mut steps = ramp.to_vec();
    steps.sort_by_key(|s| s.users);
    let first_break = steps.iter().position(|s| !step_passes(c, s));
    let stable = steps[..first_break.unwrap_or(steps.len())].last().map(|s| s.users);
    Some(BreakingPoint {
        stable_up_to_users: stable,
        breaking: first_break.map(|i| steps[i].clone()),
        highest_users_tried: steps.last().map_or(0, |s| s.users),
    })
}

pub(crate) fn double_load(c: &Constraints, d: &LoadTestResult) -> DoubleLoadBehaviour {
    let rate = d.error_rate();
    let hard_rate = if d.total_requests == 0 {
        0.0
    } else {
        (d.failures.server_error + d.failures.validation) as f64 / d.total_requests as f64
    };
    let outcome = if at_or_under(rate, c.error_rate_limit) {
        DoubleLoadOutcome::DegradesGracefully
    } else if d.failures.rejected_429 * 2 >= d.failed && at_or_under(hard_rate, c.error_rate_limit) {
        DoubleLoadOutcome::RejectsExcess
    } else {
        DoubleLoadOutcome::Unstable
    };
    DoubleLoadBehaviour {
        users: d.users,
        outcome,
        queue_depth_max: d.peak_queue_depth(),
        p95_secs: d.latency_p95_secs,
        error_rate: rate,
        rejected_429: d.failures.rejected_429,
        failed: d.failed,
    }
}

fn path_drift(c: &Constraints, bench: &BenchSummary) -> PathDriftRisk {
    let (fast, standard) = (&bench.paths.fast, &bench.paths.standard);
    let n = bench.paths.documents();
    let std_cpu = (standard.documents > 0).then_some(standard.cpu_seconds_per_doc);
    let fast_cpu = if fast.documents > 0 { fast.cpu_seconds_per_doc } else { bench.cpu_seconds_per_doc };
    let at_expected = std_cpu.map(|s| EXPECTED_FAST_SHARE * fast_cpu + (1.0 - EXPECTED_FAST_SHARE) * s);
    let target_docs = f64::from(c.documents_per_day);
    let go_edge = c.cpu_seconds_per_doc_at(Band::EDGES[0].1);
    // Mean = f x fast + (1 - f) x standard; solve for the f at which it meets the GO edge.
    let floor = std_cpu.map(|s| {
        if at_or_under(s, go_edge) {
            0.0
        } else if s <= fast_cpu {
            // Standard is no dearer than fast: the split cannot push the mean past the edge it is already past.
            1.0
        } else {
            ((s - go_edge) / (s - fast_cpu)).clamp(0.0, 1.0)
        }
    });
    PathDriftRisk {
        fast_documents: fast.documents,
        standard_documents: standard.documents,
        measured_fast_share: if n == 0 { 0.0 } else { fast.documents as f64 / n as f64 },
        fast_cpu_seconds_per_doc: fast_cpu,
        standard_cpu_seconds_per_doc: std_cpu,
        cpu_at_expected_split: at_expected,
        hours_at_expected_split: at_expected.map(|x| c.monthly_cpu_hours(x, target_docs)),
        hours_all_standard: std_cpu.map(|s| c.monthly_cpu_hours(s, target_docs)),
        band_all_standard: std_cpu.map(|s| c.band_for_cpu(s)),
        fast_share_floor_for_go: floor,
    }
}

fn traffic_risk(c: &Constraints, warm_cpu: &[f64], load: Option<&LoadTestResult>) -> Option<TrafficRisk> {
    let m = mean(warm_cpu)?;
    let p95 = percentile(warm_cpu, 95.0)?;
    let max = warm_cpu.iter().copied().fold(f64::MIN, f64::max);
    let sd = std_dev(warm_cpu)?;
    let heavy = p95 * f64::from(c.documents_per_day) / 3600.0;
    let daily_budget = c.budget_cpu_hours_per_month / f64::from(c.days_per_month);
    Some(TrafficRisk {
        documents: warm_cpu.len(),
        mean_cpu_secs: m,
        p95_cpu_secs: p95,
        max_cpu_secs: max,
        p95_over_mean: if m > 0.0 { p95 / m } else { 0.0 },
        coefficient_of_variation: if m > 0.0 { sd / m } else { 0.0 },
        heavy_day_hours: heavy,
        heavy_day_share_of_daily_budget: heavy / daily_budget,
        burst_ratio: load
            .filter(|l| l.throughput_sustained_docs_per_sec > 0.0)
            .map(|l| l.throughput_peak_docs_per_sec / l.throughput_sustained_docs_per_sec),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(users: u32, p95_secs: f64, error_rate: f64) -> RampStep {
        RampStep { users, p95_secs, error_rate, queue_depth_max: None, worker_cpu_percent_peak: None }
    }

    #[test]
    fn breaking_point_is_the_first_step_over_either_limit() {
        let c = Constraints::default();
        let bp =
            breaking_point(&c, &[step(40, 20.0, 0.0), step(10, 5.0, 0.0), step(60, 29.0, 0.02), step(80, 40.0, 0.0)])
                .unwrap();
        assert_eq!(bp.stable_up_to_users, Some(40));
        assert_eq!(bp.breaking.as_ref().map(|s| s.users), Some(60));
        assert_eq!(bp.highest_users_tried, 80);
        let never = breaking_point(&c, &[step(10, 5.0, 0.0), step(20, 30.0, 0.01)]).unwrap();
        assert_eq!(never.stable_up_to_users, Some(20), "exactly at both limits is stable");
        assert!(never.breaking.is_none());
    }
}
