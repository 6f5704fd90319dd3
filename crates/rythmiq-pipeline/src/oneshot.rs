//! `rythmiq ocr FILE...`: the pipeline once per file, on this thread, printing to a writer (stdout) instead of
//! a queue and a database. Same stages, routing, flags and intake as the worker; the stores are a scratch
//! directory that is removed afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rythmiq_storage::{LocalStore, ObjectStore};
use rythmiq_types::{intake, ResultDocument};

use crate::{Pipeline, PipelineConfig};

/// What `rythmiq ocr` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Plain text, pages separated by a form feed (as the tesseract CLI does).
    Text,
    /// The result document (`schemas/result-document.v2.json`), one per line.
    Json,
    /// Tesseract's TSV columns: level, page_num, block_num, par_num, line_num, word_num, left, top, width,
    /// height, conf, text.
    Tsv,
    /// hOCR (HTML with `ocr_page`, `ocr_carea`, `ocr_line`, `ocrx_word` and their boxes).
    Hocr,
}

/// Parses `--pages`: `N` or `FIRST-LAST`, 1-based, inclusive.
pub fn parse_page_range(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("--pages takes N or FIRST-LAST (1-based), not {text:?}");
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (a.trim().parse::<u32>().map_err(|_| bad())?, b.trim().parse::<u32>().map_err(|_| bad())?),
        None => {
            let n = text.trim().parse::<u32>().map_err(|_| bad())?;
            (n, n)
        }
    };
    if first == 0 || last < first {
        return Err(bad());
    }
    Ok((first, last))
}

/// One file's outcome.
#[derive(Debug)]
pub struct FileOutcome {
    pub file: PathBuf,
    /// The error kind and message when the file failed.
    pub error: Option<(rythmiq_types::ErrorKind, String)>,
}

/// Runs every file through the pipeline and prints its results to `out` in `format`. A file that fails is
/// reported in its outcome (and on stderr by the caller); the others still run.
pub fn run_ocr(
    config: PipelineConfig,
    files: &[PathBuf],
    format: OutputFormat,
    page_range: Option<(u32, u32)>,
    out: &mut dyn Write,
) -> Result<Vec<FileOutcome>, String> {
    let scratch =
        tempfile::Builder::new().prefix("rythmiq-ocr-").tempdir().map_err(|e| format!("scratch directory: {e}"))?;
    let open = |dir: &Path| -> Result<Arc<dyn ObjectStore>, String> {
        Ok(Arc::new(LocalStore::new(dir).map_err(|e| format!("scratch store: {e}"))?))
    };
    let input = open(&scratch.path().join("in"))?;
    let output = open(&scratch.path().join("out"))?;
    let mut pipeline = Pipeline::new(config, input.clone(), output).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    let mut outcomes = Vec::with_capacity(files.len());
    let mut printed = 0usize;
    if format == OutputFormat::Tsv {
        writeln!(out, "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext")
            .map_err(|e| e.to_string())?;
    }
    for (file_idx, file) in files.iter().enumerate() {
        let fail = |kind, message: String| FileOutcome { file: file.clone(), error: Some((kind, message)) };
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                outcomes.push(fail(rythmiq_types::ErrorKind::NotFound, format!("cannot read {}: {e}", file.display())));
                continue;
            }
        };
        // The same intake as the API and `enqueue`.
        if let Err(err) = intake::validate(&bytes) {
            outcomes.push(fail(err.kind, err.message));
            continue;
        }
        let key = format!("inputs/{file_idx}");
        let store = input.clone();
        runtime.block_on(store.put(&key, bytes, "application/octet-stream")).map_err(|e| e.to_string())?;
        let processed = pipeline.process_pages(&file.display().to_string(), &key, page_range);
        match (processed.result, processed.run.error) {
            (Some(result), None) => {
                write_result(&result, format, printed, out).map_err(|e| e.to_string())?;
                printed += 1;
                outcomes.push(FileOutcome { file: file.clone(), error: None });
            }
            (_, Some((kind, message))) => outcomes.push(fail(kind, message)),
            (None, None) => outcomes.push(fail(rythmiq_types::ErrorKind::Internal, "no result".into())),
        }
    }
    Ok(outcomes)
}

/// Prints one document; `n_before` documents were printed before it (for separators and TSV page numbers).
pub fn write_result(
    result: &ResultDocument,
    format: OutputFormat,
    n_before: usize,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        OutputFormat::Text => {
            for (i, page) in result.pages.iter().enumerate() {
                if i > 0 || n_before > 0 {
                    out.write_all(b"\x0c")?;
                }
                out.write_all(page.text.as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        OutputFormat::Json => {
            serde_json::to_writer(&mut *out, result)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Tsv => {
            for page in &result.pages {
                let page_num = page.page_idx + 1;
                writeln!(out, "1\t{page_num}\t0\t0\t0\t0\t0\t0\t{}\t{}\t-1\t", page.width_px, page.height_px)?;
                for (b, block) in page.blocks.iter().enumerate() {
                    let bb = block.bbox;
                    writeln!(
                        out,
                        "2\t{page_num}\t{}\t0\t0\t0\t{}\t{}\t{}\t{}\t-1\t",
                        b + 1,
                        bb.left,
                        bb.top,
                        bb.right - bb.left,
                        bb.bottom - bb.top
                    )?;
                    for (l, line) in block.lines.iter().enumerate() {
                        let lb = line.bbox;
                        writeln!(
                            out,
                            "4\t{page_num}\t{}\t1\t{}\t0\t{}\t{}\t{}\t{}\t-1\t",
                            b + 1,
                            l + 1,
                            lb.left,
                            lb.top,
                            lb.right - lb.left,
                            lb.bottom - lb.top
                        )?;
                        for (w, word) in line.words.iter().enumerate() {
                            let wb = word.bbox;
                            writeln!(
                                out,
                                "5\t{page_num}\t{}\t1\t{}\t{}\t{}\t{}\t{}\t{}\t{:.2}\t{}",
                                b + 1,
                                l + 1,
                                w + 1,
                                wb.left,
                                wb.top,
                                wb.right - wb.left,
                                wb.bottom - wb.top,
                                word.confidence,
                                word.text.replace(['\t', '\n'], " ")
                            )?;
                        }
                    }
                }
            }
        }
        OutputFormat::Hocr => {
            writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\n<head><meta charset=\"utf-8\"/><meta name=\"ocr-system\" content=\"rythmiq\"/>\n<meta name=\"ocr-capabilities\" content=\"ocr_page ocr_carea ocr_line ocrx_word\"/></head>\n<body>")?;
            for page in &result.pages {
                let p = page.page_idx + 1;
                writeln!(
                    out,
                    "<div class=\"ocr_page\" id=\"page_{p}\" title=\"bbox 0 0 {} {}; ppageno {}\">",
                    page.width_px, page.height_px, page.page_idx
                )?;
                for (b, block) in page.blocks.iter().enumerate() {
                    let bb = block.bbox;
                    writeln!(
                        out,
                        "<div class=\"ocr_carea\" id=\"block_{p}_{}\" title=\"bbox {} {} {} {}\">",
                        b + 1,
                        bb.left,
                        bb.top,
                        bb.right,
                        bb.bottom
                    )?;
                    for (l, line) in block.lines.iter().enumerate() {
                        let lb = line.bbox;
                        write!(
                            out,
                            "<span class=\"ocr_line\" id=\"line_{p}_{}_{}\" title=\"bbox {} {} {} {}\">",
                            b + 1,
                            l + 1,
                            lb.left,
                            lb.top,
                            lb.right,
                            lb.bottom
                        )?;
                        for (w, word) in line.words.iter().enumerate() {
                            let wb = word.bbox;
                            write!(
                                out,
                                "<span class=\"ocrx_word\" id=\"word_{p}_{}_{}_{}\" title=\"bbox {} {} {} {}; x_wconf {}\">{}</span> ",
                                b + 1, l + 1, w + 1, wb.left, wb.top, wb.right, wb.bottom, word.confidence.round() as i32, html_escape(&word.text)
                            )?;
                        }
                        writeln!(out, "</span>")?;
                    }
                    writeln!(out, "</div>")?;
                }
                writeln!(out, "</div>")?;
            }
            writeln!(out, "</body>\n</html>")?;
        }
    }
    Ok(())
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_ranges() {
        assert_eq!(parse_page_range("1-3"), Ok((1, 3)));
        assert_eq!(parse_page_range("2"), Ok((2, 2)));
        assert!(parse_page_range("0-2").is_err());
        assert!(parse_page_range("3-1").is_err());
        assert!(parse_page_range("a").is_err());
    }
}
