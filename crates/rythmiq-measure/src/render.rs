//! The one renderer of the readiness framework's section 3.1 ("Baseline Benchmark Results"): the bench prints it on
//! the terminal and the report puts it in its Markdown, so the two can never disagree. Also the box drawer both use.

use rythmiq_types::{PathKind, Stage};

use crate::bench::{BenchSummary, PathSummary, EXPECTED_FAST_SHARE};

/// Lines inside a box drawn like the seed's (`┌─┐ │ │ ├─┤ └─┘`), sized to the widest line.
pub struct TextBox {
    title: Option<String>,
    lines: Vec<String>,
}

impl TextBox {
    pub fn new(title: &str) -> Self {
        TextBox { title: Some(title.to_string()), lines: Vec::new() }
    }

    pub fn untitled() -> Self {
        TextBox { title: None, lines: Vec::new() }
    }

    pub fn push(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// Draws the box; a separator (`├─┤`) goes before each line index in `separators_before`, like the seed's line
    /// before TOTAL.
    pub fn render(&self, separators_before: &[usize]) -> String {
        let width = self.title.iter().chain(self.lines.iter()).map(|l| l.chars().count()).max().unwrap_or(0) + 2;
        let bar = "─".repeat(width);
        let row = |l: &str| format!("│ {}{} │\n", l, " ".repeat(width - 2 - l.chars().count()));
        let mut out = format!("┌{bar}┐\n");
        if let Some(t) = &self.title {
            out.push_str(&row(t));
            out.push_str(&format!("├{bar}┤\n"));
        }
        for (i, l) in self.lines.iter().enumerate() {
            if separators_before.contains(&i) {
                out.push_str(&format!("├{bar}┤\n"));
            }
            out.push_str(&row(l));
        }
        out.push_str(&format!("└{bar}┘\n"));
        out
    }
}

fn pct(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// Section 3.1 filled in from a bench record, with the arithmetic beside each derived figure.
pub fn render_section_3_1(b: &BenchSummary) -> String {
    let mut body = format!(
        "Run Date: {}\nDocuments Processed: {} ({} warm and successful; corpus of {} distinct; flags {})\n\n",
        b.run_date, b.documents, b.warm_documents, b.corpus_documents, b.flags
    );
    let mut stages = TextBox::new("STAGE BREAKDOWN (CPU seconds per warm document)");
    let dominant =
        b.stages.iter().max_by(|a, c| a.1.cpu_seconds_per_doc.total_cmp(&c.1.cpu_seconds_per_doc)).map(|(k, _)| *k);
    for stage in Stage::ALL {
        let label = format!("{}:", stage.as_str());
        match b.stages.get(&stage) {
            Some(st) => {
                let mut line = format!(
                    "{label:<19} {:.4} s ({:>5.1}%)  wall {:.4} s",
                    st.cpu_seconds_per_doc,
                    st.share * 100.0,
                    st.wall_seconds_per_doc
                );
                if st.skipped > 0 {
                    line.push_str(&format!("  skipped on {} docs", st.skipped));
                }
                if stage == Stage::Ocr {
                    line.push_str(if dominant == Some(Stage::Ocr) {
                        "  <- Expected dominant stage (confirmed)"
                    } else {
                        "  <- Expected dominant stage (NOT dominant here)"
                    });
                }
                stages.push(line);
            }
            None => stages.push(format!("{label:<19} not measured: stage absent from the bench output")),
        }
    }
    let sum: f64 = b.stages.values().map(|s| s.cpu_seconds_per_doc).sum();
    stages.push(format!(
        "{:<19} {:.4} s (sum of the stage means {sum:.4} s; unattributed process CPU {:.2}%)",
        "TOTAL:",
        b.cpu_seconds_per_doc,
        b.unattributed_cpu_share * 100.0
    ));
    body.push_str(&stages.render(&[Stage::ALL.len()]));

    let mut paths = TextBox::new("PATH BREAKDOWN");
    let path_line = |name: &str, p: &PathSummary| {
        if p.documents == 0 {
            format!("{name:<14} 0 docs (not measured: no document took this path)")
        } else {
            format!(
                "{name:<14} {} docs @ {:.4} s avg CPU{}",
                p.documents,
                p.cpu_seconds_per_doc,
                match (p.cer, p.bow_f1) {
                    (Some(c), Some(f)) => format!("  (CER {:.2}%, BoW F1 {:.2}%)", c * 100.0, f * 100.0),
                    (Some(c), None) => format!("  (CER {:.2}%)", c * 100.0),
                    _ => String::new(),
                }
            )
        }
    };
    let (text_layer, fast, standard) =
        (b.paths.get(PathKind::TextLayer), b.paths.get(PathKind::Fast), b.paths.get(PathKind::Standard));
    if text_layer.documents > 0 {
        paths.push(path_line("Text Layer:", text_layer));
    }
    paths.push(path_line("Fast Path:", fast));
    paths.push(path_line("Standard Path:", standard));
    if let Some(ratio) = b.text_layer_cpu_ratio {
        paths.push(format!(
            "Text layer:    {:.4} s/page / {:.4} s/page OCRed = {:.3} of the CPU of OCRing a page",
            text_layer.cpu_seconds_per_page,
            text_layer.cpu_seconds_per_page / ratio,
            ratio
        ));
    }
    let terms: Vec<String> = [text_layer, fast, standard]
        .iter()
        .enumerate()
        .filter(|(i, p)| *i > 0 || p.documents > 0)
        .map(|(_, p)| format!("{} x {:.4}", p.documents, p.cpu_seconds_per_doc))
        .collect();
    paths.push(format!(
        "Weighted Avg:  ({}) / {} = {:.4} s",
        terms.join(" + "),
        b.paths.documents(),
        b.paths.weighted_cpu_seconds_per_doc()
    ));
    paths.push(match b.paths.fast_share() {
        Some(share) => format!(
            "Split:         {} fast / {} standard (expected {:.0}/{:.0}; threshold quality >= {:.2})",
            pct(share),
            pct(1.0 - share),
            EXPECTED_FAST_SHARE * 100.0,
            (1.0 - EXPECTED_FAST_SHARE) * 100.0,
            b.fast_path_threshold
        ),
        None => "Split:         not measured: no warm document was routed".to_string(),
    });
    body.push('\n');
    body.push_str(&paths.render(&[]));

    let mut cold = TextBox::new("COLD START IMPACT");
    match &b.cold_start {
        Some(cs) => {
            cold.push(format!(
                "Cold execution: {:.4} s ({}; includes model loading {:.4} s)",
                cs.cold_seconds, cs.document, cs.model_load_seconds
            ));
            cold.push(format!("Warm execution: {:.4} s (the same document on the warm engine)", cs.warm_seconds));
            cold.push(format!(
                "Cold start penalty: {:.4} - {:.4} = {:.4} s ({:+.1}%)",
                cs.cold_seconds, cs.warm_seconds, cs.penalty_seconds, cs.penalty_percent
            ));
            if cs.penalty_seconds < cs.model_load_seconds {
                cold.push(format!(
                    "  the penalty is below the model load ({:.4} s): within the noise of one cold/warm pair",
                    cs.model_load_seconds
                ));
            }
        }
        None => cold.push("not measured: the cold first document or the warm probe failed; re-run `rythmiq bench`"),
    }
    body.push('\n');
    body.push_str(&cold.render(&[]));

    body.push_str("\nACCURACY (case-folded, whitespace collapsed): ");
    body.push_str(&b.accuracy.as_ref().map_or("not measured: the corpus has no ground truth".to_string(), |a| {
        format!(
            "CER {:.2}%, bag-of-words F1 {:.2}%, pooled over all the words of the {} successful runs with ground \
             truth (long pages weigh more; the mean per document is under BY KIND AND SPLIT)",
            a.cer * 100.0,
            a.bow_f1 * 100.0,
            a.documents
        )
    }));
    body.push_str(&format!(
        "\nCPU attribution: process CPU {:.3} s, stage CPU {:.3} s, unattributed ({:.3} - {:.3}) / {:.3} = {:.2}%",
        b.process_cpu_seconds,
        b.stage_cpu_seconds,
        b.process_cpu_seconds,
        b.stage_cpu_seconds,
        b.process_cpu_seconds,
        b.unattributed_cpu_share * 100.0
    ));
    body.push_str(&format!(
        "\nPeak RSS (bench): {:.1} MB (engines and working images: +{:.1} MB)\n",
        b.peak_rss_mb, b.engine_rss_mb
    ));
    let mix = b.pages_by_engine();
    if mix.total() > 0 {
        body.push_str(&format!(
            "Pages by engine (distinct documents): Tesseract {}, PP-OCR {}\n",
            mix.tesseract, mix.ppocr
        ));
    }
    for (kind, n) in &b.errors {
        body.push_str(&format!("Errors: {kind}: {n}\n"));
    }
    if let Some(base) = &b.baseline {
        body.push_str(&format!(
            "Baseline: the tesseract CLI on the same {} documents, same model, --psm 3; ours {:.4} CPU-s/doc{}\n",
            base.cli.first().map_or(0, |c| c.documents),
            base.pipeline_cpu_seconds_per_doc,
            match (base.pipeline_cer, base.pipeline_bow_f1) {
                (Some(c), Some(f)) => format!(" (CER {:.2}%, BoW F1 {:.2}%)", c * 100.0, f * 100.0),
                _ => String::new(),
            }
        ));
        for cli in &base.cli {
            body.push_str(&format!(
                "Baseline {}: {:.4} CPU-s/doc (CER {:.2}%, BoW F1 {:.2}%) vs ours {:.4} = {:.2}x{}\n",
                cli.label,
                cli.cpu_seconds_per_doc,
                cli.cer * 100.0,
                cli.bow_f1 * 100.0,
                base.pipeline_cpu_seconds_per_doc,
                base.cpu_ratios.get(&cli.label).copied().unwrap_or(0.0),
                if cli.failures > 0 { format!("  ({} failures)", cli.failures) } else { String::new() }
            ));
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::bench::{PathSplit, StageSummary};

    #[allow(clippy::field_reassign_with_default)]
    fn summary() -> BenchSummary {
        let mut stages = BTreeMap::new();
        for stage in Stage::ALL {
            let cpu = if stage == Stage::Ocr { 0.4 } else { 0.01 };
            stages.insert(stage, StageSummary { cpu_seconds_per_doc: cpu, ..StageSummary::default() });
        }
        // 5 warm documents, 4 routed: the weighted average divides by 4, not 5.
        let mut paths = PathSplit::default();
        paths.fast = PathSummary {
            documents: 3,
            cpu_seconds_per_doc: 0.4,
            cer: Some(0.01),
            bow_f1: Some(0.9),
            ..Default::default()
        };
        paths.standard = PathSummary { documents: 1, cpu_seconds_per_doc: 0.8, ..Default::default() };
        BenchSummary {
            run_date: "2026-11-30T00:00:00Z".into(),
            documents: 6,
            warm_documents: 5,
            corpus_documents: 6,
            cpu_seconds_per_doc: 0.46,
            wall_seconds_per_doc: 0.5,
            stages,
            weighted_cpu_seconds_per_doc: paths.weighted_cpu_seconds_per_doc(),
            paths,
            cold_start: None,
            accuracy: None,
            process_cpu_seconds: 3.0,
            stage_cpu_seconds: 2.7,
            unattributed_cpu_share: 0.1,
            errors: BTreeMap::new(),
            peak_rss_mb: 100.0,
            engine_rss_mb: 50.0,
            flags: "defaults".into(),
            model: "best_int".into(),
            ocr_threads: 1,
            fast_path_threshold: 0.8,
            per_document: Vec::new(),
            baseline: None,
            text_layer_cpu_ratio: None,
            breakdown: None,
            host: None,
            cores: None,
        }
    }

    #[test]
    fn weighted_average_line_uses_the_routed_documents_as_divisor() {
        let text = render_section_3_1(&summary());
        assert!(text.contains("Weighted Avg:  (3 x 0.4000 + 1 x 0.8000) / 4 = 0.5000 s"), "{text}");
        assert!(text.contains("75.0% fast / 25.0% standard"), "{text}");
        assert!(text.contains("<- Expected dominant stage (confirmed)"), "{text}");
    }

    #[test]
    fn a_missing_stage_or_path_is_named_not_a_panic() {
        let mut s = summary();
        s.stages.remove(&Stage::Upload);
        s.paths = PathSplit::default();
        let text = render_section_3_1(&s);
        assert!(text.contains("upload:             not measured"), "{text}");
        assert!(text.contains("0 docs (not measured: no document took this path)"), "{text}");
        assert!(text.contains("Split:         not measured"), "{text}");
    }

    #[test]
    fn boxes_are_as_wide_as_their_widest_line() {
        let mut b = TextBox::new("T");
        b.push("abc");
        b.push("a");
        assert_eq!(b.render(&[1]), "┌─────┐\n│ T   │\n├─────┤\n│ abc │\n├─────┤\n│ a   │\n└─────┘\n");
    }
}
