//! Evidence gating: the section 2 checklist ticked from the inputs, a decision on less evidence shown as
//! PROVISIONAL (never a plain GO), and the `--fail-on` gate's exit codes.

mod common;

use common::{bench, load};
use rythmiq_report::BenchSummary;
use rythmiq_report::{
    gate_exit_code, render_html, render_markdown, Constraints, EvidenceItem, FailOn, LoadTestResult, Report, Verdict,
};

/// The small bench grown to the framework's 50 documents (its measured documents repeated, the first one cold).
fn bench_50() -> BenchSummary {
    let mut b = bench();
    let docs = b.per_document.clone();
    b.per_document = (0..50)
        .map(|i| {
            let mut d = docs[i % docs.len()].clone();
            d.index = i;
            d.cold_start = i == 0;
            d
        })
        .collect();
    b.documents = 50;
    b.warm_documents = 49;
    b
}

/// The 250-document burst with its 2x run (500 requests), as the framework asks.
fn full_load() -> LoadTestResult {
    let l = load();
    assert_eq!(l.total_requests, 250, "fixture");
    assert!(l.double_load.as_ref().is_some_and(|d| d.total_requests == 500), "fixture");
    l
}

/// The example: 2 users x 1 document.
fn tiny_load() -> LoadTestResult {
    let mut l = load();
    l.users = 2;
    l.docs_per_user = 1;
    l.total_requests = 2;
    l.successful = 2;
    l.failed = 0;
    l.failures = Default::default();
    l.double_load = None;
    l.ramp.clear();
    l
}

fn build(b: BenchSummary, l: Option<LoadTestResult>) -> Report {
    Report::build(Constraints::default(), b, l, None, None).expect("report builds")
}

fn unmet(r: &Report) -> Vec<EvidenceItem> {
    r.evidence.unmet().map(|c| c.item).collect()
}

#[test]
fn a_five_document_bench_or_a_two_user_load_never_gives_a_plain_go() {
    for (b, l) in
        [(bench(), Some(tiny_load())), (bench(), Some(full_load())), (bench_50(), Some(tiny_load())), (bench(), None)]
    {
        let r = build(b, l);
        assert_eq!(r.decision.verdict, Verdict::Go, "the CPU, latency and error figures alone say GO");
        assert!(r.decision.provisional);
        let md = render_markdown(&r);
        assert!(md.contains("Decision: **✅ PROVISIONAL GO**"), "{}", &md[..600.min(md.len())]);
        assert!(!md.contains("Decision: **✅ GO**"));
        assert!(render_html(&r).contains("PROVISIONAL GO"));
        // Every unmet item is listed once among the missing inputs, with the command that supplies it.
        for item in unmet(&r) {
            let n = r.decision.missing.iter().filter(|m| m.starts_with(item.label())).count();
            assert_eq!(n, 1, "{item:?}: {:?}", r.decision.missing);
        }
    }
    let r = build(bench(), Some(tiny_load()));
    assert_eq!(
        unmet(&r),
        vec![
            EvidenceItem::BenchSize,
            EvidenceItem::WarmDocuments,
            EvidenceItem::BurstSize,
            EvidenceItem::DoubleLoad,
            EvidenceItem::ErrorSample
        ]
    );
    assert!(r.evidence.checks.iter().any(|c| c.item == EvidenceItem::PathSplit && c.met), "fast 3, standard 1");
}

#[test]
fn the_whole_checklist_makes_the_decision_final() {
    let r = build(bench_50(), Some(full_load()));
    assert!(r.evidence.complete(), "{:?}", r.evidence.missing_lines());
    assert!(!r.decision.provisional);
    assert_eq!(r.decision.verdict, Verdict::Go);
    let md = render_markdown(&r);
    assert!(md.contains("Decision: **✅ GO**"));
    assert!(md.contains("## 2. Evidence Checklist"));
    assert!(md.contains("Every item is met"));
    let checklist = md.split("## 2. Evidence Checklist").nth(1).and_then(|s| s.split("\n## ").next()).unwrap();
    assert_eq!(checklist.matches("| [x] |").count(), 6, "{checklist}");
    assert!(!checklist.contains("| [ ] |"), "no unticked item");
}

#[test]
fn each_item_alone_makes_the_decision_provisional() {
    type Spoil = fn(&mut BenchSummary, &mut LoadTestResult);
    let cases: [(EvidenceItem, Spoil); 6] = [
        (EvidenceItem::BenchSize, |b, _| b.documents = 49),
        (EvidenceItem::WarmDocuments, |b, _| b.cold_start = None),
        (EvidenceItem::PathSplit, |b, _| {
            b.paths.standard = Default::default();
        }),
        (EvidenceItem::BurstSize, |_, l| l.total_requests = 249),
        (EvidenceItem::DoubleLoad, |_, l| {
            if let Some(d) = l.double_load.as_mut() {
                d.total_requests = 499;
            }
        }),
        // The burst alone: 250 < 300 requests.
        (EvidenceItem::ErrorSample, |_, l| {
            l.total_requests = 250;
            l.double_load = None;
        }),
    ];
    for (item, spoil) in cases {
        let (mut b, mut l) = (bench_50(), full_load());
        spoil(&mut b, &mut l);
        let r = build(b, Some(l));
        assert!(r.decision.provisional, "{item:?}");
        assert!(unmet(&r).contains(&item), "{item:?}: {:?}", unmet(&r));
    }
}

#[test]
fn the_error_sample_is_derived_from_the_error_limit() {
    // 0.1% needs 3 / 0.001 = 3000 requests: the 750 of the burst and its 2x run are not enough.
    let c = Constraints { error_rate_limit: 0.001, ..Constraints::default() };
    let mut l = full_load();
    l.failed = 0;
    l.failures = Default::default();
    if let Some(d) = l.double_load.as_mut() {
        d.failed = 0;
        d.failures = Default::default();
    }
    let r = Report::build(c, bench_50(), Some(l), None, None).unwrap();
    assert_eq!(unmet(&r), vec![EvidenceItem::ErrorSample]);
    let check = r.evidence.checks.iter().find(|c| c.item == EvidenceItem::ErrorSample).unwrap();
    assert!(check.required.contains("3000"), "{}", check.required);
    assert!(check.measured.starts_with("750 requests"), "{}", check.measured);
}

#[test]
fn fail_on_maps_the_built_decisions_to_the_documented_codes() {
    let final_go = build(bench_50(), Some(full_load()));
    let provisional_go = build(bench(), Some(tiny_load()));
    let mut slow = full_load();
    slow.latency_p95_secs = 45.0; // queueing: ADJUST
    let adjust = build(bench_50(), Some(slow));
    assert_eq!(adjust.decision.verdict, Verdict::Adjust);
    let nogo = build(common::bench_with_cpu(40.0), Some(full_load()));
    assert_eq!(nogo.decision.verdict, Verdict::NoGo);
    let code = |r: &Report, f| gate_exit_code(r.decision.verdict, r.decision.provisional, f);
    for f in [FailOn::NoGo, FailOn::Adjust, FailOn::Provisional] {
        assert_eq!(code(&final_go, f), None);
        assert_eq!(code(&nogo, f), Some(rythmiq_report::exit_code::NO_GO));
    }
    assert_eq!(code(&provisional_go, FailOn::Provisional), Some(rythmiq_report::exit_code::PROVISIONAL));
    assert_eq!(code(&provisional_go, FailOn::Adjust), None);
    assert_eq!(code(&adjust, FailOn::NoGo), None);
    assert_eq!(code(&adjust, FailOn::Adjust), Some(rythmiq_report::exit_code::ADJUST));
}
