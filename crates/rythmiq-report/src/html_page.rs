//! The page furniture of the HTML report: the header (version, git revision, host, cores), the KPI cards (each with
//! its sample size and its limit from the constraints), the one "missing inputs" box and the print styles.

use std::fmt::Write as _;

use crate::constraints::at_or_under;
use crate::html::esc;
use crate::report::Report;

/// Layout for the cards and boxes, and print styles (no shadows or backgrounds; charts kept whole on a page).
pub(crate) const PAGE_CSS: &str = ".meta{color:#555;font-size:13px}\
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:.8em;margin:1em 0}\
.kpi{border:1px solid #ddd;border-radius:6px;padding:.6em .8em}.kpi .v{font-size:1.5em;font-weight:bold}\
.kpi.ok{border-left:6px solid #2a9d4b}.kpi.bad{border-left:6px solid #c0392b}.kpi.none{border-left:6px solid #999}\
.kpi .n{color:#555;font-size:12px}.missingbox{border:1px solid #e0b400;background:#fffbe6;border-radius:6px;padding:.5em 1em}\
table{max-width:100%;display:block;overflow-x:auto}svg{max-width:100%;height:auto}details{margin:.5em 0}\
@media print{body{max-width:none;margin:0}.charts{display:block}figure,.kpi,table{break-inside:avoid}\
details>*{display:block}pre{white-space:pre-wrap}a{color:inherit}}";

/// Version and git revision of the binary that wrote the page: `Report::git_revision`, which the CLI sets from
/// `RYTHMIQ_GIT_REV` (its build script: the environment, else `git rev-parse --short HEAD`, else "unknown").
pub(crate) fn build_line(r: &Report) -> String {
    format!("rythmiq {} (git {})", env!("CARGO_PKG_VERSION"), r.git_revision.as_deref().unwrap_or("unknown"))
}

/// The header under the title: who wrote the page, from what, on which machine.
pub(crate) fn header(out: &mut String, r: &Report) {
    let b = &r.bench;
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} &middot; generated {} &middot; bench {} on host {} with {} cores &middot; flags <code>{}</code></p>",
        esc(&build_line(r)),
        esc(&r.generated_at),
        esc(&b.run_date),
        esc(b.host.as_deref().unwrap_or("(not recorded)")),
        b.cores.map_or("(not recorded)".into(), |c| c.to_string()),
        esc(&b.flags)
    );
}

/// One card: the figure, its limit and the sample behind it.
fn card(out: &mut String, title: &str, value: &str, against: &str, sample: &str, ok: Option<bool>) {
    let class = match ok {
        Some(true) => "ok",
        Some(false) => "bad",
        None => "none",
    };
    let _ = write!(
        out,
        "<div class=\"kpi {class}\"><div>{}</div><div class=\"v\">{}</div><div>{}</div><div class=\"n\">{}</div></div>",
        esc(title),
        esc(value),
        esc(against),
        esc(sample)
    );
}

/// The four KPI cards: CPU per document, monthly CPU against the budget, P95 against the limit, error rate against
/// the limit.
pub(crate) fn kpis(out: &mut String, r: &Report) {
    let c = &r.constraints;
    out.push_str("<div class=\"kpis\">");
    card(
        out,
        "CPU per document",
        &format!("{:.3} CPU-s", r.cpu_seconds_per_doc),
        &format!("GO edge {:.2} s", c.cpu_seconds_per_doc_at(crate::constraints::Band::EDGES[0].1)),
        &format!("n = {} warm documents", r.bench.warm_documents),
        Some(r.cpu_band <= crate::constraints::Band::GoMarginal),
    );
    card(
        out,
        "CPU per month",
        &format!("{:.2} h", r.monthly_hours_at_target),
        &format!("budget {:.0} h ({:.1}%)", c.budget_cpu_hours_per_month, r.budget_share_at_target * 100.0),
        &format!("at {} docs/day x {} days", c.documents_per_day, c.days_per_month),
        Some(at_or_under(r.monthly_hours_at_target, c.budget_cpu_hours_per_month)),
    );
    match &r.load {
        Some(l) => {
            card(
                out,
                "Latency P95",
                &format!("{:.2} s", l.latency_p95_secs),
                &format!("limit {:.0} s", c.p95_latency_limit_secs),
                &format!("n = {} requests, {} users", l.total_requests, l.users),
                Some(at_or_under(l.latency_p95_secs, c.p95_latency_limit_secs)),
            );
            card(
                out,
                "Error rate",
                &format!("{:.2}%", l.error_rate() * 100.0),
                &format!("limit {:.2}%", c.error_rate_limit * 100.0),
                &format!("n = {} requests, {} failed", l.total_requests, l.failed),
                Some(at_or_under(l.error_rate(), c.error_rate_limit)),
            );
        }
        None => {
            card(
                out,
                "Latency P95",
                "not measured",
                &format!("limit {:.0} s", c.p95_latency_limit_secs),
                "n = 0",
                None,
            );
            card(
                out,
                "Error rate",
                "not measured",
                &format!("limit {:.2}%", c.error_rate_limit * 100.0),
                "n = 0",
                None,
            );
        }
    }
    out.push_str("</div>\n");
}

/// The one box that lists every missing input, with the command that supplies it.
pub(crate) fn missing_box(out: &mut String, r: &Report) {
    if r.decision.missing.is_empty() {
        return;
    }
    out.push_str("<div class=\"missingbox\"><strong>Missing inputs</strong> (the decision is provisional until each is supplied)<ul>");
    for m in &r.decision.missing {
        let _ = write!(out, "<li>{}</li>", esc(m));
    }
    out.push_str("</ul></div>\n");
}
