//! The OCR engine the bench measured, and what its CPU buys against the other engines of the A/B comparison
//! (`bench --compare` engine rows, same run): the report names the engine its capacity arithmetic stands on.

use rythmiq_measure::{CompareResult, CompareRow};

/// The engine in a flags label (`…,engine=auto`); records written before engines existed ran Tesseract.
pub fn engine_of(flags: &str) -> &str {
    flags.split(',').find_map(|kv| kv.strip_prefix("engine=")).unwrap_or("tesseract")
}

/// One other engine against the measured one, from the same comparison run.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineDelta {
    pub engine: String,
    pub cpu_seconds_per_doc: f64,
    pub bow_f1: Option<f64>,
    /// The measured engine's row of the same run.
    pub ours_cpu_seconds_per_doc: f64,
    pub ours_bow_f1: Option<f64>,
}

impl EngineDelta {
    /// Ours minus theirs, CPU-s/doc.
    pub fn extra_cpu(&self) -> f64 {
        self.ours_cpu_seconds_per_doc - self.cpu_seconds_per_doc
    }

    /// Ours minus theirs, BoW F1 (0..1).
    pub fn extra_f1(&self) -> Option<f64> {
        self.ours_bow_f1.zip(self.bow_f1).map(|(a, b)| a - b)
    }
}

/// The comparison's rows that differ from the reference only by engine: the reference row and the `engine=` rows.
fn engine_rows(cmp: &CompareResult) -> impl Iterator<Item = &CompareRow> {
    cmp.rows.iter().enumerate().filter(|(i, r)| *i == 0 || r.label.starts_with("engine=")).map(|(_, r)| r)
}

/// The measured engine against every other engine of the comparison; empty when the comparison has no row of
/// the measured engine or no other engine.
pub fn engine_deltas(bench_flags: &str, cmp: Option<&CompareResult>) -> Vec<EngineDelta> {
    let Some(cmp) = cmp else { return Vec::new() };
    let ours = engine_of(bench_flags);
    let Some(our_row) = engine_rows(cmp).find(|r| engine_of(&r.flags) == ours) else { return Vec::new() };
    let mut seen = vec![ours.to_string()];
    let mut out = Vec::new();
    for r in engine_rows(cmp) {
        let engine = engine_of(&r.flags).to_string();
        if seen.contains(&engine) {
            continue;
        }
        seen.push(engine.clone());
        out.push(EngineDelta {
            engine,
            cpu_seconds_per_doc: r.cpu_seconds_per_doc,
            bow_f1: r.bow_f1,
            ours_cpu_seconds_per_doc: our_row.cpu_seconds_per_doc,
            ours_bow_f1: our_row.bow_f1,
        });
    }
    out
}

/// The report's text: the engine, then one line per other engine with the arithmetic.
pub fn engine_text(bench_flags: &str, cmp: Option<&CompareResult>) -> String {
    let ours = engine_of(bench_flags);
    let mut text = format!(
        "OCR engine: `{ours}` (from the bench's flags); every CPU figure and the capacity arithmetic below are this engine's.\n"
    );
    let deltas = engine_deltas(bench_flags, cmp);
    if deltas.is_empty() {
        text.push_str(if cmp.is_some() {
            "Other engines: the A/B comparison has no other engine's row (`rythmiq bench --compare --engines-only`).\n"
        } else {
            "Other engines: no A/B comparison given (`rythmiq bench --compare --engines-only`, then `--compare`).\n"
        });
        return text;
    }
    for d in deltas {
        let f1 = match (d.ours_bow_f1, d.bow_f1, d.extra_f1()) {
            (Some(a), Some(b), Some(x)) => {
                format!("BoW F1 {:.2}% - {:.2}% = {:+.2} points", a * 100.0, b * 100.0, x * 100.0)
            }
            _ => "BoW F1 not measured".to_string(),
        };
        let ratio = if d.cpu_seconds_per_doc > 0.0 {
            format!(" ({:.2}x)", d.ours_cpu_seconds_per_doc / d.cpu_seconds_per_doc)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "Against `{}` (same A/B run): {:.4} - {:.4} = {:+.4} CPU-s/doc{ratio}; {f1}.\n",
            d.engine,
            d.ours_cpu_seconds_per_doc,
            d.cpu_seconds_per_doc,
            d.extra_cpu()
        ));
    }
    text
}

/// The engine mix of the bench, in words with its arithmetic: which engine read how many pages.
pub fn engine_mix_text(mix: rythmiq_types::PagesByEngine) -> String {
    let total = mix.total();
    if total == 0 {
        return "Engine mix: not recorded by this bench (written before the mix was, or every page had a text layer).\n"
            .into();
    }
    let share = |n: u32| f64::from(n) / f64::from(total) * 100.0;
    format!(
        "Engine mix (distinct documents' pages, by the engine whose reading the result kept): Tesseract {} / {total} = {:.1}%, PP-OCR {} / {total} = {:.1}%.\n",
        mix.tesseract,
        share(mix.tesseract),
        mix.ppocr,
        share(mix.ppocr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, flags: &str, cpu: f64, f1: f64) -> CompareRow {
        CompareRow {
            label: label.into(),
            flags: flags.into(),
            cpu_seconds_per_doc: cpu,
            saving_percent: 0.0,
            cer: None,
            bow_f1: Some(f1),
            cer_delta: None,
            bow_f1_delta: None,
            p95_wall_secs: None,
            peak_rss_mb: None,
            by_kind: Vec::new(),
        }
    }

    #[test]
    fn the_engine_mix_is_stated_with_its_arithmetic() {
        let mix = rythmiq_types::PagesByEngine { tesseract: 3, ppocr: 1 };
        let text = engine_mix_text(mix);
        assert!(text.contains("Tesseract 3 / 4 = 75.0%, PP-OCR 1 / 4 = 25.0%"), "{text}");
        assert!(engine_mix_text(Default::default()).contains("not recorded"));
    }

    #[test]
    fn old_labels_without_an_engine_are_tesseract() {
        assert_eq!(engine_of("threads=1,resize=off,model=fast,cache=off"), "tesseract");
        assert_eq!(engine_of("threads=1,model=best_int,engine=auto"), "auto");
    }

    #[test]
    fn the_extra_cpu_and_what_it_buys_come_from_the_same_run() {
        let cmp = CompareResult {
            run_date: None,
            rows: vec![
                row("baseline", "model=best_int,engine=auto", 1.5, 0.89),
                row("model=fast", "model=fast,engine=auto", 1.2, 0.88),
                row("engine=tesseract", "model=best_int,engine=tesseract", 1.0, 0.78),
                row("engine=ppocr", "model=best_int,engine=ppocr", 3.0, 0.91),
            ],
        };
        let deltas = engine_deltas("model=best_int,engine=auto", Some(&cmp));
        let engines: Vec<&str> = deltas.iter().map(|d| d.engine.as_str()).collect();
        assert_eq!(engines, ["tesseract", "ppocr"], "the model=fast row is not an engine row");
        assert!((deltas[0].extra_cpu() - 0.5).abs() < 1e-12);
        assert!((deltas[0].extra_f1().unwrap() - 0.11).abs() < 1e-12);
        let text = engine_text("model=best_int,engine=auto", Some(&cmp));
        assert!(text.contains("OCR engine: `auto`"), "{text}");
        assert!(
            text.contains("1.5000 - 1.0000 = +0.5000 CPU-s/doc (1.50x); BoW F1 89.00% - 78.00% = +11.00 points"),
            "{text}"
        );
        assert!(text.contains("1.5000 - 3.0000 = -1.5000 CPU-s/doc (0.50x)"), "{text}");
        // A comparison without a row of the measured engine says nothing about engines.
        assert!(engine_deltas("model=best_int,engine=ppocr", Some(&CompareResult { run_date: None, rows: vec![] }))
            .is_empty());
        assert!(engine_text("engine=tesseract", None).contains("no A/B comparison given"));
        let no_engines = CompareResult { run_date: None, rows: vec![row("baseline", "engine=tesseract", 1.0, 0.8)] };
        assert!(engine_text("engine=tesseract", Some(&no_engines)).contains("no other engine's row"));
    }
}
