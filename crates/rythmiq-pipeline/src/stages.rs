//! The seven stages. Each is a unit type implementing [`Step`]; `pipeline.rs` wires them in order and decides
//! which run. A stage reads and writes the document's [`DocState`] and borrows the thread's [`Resources`].

use std::sync::Arc;

use rythmiq_imaging::{self as imaging, GrayImage, ScoreWeights};
use rythmiq_ocr::{decode, DecodeLimits, OcrEngine, OcrPage, OsdEngine};
use rythmiq_storage::ObjectStore;
use rythmiq_types::{
    ErrorKind, ModelInfo, Page, PathKind, PipelineError, QualityFeatures, ResultDocument, Stage,
    RESULT_SCHEMA_VERSION,
};

use crate::config::{PageSegPolicy, PipelineConfig};
use crate::engines::{self, PageEngine};
use rythmiq_ppocr::PpOcrEngine;
use rythmiq_types::EngineKind;

/// Everything one document accumulates on its way through the stages.
#[derive(Debug, Default)]
pub struct DocState {
    pub input_key: String,
    pub bytes: Vec<u8>,
    pub content_sha256: String,
    pub image: Option<GrayImage>,
    pub dpi: Option<u32>,
    pub features: QualityFeatures,
    pub background_level: u8,
    pub ink_level: u8,
    pub path: Option<PathKind>,
    pub rotation_applied: u32,
    pub deskew_applied: f64,
    pub scale_applied: f64,
    pub page_seg_mode: u32,
    pub ocr: Option<OcrPage>,
    pub result: Option<ResultDocument>,
    pub result_json: Vec<u8>,
    pub result_key: Option<String>,
    pub cache_hit: bool,
    pub rerouted: bool,
}

impl DocState {
    /// Scales `image` by `s`, keeping the document's record of the scale and its effective resolution in step.
    fn rescale(&mut self, image: &GrayImage, s: f64) -> GrayImage {
        let (w, h) = ((image.width() as f64 * s).round() as u32, (image.height() as f64 * s).round() as u32);
        self.scale_applied *= s;
        self.dpi = self.dpi.map(|d| ((d as f64 * s).round() as u32).max(1));
        imaging::resize(image, w, h)
    }
}

/// What a pipeline thread owns and every stage may borrow: the engines (loaded lazily, then kept warm), the
/// stores, and the runtime that drives their I/O on this very thread (so I/O CPU lands on this thread's clock).
pub struct Resources {
    pub config: PipelineConfig,
    pub input: Arc<dyn ObjectStore>,
    pub output: Arc<dyn ObjectStore>,
    pub runtime: tokio::runtime::Runtime,
    pub engine: Option<OcrEngine>,
    pub osd: Option<OsdEngine>,
    /// The PP-OCR engine, loaded on first use by the `ppocr` and `auto` engines.
    pub ppocr: Option<PpOcrEngine>,
    /// CPU seconds spent loading models since the last document started.
    pub model_load_cpu_seconds: f64,
    pub weights: ScoreWeights,
}

impl Resources {
    fn engine(&mut self) -> Result<&mut OcrEngine, PipelineError> {
        if self.engine.is_none() {
            let start = cpu_time::ThreadTime::now();
            let engine = OcrEngine::load(&self.config.models_dir, self.config.flags.model)?;
            self.model_load_cpu_seconds += start.elapsed().as_secs_f64();
            self.engine = Some(engine);
        }
        Ok(self.engine.as_mut().expect("loaded above"))
    }

    fn ppocr(&mut self) -> Result<&mut PpOcrEngine, PipelineError> {
        if self.ppocr.is_none() {
            let start = cpu_time::ThreadTime::now();
            let engine = PpOcrEngine::load(&self.config.models_dir, &self.config.ort_lib)?;
            self.model_load_cpu_seconds += start.elapsed().as_secs_f64();
            self.ppocr = Some(engine);
        }
        Ok(self.ppocr.as_mut().expect("loaded above"))
    }

    fn osd(&mut self) -> Result<&mut OsdEngine, PipelineError> {
        if self.osd.is_none() {
            let start = cpu_time::ThreadTime::now();
            let osd = OsdEngine::load(&self.config.models_dir)?;
            self.model_load_cpu_seconds += start.elapsed().as_secs_f64();
            self.osd = Some(osd);
        }
        Ok(self.osd.as_mut().expect("loaded above"))
    }

    /// The model's sha256, loading the engine if needed (the output key depends on it). The `ppocr` engine
    /// reports its two models' combined hash and loads no Tesseract model.
    pub fn model_sha256(&mut self) -> Result<String, PipelineError> {
        Ok(self.model_identity()?.1)
    }

    fn model_identity(&mut self) -> Result<(rythmiq_types::ModelKind, String), PipelineError> {
        if self.config.flags.engine == EngineKind::Ppocr {
            return Ok((self.config.flags.model, rythmiq_ppocr::models_sha256()));
        }
        let engine = self.engine()?;
        Ok((engine.model(), engine.model_sha256().to_string()))
    }
}

/// One stage of the pipeline.
pub trait Step {
    const STAGE: Stage;
    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError>;
}

fn internal(what: &str) -> PipelineError {
    PipelineError::new(ErrorKind::Internal, format!("stage order broken: {what} missing"))
}

/// `fetch`: read the document's bytes from the input store.
pub struct Fetch;

impl Step for Fetch {
    const STAGE: Stage = Stage::Fetch;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let store = res.input.clone();
        let key = doc.input_key.clone();
        doc.bytes = res.runtime.block_on(async move { store.get(&key).await })?;
        if doc.bytes.len() as u64 > res.config.max_input_bytes {
            return Err(PipelineError::new(
                ErrorKind::ImageTooLarge,
                format!("input is {} bytes, above max_input_bytes = {}", doc.bytes.len(), res.config.max_input_bytes),
            ));
        }
        doc.content_sha256 = rythmiq_types::sha256_hex(&doc.bytes);
        Ok(())
    }
}

/// `quality_scoring`: decode (header-checked), apply the pre-resize cap, measure the features, score.
pub struct QualityScoring;

impl Step for QualityScoring {
    const STAGE: Stage = Stage::QualityScoring;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let limits = DecodeLimits { max_image_pixels: res.config.max_image_pixels };
        let decoded = decode(&doc.bytes, limits)?;
        let mut image = decoded.image;
        doc.dpi = decoded.dpi;
        doc.scale_applied = 1.0;
        if let Some(cap) = res.config.flags.max_working_side_px {
            let longest = image.width().max(image.height());
            if longest > cap {
                image = doc.rescale(&image, cap as f64 / longest as f64);
            }
        }
        let measured = imaging::measure(&image, doc.dpi);
        let mut features = measured.features;
        features.score = imaging::score(&features, &res.weights);
        doc.features = features;
        doc.background_level = measured.background_level;
        doc.ink_level = measured.ink_level;
        doc.image = Some(image);
        Ok(())
    }
}

/// `pre_ocr`: orientation (Tesseract OSD), deskew, grey-level normalisation (dark ink on light paper), denoise.
pub struct PreOcr;

impl Step for PreOcr {
    const STAGE: Stage = Stage::PreOcr;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let mut image = doc.image.take().ok_or_else(|| internal("image"))?;
        // Normalise polarity first: OSD and Tesseract both expect dark text.
        if doc.ink_level > doc.background_level {
            image.pixels_mut().iter_mut().for_each(|p| *p = 255 - *p);
            doc.ink_level = 255 - doc.ink_level;
            doc.background_level = 255 - doc.background_level;
        }
        let min_conf = res.config.min_orientation_confidence;
        let dpi = doc.dpi;
        // OSD costs as much as OCRing a receipt (0.1-0.6 CPU-s), so it runs only on a suspicion: the profiles say
        // the lines run sideways, or the fast path read the page with low confidence (upside down, typically).
        let suspect = doc.features.orientation_degrees != 0 || doc.rerouted;
        if suspect {
            if let Some(orientation) = res.osd()?.detect(&image, dpi)? {
                if orientation.rotate_clockwise_degrees != 0 && orientation.confidence >= min_conf {
                    image = imaging::rotate_quarter(&image, orientation.rotate_clockwise_degrees);
                    doc.rotation_applied = orientation.rotate_clockwise_degrees;
                }
            }
        }
        // Skew is measured again when the page was turned: the score-time estimate was for the old axes.
        let skew = if doc.rotation_applied != 0 || doc.features.orientation_degrees != 0 {
            let measured = imaging::measure(&image, dpi);
            measured.features.skew_degrees
        } else {
            doc.features.skew_degrees
        };
        if skew.abs() >= 0.3 {
            image = imaging::rotate_small(&image, -skew, doc.background_level);
            doc.deskew_applied = -skew;
        }
        if doc.features.noise_sigma > 6.0 {
            image = imaging::denoise_median3(&image);
        }
        doc.image = Some(image);
        Ok(())
    }
}

/// `enhancement`: contrast stretch, rescale toward the target text height, sharpen when soft.
pub struct Enhancement;

impl Step for Enhancement {
    const STAGE: Stage = Stage::Enhancement;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let mut image = doc.image.take().ok_or_else(|| internal("image"))?;
        let hist = imaging::histogram(&image);
        let (lo, hi) = (imaging::percentile(&hist, 0.005), imaging::percentile(&hist, 0.995));
        if hi > lo && (lo > 10 || hi < 245) {
            image = imaging::stretch_contrast(&image, lo, hi);
        }
        // Measured on the working image (after any pre-resize), so no scale is applied twice.
        let text_h = doc.features.text_height_px;
        let target = res.config.target_text_height_px;
        if text_h > 0.0 && (text_h < target * 0.75 || text_h > target * 1.6) {
            let s = (target / text_h).clamp(0.4, 3.0);
            // Never grow a page past the pixel limit that decoding enforced.
            if (image.n_pixels() as f64 * s * s) <= res.config.max_image_pixels as f64 {
                image = doc.rescale(&image, s);
            }
        }
        if doc.features.sharpness < 0.3 {
            image = imaging::unsharp_mask(&image, 0.8);
        }
        doc.image = Some(image);
        Ok(())
    }
}

/// `ocr`: the configured engine (Tesseract LSTM, PP-OCR, or `auto`), warm on this thread. Every engine's CPU
/// is on this thread: ONNX Runtime runs with one thread and no spinning.
pub struct Ocr;

impl Ocr {
    /// Receipts (tall, narrow) read best as one column of lines; pages with layout use automatic segmentation.
    pub fn page_seg_mode(policy: PageSegPolicy, width: u32, height: u32) -> u32 {
        match policy {
            PageSegPolicy::Fixed(psm) => psm,
            PageSegPolicy::ByKind => {
                if height as f64 > width as f64 * 1.6 {
                    6
                } else {
                    3
                }
            }
        }
    }
}

impl Step for Ocr {
    const STAGE: Stage = Stage::Ocr;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let image = doc.image.as_ref().ok_or_else(|| internal("image"))?;
        let psm = Ocr::page_seg_mode(res.config.page_seg_mode, image.width(), image.height());
        let page = match res.config.flags.engine {
            EngineKind::Tesseract => res.engine()?.recognize_page(image, doc.dpi, psm)?,
            EngineKind::Ppocr => res.ppocr()?.recognize_page(image, doc.dpi, psm)?,
            EngineKind::Auto => {
                let mut page = res.engine()?.recognize_page(image, doc.dpi, psm)?;
                let whole_page = res.config.auto_page_confidence.is_some_and(|min| page.mean_confidence < min);
                if whole_page {
                    page = res.ppocr()?.recognize_page(image, doc.dpi, psm)?;
                } else {
                    let min = res.config.auto_line_confidence;
                    let outcome = engines::reread_doubtful_lines(&mut page, image, res.ppocr()?, min)?;
                    tracing::debug!(?outcome, "auto engine");
                }
                page
            }
        };
        doc.ocr = Some(page);
        doc.page_seg_mode = psm;
        Ok(())
    }
}

/// `schema_adaptation`: Tesseract's words into the versioned result document, serialised.
pub struct SchemaAdaptation;

impl Step for SchemaAdaptation {
    const STAGE: Stage = Stage::SchemaAdaptation;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let ocr = doc.ocr.take().ok_or_else(|| internal("ocr output"))?;
        let image = doc.image.as_ref().ok_or_else(|| internal("image"))?;
        let (kind, sha256) = res.model_identity()?;
        let text = ocr
            .blocks
            .iter()
            .map(|b| {
                b.lines
                    .iter()
                    .map(|l| l.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        let result = ResultDocument {
            schema_version: RESULT_SCHEMA_VERSION.to_string(),
            content_sha256: doc.content_sha256.clone(),
            path: doc.path.ok_or_else(|| internal("path"))?,
            quality: doc.features.clone(),
            model: ModelInfo {
                kind,
                sha256,
                tesseract_version: rythmiq_ocr::tesseract_version(),
                page_seg_mode: doc.page_seg_mode,
            },
            flags: res.config.flags.clone(),
            pages: vec![Page {
                page_idx: 0,
                width_px: image.width(),
                height_px: image.height(),
                rotation_applied_degrees: doc.rotation_applied,
                deskew_applied_degrees: doc.deskew_applied,
                scale_applied: doc.scale_applied,
                blocks: ocr.blocks,
            }],
            text,
            mean_confidence: ocr.mean_confidence,
        };
        doc.result_json = serde_json::to_vec(&result)
            .map_err(|e| PipelineError::new(ErrorKind::Internal, format!("serialising the result: {e}")))?;
        doc.result = Some(result);
        Ok(())
    }
}

/// `upload`: the result document and its plain text, under keys derived from the content and the config.
pub struct Upload;

impl Upload {
    /// `results/<content sha256>/<output fingerprint>.json`: the same input under the same config always lands
    /// on the same key, so a retry overwrites (with identical bytes) rather than duplicates.
    pub fn result_key(content_sha256: &str, fingerprint: &str) -> String {
        format!("results/{content_sha256}/{fingerprint}.json")
    }
}

impl Step for Upload {
    const STAGE: Stage = Stage::Upload;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let result = doc.result.as_ref().ok_or_else(|| internal("result"))?;
        let fingerprint = res.config.output_fingerprint(&result.model.sha256);
        let key = Upload::result_key(&doc.content_sha256, &fingerprint);
        let text_key = key.replace(".json", ".txt");
        let json = std::mem::take(&mut doc.result_json);
        let text = result.text.clone().into_bytes();
        let store = res.output.clone();
        let json_key = key.clone();
        res.runtime.block_on(async move {
            // Text first: the JSON's presence is what the cache and readers take as "done".
            store.put(&text_key, text, "text/plain; charset=utf-8").await?;
            store.put(&json_key, json, "application/json").await
        })?;
        doc.result_key = Some(key);
        Ok(())
    }
}
