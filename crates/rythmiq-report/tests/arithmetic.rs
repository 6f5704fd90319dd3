//! The report's arithmetic against hand-computed figures: band edges, projections, volume bands, the latency and
//! error rules, the optimisation gap and the risk figures.

mod common;

use common::{bench, bench_with_cpu, build, close, compare, load, usage};
use rythmiq_report::{
    Band, CheckStatus, Constraints, ConstraintsError, DoubleLoadOutcome, OptimisationNeed, Report, ReportError, Verdict,
};

#[test]
fn per_document_thresholds_follow_from_the_constraints() {
    let c = Constraints::default();
    // 200 h x 3600 = 720000 CPU-s; 1000 x 30 = 30000 docs: 24 s at 100%.
    let edges = c.band_edges(0.5);
    let cpu: Vec<f64> = edges.iter().map(|e| e.cpu_seconds_per_doc_max).collect();
    for (got, want) in cpu.iter().zip([21.6, 24.0, 27.0, 36.0]) {
        close(*got, want);
    }
    let hours: Vec<f64> = edges.iter().map(|e| e.monthly_hours_max).collect();
    for (got, want) in hours.iter().zip([180.0, 200.0, 225.0, 300.0]) {
        close(*got, want);
    }
    // Volume at 0.5 s/doc: 720000 x fraction / (0.5 x 30).
    let volumes: Vec<u64> = edges.iter().map(|e| e.max_docs_per_day_at_measured).collect();
    assert_eq!(volumes, vec![43200, 48000, 54000, 72000]);
}

#[test]
fn band_edges_are_inclusive_exactly_at_90_100_112_5_and_150_percent() {
    let c = Constraints::default();
    let cases = [
        (21.6, Band::Go),
        (21.600001, Band::GoMarginal),
        (24.0, Band::GoMarginal),
        (24.000001, Band::Adjust),
        (27.0, Band::Adjust),
        (27.000001, Band::Optimize),
        (36.0, Band::Optimize),
        (36.000001, Band::NoGo),
        (0.0001, Band::Go),
    ];
    for (cpu, band) in cases {
        assert_eq!(c.band_for_cpu(cpu), band, "cpu {cpu}");
    }
    // The same edges through the whole report: 21.6 s x 1000 x 30 / 3600 = 180 h = 90% exactly.
    for (cpu, hours, band, verdict) in [
        (21.6, 180.0, Band::Go, Verdict::Go),
        (24.0, 200.0, Band::GoMarginal, Verdict::Go),
        (27.0, 225.0, Band::Adjust, Verdict::Adjust),
        (36.0, 300.0, Band::Optimize, Verdict::Adjust),
        (36.5, 304.1666666666667, Band::NoGo, Verdict::NoGo),
    ] {
        let r = build(bench_with_cpu(cpu), Some(load()));
        close(r.monthly_hours_at_target, hours);
        assert_eq!(r.cpu_band, band, "cpu {cpu}");
        assert_eq!(r.decision.verdict, verdict, "cpu {cpu}");
    }
}

#[test]
fn edges_hold_for_constraints_whose_thresholds_are_not_round() {
    let c = Constraints {
        budget_cpu_hours_per_month: 150.0,
        documents_per_day: 700,
        days_per_month: 31,
        ..Constraints::default()
    };
    for (fraction, band, next) in [
        (0.9, Band::Go, Band::GoMarginal),
        (1.0, Band::GoMarginal, Band::Adjust),
        (1.125, Band::Adjust, Band::Optimize),
        (1.5, Band::Optimize, Band::NoGo),
    ] {
        let edge = c.cpu_seconds_per_doc_at(fraction);
        close(edge, 150.0 * 3600.0 * fraction / (700.0 * 31.0));
        assert_eq!(c.band_for_cpu(edge), band, "at {fraction}");
        assert_eq!(c.band_for_cpu(edge * (1.0 + 1e-6)), next, "just over {fraction}");
    }
    // 190 h x 3600 x 1.5 / (1000 x 30) = 34.2 s exactly on paper, but 34.2 x 30000 is 1026000.0000000001 in floating
    // point: without the edge tolerance this would fall into NO-GO.
    let c = Constraints { budget_cpu_hours_per_month: 190.0, ..Constraints::default() };
    assert_eq!(c.band_for_cpu(34.2), Band::Optimize);
    assert_eq!(c.band_for_cpu(34.2001), Band::NoGo);
}

#[test]
fn projections_and_maximum_sustainable_volume() {
    let r = build(bench(), None);
    // 0.5 s/doc x docs x 30 / 3600.
    let rows: Vec<(u32, f64, bool)> =
        r.projections.iter().map(|p| (p.docs_per_day, p.cpu_hours_per_month, p.within_budget)).collect();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![700, 1000, 1300]);
    close(rows[0].1, 700.0 * 0.5 * 30.0 / 3600.0);
    close(rows[1].1, 1000.0 * 0.5 * 30.0 / 3600.0);
    close(rows[2].1, 1300.0 * 0.5 * 30.0 / 3600.0);
    assert!(rows.iter().all(|r| r.2));
    // 720000 / (0.5 x 30) = 48000.
    assert_eq!(r.max_sustainable_docs_per_day, 48000);

    // At 24 s/doc the target sits exactly on the budget: 700 -> 140 h under, 1000 -> 200 h under (at budget
    // counts as within), 1300 -> 260 h over; 720000 / (24 x 30) = 1000 exactly.
    let r = build(bench_with_cpu(24.0), None);
    let status: Vec<bool> = r.projections.iter().map(|p| p.within_budget).collect();
    assert_eq!(status, vec![true, true, false]);
    close(r.projections[2].cpu_hours_per_month, 260.0);
    assert_eq!(r.max_sustainable_docs_per_day, 1000);
}

#[test]
fn latency_alone_can_fail_the_decision() {
    let mut l = load();
    // CPU is GO (0.5 s/doc) and errors pass (2 / 250 = 0.8%).
    l.latency_p95_secs = 30.0;
    let r = build(bench(), Some(l.clone()));
    assert_eq!(r.latency.status, CheckStatus::Pass, "exactly at the limit passes");
    assert_eq!(r.decision.verdict, Verdict::Go);

    l.latency_p95_secs = 45.0; // over, but within 2 x limit and one document takes 0.9 s: queueing.
    let r = build(bench(), Some(l.clone()));
    assert_eq!(r.errors.status, CheckStatus::Pass);
    assert_eq!(r.cpu_band, Band::Go);
    assert_eq!(r.latency.verdict, Verdict::Adjust);
    assert_eq!(r.decision.verdict, Verdict::Adjust);
    assert!(!r.conditions.service_conditions.is_empty());

    l.latency_p95_secs = 60.5; // over 2 x 30 s.
    assert_eq!(build(bench(), Some(l.clone())).decision.verdict, Verdict::NoGo);

    // One warm document alone slower than the limit: NO-GO even at a modest P95 excess.
    l.latency_p95_secs = 35.0;
    let mut slow = bench();
    for d in slow.per_document.iter_mut() {
        d.wall_seconds = 31.0;
    }
    assert_eq!(build(slow, Some(l)).latency.verdict, Verdict::NoGo);
}

#[test]
fn error_rate_alone_can_fail_the_decision() {
    let mut l = load();
    l.total_requests = 500;
    l.failed = 5;
    l.successful = 495;
    l.failures = rythmiq_report::FailureCounts { timeout: 5, ..Default::default() };
    // 5 / 500 = 1% exactly: passes ("< 1%" in the seed, at-the-limit here, like every edge).
    let r = build(bench(), Some(l.clone()));
    assert_eq!(r.errors.status, CheckStatus::Pass);
    close(r.errors.measured.unwrap(), 0.01);

    // 10 / 500 = 2%, all timeouts and 429s: capacity, ADJUST.
    l.failed = 10;
    l.failures = rythmiq_report::FailureCounts { timeout: 6, rejected_429: 4, ..Default::default() };
    let r = build(bench(), Some(l.clone()));
    assert_eq!(r.latency.status, CheckStatus::Pass);
    assert_eq!(r.errors.verdict, Verdict::Adjust);
    assert_eq!(r.decision.verdict, Verdict::Adjust);

    // 10 / 500 with 6 server errors: 6 / 500 = 1.2% hard failures, NO-GO.
    l.failures = rythmiq_report::FailureCounts { timeout: 4, server_error: 6, ..Default::default() };
    let r = build(bench(), Some(l));
    assert_eq!(r.errors.verdict, Verdict::NoGo);
    assert_eq!(r.decision.verdict, Verdict::NoGo);
}

#[test]
fn without_a_load_test_the_bench_errors_decide_and_the_decision_is_provisional() {
    let r = build(bench(), None);
    assert!(r.decision.provisional);
    assert_eq!(r.latency.status, CheckStatus::NotMeasured);
    assert_eq!(r.errors.status, CheckStatus::Pass);
    assert_eq!(r.decision.verdict, Verdict::Go);

    let mut failing = bench();
    failing.per_document[2].error = Some("ocr: engine crashed".into());
    let r = build(failing, None);
    // 1 / 5 = 20% > 1% without any load.
    close(r.errors.measured.unwrap(), 0.2);
    assert_eq!(r.decision.verdict, Verdict::NoGo);
}

#[test]
fn optimisation_gap_and_which_measured_rows_close_it() {
    // 30 s/doc: 30 x 1000 x 30 / 3600 = 250 h = 125% -> OPTIMIZE. Target 21.6 s: gap 8.4 s = 28%.
    let mut cmp = compare();
    cmp.rows[0].cpu_seconds_per_doc = 30.0;
    cmp.rows[1].cpu_seconds_per_doc = 20.0;
    cmp.rows.push(rythmiq_report::CompareRow {
        label: "threads".into(),
        cpu_seconds_per_doc: 25.0,
        ..cmp.rows[1].clone()
    });
    let r = Report::build(Constraints::default(), bench_with_cpu(30.0), Some(load()), Some(cmp.clone()), None).unwrap();
    assert_eq!(r.cpu_band, Band::Optimize);
    close(r.gap.target_cpu_seconds_per_doc, 21.6);
    close(r.gap.gap_seconds, 8.4);
    close(r.gap.reduction_needed_percent, 28.0);
    assert_eq!(r.gap.need, OptimisationNeed::Major);
    assert_eq!(r.conditions.apply_optimisations, vec!["pre-resize".to_string()]);
    // 720000 / (30 x 30) = 800 docs/day; 250 h / 0.9 = 277.78 h.
    assert_eq!(r.conditions.reduce_volume_to_docs_per_day, 800);
    close(r.conditions.increase_budget_to_hours, 250.0 / 0.9);
    assert_eq!(r.gap.options[0].band, Band::Go);

    // 26 s/doc: 216.67 h = 108.3% -> ADJUST, minor.
    let r = build(bench_with_cpu(26.0), None);
    assert_eq!((r.cpu_band, r.gap.need), (Band::Adjust, OptimisationNeed::Minor));
    // 40 s/doc: 333.3 h -> NO-GO; volume reduction unless a measured row reaches the target.
    let r = build(bench_with_cpu(40.0), None);
    assert_eq!(r.gap.need, OptimisationNeed::VolumeReduction);
    let r = Report::build(Constraints::default(), bench_with_cpu(40.0), None, Some(cmp), None).unwrap();
    assert_eq!(r.gap.need, OptimisationNeed::Major);
    assert_eq!(r.decision.verdict, Verdict::NoGo, "a row that could close the gap does not change today's verdict");
    // Within GO: no optimisation, headroom.
    let r = build(bench(), None);
    assert_eq!(r.gap.need, OptimisationNeed::None);
    assert_eq!(r.gap.reduction_needed_percent, 0.0);
}

#[test]
fn residual_risks_and_monitoring_thresholds() {
    let r = Report::build(Constraints::default(), bench(), Some(load()), Some(compare()), Some(usage())).unwrap();
    let cold = r.risks.cold_start.as_ref().unwrap();
    // max(0.8 penalty, 0.3 load) = 0.8 s; 0.05 x 30000 x 0.8 / 3600 = 0.3333 h.
    close(cold.cost_per_cold_start_secs, 0.8);
    close(cold.monthly_hours_at_ceiling, 1200.0 / 3600.0);
    let p = &r.risks.path_drift;
    close(p.measured_fast_share, 0.75);
    // 0.7 x 0.4 + 0.3 x 0.8 = 0.52 s -> 0.52 x 30000 / 3600 = 4.3333 h; all standard 0.8 s -> 6.6667 h.
    close(p.cpu_at_expected_split.unwrap(), 0.52);
    close(p.hours_at_expected_split.unwrap(), 0.52 * 30000.0 / 3600.0);
    close(p.hours_all_standard.unwrap(), 0.8 * 30000.0 / 3600.0);
    assert_eq!(p.fast_share_floor_for_go, Some(0.0));
    let t = r.risks.traffic.as_ref().unwrap();
    // Warm CPU [0.4, 0.4, 0.4, 0.8]: mean 0.5, nearest-rank P95 = 4th = 0.8.
    close(t.mean_cpu_secs, 0.5);
    close(t.p95_cpu_secs, 0.8);
    close(t.p95_over_mean, 1.6);
    close(t.heavy_day_hours, 0.8 * 1000.0 / 3600.0);
    close(t.burst_ratio.unwrap(), 1.6);
    let m = &r.monitoring;
    close(m.daily_budget_hours, 200.0 / 30.0);
    close(m.daily_warning_hours, 0.8 * 200.0 / 30.0);
    close(m.expected_daily_hours, 500.0 / 3600.0);
    close(m.p95_warning_secs, 25.0);
    close(m.error_warning, 0.005);
    let burn = m.burn.as_ref().unwrap();
    // 2 h / 15 days; x 30 = 4 h; 2 x 3600 / 14000 s/doc.
    close(burn.hours_per_day, 2.0 / 15.0);
    close(burn.projected_month_hours, 4.0);
    close(burn.production_cpu_seconds_per_doc.unwrap(), 7200.0 / 14000.0);
    // The ramp breaks at 70 users (P95 31.2 s); 50 users is the last stable step.
    let bp = r.breaking_point.as_ref().unwrap();
    assert_eq!(bp.stable_up_to_users, Some(50));
    assert_eq!(bp.breaking.as_ref().unwrap().users, 70);
    // 2x: 40 / 500 = 8% failed, 30 of them 429, hard failures 2 / 500 = 0.4%: rejects excess load.
    let d = r.double_load.as_ref().unwrap();
    assert_eq!(d.outcome, DoubleLoadOutcome::RejectsExcess);
    assert_eq!(d.queue_depth_max, Some(240));
}

#[test]
fn invalid_inputs_are_refused() {
    let bad = Constraints { documents_per_day: 0, ..Constraints::default() };
    assert!(matches!(
        Report::build(bad, bench(), None, None, None),
        Err(ReportError::Constraints(ConstraintsError::NotPositive { field: "documents_per_day", .. }))
    ));
    let bad = Constraints { error_rate_limit: 1.0, ..Constraints::default() };
    assert!(matches!(bad.validate(), Err(ConstraintsError::ErrorRateNotFraction(_))));
    assert!(matches!(
        Report::build(Constraints::default(), bench_with_cpu(0.0), None, None, None),
        Err(ReportError::NoCpuMeasurement)
    ));
    // Constraints are configuration: a misspelt key is an error, not a silent default.
    assert!(serde_json::from_str::<Constraints>(r#"{"budget_cpu_hour_per_month": 100}"#).is_err());
    let partial: Constraints = serde_json::from_str(r#"{"documents_per_day": 1300}"#).unwrap();
    assert_eq!((partial.documents_per_day, partial.budget_cpu_hours_per_month), (1300, 200.0));
}
