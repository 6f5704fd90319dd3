//! The report as one self-contained HTML page: inline CSS, inline SVG charts drawn here (no JavaScript, no network),
//! then the same sections as the Markdown, converted by a small converter that only needs to understand what
//! `render_markdown` writes (headings, fenced boxes, tables, paragraphs).

use std::fmt::Write as _;

use rythmiq_types::Stage;

use crate::constraints::Verdict;
use crate::markdown::{render_markdown, NOT_MEASURED_LOAD};
use crate::report::{Report, EXPECTED_FAST_SHARE};

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:12px;line-height:1.35}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;font-size:13px}\
.verdict{font-size:1.6em;font-weight:bold;padding:.5em 1em;border-radius:6px;display:inline-block}\
.go{background:#d4f7dc}.adjust{background:#fff1c2}.nogo{background:#ffd6d6}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(480px,100%),1fr));gap:1em}\
figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:.5em}figcaption{font-weight:bold;margin-bottom:.3em}\
.missing{color:#a33;font-style:italic}svg text{font-size:11px;font-family:system-ui,sans-serif}";

const W: f64 = 460.0;
const H: f64 = 220.0;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders the page.
pub fn render_html(r: &Report) -> String {
    let mut out = String::new();
    let class = match r.decision.verdict {
        Verdict::Go => "go",
        Verdict::Adjust => "adjust",
        Verdict::NoGo => "nogo",
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Rythmiq One readiness: {}</title><style>{CSS}{}</style></head><body>\n",
        crate::evidence::headline(r.decision.verdict, r.decision.provisional),
        crate::html_page::PAGE_CSS
    );
    let _ = write!(
        out,
        "<h1>Rythmiq One: Production Readiness</h1>\n<div class=\"verdict {class}\">{}</div>\n",
        crate::evidence::headline(r.decision.verdict, r.decision.provisional)
    );
    crate::html_page::header(&mut out, r);
    crate::html_page::kpis(&mut out, r);
    crate::html_page::missing_box(&mut out, r);
    out.push_str("<ul>");
    for reason in &r.decision.reasons {
        let _ = write!(out, "<li>{}</li>", esc(reason));
    }
    out.push_str("</ul>\n<div class=\"charts\">\n");
    figure(&mut out, "Stage breakdown (CPU s per warm document)", Some(stage_chart(r)));
    figure(&mut out, "Path split (documents, CPU s/doc)", Some(path_chart(r)));
    figure(&mut out, "Monthly CPU-hours vs budget", Some(projection_chart(r)));
    figure(&mut out, "End-to-end latency distribution", latency_chart(r));
    figure(&mut out, "Queue depth over time", queue_chart(r));
    out.push_str("</div>\n");
    out.push_str(&markdown_to_html(&render_markdown(r)));
    out.push_str("</body></html>\n");
    out
}

fn figure(out: &mut String, caption: &str, svg_opt: Option<String>) {
    let _ = write!(out, "<figure><figcaption>{}</figcaption>", esc(caption));
    match svg_opt {
        Some(svg) => out.push_str(&svg),
        None => {
            let _ = write!(out, "<p class=\"missing\">{}</p>", esc(NOT_MEASURED_LOAD));
        }
    }
    out.push_str("</figure>\n");
}

fn svg_open() -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">"
    )
}

fn text(x: f64, y: f64, anchor: &str, s: &str) -> String {
    format!("<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>", esc(s))
}

/// Horizontal bars, one per labelled value, scaled to the largest.
fn hbars(rows: &[(String, f64, String)], colour: &str) -> String {
    let mut svg = svg_open();
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let left = 120.0;
    let span = W - left - 110.0;
    let step = (H - 10.0) / rows.len().max(1) as f64;
    for (i, (label, value, note)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * step;
        let w = if max > 0.0 { value / max * span } else { 0.0 };
        svg.push_str(&text(left - 5.0, y + step * 0.65, "end", label));
        let _ = write!(
            svg,
            "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>",
            step * 0.7
        );
        svg.push_str(&text(left + w + 4.0, y + step * 0.65, "start", note));
    }
    svg.push_str("</svg>");
    svg
}

fn stage_chart(r: &Report) -> String {
    let rows: Vec<(String, f64, String)> = Stage::ALL
        .iter()
        .filter_map(|s| r.bench.stages.get(s).map(|st| (s.as_str().to_string(), st)))
        .map(|(name, st)| {
            (name, st.cpu_seconds_per_doc, format!("{:.4} s ({:.1}%)", st.cpu_seconds_per_doc, st.share * 100.0))
        })
        .collect();
    hbars(&rows, "#4a78c2")
}

fn path_chart(r: &Report) -> String {
    let p = &r.risks.path_drift;
    let n = (p.fast_documents + p.standard_documents).max(1) as f64;
    let mut svg = svg_open();
    // One stacked bar for the measured split, one for the expected 70/30, so drift is visible at a glance.
    let (left, width) = (90.0, W - 110.0);
    for (i, (label, fast_share)) in
        [("measured", p.fast_documents as f64 / n), ("expected", EXPECTED_FAST_SHARE)].iter().enumerate()
    {
        let y = 20.0 + i as f64 * 60.0;
        svg.push_str(&text(left - 5.0, y + 25.0, "end", label));
        let fw = fast_share * width;
        let _ = write!(svg, "<rect x=\"{left}\" y=\"{y}\" width=\"{fw:.1}\" height=\"40\" fill=\"#5bb974\"/>");
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"40\" fill=\"#e8a33d\"/>",
            left + fw,
            width - fw
        );
        svg.push_str(&text(left + 4.0, y + 25.0, "start", &format!("fast {:.1}%", fast_share * 100.0)));
        svg.push_str(&text(
            left + width - 4.0,
            y + 25.0,
            "end",
            &format!("standard {:.1}%", (1.0 - fast_share) * 100.0),
        ));
    }
    svg.push_str(&text(
        left,
        170.0,
        "start",
        &format!(
            "fast: {} docs @ {:.4} s   standard: {} docs @ {}",
            p.fast_documents,
            p.fast_cpu_seconds_per_doc,
            p.standard_documents,
            p.standard_cpu_seconds_per_doc.map_or("not measured".into(), |s| format!("{s:.4} s"))
        ),
    ));
    svg.push_str("</svg>");
    svg
}

fn projection_chart(r: &Report) -> String {
    let c = &r.constraints;
    let budget = c.budget_cpu_hours_per_month;
    let largest = r.projections.iter().map(|p| p.cpu_hours_per_month).fold(0.0, f64::max);
    // A few hours against a 200 h budget would draw as empty bars: when the largest bar is under half the budget
    // the axis follows the bars and the budget is named off-scale instead of drawn.
    let budget_on_scale = largest >= budget * 0.5;
    let ticks = crate::chart::nice_ticks(if budget_on_scale { largest.max(budget) * 1.1 } else { largest * 1.1 }, 5);
    let max_val = ticks.last().copied().unwrap_or(1.0);
    // Room above the plot for the axis title and the off-scale note, so neither covers a bar's label.
    let (top, bottom, left) = (40.0, H - 30.0, 50.0);
    let y_of = |v: f64| bottom - v / max_val * (bottom - top);
    let mut svg = svg_open();
    let slot = (W - left - 10.0) / r.projections.len().max(1) as f64;
    for (i, p) in r.projections.iter().enumerate() {
        let x = left + i as f64 * slot + slot * 0.2;
        let y = y_of(p.cpu_hours_per_month);
        let colour = if p.within_budget { "#5bb974" } else { "#d9534f" };
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>",
            slot * 0.6,
            (bottom - y).max(0.5)
        );
        svg.push_str(&text(x + slot * 0.3, y - 4.0, "middle", &format!("{:.1} h", p.cpu_hours_per_month)));
        svg.push_str(&text(x + slot * 0.3, bottom + 14.0, "middle", &format!("{} docs/day", p.docs_per_day)));
    }
    for t in &ticks {
        let y = y_of(*t);
        let _ = write!(svg, "<line x1=\"{}\" x2=\"{left}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#888\"/>", left - 4.0);
        svg.push_str(&text(left - 6.0, y + 4.0, "end", &crate::chart::tick_label(*t)));
    }
    svg.push_str(&text(4.0, 12.0, "start", "CPU-h/month"));
    if !budget_on_scale {
        svg.push_str(&text(
            W - 8.0,
            12.0,
            "end",
            &format!(
                "budget {budget:.0} h is off this scale: the largest bar is {:.1}% of it",
                largest / budget * 100.0
            ),
        ));
    }
    let lines: &[(f64, &str, &str)] =
        if budget_on_scale { &[(1.0, "", "budget"), (0.9, " stroke-dasharray=\"4 3\"", "90% (GO edge)")] } else { &[] };
    for &(frac, dash, label) in lines {
        let y = y_of(budget * frac);
        let _ =
            write!(svg, "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#c00\"{dash}/>", W - 5.0);
        svg.push_str(&text(W - 8.0, y - 3.0, "end", &format!("{label} {:.0} h", budget * frac)));
    }
    let _ = write!(svg, "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"#888\"/>");
    svg.push_str("</svg>");
    svg
}

/// Counts per latency bucket: the load test's histogram when it has one, else the raw latencies in 20 bins.
fn latency_buckets(r: &Report) -> Option<Vec<(f64, f64, u64)>> {
    let l = r.load.as_ref()?;
    if !l.latency_histogram.is_empty() {
        let mut lower = 0.0;
        return Some(
            l.latency_histogram
                .iter()
                .map(|b| {
                    let row = (lower, b.upper_secs, b.count);
                    lower = b.upper_secs;
                    row
                })
                .collect(),
        );
    }
    let max = l.latencies_secs.iter().copied().fold(0.0, f64::max);
    if l.latencies_secs.is_empty() || max <= 0.0 {
        return None;
    }
    let bins = 20;
    let width = max / bins as f64;
    let mut counts = vec![0u64; bins];
    for &v in &l.latencies_secs {
        counts[((v / width) as usize).min(bins - 1)] += 1;
    }
    Some(counts.into_iter().enumerate().map(|(i, n)| (i as f64 * width, (i + 1) as f64 * width, n)).collect())
}

fn latency_chart(r: &Report) -> Option<String> {
    let l = r.load.as_ref()?;
    let buckets = latency_buckets(r)?;
    let limit = r.constraints.p95_latency_limit_secs;
    let x_max = buckets.last().map_or(0.0, |b| b.1).max(limit) * 1.05;
    let y_max = buckets.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64;
    let (top, bottom, left, right) = (15.0, H - 25.0, 40.0, W - 10.0);
    let x_of = |v: f64| left + v / x_max * (right - left);
    let mut svg = svg_open();
    for (lo, hi, n) in &buckets {
        let h = *n as f64 / y_max * (bottom - top);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a78c2\"/>",
            x_of(*lo),
            bottom - h,
            (x_of(*hi) - x_of(*lo) - 1.0).max(1.0)
        );
    }
    for (v, colour, label) in [(l.latency_p95_secs, "#e8a33d", "P95"), (limit, "#c00", "limit")] {
        let x = x_of(v);
        let _ = write!(svg, "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"{colour}\"/>");
        svg.push_str(&text(x + 2.0, top + 10.0, "start", &format!("{label} {v:.1} s")));
    }
    let _ = write!(svg, "<line x1=\"{left}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"#888\"/>");
    svg.push_str(&text(left, bottom + 15.0, "start", "0 s"));
    svg.push_str(&text(right, bottom + 15.0, "end", &format!("{x_max:.1} s")));
    svg.push_str(&text(left - 3.0, top + 8.0, "end", &format!("{y_max:.0}")));
    svg.push_str("</svg>");
    Some(svg)
}

fn queue_chart(r: &Report) -> Option<String> {
    let l = r.load.as_ref()?;
    if l.samples.is_empty() {
        return None;
    }
    let t_max = l.samples.iter().map(|s| s.t_secs).fold(0.0, f64::max).max(1.0);
    let q_max = l.samples.iter().map(|s| s.queue_depth).max().unwrap_or(0).max(1) as f64;
    let (top, bottom, left, right) = (15.0, H - 25.0, 40.0, W - 10.0);
    let points: Vec<String> = l
        .samples
        .iter()
        .map(|s| {
            format!(
                "{:.1},{:.1}",
                left + s.t_secs / t_max * (right - left),
                bottom - s.queue_depth as f64 / q_max * (bottom - top)
            )
        })
        .collect();
    let mut svg = svg_open();
    let _ =
        write!(svg, "<polyline fill=\"none\" stroke=\"#4a78c2\" stroke-width=\"2\" points=\"{}\"/>", points.join(" "));
    let _ = write!(svg, "<line x1=\"{left}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"#888\"/>");
    let _ = write!(svg, "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"#888\"/>");
    svg.push_str(&text(left - 3.0, top + 8.0, "end", &format!("{q_max:.0}")));
    svg.push_str(&text(left - 3.0, bottom, "end", "0"));
    svg.push_str(&text(right, bottom + 15.0, "end", &format!("{t_max:.0} s")));
    svg.push_str("</svg>");
    Some(svg)
}

/// Inline Markdown the report writes: `code` and **bold**.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let escaped = esc(s);
    let mut code = false;
    for (i, part) in escaped.split('`').enumerate() {
        if i > 0 {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
        }
        let mut bold = false;
        for (j, seg) in part.split("**").enumerate() {
            if j > 0 {
                out.push_str(if bold { "</strong>" } else { "<strong>" });
                bold = !bold;
            }
            out.push_str(seg);
        }
        if bold {
            out.push_str("</strong>");
        }
    }
    if code {
        out.push_str("</code>");
    }
    out
}

fn markdown_to_html(md: &str) -> String {
    let mut out = String::new();
    let mut in_pre = false;
    let mut in_table = false;
    for line in md.lines() {
        if line.starts_with("```") {
            // The boxes carry the arithmetic: folded, so the page reads as tables and cards first.
            out.push_str(if in_pre { "</pre></details>\n" } else { "<details><summary>Arithmetic</summary><pre>" });
            in_pre = !in_pre;
            continue;
        }
        if in_pre {
            out.push_str(&esc(line));
            out.push('\n');
            continue;
        }
        if line.starts_with('|') {
            // The separator row (|---|) only marks the header in Markdown.
            if line.chars().all(|c| matches!(c, '|' | '-' | ' ')) {
                continue;
            }
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                out.push_str("<table>");
                in_table = true;
            }
            out.push_str("<tr>");
            for c in cells {
                let _ = write!(out, "<{tag}>{}</{tag}>", inline(c));
            }
            out.push_str("</tr>\n");
            continue;
        }
        if in_table {
            out.push_str("</table>\n");
            in_table = false;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if level > 0 && line[level..].starts_with(' ') {
            let _ = writeln!(out, "<h{level}>{}</h{level}>", inline(line[level..].trim()));
        } else if !line.trim().is_empty() {
            let _ = writeln!(out, "<p>{}</p>", inline(line));
        }
    }
    if in_table {
        out.push_str("</table>\n");
    }
    out
}
