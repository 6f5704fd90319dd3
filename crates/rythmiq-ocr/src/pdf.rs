//! PDFs through poppler's command-line tools (`pdfinfo`, `pdftotext`, `pdfimages`, `pdftoppm`), each run as a
//! sandboxed child process (`sandbox.rs`): a hostile PDF that crashes the parser or exhausts memory kills a child,
//! never the worker. The choice and its measurements are in the crate README.
//!
//! Order of work, cheapest first, so a bomb is refused from its structure before anything is rendered:
//! 1. our own linear scan of the raw bytes for nesting depth (bounded memory: a counter);
//! 2. `pdfinfo`: encryption, page count (refused above `max_pages`), every page's size (refused when the page at
//!    `pdf_dpi` would be above `max_image_pixels`);
//! 3. `pdftotext -bbox-layout` for every page's text layer and `pdfimages -list` for how much of each page its
//!    images cover, which together decide the page's route ([`text_layer_usable`]);
//! 4. `pdftoppm -gray` for each page that needs OCR, one page at a time, when the pipeline reaches it.

use std::ffi::OsStr;
use std::io::Write;

use rythmiq_imaging::GrayImage;
use rythmiq_types::{BBox, Line, Word};

use crate::decode::{DecodeError, DecodeLimits, MIN_SIDE_PX};
use crate::sandbox::{run_tool, ToolOutput};

/// Deepest nesting of arrays and dictionaries accepted in the file's own (uncompressed) syntax. Real documents
/// nest a handful of levels; poppler recurses per level.
pub const MAX_NESTING: u32 = 256;

/// A text layer is taken as the page's text, without OCR, when the page is not a scan (its images cover less
/// than this share of it), or when the text is "real": at least [`MIN_REAL_CHARS`] visible characters of which at
/// most [`MAX_GARBAGE_SHARE`] are not letters, digits or common punctuation.
pub const SCAN_COVER_SHARE: f64 = 0.5;
pub const MIN_REAL_CHARS: usize = 20;
pub const MAX_GARBAGE_SHARE: f64 = 0.1;

/// One page as the structure describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PdfPage {
    /// Size in points (1/72 inch), after the page's rotation.
    pub width_pt: f64,
    pub height_pt: f64,
    /// Share of the page's area that its images cover (0 when it has none; can exceed 1 with overlaps).
    pub image_cover: f64,
    /// The text layer's words, in points from the page's top-left corner.
    pub blocks: Vec<TextBlock>,
}

/// A block of the text layer: lines of words with their boxes `[x_min, y_min, x_max, y_max]` in points.
#[derive(Clone, Debug, PartialEq)]
pub struct TextBlock {
    pub lines: Vec<Vec<(String, [f64; 4])>>,
}

impl PdfPage {
    /// Visible characters of the text layer.
    pub fn text_chars(&self) -> impl Iterator<Item = char> + '_ {
        self.blocks.iter().flat_map(|b| b.lines.iter()).flat_map(|l| l.iter()).flat_map(|(w, _)| w.chars())
    }
}

/// Whether `page`'s text layer is used instead of OCR (see the constants above for the rule).
pub fn text_layer_usable(page: &PdfPage) -> bool {
    let n_chars = page.text_chars().filter(|c| !c.is_whitespace()).count();
    if page.image_cover < SCAN_COVER_SHARE {
        // Not a scan: what the text layer holds is the page's text (possibly none: an empty page).
        return true;
    }
    let garbage = page
        .text_chars()
        .filter(|c| !(c.is_whitespace() || c.is_alphanumeric() || ".,;:!?'\"()[]-/&%$#@*+=<>€£".contains(*c)))
        .count();
    n_chars >= MIN_REAL_CHARS && (garbage as f64) <= MAX_GARBAGE_SHARE * n_chars as f64
}

/// An opened PDF: its pages' structure and text layers, and a private copy of its bytes for the renderer.
pub struct PdfDocument {
    file: tempfile::NamedTempFile,
    pub pages: Vec<PdfPage>,
    /// CPU of the child processes run so far, seconds.
    pub tool_cpu_seconds: f64,
}

impl std::fmt::Debug for PdfDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfDocument").field("n_pages", &self.pages.len()).finish()
    }
}

fn tool(program: &str, args: &[&OsStr], limits: &DecodeLimits) -> Result<ToolOutput, DecodeError> {
    let cwd = std::env::temp_dir();
    run_tool(program, args, &cwd, limits.pdf_tool).map_err(|e| DecodeError::Tool(format!("{program}: {e}")))
}

/// Exit code 127 from `sh`/`timeout` means the program itself is missing: a deployment fault, not the PDF's.
fn check_installed(program: &str, out: &ToolOutput) -> Result<(), DecodeError> {
    if out.exit_code == Some(127) || out.exit_code == Some(126) {
        return Err(DecodeError::Tool(format!("{program} is not installed (Debian: poppler-utils)")));
    }
    Ok(())
}

/// Maximum nesting of `[` and `<<` in the file's syntax, skipping comments, strings and stream bodies; stops
/// counting at `limit + 1`.
pub fn nesting_depth(bytes: &[u8], limit: u32) -> u32 {
    let (mut depth, mut max) = (0u32, 0u32);
    let mut i = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'(' => {
                // A literal string: balanced parentheses, backslash escapes.
                let mut level = 0u32;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b'(' => level += 1,
                        b')' => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 1;
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b's' if bytes[i..].starts_with(b"stream") && (i == 0 || !bytes[i - 1].is_ascii_alphabetic()) => {
                // Binary data until "endstream".
                let body = &bytes[i + 6..];
                match body.windows(9).position(|w| w == b"endstream") {
                    Some(end) => i += 6 + end + 9,
                    None => break,
                }
                continue;
            }
            _ => {}
        }
        max = max.max(depth);
        if max > limit {
            return max;
        }
        i += 1;
    }
    max
}

/// Opens a PDF: refuses bombs, encrypted and corrupt files from their structure, then reads every page's size,
/// text layer and image cover.
pub fn open_pdf(bytes: &[u8], limits: &DecodeLimits) -> Result<PdfDocument, DecodeError> {
    let depth = nesting_depth(bytes, MAX_NESTING);
    if depth > MAX_NESTING {
        return Err(DecodeError::CorruptDocument(format!("objects nested deeper than {MAX_NESTING} levels")));
    }
    let mut file = tempfile::Builder::new()
        .prefix("rythmiq-pdf-")
        .suffix(".pdf")
        .tempfile()
        .map_err(|e| DecodeError::Tool(format!("scratch file: {e}")))?;
    file.write_all(bytes).and_then(|_| file.flush()).map_err(|e| DecodeError::Tool(format!("scratch file: {e}")))?;
    let path = file.path().as_os_str().to_owned();
    let mut cpu = 0.0;

    let last = limits.max_pages.to_string();
    let info =
        tool("pdfinfo", &[OsStr::new("-f"), OsStr::new("1"), OsStr::new("-l"), OsStr::new(&last), &path], limits)?;
    cpu += info.cpu_seconds;
    check_installed("pdfinfo", &info)?;
    let info_text = String::from_utf8_lossy(&info.stdout);
    if info.stderr.contains("Incorrect password")
        || field(&info_text, "Encrypted:").is_some_and(|v| v.starts_with("yes"))
    {
        return Err(DecodeError::Encrypted);
    }
    if !info.success() {
        let why =
            if info.exit_code.is_none() { "the parser was stopped by its limits".to_string() } else { info.stderr };
        return Err(DecodeError::CorruptDocument(why));
    }
    let n_pages: u64 = field(&info_text, "Pages:")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| DecodeError::CorruptDocument("no page count".into()))?;
    if n_pages == 0 {
        return Err(DecodeError::CorruptDocument("no pages".into()));
    }
    if n_pages > limits.max_pages as u64 {
        return Err(DecodeError::TooManyPages { n_pages, limit: limits.max_pages });
    }
    let mut pages = page_sizes(&info_text, n_pages as usize)?;
    for page in &pages {
        let (w, h) = px_size(page.width_pt, page.height_pt, limits.pdf_dpi);
        let pixels = w as u64 * h as u64;
        if pixels > limits.max_image_pixels {
            return Err(DecodeError::TooLarge { width: w, height: h, pixels, limit: limits.max_image_pixels });
        }
    }

    let text = tool(
        "pdftotext",
        &[OsStr::new("-bbox-layout"), OsStr::new("-enc"), OsStr::new("UTF-8"), &path, OsStr::new("-")],
        limits,
    )?;
    cpu += text.cpu_seconds;
    check_installed("pdftotext", &text)?;
    if !text.success() {
        return Err(DecodeError::CorruptDocument(format!("text layer unreadable: {}", text.stderr)));
    }
    let layers = parse_bbox_layout(&String::from_utf8_lossy(&text.stdout));
    for (page, blocks) in pages.iter_mut().zip(layers) {
        page.blocks = blocks;
    }

    let images = tool("pdfimages", &[OsStr::new("-list"), &path], limits)?;
    cpu += images.cpu_seconds;
    check_installed("pdfimages", &images)?;
    if images.success() {
        for (page_no, area_pt2) in image_areas(&String::from_utf8_lossy(&images.stdout)) {
            if let Some(page) = pages.get_mut(page_no.wrapping_sub(1)) {
                page.image_cover += area_pt2 / (page.width_pt * page.height_pt).max(1.0);
            }
        }
    } else {
        // Without the image list every page is treated as a scan: its text layer must prove itself real.
        pages.iter_mut().for_each(|p| p.image_cover = 1.0);
    }
    Ok(PdfDocument { file, pages, tool_cpu_seconds: cpu })
}

/// Page size in pixels at `dpi`.
pub fn px_size(width_pt: f64, height_pt: f64, dpi: u32) -> (u32, u32) {
    let px = |pt: f64| (pt * dpi as f64 / 72.0).ceil().clamp(0.0, u32::MAX as f64) as u32;
    (px(width_pt), px(height_pt))
}

impl PdfDocument {
    /// Renders page `page_idx` (0-based) in grey at `limits.pdf_dpi`; returns the image and the renderer's CPU.
    pub fn render(&self, page_idx: u32, limits: &DecodeLimits) -> Result<(GrayImage, f64), DecodeError> {
        let page =
            self.pages.get(page_idx as usize).ok_or_else(|| DecodeError::CorruptDocument("no such page".into()))?;
        let (w, h) = px_size(page.width_pt, page.height_pt, limits.pdf_dpi);
        if w < MIN_SIDE_PX || h < MIN_SIDE_PX {
            return Err(DecodeError::Degenerate { width: w, height: h });
        }
        let n = (page_idx + 1).to_string();
        let dpi = limits.pdf_dpi.to_string();
        let path = self.file.path().as_os_str();
        let mut tool_limits = *limits;
        // The output is one grey byte per pixel plus a short header; anything longer is not what we asked for.
        tool_limits.pdf_tool.max_output_bytes = w as u64 * h as u64 * 2 + 4096;
        let out = tool(
            "pdftoppm",
            &[
                OsStr::new("-f"),
                OsStr::new(&n),
                OsStr::new("-l"),
                OsStr::new(&n),
                OsStr::new("-r"),
                OsStr::new(&dpi),
                OsStr::new("-gray"),
                path,
            ],
            &tool_limits,
        )?;
        check_installed("pdftoppm", &out)?;
        if !out.success() {
            let why =
                if out.exit_code.is_none() { "the renderer was stopped by its limits".to_string() } else { out.stderr };
            return Err(DecodeError::CorruptDocument(format!("page {} does not render: {why}", page_idx + 1)));
        }
        let image = parse_pgm(&out.stdout)
            .ok_or_else(|| DecodeError::CorruptDocument(format!("page {} rendered to no image", page_idx + 1)))?;
        Ok((image, out.cpu_seconds))
    }
}

/// The value after `name` on the first line that starts with it.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(name)).map(str::trim)
}

/// Per-page sizes from `pdfinfo -f 1 -l N`: "Page    1 size: 612 x 792 pts (letter)" and "Page    1 rot:  90".
fn page_sizes(info: &str, n_pages: usize) -> Result<Vec<PdfPage>, DecodeError> {
    let mut pages: Vec<PdfPage> = Vec::with_capacity(n_pages);
    for line in info.lines() {
        let Some(rest) = line.strip_prefix("Page") else { continue };
        let mut parts = rest.split_whitespace();
        let (Some(no), Some(what)) = (parts.next().and_then(|v| v.parse::<usize>().ok()), parts.next()) else {
            continue;
        };
        match what {
            "size:" => {
                let dims: Vec<f64> = parts.take(3).filter_map(|v| v.parse().ok()).collect();
                if dims.len() == 2 && no == pages.len() + 1 {
                    pages.push(PdfPage { width_pt: dims[0], height_pt: dims[1], image_cover: 0.0, blocks: Vec::new() });
                }
            }
            "rot:" => {
                let rot: i64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                if let Some(page) = pages.get_mut(no.wrapping_sub(1)) {
                    if rot.rem_euclid(180) == 90 {
                        std::mem::swap(&mut page.width_pt, &mut page.height_pt);
                    }
                }
            }
            _ => {}
        }
    }
    let bad = pages.len() != n_pages
        || pages
            .iter()
            .any(|p| !(p.width_pt.is_finite() && p.height_pt.is_finite() && p.width_pt > 0.0 && p.height_pt > 0.0));
    if bad {
        return Err(DecodeError::CorruptDocument("page sizes unreadable".into()));
    }
    Ok(pages)
}

/// `pdfimages -list` rows: page, num, type, width, height, color, comp, bpc, enc, interp, object, ID, x-ppi,
/// y-ppi, ...; the area each image covers on its page, in square points.
fn image_areas(list: &str) -> Vec<(usize, f64)> {
    list.lines()
        .skip(2)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 14 || cols[2] == "smask" || cols[2] == "mask" {
                return None;
            }
            let page: usize = cols[0].parse().ok()?;
            let (w, h): (f64, f64) = (cols[3].parse().ok()?, cols[4].parse().ok()?);
            let (xppi, yppi): (f64, f64) = (cols[12].parse().ok()?, cols[13].parse().ok()?);
            (xppi > 0.0 && yppi > 0.0).then(|| (page, (w / xppi * 72.0) * (h / yppi * 72.0)))
        })
        .collect()
}

/// The pages of `pdftotext -bbox-layout` output: blocks of lines of words with their boxes (points, top-left
/// origin). The format is poppler's own XHTML: one tag per line, attributes in a fixed order.
fn parse_bbox_layout(xhtml: &str) -> Vec<Vec<TextBlock>> {
    let mut pages: Vec<Vec<TextBlock>> = Vec::new();
    let mut rest = xhtml;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        let name = tag.split_whitespace().next().unwrap_or("");
        match name {
            "page" => pages.push(Vec::new()),
            "block" => {
                if let Some(page) = pages.last_mut() {
                    page.push(TextBlock { lines: Vec::new() });
                }
            }
            "line" => {
                if let Some(block) = pages.last_mut().and_then(|p| p.last_mut()) {
                    block.lines.push(Vec::new());
                }
            }
            "word" => {
                let text_end = rest[end..].find("</word>").map(|i| end + i).unwrap_or(end);
                let text = unescape(rest.get(end + 1..text_end).unwrap_or(""));
                let attr = |key: &str| -> f64 {
                    tag.split_whitespace()
                        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix("=\"")?.strip_suffix('"')?.parse().ok())
                        .unwrap_or(0.0)
                };
                let bbox = [attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax")];
                if let Some(line) = pages.last_mut().and_then(|p| p.last_mut()).and_then(|b| b.lines.last_mut()) {
                    if !text.trim().is_empty() {
                        line.push((text, bbox));
                    }
                }
            }
            _ => {}
        }
    }
    for page in &mut pages {
        for block in page.iter_mut() {
            block.lines.retain(|l| !l.is_empty());
        }
        page.retain(|b| !b.lines.is_empty());
    }
    pages
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A binary PGM (`P5`, maxval 255) as poppler writes it.
fn parse_pgm(bytes: &[u8]) -> Option<GrayImage> {
    let mut fields = Vec::with_capacity(4);
    let mut pos = 0usize;
    while fields.len() < 4 {
        while bytes.get(pos)?.is_ascii_whitespace() {
            pos += 1;
        }
        let start = pos;
        while !bytes.get(pos)?.is_ascii_whitespace() {
            pos += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..pos]).ok()?);
    }
    if fields[0] != "P5" || fields[3] != "255" {
        return None;
    }
    let (w, h): (u32, u32) = (fields[1].parse().ok()?, fields[2].parse().ok()?);
    let data = bytes.get(pos + 1..pos + 1 + w as usize * h as usize)?;
    GrayImage::from_raw(w, h, data.to_vec())
}

/// Converts a text-layer page from points to pixels at `dpi`, in the result's block/line/word shape (confidence
/// 100: the text is the document's own).
pub fn blocks_to_px(blocks: &[TextBlock], dpi: u32) -> Vec<rythmiq_types::Block> {
    let s = dpi as f64 / 72.0;
    let px = |b: [f64; 4]| BBox {
        left: (b[0] * s).floor() as i32,
        top: (b[1] * s).floor() as i32,
        right: (b[2] * s).ceil() as i32,
        bottom: (b[3] * s).ceil() as i32,
    };
    let union = |boxes: &mut dyn Iterator<Item = BBox>| {
        boxes
            .reduce(|a, b| BBox {
                left: a.left.min(b.left),
                top: a.top.min(b.top),
                right: a.right.max(b.right),
                bottom: a.bottom.max(b.bottom),
            })
            .unwrap_or_default()
    };
    blocks
        .iter()
        .map(|b| {
            let lines: Vec<Line> = b
                .lines
                .iter()
                .map(|l| {
                    let words: Vec<Word> =
                        l.iter().map(|(t, bb)| Word { text: t.clone(), bbox: px(*bb), confidence: 100.0 }).collect();
                    Line { bbox: union(&mut words.iter().map(|w| w.bbox)), words }
                })
                .collect();
            rythmiq_types::Block { bbox: union(&mut lines.iter().map(|l| l.bbox)), lines }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_and_streams() {
        assert_eq!(nesting_depth(b"<< /A [1 [2]] >>", 10), 3);
        assert_eq!(nesting_depth(b"<< /A (((([[[[) >>", 10), 1);
        assert_eq!(nesting_depth(b"<< /Length 4 >>\nstream\n[[[[\nendstream", 10), 1);
        let deep = [b"[".repeat(1000), b"]".repeat(1000)].concat();
        assert_eq!(nesting_depth(&deep, 256), 257);
    }

    #[test]
    fn bbox_layout_is_parsed() {
        let xhtml = r#"<doc><page width="612" height="792"><flow><block xMin="1" yMin="2" xMax="3" yMax="4">
<line xMin="1" yMin="2" xMax="3" yMax="4"><word xMin="56.5" yMin="24.1" xMax="76.7" yMax="34.2">Tom&amp;Jerry</word>
</line></block></flow></page><page width="612" height="792"></page></doc>"#;
        let pages = parse_bbox_layout(xhtml);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0][0].lines[0][0], ("Tom&Jerry".to_string(), [56.5, 24.1, 76.7, 34.2]));
        assert!(pages[1].is_empty());
        let px = blocks_to_px(&pages[0], 144);
        assert_eq!(px[0].lines[0].words[0].bbox, BBox { left: 113, top: 48, right: 154, bottom: 69 });
    }

    #[test]
    fn garbage_layer_over_a_scan_is_not_used() {
        let words =
            |t: &str| vec![TextBlock { lines: vec![t.split(' ').map(|w| (w.to_string(), [0.0; 4])).collect()] }];
        let scan = |t: &str| PdfPage { width_pt: 612.0, height_pt: 792.0, image_cover: 1.0, blocks: words(t) };
        assert!(text_layer_usable(&scan("The quick brown dog jumped over the lazy fox.")));
        assert!(!text_layer_usable(&scan("~~ ^^ `` ||| ~~ ^^ `` ||| ~~ ^^ `` |||")));
        assert!(!text_layer_usable(&scan("p. 3")), "too little text to stand for a scanned page");
        let born_digital = PdfPage { image_cover: 0.0, ..scan("p. 3") };
        assert!(text_layer_usable(&born_digital));
    }
}
