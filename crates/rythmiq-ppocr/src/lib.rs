//! PP-OCR on ONNX Runtime: DB text detection and CTC text recognition (PP-OCRv6 "small", as RapidOCR 3.10 ships
//! them), loaded from `models/ppocr/` with their sha256 checked, run on one thread.
//!
//! - [`PpOcrEngine::load`]: loads `libonnxruntime` (once per process, from a configurable path) and both models.
//! - [`PpOcrEngine::recognize`]: a grey page to blocks, lines and words with boxes and confidences, the shape the
//!   pipeline already consumes from Tesseract.
//! - [`PpOcrEngine::recognize_lines`]: recognition only, on given line boxes (the `auto` engine re-reads the lines
//!   Tesseract was unsure of).
//!
//! ONNX Runtime runs with one intra-op and one inter-op thread, sequential execution and no spinning, so it
//! creates no thread of its own and all its CPU lands on the calling (pipeline) thread's clock.
//!
//! This crate has no `unsafe` of its own; the `ort` crate holds the FFI.

pub mod det;
pub mod rec;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::execution_providers::CPUExecutionProvider;
use ort::session::Session;
use ort::value::Tensor;
use rythmiq_imaging::GrayImage;
use rythmiq_types::{BBox, Block, Line, Word};
use sha2::{Digest, Sha256};

pub use det::{DetParams, TextBox};

/// The models, relative to the models root, with the sha256 each must have.
pub const DET_MODEL: &str = "ppocr/PP-OCRv6_det_small.onnx";
pub const DET_SHA256: &str = "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f";
pub const REC_MODEL: &str = "ppocr/PP-OCRv6_rec_small.onnx";
pub const REC_SHA256: &str = "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884";

/// Where the project's set-up script installs the runtime (relative to the repository root).
pub const DEFAULT_RUNTIME_PATH: &str = "target/tools/onnxruntime/libonnxruntime.so";
/// The `onnxruntime` wheel version the set-up script installs; `ort` speaks its C API version 22 or later.
pub const RUNTIME_VERSION: &str = "1.32.0";

/// Pages with a longer side above this are scaled down before detection (the reference's `max_side_len`); the
/// default of [`PpOcrOptions::max_side_len`].
pub const MAX_SIDE_LEN: u32 = 2000;
/// Lines whose mean character probability is below this are dropped (the reference's `text_score`).
pub const TEXT_SCORE: f32 = 0.5;

#[derive(Debug, thiserror::Error)]
pub enum PpOcrError {
    #[error("ONNX Runtime library {path} is missing (run scripts/setup, or set RYTHMIQ_ORT_LIB)")]
    RuntimeMissing { path: PathBuf },
    #[error("ONNX Runtime could not start from {path}: {message}")]
    Runtime { path: PathBuf, message: String },
    #[error("model file {path} is missing or unreadable: {source}")]
    ModelUnreadable { path: PathBuf, source: std::io::Error },
    #[error("model file {path} has sha256 {actual}, expected {expected} (truncated copy or LFS pointer?)")]
    Checksum { path: PathBuf, expected: String, actual: String },
    #[error("model {path} could not be loaded: {message}")]
    ModelLoad { path: PathBuf, message: String },
    #[error("the recognition model carries no character dictionary")]
    NoDictionary,
    #[error("inference failed in {step}: {message}")]
    Inference { step: &'static str, message: String },
}

impl From<PpOcrError> for rythmiq_types::PipelineError {
    fn from(err: PpOcrError) -> Self {
        use rythmiq_types::ErrorKind;
        let kind = match err {
            PpOcrError::Inference { .. } => ErrorKind::OcrFailed,
            _ => ErrorKind::Internal,
        };
        rythmiq_types::PipelineError::new(kind, err.to_string())
    }
}

/// What the engine found on one page: the same shape as Tesseract's output.
#[derive(Clone, Debug, Default)]
pub struct PpPage {
    pub blocks: Vec<Block>,
    /// Mean word confidence, 0..100 (0 when no word).
    pub mean_confidence: f32,
}

/// One recognised line: text, boxes per word and the line's mean character probability.
#[derive(Clone, Debug, PartialEq)]
pub struct RecognisedLine {
    pub bbox: BBox,
    pub words: Vec<Word>,
    pub score: f32,
}

/// How the engine runs: the page size limit, the detector's parameters and ONNX Runtime's memory options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PpOcrOptions {
    /// Pages with a longer side above this are scaled down (sides multiples of 32) before detection.
    pub max_side_len: u32,
    pub det: DetParams,
    /// ONNX Runtime's CPU memory arena: keeps the largest buffers ever needed for the life of the session.
    pub cpu_arena: bool,
    /// ONNX Runtime's memory pattern: pre-plans one block per input shape (shapes vary with every page here).
    pub memory_pattern: bool,
    /// Line crops per recognition call (RapidOCR's `rec_batch_num` is 6).
    pub rec_batch: usize,
    /// Detection runs on horizontal strips of this many input rows (0: the whole page at once), each seen with
    /// [`DET_STRIP_CONTEXT`] rows of context above and below: the detector's memory grows with its input's area.
    pub det_strip_rows: u32,
}

/// Rows of context above and below each detection strip (input pixels; a multiple of 32).
pub const DET_STRIP_CONTEXT: u32 = 64;

/// The detector's input floor the engine ships with (RapidOCR's is 736): measured on the tune split, 512 reads as
/// well for less CPU (docs/tuning.md).
pub const DET_MIN_SIDE: u32 = 512;
/// Detection strip height the engine ships with (crate README, memory).
pub const DET_STRIP_ROWS: u32 = 128;

impl Default for PpOcrOptions {
    /// What the engine ships with, measured (crate README, memory and CPU): arena and memory pattern off (with
    /// inputs whose shape changes on every page they hold the peak of every shape seen), detection in strips of
    /// [`DET_STRIP_ROWS`] rows, one line per recognition call (no padding to the widest line of a batch), and the
    /// detector's input floor at [`DET_MIN_SIDE`].
    fn default() -> Self {
        PpOcrOptions {
            max_side_len: MAX_SIDE_LEN,
            det: DetParams { limit_side_len: DET_MIN_SIDE, ..DetParams::default() },
            cpu_arena: false,
            memory_pattern: false,
            rec_batch: 1,
            det_strip_rows: DET_STRIP_ROWS,
        }
    }
}

impl PpOcrOptions {
    /// RapidOCR 3.10's settings (the reference the crate README compares with): whole-page detection with the
    /// input floor at 736, six lines per recognition call.
    pub fn reference() -> Self {
        PpOcrOptions { det: DetParams::default(), rec_batch: rec::REC_BATCH, det_strip_rows: 0, ..Self::default() }
    }
}

/// Thread CPU seconds spent in each phase since the engine was loaded (what the README's profile prints).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseCpu {
    /// Page resize and the detector's input tensor.
    pub det_pre: f64,
    pub det_infer: f64,
    /// Probability map to boxes.
    pub det_post: f64,
    /// Crops, their resize and the batch tensors.
    pub rec_pre: f64,
    pub rec_infer: f64,
    /// CTC decoding and word boxes.
    pub rec_post: f64,
    pub pages: u64,
    pub lines: u64,
}

impl PhaseCpu {
    pub fn total(&self) -> f64 {
        self.det_pre + self.det_infer + self.det_post + self.rec_pre + self.rec_infer + self.rec_post
    }
}

fn thread_cpu() -> f64 {
    cpu_time::ThreadTime::try_now().map_or(0.0, |t| t.as_duration().as_secs_f64())
}

static RUNTIME: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Loads `libonnxruntime` from `path` once per process. A later call with another path gets the first one's
/// result (the C API is global). A path that names no file is refused whether or not a runtime is loaded, so a
/// wrong setting is reported on every engine start, not only on the first.
fn init_runtime(path: &Path) -> Result<(), PpOcrError> {
    if !path.is_file() {
        return Err(PpOcrError::RuntimeMissing { path: path.to_path_buf() });
    }
    let outcome = RUNTIME.get_or_init(|| {
        ort::init_from(path.display().to_string())
            .with_name("rythmiq")
            .commit()
            .map(|_| path.to_path_buf())
            .map_err(|e| e.to_string())
    });
    outcome
        .as_ref()
        .map(|_| ())
        .map_err(|message| PpOcrError::Runtime { path: path.to_path_buf(), message: message.clone() })
}

/// Reads `<root>/<relative>` and checks its sha256 against `expected`; returns the bytes.
pub fn read_verified(models_root: &Path, relative: &str, expected: &str) -> Result<Vec<u8>, PpOcrError> {
    let path = models_root.join(relative);
    let bytes = std::fs::read(&path).map_err(|source| PpOcrError::ModelUnreadable { path: path.clone(), source })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected {
        return Err(PpOcrError::Checksum { path, expected: expected.to_string(), actual });
    }
    Ok(bytes)
}

/// The combined identity of the two models (sha256 of the two sha256s), recorded in results and cache keys.
pub fn models_sha256() -> String {
    hex::encode(Sha256::digest(format!("{DET_SHA256}{REC_SHA256}").as_bytes()))
}

fn session(path: PathBuf, bytes: &[u8], options: &PpOcrOptions) -> Result<Session, PpOcrError> {
    let err = |e: ort::Error| PpOcrError::ModelLoad { path: path.clone(), message: e.to_string() };
    let cpu = CPUExecutionProvider::default().with_arena_allocator(options.cpu_arena).build();
    Session::builder()
        .and_then(|b| b.with_execution_providers([cpu]))
        .and_then(|b| b.with_memory_pattern(options.memory_pattern))
        .and_then(|b| b.with_intra_threads(1))
        .and_then(|b| b.with_inter_threads(1))
        .and_then(|b| b.with_parallel_execution(false))
        .and_then(|b| b.with_intra_op_spinning(false))
        .and_then(|b| b.with_inter_op_spinning(false))
        .and_then(|b| b.commit_from_memory(bytes))
        .map_err(err)
}

/// The two PP-OCR networks, loaded and warm. `Send`, not shared: keep one per pipeline thread.
pub struct PpOcrEngine {
    det: Session,
    rec: Session,
    charset: Vec<String>,
    pub options: PpOcrOptions,
    /// CPU per phase, accumulated over every call.
    pub profile: PhaseCpu,
}

impl std::fmt::Debug for PpOcrEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PpOcrEngine").field("classes", &self.charset.len()).finish()
    }
}

fn infer(
    session: &mut Session,
    step: &'static str,
    shape: Vec<usize>,
    data: Vec<f32>,
) -> Result<(Vec<usize>, Vec<f32>), PpOcrError> {
    let err = |e: ort::Error| PpOcrError::Inference { step, message: e.to_string() };
    let input = Tensor::from_array((shape, data)).map_err(err)?;
    let outputs = session.run(ort::inputs![input]).map_err(err)?;
    let (shape, values) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
    let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    Ok((dims, values.to_vec()))
}

impl PpOcrEngine {
    /// Loads the runtime from `runtime_path` (once per process) and both models from `<models_root>/ppocr/`,
    /// after checking their sha256, with the default [`PpOcrOptions`].
    pub fn load(models_root: &Path, runtime_path: &Path) -> Result<PpOcrEngine, PpOcrError> {
        PpOcrEngine::load_with(models_root, runtime_path, PpOcrOptions::default())
    }

    /// [`PpOcrEngine::load`] with given options.
    pub fn load_with(
        models_root: &Path,
        runtime_path: &Path,
        options: PpOcrOptions,
    ) -> Result<PpOcrEngine, PpOcrError> {
        let det_bytes = read_verified(models_root, DET_MODEL, DET_SHA256)?;
        let rec_bytes = read_verified(models_root, REC_MODEL, REC_SHA256)?;
        init_runtime(runtime_path)?;
        let det = session(models_root.join(DET_MODEL), &det_bytes, &options)?;
        let rec = session(models_root.join(REC_MODEL), &rec_bytes, &options)?;
        let dictionary = rec
            .metadata()
            .and_then(|m| m.custom("character"))
            .map_err(|e| PpOcrError::ModelLoad { path: models_root.join(REC_MODEL), message: e.to_string() })?
            .ok_or(PpOcrError::NoDictionary)?;
        Ok(PpOcrEngine { det, rec, charset: rec::charset(&dictionary), options, profile: PhaseCpu::default() })
    }

    /// Detects the text lines of `img`, in reading order, in `img`'s coordinates.
    pub fn detect(&mut self, img: &GrayImage) -> Result<Vec<TextBox>, PpOcrError> {
        let t0 = thread_cpu();
        let resized = det::input_image(img, &self.options.det);
        let (w, h) = (resized.width() as usize, resized.height() as usize);
        let mut map = vec![0f32; w * h];
        let (mut pre, mut inf) = (thread_cpu() - t0, 0.0);
        for strip in det::strips(h as u32, self.options.det_strip_rows, DET_STRIP_CONTEXT) {
            let t1 = thread_cpu();
            let (shape, data) = det::rows_tensor(&resized, strip.input_top, strip.input_bottom);
            let t2 = thread_cpu();
            let (out, part) = infer(&mut self.det, "detection", shape, data)?;
            inf += thread_cpu() - t2;
            pre += t2 - t1;
            let rows = (strip.input_bottom - strip.input_top) as usize;
            if out.as_slice() != [1, 1, rows, w] || part.len() < rows * w {
                return Err(PpOcrError::Inference { step: "detection", message: format!("output shape {out:?}") });
            }
            let from = (strip.keep_top - strip.input_top) as usize * w;
            let len = (strip.keep_bottom - strip.keep_top) as usize * w;
            map[strip.keep_top as usize * w..][..len].copy_from_slice(&part[from..from + len]);
        }
        let t3 = thread_cpu();
        let boxes = det::boxes_from_map(&map, w, h, img.width(), img.height(), &self.options.det);
        self.profile.det_pre += pre;
        self.profile.det_infer += inf;
        self.profile.det_post += thread_cpu() - t3;
        self.profile.pages += 1;
        Ok(boxes)
    }

    /// Recognises the line crops `boxes` of `img` (in `img`'s coordinates), batched by aspect ratio as the
    /// reference does. Returns one decoded line per box, in the order of `boxes`.
    pub fn recognize_boxes(&mut self, img: &GrayImage, boxes: &[TextBox]) -> Result<Vec<rec::Decoded>, PpOcrError> {
        let mut t = thread_cpu();
        let mut lap = |slot: &mut f64| {
            let now = thread_cpu();
            *slot += now - t;
            t = now;
        };
        let (mut pre, mut inf, mut post) = (0.0, 0.0, 0.0);
        let crops: Vec<GrayImage> = boxes.iter().map(|b| rec::crop(img, b)).collect();
        let mut order: Vec<usize> = (0..crops.len()).collect();
        order.sort_by(|&a, &b| {
            let ra = crops[a].width() as f64 / crops[a].height() as f64;
            let rb = crops[b].width() as f64 / crops[b].height() as f64;
            ra.total_cmp(&rb)
        });
        let mut out = vec![rec::Decoded::default(); crops.len()];
        for chunk in order.chunks(self.options.rec_batch.max(1)) {
            let batch: Vec<&GrayImage> = chunk.iter().map(|&i| &crops[i]).collect();
            let (shape, data) = rec::batch_tensor(&batch);
            lap(&mut pre);
            let (dims, probs) = infer(&mut self.rec, "recognition", shape, data)?;
            lap(&mut inf);
            let (n, steps, classes) = match dims.as_slice() {
                [n, t, c] => (*n, *t, *c),
                _ => {
                    return Err(PpOcrError::Inference {
                        step: "recognition",
                        message: format!("output shape {dims:?}"),
                    })
                }
            };
            for (k, &i) in chunk.iter().enumerate().take(n) {
                let m = &probs[k * steps * classes..(k + 1) * steps * classes];
                out[i] = rec::ctc_greedy(m, steps, classes, &self.charset);
            }
            lap(&mut post);
        }
        self.profile.rec_pre += pre;
        self.profile.rec_infer += inf;
        self.profile.rec_post += post;
        self.profile.lines += boxes.len() as u64;
        Ok(out)
    }

    /// Recognises given line boxes and turns each into words with boxes (split on spaces; a word's box spans its
    /// characters' time steps along the line).
    pub fn recognize_lines(&mut self, img: &GrayImage, boxes: &[TextBox]) -> Result<Vec<RecognisedLine>, PpOcrError> {
        let decoded = self.recognize_boxes(img, boxes)?;
        Ok(boxes.iter().zip(decoded).map(|(b, d)| to_line(b, &d)).collect())
    }

    /// Detects and recognises one page. The page is scaled down first when its longer side is above
    /// [`MAX_SIDE_LEN`]; boxes come back in the page's own coordinates. Lines below [`TEXT_SCORE`] are dropped;
    /// boxes on one row (as the reference orders them) share a line.
    pub fn recognize(&mut self, page: &GrayImage) -> Result<PpPage, PpOcrError> {
        let t = thread_cpu();
        let (work, scale) = working_image(page, self.options.max_side_len);
        self.profile.det_pre += thread_cpu() - t;
        let boxes = self.detect(&work)?;
        let lines = self.recognize_lines(&work, &boxes)?;
        let mut rows: Vec<Line> = Vec::new();
        let mut prev_top: Option<i32> = None;
        for (b, line) in boxes.iter().zip(lines) {
            if line.score < TEXT_SCORE || line.words.is_empty() {
                continue;
            }
            let words: Vec<Word> =
                line.words.into_iter().map(|w| Word { bbox: unscale(&w.bbox, scale), ..w }).collect();
            let bbox = unscale(&line.bbox, scale);
            let same_row = prev_top.is_some_and(|t| (b.top - t).abs() < 10.max(b.height() / 2));
            match rows.last_mut() {
                Some(row) if same_row => {
                    row.bbox = union(&row.bbox, &bbox);
                    row.words.extend(words);
                }
                _ => rows.push(Line { bbox, words }),
            }
            prev_top = Some(b.top);
        }
        let words: Vec<&Word> = rows.iter().flat_map(|l| &l.words).collect();
        let mean_confidence =
            if words.is_empty() { 0.0 } else { words.iter().map(|w| w.confidence).sum::<f32>() / words.len() as f32 };
        let blocks = if rows.is_empty() {
            Vec::new()
        } else {
            let bbox = rows.iter().skip(1).fold(rows[0].bbox, |acc, l| union(&acc, &l.bbox));
            vec![Block { bbox, lines: rows }]
        };
        Ok(PpPage { blocks, mean_confidence })
    }
}

/// The page scaled so its longer side is at most `max_side_len` (sides rounded to a multiple of 32, as the
/// reference does), and the factor from page to working coordinates.
pub fn working_image(page: &GrayImage, max_side_len: u32) -> (GrayImage, f64) {
    let longest = page.width().max(page.height());
    if longest <= max_side_len {
        return (page.clone(), 1.0);
    }
    let ratio = max_side_len as f64 / longest as f64;
    let r32 = |v: u32| (((v as f64 * ratio) as u32 as f64 / 32.0).round_ties_even() as u32 * 32).max(32);
    let (w, h) = (r32(page.width()), r32(page.height()));
    (rythmiq_imaging::resize(page, w, h), w as f64 / page.width() as f64)
}

fn unscale(b: &BBox, scale: f64) -> BBox {
    if scale == 1.0 {
        return *b;
    }
    let f = |v: i32| (v as f64 / scale).round() as i32;
    BBox { left: f(b.left), top: f(b.top), right: f(b.right), bottom: f(b.bottom) }
}

fn union(a: &BBox, b: &BBox) -> BBox {
    BBox {
        left: a.left.min(b.left),
        top: a.top.min(b.top),
        right: a.right.max(b.right),
        bottom: a.bottom.max(b.bottom),
    }
}

/// Words of one decoded line, each with the box its characters span and their mean probability (0..100).
fn to_line(b: &TextBox, d: &rec::Decoded) -> RecognisedLine {
    let bbox = BBox { left: b.left, top: b.top, right: b.right, bottom: b.bottom };
    let chars: Vec<char> = d.text.chars().collect();
    // Character steps are along the padded input; the crop occupies the first `content` steps of it.
    let content = d.char_steps.last().map_or(1, |&s| s + 1).max(1) as f64;
    let x_at = |step: usize| b.left + ((step as f64 / content) * b.width() as f64).round() as i32;
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    for i in 0..=chars.len() {
        let boundary = i == chars.len() || chars[i].is_whitespace();
        match (boundary, start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                let text: String = chars[s..i].iter().collect();
                let probs = &d.char_probs[s.min(d.char_probs.len())..i.min(d.char_probs.len())];
                let conf = if probs.is_empty() { 0.0 } else { probs.iter().sum::<f32>() / probs.len() as f32 };
                let left = x_at(d.char_steps.get(s).copied().unwrap_or(0));
                let right = x_at(d.char_steps.get(i - 1).copied().unwrap_or(0) + 1).min(b.right);
                words.push(Word {
                    text,
                    bbox: BBox { left, top: b.top, right: right.max(left + 1), bottom: b.bottom },
                    confidence: conf * 100.0,
                });
                start = None;
            }
            _ => {}
        }
    }
    RecognisedLine { bbox, words, score: d.score() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_splits_into_words_with_boxes_inside_the_line() {
        let b = TextBox { left: 100, top: 10, right: 300, bottom: 40, score: 0.9 };
        let d = rec::Decoded {
            text: "ab cd".to_string(),
            char_probs: vec![0.9, 0.9, 0.5, 0.8, 0.6],
            char_steps: vec![0, 2, 5, 7, 9],
            steps: 40,
        };
        let line = to_line(&b, &d);
        let texts: Vec<&str> = line.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, vec!["ab", "cd"]);
        assert!((line.words[0].confidence - 90.0).abs() < 1e-3);
        assert!((line.words[1].confidence - 70.0).abs() < 1e-3);
        assert!(line.words[0].bbox.right <= line.words[1].bbox.left);
        assert!(line.words.iter().all(|w| w.bbox.left >= 100 && w.bbox.right <= 300));
    }

    #[test]
    fn large_pages_are_scaled_under_the_side_limit() {
        let (work, scale) = working_image(&GrayImage::filled(2480, 3508, 255), MAX_SIDE_LEN);
        assert!(work.height() <= MAX_SIDE_LEN + 16 && work.height() % 32 == 0 && work.width() % 32 == 0);
        assert!((scale - work.width() as f64 / 2480.0).abs() < 1e-9);
    }

    #[test]
    fn a_wrong_model_hash_is_refused() {
        let dir = std::env::temp_dir().join(format!("rythmiq-ppocr-hash-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("ppocr")).expect("dir");
        std::fs::write(dir.join(DET_MODEL), b"not the model").expect("write");
        let err = read_verified(&dir, DET_MODEL, DET_SHA256).expect_err("must refuse");
        assert!(matches!(err, PpOcrError::Checksum { .. }), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
