//! The report as Markdown, in the shape of the seed's sections 3 to 6 (same headings, same boxes), every blank filled
//! from the report with its arithmetic beside it, or saying which measurement is missing.

use rythmiq_measure::{render_section_3_1, BottleneckKind};

use crate::constraints::{Band, Verdict};
use crate::report::{
    CheckStatus, DoubleLoadOutcome, OptimisationNeed, Report, COLD_START_MAX_SHARE, EXPECTED_FAST_SHARE,
};

pub(crate) const NOT_MEASURED_LOAD: &str =
    "not measured: run `rythmiq loadtest --users 50 --docs-per-user 5 --spawn-rate 10`";
const NOT_MEASURED_RAMP: &str = "not measured: run `rythmiq loadtest --ramp`";
const NOT_MEASURED_DOUBLE: &str = "not measured: run `rythmiq loadtest --users 100 --docs-per-user 5 --spawn-rate 10`";
const NOT_MEASURED_COMPARE: &str =
    "not measured: run the optimisation flags' A/B comparison and pass its CompareResult JSON";
const NOT_MEASURED_USAGE: &str = "not measured: run `rythmiq report --database` against the production metrics";

use rythmiq_measure::TextBox as BoxLines;

fn check(on: bool) -> &'static str {
    if on {
        "[x]"
    } else {
        "[ ]"
    }
}

fn pct(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// Whole numbers with thousands separators, as the seed writes volumes (1,000 docs/day).
pub(crate) fn thousands(n: u64) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    digits.rchunks(3).rev().map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join(",")
}

fn opt_f(v: Option<f64>, fmt: impl Fn(f64) -> String, missing: &str) -> String {
    v.map_or_else(|| missing.to_string(), fmt)
}

fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Go => "✅",
        Verdict::Adjust => "⚠️",
        Verdict::NoGo => "❌",
    }
}

/// Renders the whole report.
pub fn render_markdown(r: &Report) -> String {
    let mut out = String::new();
    header(&mut out, r);
    section2(&mut out, r);
    bands(&mut out, r);
    section3(&mut out, r);
    capacity(&mut out, r);
    section4(&mut out, r);
    section5(&mut out, r);
    section6(&mut out, r);
    out
}

fn fence(out: &mut String, body: &str) {
    out.push_str("```\n");
    out.push_str(body);
    if !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("```\n\n");
}

fn header(out: &mut String, r: &Report) {
    let b = &r.bench;
    out.push_str("# Rythmiq One: Production Readiness - GO/NO-GO Report\n\n");
    out.push_str(&format!(
        "Computed from measurements on {}. Decision: **{} {}**{}.\n\n",
        r.generated_at,
        verdict_mark(r.decision.verdict),
        crate::evidence::headline(r.decision.verdict, r.decision.provisional),
        if r.decision.provisional {
            format!(
                " ({} of {} checklist items unmet: see section 2)",
                r.evidence.unmet().count(),
                r.evidence.checks.len()
            )
        } else {
            String::new()
        }
    ));
    out.push_str("| Input | Source |\n|-------|--------|\n");
    out.push_str(&format!("| Bench | {} documents, run {}, flags `{}` |\n", b.documents, b.run_date, b.flags));
    out.push_str(&format!(
        "| Load test | {} |\n",
        r.load.as_ref().map_or(NOT_MEASURED_LOAD.to_string(), |l| format!(
            "{} users x {} docs, {} requests{}",
            l.users,
            l.docs_per_user,
            l.total_requests,
            l.test_date.as_ref().map_or(String::new(), |d| format!(", run {d}"))
        ))
    ));
    out.push_str(&format!(
        "| Optimisation A/B | {} |\n",
        r.compare.as_ref().map_or(NOT_MEASURED_COMPARE.to_string(), |c| format!("{} configurations", c.rows.len()))
    ));
    out.push_str(&format!(
        "| Monthly usage | {} |\n\n",
        r.usage.as_ref().map_or(NOT_MEASURED_USAGE.to_string(), |u| format!(
            "{:.2} CPU-h over {} documents in {:.1} days",
            u.cpu_hours_used, u.documents, u.days_elapsed
        ))
    ));
}

/// The framework's pre-launch checklist (section 2.2/2.3 and the 2x run), each item ticked from the inputs.
fn section2(out: &mut String, r: &Report) {
    out.push_str("## 2. Evidence Checklist\n\n");
    out.push_str("| | Item | Framework asks | Inputs hold | To complete |\n|---|------|----------------|-------------|-------------|\n");
    for c in &r.evidence.checks {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            check(c.met),
            c.item.label(),
            c.required,
            c.measured,
            if c.met { "-".to_string() } else { format!("`{}`", c.remedy) }
        ));
    }
    if r.evidence.complete() {
        out.push_str("\nEvery item is met: the decision below is final.\n\n");
    } else {
        out.push_str(&format!(
            "\n{} of {} items unmet: the decision is **{}**, not final.\n\n",
            r.evidence.unmet().count(),
            r.evidence.checks.len(),
            crate::evidence::headline(r.decision.verdict, true)
        ));
    }
}

fn bands(out: &mut String, r: &Report) {
    let c = &r.constraints;
    out.push_str("## Constraints and Decision Bands (derived)\n\n");
    out.push_str("| Constraint | Value |\n|------------|-------|\n");
    out.push_str(&format!("| CPU Budget | **{} CPU-hours/month** |\n", c.budget_cpu_hours_per_month));
    out.push_str(&format!(
        "| Target Volume | **{} documents/day** x {} days/month |\n",
        thousands(u64::from(c.documents_per_day)),
        c.days_per_month
    ));
    out.push_str(&format!("| Max Latency P95 | **{} seconds** |\n", c.p95_latency_limit_secs));
    out.push_str(&format!("| Error Rate | **< {}%** |\n\n", c.error_rate_limit * 100.0));

    let cpu = r.cpu_seconds_per_doc;
    let mut bx = BoxLines::new("GO / NO-GO DECISION MATRIX (derived from the constraints)");
    bx.push(format!(
        "{:<14} {:<15} {:<28} Decision",
        "CPU-sec/doc",
        "Monthly Hours",
        format!("Volume @ {cpu:.4} s/doc")
    ));
    let mut prev: Option<(f64, f64, u64)> = None;
    for e in &r.band_edges {
        let (cpu_range, hours_range, vol_range) = match prev {
            None => (
                format!("<= {:.2} s", e.cpu_seconds_per_doc_max),
                format!("<= {:.1} h", e.monthly_hours_max),
                format!("<= {}/day", thousands(e.max_docs_per_day_at_measured)),
            ),
            Some((pc, ph, pv)) => (
                format!("{pc:.2}-{:.2} s", e.cpu_seconds_per_doc_max),
                format!("{ph:.1}-{:.1} h", e.monthly_hours_max),
                format!("{}-{}/day", thousands(pv + 1), thousands(e.max_docs_per_day_at_measured)),
            ),
        };
        bx.push(format!("{cpu_range:<14} {hours_range:<15} {vol_range:<28} {}", e.band.label()));
        prev = Some((e.cpu_seconds_per_doc_max, e.monthly_hours_max, e.max_docs_per_day_at_measured));
    }
    if let Some((pc, ph, pv)) = prev {
        bx.push(format!(
            "{:<14} {:<15} {:<28} {}",
            format!("> {pc:.2} s"),
            format!("> {ph:.1} h"),
            format!("> {}/day", thousands(pv)),
            Band::NoGo.label()
        ));
    }
    let mut body = bx.render(&[]);
    body.push_str("\nArithmetic (band edge = share of the budget):\n");
    for e in &r.band_edges {
        body.push_str(&format!(
            "  {:<14} {:>5.1}%: CPU/doc <= {} h x 3600 x {} / ({} docs/day x {} days) = {:.4} s; volume <= {} x 3600 x {} / ({:.4} s x {}) = {} docs/day\n",
            e.band.label(),
            e.budget_fraction * 100.0,
            c.budget_cpu_hours_per_month,
            e.budget_fraction,
            c.documents_per_day,
            c.days_per_month,
            e.cpu_seconds_per_doc_max,
            c.budget_cpu_hours_per_month,
            e.budget_fraction,
            cpu,
            c.days_per_month,
            thousands(e.max_docs_per_day_at_measured)
        ));
    }
    fence(out, &body);
    out.push_str(&format!(
        "Note: the seed's per-document column (0.72 s for 180 h) does not follow from its own constraints: {} h x 3600 / ({} x {}) = {} CPU-s/doc at 100% of budget; the thresholds above are derived instead.\n\n",
        c.budget_cpu_hours_per_month,
        c.documents_per_day,
        c.days_per_month,
        trim_float(c.cpu_seconds_per_doc_at(1.0))
    ));
}

/// 24.0 -> "24", 21.6 -> "21.6"; for figures that are exact by construction.
fn trim_float(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn section3(out: &mut String, r: &Report) {
    let b = &r.bench;
    out.push_str("## 3. Measured Values\n\n### 3.1 Baseline Benchmark Results\n\n");
    fence(out, &render_section_3_1(b));

    // 3.2
    let c = &r.constraints;
    out.push_str("### 3.2 Capacity Projections\n\n");
    let mut body = format!(
        "Based on measured average: {:.4} CPU-seconds/document (warm mean over {} documents, OCR engine `{}`)\n{}{}\n",
        r.cpu_seconds_per_doc,
        b.warm_documents,
        crate::engine::engine_of(&b.flags),
        crate::engine::engine_text(&b.flags, r.compare.as_ref()),
        crate::engine::engine_mix_text(b.pages_by_engine())
    );
    let mut proj = BoxLines::new("MONTHLY PROJECTIONS");
    proj.push(format!("{:<15} {:<48} Budget Status", "Volume", "CPU-hours/month"));
    for p in &r.projections {
        proj.push(format!(
            "{:>5} docs/day  {:<48} {} Under  {} Over{}",
            p.docs_per_day,
            format!(
                "{:.4} x {} x {} / 3600 = {:.2} hrs ({})",
                r.cpu_seconds_per_doc,
                p.docs_per_day,
                c.days_per_month,
                p.cpu_hours_per_month,
                pct(p.budget_share)
            ),
            check(p.within_budget),
            check(!p.within_budget),
            if p.docs_per_day == c.documents_per_day { "  <- TARGET" } else { "" }
        ));
    }
    proj.push(format!(
        "Maximum sustainable: {} docs/day within {} hr budget ({} x 3600 / ({:.4} x {}), floored)",
        thousands(r.max_sustainable_docs_per_day),
        c.budget_cpu_hours_per_month,
        c.budget_cpu_hours_per_month,
        r.cpu_seconds_per_doc,
        c.days_per_month
    ));
    body.push_str(&proj.render(&[1, r.projections.len() + 1]));
    fence(out, &body);

    // 3.3
    out.push_str("### 3.3 Load Test Results\n\n");
    let Some(l) = &r.load else {
        let mut body = format!("Test Date: {NOT_MEASURED_LOAD}\nConfiguration: {NOT_MEASURED_LOAD}\n\n");
        for (title, rows) in [
            (
                "THROUGHPUT & LATENCY",
                &["Peak throughput", "Sustained throughput", "Latency P50", "Latency P95", "Latency P99"][..],
            ),
            ("ERROR RATES", &["Total requests", "Successful", "Failed", "Timeout", "Server error", "Validation"][..]),
            (
                "RESOURCE UTILIZATION (peak)",
                &["Worker CPU", "Queue depth (max)", "DB connections", "Memory (peak)"][..],
            ),
        ] {
            let mut bx = BoxLines::new(title);
            for row in rows {
                bx.push(format!("{:<22} not measured (load test)", format!("{row}:")));
            }
            body.push_str(&bx.render(&[]));
        }
        fence(out, &body);
        return;
    };
    let mut body = format!(
        "Test Date: {}\nConfiguration: {} users, {} docs each, spawn rate {}/s, {:.0} s, burst pattern\n\n",
        l.test_date.as_deref().unwrap_or("not recorded by the load test"),
        l.users,
        l.docs_per_user,
        l.spawn_rate,
        l.duration_secs
    );
    let mut tl = BoxLines::new("THROUGHPUT & LATENCY");
    tl.push(format!("Peak throughput:      {:.3} docs/second", l.throughput_peak_docs_per_sec));
    tl.push(format!("Sustained throughput: {:.3} docs/second", l.throughput_sustained_docs_per_sec));
    tl.push(String::new());
    tl.push(format!("Latency P50:          {:.2} seconds", l.latency_p50_secs));
    tl.push(format!(
        "Latency P95:          {:.2} seconds  (target: < {:.0}s) {}",
        l.latency_p95_secs,
        c.p95_latency_limit_secs,
        if r.latency.status == CheckStatus::Pass { "PASS" } else { "FAIL" }
    ));
    tl.push(format!("Latency P99:          {:.2} seconds", l.latency_p99_secs));
    body.push_str(&tl.render(&[]));
    let total = l.total_requests as f64;
    let mut er = BoxLines::new("ERROR RATES");
    er.push(format!("Total requests:     {}", l.total_requests));
    er.push(format!(
        "Successful:         {} ({} / {} = {})",
        l.successful,
        l.successful,
        l.total_requests,
        pct(l.successful as f64 / total)
    ));
    er.push(format!(
        "Failed:             {} ({} / {} = {})  (target: < {}%) {}",
        l.failed,
        l.failed,
        l.total_requests,
        pct(l.error_rate()),
        c.error_rate_limit * 100.0,
        if r.errors.status == CheckStatus::Pass { "PASS" } else { "FAIL" }
    ));
    er.push(String::new());
    er.push("Failure breakdown:");
    er.push(format!("  - Timeout:        {}", l.failures.timeout));
    er.push(format!("  - Server error:   {}", l.failures.server_error));
    er.push(format!("  - Validation:     {}", l.failures.validation));
    er.push(format!("  - Rejected (429): {}", l.failures.rejected_429));
    if l.failures.total() != l.failed {
        er.push(format!(
            "  (kinds sum to {}, failed is {}: unclassified {})",
            l.failures.total(),
            l.failed,
            l.failed.abs_diff(l.failures.total())
        ));
    }
    body.push_str(&er.render(&[]));
    let no_samples = "not measured: the load test recorded no resource samples";
    let mut ru = BoxLines::new("RESOURCE UTILIZATION (peak)");
    ru.push(format!(
        "Worker CPU:         {}",
        opt_f(l.peak_worker_cpu_percent(), |p| format!("{p:.1}%  ({} cores)", l.cores), no_samples)
    ));
    ru.push(format!("Queue depth (max):  {}", l.peak_queue_depth().map_or(no_samples.to_string(), |q| q.to_string())));
    ru.push(format!(
        "DB connections:     {}",
        l.peak_db_pool().map_or(no_samples.to_string(), |(u, s)| format!("{u}/{s} pool"))
    ));
    ru.push(format!("Memory (peak):      {}", opt_f(l.peak_rss_mb(), |m| format!("{m:.1} MB"), no_samples)));
    body.push_str(&ru.render(&[]));
    fence(out, &body);
}

fn section4(out: &mut String, r: &Report) {
    let c = &r.constraints;
    out.push_str("## 4. Bottleneck Analysis\n\n### 4.1 First Bottleneck Encountered\n\n");
    let mut body = String::new();
    let kind = r.load.as_ref().and_then(|l| l.first_bottleneck.as_ref()).map(|b| b.kind);
    for k in BottleneckKind::ALL {
        body.push_str(&format!("{} {}\n", check(kind == Some(k)), k.label()));
    }
    body.push_str("\nDetails:\n");
    match &r.load {
        None => body.push_str(&format!("{NOT_MEASURED_LOAD}\n")),
        Some(l) => match &l.first_bottleneck {
            Some(b) if !b.evidence.is_empty() => {
                for e in &b.evidence {
                    body.push_str(&format!("- {e}\n"));
                }
            }
            Some(_) => body.push_str("not measured: the load test named the bottleneck without evidence\n"),
            None => body.push_str(&format!(
                "No bottleneck reached at {} users: peak worker CPU {}, queue depth max {}, DB pool {}.\n",
                l.users,
                opt_f(l.peak_worker_cpu_percent(), |p| format!("{p:.1}%"), "not sampled"),
                l.peak_queue_depth().map_or("not sampled".into(), |q| q.to_string()),
                l.peak_db_pool().map_or("not sampled".into(), |(u, s)| format!("{u}/{s}"))
            )),
        },
    }
    fence(out, &body);

    out.push_str("### 4.2 Breaking Point\n\n");
    let body = match &r.breaking_point {
        None => format!(
            "System remains stable up to: {}\nBreaking point occurs at: {}\n",
            if r.load.is_some() { NOT_MEASURED_RAMP } else { NOT_MEASURED_LOAD },
            if r.load.is_some() { NOT_MEASURED_RAMP } else { NOT_MEASURED_LOAD }
        ),
        Some(bp) => {
            let mut s = format!(
                "Rule: a step is stable while P95 <= {:.0} s and error rate <= {}%.\n\nSystem remains stable up to: {}\n",
                c.p95_latency_limit_secs,
                c.error_rate_limit * 100.0,
                bp.stable_up_to_users
                    .map_or("no step was stable (the first step already broke)".into(), |u| format!("{u} concurrent users"))
            );
            match &bp.breaking {
                Some(step) => {
                    s.push_str(&format!(
                        "Breaking point occurs at: {} concurrent users\n\nAt breaking point:\n",
                        step.users
                    ));
                    s.push_str(&format!(
                        "- Queue depth: {}\n",
                        step.queue_depth_max.map_or("not recorded by the ramp step".into(), |q| q.to_string())
                    ));
                    s.push_str(&format!(
                        "- CPU utilization: {}\n",
                        opt_f(step.worker_cpu_percent_peak, |p| format!("{p:.1}%"), "not recorded by the ramp step")
                    ));
                    s.push_str(&format!("- Error rate: {}\n", pct(step.error_rate)));
                    s.push_str(&format!("- Latency P95: {:.2} seconds\n", step.p95_secs));
                }
                None => s.push_str(&format!(
                    "Breaking point occurs at: not reached up to {} concurrent users (highest step tried)\n",
                    bp.highest_users_tried
                )),
            }
            s
        }
    };
    fence(out, &body);

    out.push_str("### 4.3 2× Load Prediction\n\n");
    let body = match &r.double_load {
        None => format!(
            "At 2x the design load:\n\nExpected behavior: {}\n\nPredicted queue depth: {0}\nPredicted P95 latency: {0}\nPredicted error rate: {0}\n",
            if r.load.is_some() { NOT_MEASURED_DOUBLE } else { NOT_MEASURED_LOAD }
        ),
        Some(d) => {
            let mut s = format!("At {} concurrent users (2x design load), measured:\n\nBehavior:\n", d.users);
            s.push_str(&format!(
                "{} System degrades gracefully (increased latency, no failures)\n",
                check(d.outcome == DoubleLoadOutcome::DegradesGracefully)
            ));
            s.push_str(&format!(
                "{} System rejects excess load (rate limiting kicks in)\n",
                check(d.outcome == DoubleLoadOutcome::RejectsExcess)
            ));
            s.push_str(&format!(
                "{} System becomes unstable (cascading failures likely)\n\n",
                check(d.outcome == DoubleLoadOutcome::Unstable)
            ));
            s.push_str(&format!(
                "Rule: error rate <= {}% is graceful; over it, at least half the failures 429 with server errors + validation within the limit is rejecting; otherwise unstable.\n\n",
                c.error_rate_limit * 100.0
            ));
            s.push_str(&format!(
                "Measured queue depth (max): {}\n",
                d.queue_depth_max.map_or("not measured: the 2x run recorded no resource samples".into(), |q| q.to_string())
            ));
            s.push_str(&format!("Measured P95 latency: {:.2} seconds\n", d.p95_secs));
            s.push_str(&format!(
                "Measured error rate: {} ({} failed, of which {} rejected with 429)\n",
                pct(d.error_rate),
                d.failed,
                d.rejected_429
            ));
            s
        }
    };
    fence(out, &body);
}

fn section5(out: &mut String, r: &Report) {
    let c = &r.constraints;
    let g = &r.gap;
    out.push_str("## 5. Optimization Strategy (If Required)\n\n### 5.1 Available Optimizations\n\n");
    match &r.compare {
        Some(cmp) if !cmp.rows.is_empty() => {
            out.push_str(&format!(
                "Measured A/B results{} (target {:.4} CPU-s/doc):\n\n",
                cmp.run_date.as_ref().map_or(String::new(), |d| format!(", run {d}")),
                g.target_cpu_seconds_per_doc
            ));
            out.push_str("| # | Optimization | Flags | CPU-s/doc | CPU Savings | CER Δ | BoW F1 Δ | P95 wall | Peak RSS | Band at target | Closes gap |\n");
            out.push_str("|---|--------------|-------|-----------|-------------|-------|----------|----------|----------|----------------|------------|\n");
            for (i, row) in cmp.rows.iter().enumerate() {
                let opt = g.options.iter().find(|o| o.label == row.label && o.flags == row.flags);
                let pp = |v: Option<f64>| v.map_or("not measured".to_string(), |x| format!("{:+.2} pp", x * 100.0));
                out.push_str(&format!(
                    "| {} | {} | `{}` | {:.4} | {:.1}% | {} | {} | {} | {} | {} | {} |\n",
                    i + 1,
                    row.label,
                    row.flags,
                    row.cpu_seconds_per_doc,
                    row.saving_percent,
                    pp(row.cer_delta),
                    pp(row.bow_f1_delta),
                    opt_f(row.p95_wall_secs, |x| format!("{x:.2} s"), "not measured"),
                    opt_f(row.peak_rss_mb, |x| format!("{x:.0} MB"), "not measured"),
                    opt.map_or("-", |o| o.band.label()),
                    opt.map_or("-", |o| if o.closes_gap { "yes" } else { "no" })
                ));
            }
            out.push('\n');
        }
        _ => out.push_str(&format!("Measured A/B results: {NOT_MEASURED_COMPARE}.\n\n")),
    }
    out.push_str("The seed's estimates, for reference (not measurements):\n\n");
    out.push_str("| # | Optimization | CPU Savings (est.) | Risk | Implementation |\n|---|--------------|-------------|------|----------------|\n");
    for row in [
        "| 1 | OCR thread reduction (4→2) | 10-20% | Low | config change |",
        "| 2 | Image pre-resize | 20-30% | Medium | code change |",
        "| 3 | Skip pre-OCR when quality > 0.9 | 5-10% | Low | config change |",
        "| 4 | Lighter OCR model | 30-40% | High | model swap |",
        "| 5 | Aggressive caching | 5-15% | Low | infrastructure |",
    ] {
        out.push_str(row);
        out.push('\n');
    }
    out.push_str("\n### 5.2 Optimization Required?\n\n");
    let mut body = format!("Current CPU-sec/doc: {:.4} s\n", g.current_cpu_seconds_per_doc);
    body.push_str(&format!(
        "Target CPU-sec/doc:  {:.4} s (GO edge: {} h x 3600 x 0.9 / ({} docs/day x {} days); 100% of budget: {:.4} s)\n",
        g.target_cpu_seconds_per_doc,
        c.budget_cpu_hours_per_month,
        c.documents_per_day,
        c.days_per_month,
        c.cpu_seconds_per_doc_at(1.0)
    ));
    if g.gap_seconds > 0.0 {
        body.push_str(&format!(
            "Gap:                 {:.4} - {:.4} = {:.4} s ({:.4} / {:.4} = {:.1}% reduction needed)\n\n",
            g.current_cpu_seconds_per_doc,
            g.target_cpu_seconds_per_doc,
            g.gap_seconds,
            g.gap_seconds,
            g.current_cpu_seconds_per_doc,
            g.reduction_needed_percent
        ));
    } else {
        body.push_str(&format!(
            "Gap:                 {:.4} - {:.4} = {:.4} s (0% reduction needed; headroom {:.1}% of the target)\n\n",
            g.current_cpu_seconds_per_doc,
            g.target_cpu_seconds_per_doc,
            g.gap_seconds,
            -g.gap_seconds / g.target_cpu_seconds_per_doc * 100.0
        ));
    }
    body.push_str(&format!("{} No optimization required (within budget)\n", check(g.need == OptimisationNeed::None)));
    body.push_str(&format!(
        "{} Minor optimization sufficient (apply #1-3)\n",
        check(g.need == OptimisationNeed::Minor)
    ));
    body.push_str(&format!("{} Major optimization required (apply #4-5)\n", check(g.need == OptimisationNeed::Major)));
    body.push_str(&format!(
        "{} Volume reduction required (target cannot be met)\n\n",
        check(g.need == OptimisationNeed::VolumeReduction)
    ));
    body.push_str(&format!("Rule: band {} -> ", r.cpu_band.label()));
    body.push_str("GO: none; GO (marginal)/ADJUST: minor; OPTIMIZE: major; NO-GO: volume reduction unless a measured optimisation reaches the target.\n");
    body.push_str("Measured optimisations that close the gap: ");
    let closing: Vec<String> = g
        .options
        .iter()
        .filter(|o| o.closes_gap)
        .map(|o| {
            format!(
                "{} ({:.4} s/doc, CER {})",
                o.label,
                o.cpu_seconds_per_doc,
                o.cer_delta.map_or("not measured".into(), |d| format!("{:+.2} pp", d * 100.0))
            )
        })
        .collect();
    if r.compare.is_none() {
        body.push_str(NOT_MEASURED_COMPARE);
    } else if closing.is_empty() {
        body.push_str("none of the measured configurations reaches the target");
    } else {
        body.push_str(&closing.join("; "));
    }
    body.push('\n');
    fence(out, &body);
}

fn section6(out: &mut String, r: &Report) {
    let c = &r.constraints;
    let d = &r.decision;
    out.push_str("## 6. FINAL DECISION\n\n### 6.1 Primary Recommendation\n\n");
    let mut bx = BoxLines::untitled();
    bx.push(String::new());
    for v in [Verdict::Go, Verdict::Adjust, Verdict::NoGo] {
        bx.push(format!("          {} {} {}", check(d.verdict == v), verdict_mark(v), v.label()));
    }
    bx.push(String::new());
    if d.provisional {
        bx.push(format!(
            "PROVISIONAL {}: {} of {} evidence items unmet (section 2)",
            d.verdict.label(),
            r.evidence.unmet().count(),
            r.evidence.checks.len()
        ));
    }
    let mut body = bx.render(&[]);
    body.push_str("\nWhy:\n");
    for reason in &d.reasons {
        body.push_str(&format!("- {reason}\n"));
    }
    body.push_str(
        "- Rule: the verdict is the worst of CPU band, latency and errors; latency over the limit is ADJUST when it is queueing \
(bench wall P95 under the limit, P95 <= 2x limit), else NO-GO; errors over the limit are ADJUST when server errors + \
validation alone are within it (timeouts/429s: capacity), else NO-GO.\n",
    );
    for m in &d.missing {
        body.push_str(&format!("- Missing: {m}\n"));
    }
    for cav in &d.caveats {
        body.push_str(&format!("- Caveat: {cav}\n"));
    }
    body.push_str(&format!("\nDecision Date: {}\n", r.generated_at.get(..10).unwrap_or(&r.generated_at)));
    body.push_str(&format!(
        "Approving Engineer: {}\n",
        r.approving_engineer.as_deref().unwrap_or("to be signed by hand in section 7 (not recorded by the report)")
    ));
    fence(out, &body);

    out.push_str("### 6.2 Conditions (if ADJUST)\n\n");
    let k = &r.conditions;
    let adjust = d.verdict == Verdict::Adjust;
    let cpu_adjust = adjust && r.cpu_band.verdict() == Verdict::Adjust;
    let has_closing = !k.apply_optimisations.is_empty();
    let mut body = if adjust {
        "ADJUST was selected; the following conditions must be met:\n\n".to_string()
    } else {
        format!("Not required: the decision is {}. For reference, what each condition would be:\n\n", d.verdict.label())
    };
    let volume_ok = k.reduce_volume_to_docs_per_day >= u64::from(c.documents_per_day);
    body.push_str(&format!(
        "{} Reduce volume to {} docs/day ({} x 3600 / ({:.4} x {}), floored){}\n",
        check(cpu_adjust && !has_closing),
        thousands(k.reduce_volume_to_docs_per_day),
        c.budget_cpu_hours_per_month,
        r.cpu_seconds_per_doc,
        c.days_per_month,
        if cpu_adjust && !has_closing {
            "  (or raise the budget below)".to_string()
        } else if volume_ok {
            format!("; not required: that is over the {} docs/day target", thousands(u64::from(c.documents_per_day)))
        } else {
            String::new()
        }
    ));
    body.push_str(&format!(
        "{} Apply optimization(s): {}\n",
        check(cpu_adjust && has_closing),
        if r.gap.gap_seconds <= 0.0 {
            "not required: the measured CPU is already at or under the target".to_string()
        } else if has_closing {
            k.apply_optimisations.join(", ")
        } else if r.compare.is_none() {
            NOT_MEASURED_COMPARE.to_string()
        } else {
            "none of the measured configurations reaches the target".to_string()
        }
    ));
    body.push_str(&format!(
        "{} Increase CPU budget to {:.1} hrs/month ({:.2} h at target / 0.9, so the target volume is GO){}\n",
        check(cpu_adjust && !has_closing),
        k.increase_budget_to_hours,
        r.monthly_hours_at_target,
        if cpu_adjust && !has_closing {
            "  (or reduce volume above)".to_string()
        } else if r.cpu_band == Band::Go {
            format!("; not required: the {:.0} h budget already covers it", c.budget_cpu_hours_per_month)
        } else {
            String::new()
        }
    ));
    body.push_str(&format!(
        "{} Defer launch by: {}\n",
        check(cpu_adjust && !has_closing && r.gap.gap_seconds > 0.0),
        k.defer_launch
    ));
    for s in &k.service_conditions {
        body.push_str(&format!("{} {s}\n", check(adjust)));
    }
    fence(out, &body);

    out.push_str("### 6.3 Residual Risks\n\n");
    let mut body = String::from("Even with GO decision, the following risks remain:\n\n1. Cold start frequency:\n");
    let monthly_docs = c.documents_per_month();
    match &r.risks.cold_start {
        Some(cs) => {
            body.push_str(&format!(
                "   Risk: each cold start costs max(penalty {:.4} s, model load {:.4} s) = {:.4} CPU-s; at the {:.0}% ceiling: {} x {} x {:.4} / 3600 = {:.3} h/month ({} of budget). Measured penalty {:+.1}%.\n",
                cs.penalty_seconds,
                cs.model_load_seconds,
                cs.cost_per_cold_start_secs,
                COLD_START_MAX_SHARE * 100.0,
                COLD_START_MAX_SHARE,
                monthly_docs,
                cs.cost_per_cold_start_secs,
                cs.monthly_hours_at_ceiling,
                pct(cs.budget_share_at_ceiling),
                cs.penalty_percent
            ));
            body.push_str("   Mitigation: long-lived workers load the engine once; pre-warm on start; alert when cold starts pass 5% of jobs.\n");
        }
        None => {
            body.push_str("   Risk: not measured: the bench recorded no cold/warm pair; re-run `rythmiq bench`\n");
            body.push_str("   Mitigation: long-lived workers; alert when cold starts pass 5% of jobs.\n");
        }
    }
    let p = &r.risks.path_drift;
    body.push_str("\n2. Document quality drift:\n");
    body.push_str(&format!(
        "   Risk: measured split {} fast / {} standard vs expected {:.0}/{:.0}. ",
        pct(p.measured_fast_share),
        pct(1.0 - p.measured_fast_share),
        EXPECTED_FAST_SHARE * 100.0,
        (1.0 - EXPECTED_FAST_SHARE) * 100.0
    ));
    match (p.standard_cpu_seconds_per_doc, p.cpu_at_expected_split, p.hours_at_expected_split, p.hours_all_standard, p.band_all_standard) {
        (Some(s), Some(x), Some(hx), Some(hs), Some(bs)) => body.push_str(&format!(
            "At 70/30: 0.7 x {:.4} + 0.3 x {s:.4} = {x:.4} s/doc -> {hx:.2} h/month ({}); all standard: {s:.4} s/doc -> {hs:.2} h/month ({}, {}).\n",
            p.fast_cpu_seconds_per_doc,
            pct(hx / c.budget_cpu_hours_per_month),
            pct(hs / c.budget_cpu_hours_per_month),
            bs.label()
        )),
        _ => body.push_str("The standard path's cost is not measured: no bench document took it; add low-quality scans to the corpus.\n"),
    }
    body.push_str(&format!("   Mitigation: {}\n", fast_floor_text(r)));
    body.push_str("\n3. Traffic pattern variance:\n");
    match &r.risks.traffic {
        Some(t) => {
            body.push_str(&format!(
                "   Risk: per-document CPU over {} warm documents: mean {:.4} s, P95 {:.4} s ({:.2}x mean), max {:.4} s, CV {:.2}. A day of P95-cost documents: {:.4} x {} / 3600 = {:.3} h ({} of the {:.3} h daily budget). Burst peak/sustained throughput: {}.\n",
                t.documents,
                t.mean_cpu_secs,
                t.p95_cpu_secs,
                t.p95_over_mean,
                t.max_cpu_secs,
                t.coefficient_of_variation,
                t.p95_cpu_secs,
                c.documents_per_day,
                t.heavy_day_hours,
                pct(t.heavy_day_share_of_daily_budget),
                r.monitoring.daily_budget_hours,
                t.burst_ratio.map_or(NOT_MEASURED_LOAD.to_string(), |b| format!("{b:.2}x"))
            ));
            body.push_str("   Mitigation: the queue absorbs bursts (latency, not CPU-hours, takes the hit); alert on the daily budget burn at 80%.\n");
        }
        None => body.push_str("   Risk: not measured: the bench has no warm, successful per-document runs\n   Mitigation: re-run `rythmiq bench`.\n"),
    }
    fence(out, &body);

    out.push_str("### 6.4 Production Monitoring Requirements\n\n");
    let m = &r.monitoring;
    let mut body = String::from("Post-launch, continuously monitor:\n\n");
    body.push_str(&format!(
        "[ ] Daily CPU consumption vs budget burn rate: daily budget {} h / {} days = {:.3} CPU-h/day; expected at target {:.4} x {} / 3600 = {:.3} h/day ({})\n",
        c.budget_cpu_hours_per_month,
        c.days_per_month,
        m.daily_budget_hours,
        r.cpu_seconds_per_doc,
        c.documents_per_day,
        m.expected_daily_hours,
        pct(m.expected_daily_hours / m.daily_budget_hours)
    ));
    match &m.burn {
        Some(b) => {
            let u = r.usage.as_ref();
            body.push_str(&format!(
                "    this month so far: {:.2} h / {:.1} days = {:.3} h/day ({} of daily budget); projected month {:.3} x {} = {:.1} h; {}\n",
                u.map_or(0.0, |u| u.cpu_hours_used),
                u.map_or(0.0, |u| u.days_elapsed),
                b.hours_per_day,
                pct(b.share_of_daily_budget),
                b.hours_per_day,
                c.days_per_month,
                b.projected_month_hours,
                b.production_cpu_seconds_per_doc.map_or("no documents recorded".into(), |x| format!(
                    "production {x:.4} CPU-s/doc over {:.0} docs/day",
                    b.docs_per_day
                ))
            ));
        }
        None => body.push_str(&format!("    this month so far: {NOT_MEASURED_USAGE}\n")),
    }
    body.push_str(&format!(
        "[ ] P95 latency trending (load test P95: {})\n",
        r.load.as_ref().map_or(NOT_MEASURED_LOAD.to_string(), |l| format!("{:.2} s", l.latency_p95_secs))
    ));
    body.push_str(&format!("[ ] Cold start frequency (target: < {:.0}% of jobs)\n", m.cold_start_max_share * 100.0));
    body.push_str(&format!(
        "[ ] Processing path distribution (fast vs standard; measured {} fast; {})\n",
        pct(r.risks.path_drift.measured_fast_share),
        fast_floor_text(r)
    ));
    body.push_str("[ ] Error rate by type (timeout, server error, validation, 429)\n\nAlert thresholds:\n");
    body.push_str(&format!(
        "- CPU usage > 80% of daily budget (0.8 x {:.3} = {:.3} CPU-h/day): WARNING\n",
        m.daily_budget_hours, m.daily_warning_hours
    ));
    body.push_str(&format!("- CPU usage > 100% of daily budget ({:.3} CPU-h/day): CRITICAL\n", m.daily_critical_hours));
    body.push_str(&format!(
        "- P95 latency > {:.0}s ({} x 25/30): WARNING\n",
        m.p95_warning_secs, c.p95_latency_limit_secs
    ));
    body.push_str(&format!("- P95 latency > {:.0}s (the SLA): CRITICAL\n", m.p95_critical_secs));
    body.push_str(&format!("- Error rate > {}% (half the limit): WARNING\n", trim_float(m.error_warning * 100.0)));
    body.push_str(&format!("- Error rate > {}%: CRITICAL\n", trim_float(m.error_critical * 100.0)));
    fence(out, &body);
}

fn fast_floor_text(r: &Report) -> String {
    match r.risks.path_drift.fast_share_floor_for_go {
        Some(f) if f <= 0.0 => "any split stays GO (even all-standard is within 90% of budget); alert on a drift of more than 20 points from the measured split, a sign the input mix changed".into(),
        Some(f) => format!("alert when the fast share falls below {} (the share at which the target volume leaves the GO band)", pct(f)),
        None => "not measured: the standard path's cost is unknown, so no drift threshold can be computed".into(),
    }
}

/// Section 3.4: the capacity planner's scan for the design load and twice it.
fn capacity(out: &mut String, r: &Report) {
    out.push_str("### 3.4 Capacity Plan (predicted)\n\n");
    let Some(p) = &r.plan else {
        out.push_str("Not computed: the bench has no warm, successful document to draw service times from.\n\n");
        return;
    };
    let within = crate::constraints::at_or_under(r.monthly_hours_at_target, r.constraints.budget_cpu_hours_per_month);
    out.push_str(&format!("**{}.**\n\n", p.headline(within)));
    out.push_str(&format!("{}, OCR engine `{}`.\n\n", p.source_line(), crate::engine::engine_of(&r.bench.flags)));
    let d = &p.design;
    out.push_str(&format!(
        "Design load: {} users x {} docs = {} documents, {} users/s, polled every {} s ({}). Monthly CPU: {:.3} CPU-s x {} x {} / 3600 = {:.2} h of {:.0} h.\n\n",
        d.users,
        d.docs_per_user,
        d.documents(),
        d.spawn_rate,
        d.poll_interval_secs,
        if r.load.is_some() { "the load test's" } else { "the framework's burst: no load test given" },
        p.mean_cpu_secs,
        p.documents_per_day,
        p.days_per_month,
        p.monthly_cpu_hours,
        p.budget_cpu_hours_per_month
    ));
    out.push_str(
        "| Cores = slots | P50 s | P95 s | P99 s | docs/s | 2x P50 s | 2x P95 s | 2x P99 s | 2x docs/s |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in &p.rows {
        let mark = |n: Option<u32>| if n == Some(row.cores) { " **<=**" } else { "" };
        out.push_str(&format!(
            "| {} | {:.2} | {:.2}{} | {:.2} | {:.2} | {:.2} | {:.2}{} | {:.2} | {:.2} |\n",
            row.cores,
            row.design.p50_secs,
            row.design.p95_secs,
            mark(p.cores_for_design),
            row.design.p99_secs,
            row.design.throughput_docs_per_sec,
            row.double.p50_secs,
            row.double.p95_secs,
            mark(p.cores_for_double),
            row.double.p99_secs,
            row.double.throughput_docs_per_sec
        ));
    }
    out.push_str(&format!(
        "\n**<=**: the smallest N whose P95 is at or under {:.0} s. On one machine of {} cores, more slots than cores add no CPU capacity: throughput stays under {} / {:.3} CPU-s = {:.2} docs/s; extra slots only overlap a job's non-CPU wait.\n\n| Slots on {} cores | P95 s | docs/s |\n|---|---|---|\n",
        p.p95_limit_secs,
        p.machine_cores,
        p.machine_cores,
        p.mean_cpu_secs,
        p.cpu_bound_docs_per_sec(),
        p.machine_cores
    ));
    for m in &p.this_machine {
        out.push_str(&format!(
            "| {}{} | {:.2} | {:.2} |\n",
            m.slots,
            if m.slots > p.machine_cores { " (> cores)" } else { "" },
            m.p95_secs,
            m.throughput_docs_per_sec
        ));
    }
    if let Some((m, pred)) = &p.measured {
        out.push_str(&format!(
            "\nMeasured beside predicted for the load test ({} cores, {} slots{}): P95 {:.2} s measured, {:.2} s predicted from the bench's mix of pages.\n",
            m.cores,
            pred.slots,
            if m.slots.is_some() { ", as the server reported" } else { " assumed, one per core" },
            m.p95_secs,
            pred.p95_secs
        ));
    }
    if let Some(check) = &p.bench_check {
        out.push_str(&format!("\n{}\n", check.line()));
    }
    if let Some(check) = &p.replay {
        out.push_str(&format!("\n{}\n", check.line()));
    }
    out.push_str(&format!(
        "\nModel: FIFO queue on N slots; each job runs its bench wall time alone using cpu/wall of a core; when the running jobs ask for more cores than there are, all slow equally; the client sees a job done at its next poll; {} shuffled replications. Validation against real runs: the report crate's README.\n\n",
        p.replications
    ));
}
