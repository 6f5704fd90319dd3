//! The OCR engine seam: a grey page in, blocks/lines/words with boxes and confidences out ([`PageEngine`]), with
//! Tesseract and PP-OCR behind it, and the `auto` engine's rule that combines them.
//!
//! `auto`, page by page ([`AutoRule`]):
//! 1. Before any OCR, from the page's shape and quality features: a page taller than `auto_ppocr_min_aspect` times
//!    its width (a receipt) or with a quality score below `auto_ppocr_below_score` is read by PP-OCR alone.
//! 2. Otherwise Tesseract reads it. When the page's mean confidence is below `auto_page_confidence`, PP-OCR reads
//!    the whole page instead (Tesseract missed the layout, not just some characters).
//! 3. Otherwise every line whose mean word confidence is below `auto_line_confidence` is re-read by PP-OCR's
//!    recogniser on Tesseract's own line box (no detection), and PP-OCR's reading replaces Tesseract's when
//!    PP-OCR is sure of it.
//!
//! Thresholds and the measurements that chose them: docs/tuning.md, engine section.

use rythmiq_imaging::GrayImage;
use rythmiq_ocr::{OcrEngine, OcrPage};
use rythmiq_ppocr::{PpOcrEngine, TextBox};
use rythmiq_types::{BBox, PipelineError};

/// Recognise one grey page. `dpi` and `psm` are hints an engine may ignore.
pub trait PageEngine {
    fn recognize_page(&mut self, img: &GrayImage, dpi: Option<u32>, psm: u32) -> Result<OcrPage, PipelineError>;
}

impl PageEngine for OcrEngine {
    fn recognize_page(&mut self, img: &GrayImage, dpi: Option<u32>, psm: u32) -> Result<OcrPage, PipelineError> {
        Ok(self.recognize(img, dpi, psm)?)
    }
}

impl PageEngine for PpOcrEngine {
    fn recognize_page(&mut self, img: &GrayImage, _dpi: Option<u32>, _psm: u32) -> Result<OcrPage, PipelineError> {
        let page = self.recognize(img)?;
        Ok(OcrPage { blocks: page.blocks, mean_confidence: page.mean_confidence })
    }
}

/// The `auto` engine's thresholds (from the pipeline config).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoRule {
    pub ppocr_min_aspect: Option<f64>,
    pub ppocr_below_score: Option<f64>,
    pub page_confidence: Option<f32>,
    pub line_confidence: f32,
}

/// Which engine reads a page first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstReader {
    Tesseract,
    Ppocr,
}

impl AutoRule {
    /// Step 1 of the rule: from the page's size (as it reaches OCR) and its quality score, before any OCR.
    pub fn first_reader(&self, width: u32, height: u32, quality_score: f64) -> FirstReader {
        let tall = self.ppocr_min_aspect.is_some_and(|a| height as f64 > a * width.max(1) as f64);
        let poor = self.ppocr_below_score.is_some_and(|q| quality_score < q);
        if tall || poor {
            FirstReader::Ppocr
        } else {
            FirstReader::Tesseract
        }
    }

    /// Step 2: whether Tesseract's page is poor enough that PP-OCR reads it again, whole.
    pub fn reread_page(&self, tesseract_mean_confidence: f32) -> bool {
        self.page_confidence.is_some_and(|min| tesseract_mean_confidence < min)
    }
}

/// What `auto` did on one page (for logs and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AutoOutcome {
    pub lines: usize,
    pub reread: usize,
    pub replaced: usize,
    pub whole_page: bool,
}

/// PP-OCR's minimum line score (0..1) for its reading to replace Tesseract's.
pub const AUTO_REPLACE_SCORE: f32 = 0.5;

/// Re-reads the lines of `page` whose mean word confidence is below `line_confidence` with PP-OCR recognition
/// on their boxes (grown by a quarter of the line height, as the detector's boxes are), replacing the words when
/// PP-OCR's line score is at least [`AUTO_REPLACE_SCORE`].
pub fn reread_doubtful_lines(
    page: &mut OcrPage,
    img: &GrayImage,
    pp: &mut PpOcrEngine,
    line_confidence: f32,
) -> Result<AutoOutcome, PipelineError> {
    let mut outcome = AutoOutcome::default();
    let mut targets: Vec<(usize, usize)> = Vec::new();
    let mut boxes: Vec<TextBox> = Vec::new();
    for (bi, block) in page.blocks.iter().enumerate() {
        for (li, line) in block.lines.iter().enumerate() {
            outcome.lines += 1;
            if line.words.is_empty() {
                continue;
            }
            let conf = line.words.iter().map(|w| w.confidence).sum::<f32>() / line.words.len() as f32;
            if conf >= line_confidence {
                continue;
            }
            if let Some(b) = padded(&line.bbox, img) {
                targets.push((bi, li));
                boxes.push(b);
            }
        }
    }
    outcome.reread = boxes.len();
    if boxes.is_empty() {
        return Ok(outcome);
    }
    let lines = pp.recognize_lines(img, &boxes)?;
    for ((bi, li), read) in targets.into_iter().zip(lines) {
        if read.score < AUTO_REPLACE_SCORE || read.words.is_empty() {
            continue;
        }
        page.blocks[bi].lines[li].words = read.words;
        outcome.replaced += 1;
    }
    let words: Vec<f32> =
        page.blocks.iter().flat_map(|b| &b.lines).flat_map(|l| &l.words).map(|w| w.confidence).collect();
    page.mean_confidence = if words.is_empty() { 0.0 } else { words.iter().sum::<f32>() / words.len() as f32 };
    Ok(outcome)
}

/// A line box grown by a quarter of its height on every side, clipped to the image; `None` when degenerate.
fn padded(b: &BBox, img: &GrayImage) -> Option<TextBox> {
    let pad = ((b.bottom - b.top) / 4).max(2);
    let (w, h) = (img.width() as i32, img.height() as i32);
    let t = TextBox {
        left: (b.left - pad).max(0),
        top: (b.top - pad).max(0),
        right: (b.right + pad).min(w - 1),
        bottom: (b.bottom + pad).min(h - 1),
        score: 1.0,
    };
    (t.width() > 3 && t.height() > 3).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reader_follows_shape_and_quality_and_none_means_never() {
        let rule = AutoRule {
            ppocr_min_aspect: Some(1.6),
            ppocr_below_score: Some(0.5),
            page_confidence: None,
            line_confidence: 0.0,
        };
        assert_eq!(rule.first_reader(500, 1200, 0.9), FirstReader::Ppocr, "a receipt: 2.4 x its width");
        assert_eq!(rule.first_reader(1000, 1400, 0.9), FirstReader::Tesseract, "a page: 1.4 x");
        assert_eq!(rule.first_reader(1000, 1600, 0.9), FirstReader::Tesseract, "exactly 1.6 x is not taller");
        assert_eq!(rule.first_reader(1000, 1400, 0.4), FirstReader::Ppocr, "a poor scan");
        let never = AutoRule { ppocr_min_aspect: None, ppocr_below_score: None, ..rule };
        assert_eq!(never.first_reader(100, 10_000, 0.0), FirstReader::Tesseract);
        assert!(!never.reread_page(0.0));
        let page = AutoRule { page_confidence: Some(60.0), ..never };
        assert!(page.reread_page(59.9) && !page.reread_page(60.0));
    }

    #[test]
    fn padding_grows_by_a_quarter_height_and_stays_inside() {
        let img = GrayImage::filled(100, 50, 255);
        let b = padded(&BBox { left: 2, top: 10, right: 90, bottom: 30 }, &img).expect("box");
        assert_eq!((b.left, b.top, b.right, b.bottom), (0, 5, 95, 35));
        assert!(padded(&BBox { left: 10, top: 10, right: 11, bottom: 11 }, &GrayImage::filled(100, 100, 0)).is_some());
        assert!(padded(&BBox { left: 0, top: 0, right: 1, bottom: 1 }, &GrayImage::filled(3, 3, 0)).is_none());
    }
}
