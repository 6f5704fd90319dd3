//! The seven stages. Each is a unit type implementing [`Step`]; `pipeline.rs` wires them in order and decides
//! which run. A stage reads and writes the document's [`DocState`] and borrows the thread's [`Resources`].

use std::sync::Arc;

use rythmiq_imaging::{self as imaging, GrayImage, ScoreWeights};
use rythmiq_ocr::{DecodeLimits, Document, OcrEngine, OcrPage, OsdEngine, PageContent};
use rythmiq_storage::ObjectStore;
use rythmiq_types::{
    ErrorKind, ModelInfo, Page, PathKind, PipelineError, QualityFeatures, ResultDocument, Stage, RESULT_SCHEMA_VERSION,
};

use crate::config::{PageSegPolicy, PipelineConfig};
use crate::engines::{self, PageEngine};
use crate::geometry::{to_submitted, Transform};
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
    /// A queued job's keys, as intake decided them (`Pipeline::process_job`): the fetched bytes must hash to its
    /// content hash, and the result is stored under its result key.
    pub job_keys: Option<rythmiq_types::intake::JobKeys>,
    pub cache_hit: bool,
    pub rerouted: bool,
    /// The opened document (structure checked, pages counted), from the first page's `quality_scoring`.
    pub document: Option<Document>,
    /// The page being processed (0-based), and the 1-based inclusive range to process (`None`: every page).
    pub page_idx: u32,
    pub page_range: Option<(u32, u32)>,
    /// The current page's text layer, when it takes the `text_layer` route.
    pub text_layer: Option<Vec<rythmiq_types::Block>>,
    /// The current page's size as submitted, and the geometric steps from it to the working image.
    pub submitted_size: (u32, u32),
    pub transforms: Vec<Transform>,
    /// Every finished page, in order, for `schema_adaptation`.
    pub readings: Vec<PageReading>,
    /// The costliest route any page took, and the first OCRed page's quality (the document-level fields).
    pub doc_path: Option<PathKind>,
    pub doc_features: Option<QualityFeatures>,
    /// The engine whose reading the current page keeps (set by `ocr`), and the finished pages by engine.
    pub read_by: Option<EngineKind>,
    pub pages_by_engine: rythmiq_types::PagesByEngine,
}

/// One page's OCR output (or text layer) and what is needed to put its boxes back on the submitted page.
#[derive(Debug)]
pub struct PageReading {
    pub page_idx: u32,
    pub route: PathKind,
    pub ocr: OcrPage,
    pub submitted_size: (u32, u32),
    pub dpi: Option<u32>,
    pub transforms: Vec<Transform>,
    pub rotation_applied: u32,
    pub deskew_applied: f64,
    pub scale_applied: f64,
    pub page_seg_mode: u32,
}

impl DocState {
    /// Clears the per-page fields before the next page.
    pub fn start_page(&mut self, page_idx: u32) {
        self.page_idx = page_idx;
        self.image = None;
        self.dpi = None;
        self.features = QualityFeatures::default();
        self.path = None;
        self.rotation_applied = 0;
        self.deskew_applied = 0.0;
        self.scale_applied = 1.0;
        self.page_seg_mode = 0;
        self.ocr = None;
        self.text_layer = None;
        self.read_by = None;
        self.transforms.clear();
    }

    /// Files the current page's reading (after its `ocr` stage).
    pub fn finish_page(&mut self) {
        let Some(ocr) = self.ocr.take() else { return };
        if let Some(engine) = self.read_by.take() {
            self.pages_by_engine.count(engine);
        }
        let route = self.path.unwrap_or(PathKind::Standard);
        self.doc_path = Some(self.doc_path.map_or(route, |p| p.max(route)));
        if route != PathKind::TextLayer && self.doc_features.is_none() {
            self.doc_features = Some(self.features.clone());
        }
        self.readings.push(PageReading {
            page_idx: self.page_idx,
            route,
            ocr,
            submitted_size: self.submitted_size,
            dpi: self.dpi.map(|d| ((d as f64 / self.scale_applied).round() as u32).max(1)),
            transforms: std::mem::take(&mut self.transforms),
            rotation_applied: self.rotation_applied,
            deskew_applied: self.deskew_applied,
            scale_applied: self.scale_applied,
            page_seg_mode: self.page_seg_mode,
        });
    }
}

impl DocState {
    /// Scales `image` by `s`, keeping the document's record of the scale and its effective resolution in step.
    fn rescale(&mut self, image: &GrayImage, s: f64) -> GrayImage {
        let (w, h) = ((image.width() as f64 * s).round() as u32, (image.height() as f64 * s).round() as u32);
        self.transforms.push(Transform::Resize { from: (image.width(), image.height()), to: (w.max(1), h.max(1)) });
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
    /// `config.fingerprint()`, once computed.
    pub fingerprint: Option<String>,
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
            let engine =
                PpOcrEngine::load_with(&self.config.models_dir, &self.config.ort_lib, self.config.ppocr_options())?;
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

    /// This pipeline's output fingerprint ([`PipelineConfig::fingerprint`]), computed once.
    pub fn fingerprint(&mut self) -> Result<String, PipelineError> {
        if self.fingerprint.is_none() {
            self.fingerprint = Some(self.config.fingerprint()?);
        }
        Ok(self.fingerprint.clone().expect("computed above"))
    }

    /// Where this document's result goes: the job's result key as intake decided it, or (no job: the bench,
    /// `rythmiq ocr`) the key of its content under this pipeline's fingerprint; a page range gets a key of its own.
    pub fn result_key(&mut self, doc: &DocState) -> Result<String, PipelineError> {
        if let (Some(keys), None) = (&doc.job_keys, doc.page_range) {
            return Ok(keys.result_key.clone());
        }
        let mut fingerprint = self.fingerprint()?;
        if let Some((first, last)) = doc.page_range {
            // A partial result never lands on (or is served as) the whole document's key.
            fingerprint = format!("{fingerprint}-pages-{first}-{last}");
        }
        Ok(rythmiq_types::intake::result_key(&doc.content_sha256, &fingerprint))
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
        // The previous document's buffers are freed by now: give them back before this one allocates its own
        // (a slot's memory is then its largest document's, not the sum of several; the cost is fetch's).
        rythmiq_ocr::release_freed_heap();
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
        if let Some(keys) = doc.job_keys.as_ref().filter(|keys| keys.content_sha256 != doc.content_sha256) {
            return Err(PipelineError::new(
                ErrorKind::InputMismatch,
                format!(
                    "input {} has sha256 {}, but the job was admitted with {}: the stored input changed",
                    doc.input_key, doc.content_sha256, keys.content_sha256
                ),
            ));
        }
        Ok(())
    }
}

/// `quality_scoring`: open the document on its first page (structure, page count and sizes checked), decode the
/// page (header-checked), apply the pre-resize cap, measure the features, score. A PDF page with a usable text
/// layer is not decoded: it takes the `text_layer` route.
pub struct QualityScoring;

impl QualityScoring {
    pub fn limits(config: &PipelineConfig) -> DecodeLimits {
        DecodeLimits {
            max_image_pixels: config.max_image_pixels,
            max_pages: config.max_pages,
            pdf_dpi: config.pdf_dpi,
            ..DecodeLimits::default()
        }
    }
}

impl Step for QualityScoring {
    const STAGE: Stage = Stage::QualityScoring;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let limits = QualityScoring::limits(&res.config);
        if doc.document.is_none() {
            let document = rythmiq_ocr::open(&doc.bytes, &limits)?;
            crate::cpu::book_helper_cpu(document.tool_cpu_seconds);
            doc.document = Some(document);
        }
        let document = doc.document.as_ref().ok_or_else(|| internal("document"))?;
        if doc.page_idx >= document.n_pages() {
            return Err(PipelineError::new(
                ErrorKind::UnsupportedFormat,
                format!("page {} is not in the document ({} pages)", doc.page_idx + 1, document.n_pages()),
            ));
        }
        let loaded = document.page(&doc.bytes, doc.page_idx, &limits)?;
        crate::cpu::book_helper_cpu(loaded.tool_cpu_seconds);
        let decoded = match loaded.content {
            PageContent::TextLayer { width_px, height_px, dpi, blocks } => {
                doc.submitted_size = (width_px, height_px);
                doc.dpi = Some(dpi);
                doc.features =
                    QualityFeatures { width_px, height_px, dpi: Some(dpi), score: 1.0, ..Default::default() };
                doc.text_layer = Some(blocks);
                return Ok(());
            }
            PageContent::Raster(decoded) => decoded,
        };
        let mut image = decoded.image;
        doc.submitted_size = (image.width(), image.height());
        doc.dpi = decoded.dpi;
        doc.scale_applied = 1.0;
        if let Some(cap) = res.config.flags.max_working_side_px {
            let longest = image.width().max(image.height());
            if longest > cap {
                let s = cap as f64 / longest as f64;
                // A sliver (1x20000) would shrink to nothing: refuse it now rather than fail in the engine.
                let shortest = image.width().min(image.height()) as f64 * s;
                if shortest < rythmiq_ocr::MIN_SIDE_PX as f64 {
                    return Err(
                        rythmiq_ocr::DecodeError::Degenerate { width: image.width(), height: image.height() }.into()
                    );
                }
                image = doc.rescale(&image, s);
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
                    doc.transforms.push(Transform::Quarter {
                        degrees: orientation.rotate_clockwise_degrees,
                        from: (image.width(), image.height()),
                    });
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
            doc.transforms.push(Transform::Small { degrees: -skew, size: (image.width(), image.height()) });
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
        let (page, read_by) = match res.config.flags.engine {
            EngineKind::Tesseract => (res.engine()?.recognize_page(image, doc.dpi, psm)?, EngineKind::Tesseract),
            EngineKind::Ppocr => (res.ppocr()?.recognize_page(image, doc.dpi, psm)?, EngineKind::Ppocr),
            EngineKind::Auto => {
                let rule = res.config.auto_rule();
                // Both engines load on the first page, whichever it needs: a slot's memory and its cold start
                // are those of both engines.
                res.ppocr()?;
                res.engine()?;
                let first = rule.first_reader(image.width(), image.height(), doc.features.score);
                let (mut page, mut read_by) = match first {
                    engines::FirstReader::Ppocr => {
                        (res.ppocr()?.recognize_page(image, doc.dpi, psm)?, EngineKind::Ppocr)
                    }
                    engines::FirstReader::Tesseract => {
                        (res.engine()?.recognize_page(image, doc.dpi, psm)?, EngineKind::Tesseract)
                    }
                };
                if first == engines::FirstReader::Tesseract {
                    if rule.reread_page(page.mean_confidence) {
                        page = res.ppocr()?.recognize_page(image, doc.dpi, psm)?;
                        read_by = EngineKind::Ppocr;
                    } else if rule.line_confidence > 0.0 {
                        let min = rule.line_confidence;
                        let outcome = engines::reread_doubtful_lines(&mut page, image, res.ppocr()?, min)?;
                        tracing::debug!(?outcome, "auto engine");
                    }
                }
                tracing::debug!(?first, "auto engine first reader");
                (page, read_by)
            }
        };
        let page = if read_by == EngineKind::Ppocr { Ocr::upright_ppocr_reading(doc, res, page, psm)? } else { page };
        doc.ocr = Some(page);
        doc.read_by = Some(read_by);
        doc.page_seg_mode = psm;
        Ok(())
    }
}

impl Ocr {
    /// PP-OCR's reading of an upside-down page is garbage it is fairly sure of (70-75 mean confidence on turned
    /// receipts, against 93 or more upright), too sure for the fast path's reroute, and OSD misjudges receipts. So
    /// a PP-OCR page under `ppocr_turn_below_confidence` that no step has turned yet is read again half a turn
    /// round, and the more confident reading is kept with its image and transform (docs/tuning.md).
    fn upright_ppocr_reading(
        doc: &mut DocState,
        res: &mut Resources,
        page: OcrPage,
        psm: u32,
    ) -> Result<OcrPage, PipelineError> {
        let doubtful = res.config.ppocr_turn_below_confidence.is_some_and(|min| page.mean_confidence < min);
        if !doubtful || doc.rotation_applied != 0 {
            return Ok(page);
        }
        let image = doc.image.as_ref().ok_or_else(|| internal("image"))?;
        let turned = imaging::rotate_quarter(image, 180);
        let second = res.ppocr()?.recognize_page(&turned, doc.dpi, psm)?;
        if second.mean_confidence <= page.mean_confidence {
            return Ok(page);
        }
        doc.transforms.push(Transform::Quarter { degrees: 180, from: (image.width(), image.height()) });
        doc.rotation_applied = 180;
        doc.image = Some(turned);
        Ok(second)
    }
}

/// The `ocr` stage of a `text_layer` page: the PDF's own words take the place of Tesseract's (no engine runs).
pub struct TextLayerRead;

impl Step for TextLayerRead {
    const STAGE: Stage = Stage::Ocr;

    fn run(doc: &mut DocState, _res: &mut Resources) -> Result<(), PipelineError> {
        let blocks = doc.text_layer.take().ok_or_else(|| internal("text layer"))?;
        let n_words = blocks.iter().flat_map(|b| &b.lines).map(|l| l.words.len()).sum::<usize>();
        doc.ocr = Some(OcrPage { blocks, mean_confidence: if n_words == 0 { 0.0 } else { 100.0 } });
        doc.page_seg_mode = 0;
        Ok(())
    }
}

/// A page's plain text: lines by `\n`, blocks by a blank line.
fn page_text(blocks: &[rythmiq_types::Block]) -> String {
    blocks
        .iter()
        .map(|b| {
            b.lines
                .iter()
                .map(|l| l.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `schema_adaptation`: every page's words, boxes mapped back onto the page as submitted, into the versioned
/// result document, serialised.
pub struct SchemaAdaptation;

impl Step for SchemaAdaptation {
    const STAGE: Stage = Stage::SchemaAdaptation;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        if doc.readings.is_empty() {
            return Err(internal("ocr output"));
        }
        let (kind, sha256) = res.model_identity()?;
        let (mut conf_sum, mut n_words) = (0f64, 0usize);
        let mut pages = Vec::with_capacity(doc.readings.len());
        let mut page_seg_mode = 0;
        for reading in std::mem::take(&mut doc.readings) {
            let (transforms, size) = (&reading.transforms, reading.submitted_size);
            let mut blocks = reading.ocr.blocks;
            for block in &mut blocks {
                block.bbox = to_submitted(block.bbox, transforms, size);
                for line in &mut block.lines {
                    line.bbox = to_submitted(line.bbox, transforms, size);
                    for word in &mut line.words {
                        word.bbox = to_submitted(word.bbox, transforms, size);
                        conf_sum += word.confidence as f64;
                        n_words += 1;
                    }
                }
            }
            if reading.route != PathKind::TextLayer {
                page_seg_mode = reading.page_seg_mode;
            }
            pages.push(Page {
                page_idx: reading.page_idx,
                route: reading.route,
                width_px: size.0,
                height_px: size.1,
                dpi: reading.dpi,
                text: page_text(&blocks),
                mean_confidence: reading.ocr.mean_confidence,
                rotation_applied_degrees: reading.rotation_applied,
                deskew_applied_degrees: reading.deskew_applied,
                scale_applied: reading.scale_applied,
                blocks,
            });
        }
        let text = pages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\u{c}");
        let result = ResultDocument {
            schema_version: RESULT_SCHEMA_VERSION.to_string(),
            content_sha256: doc.content_sha256.clone(),
            path: doc.doc_path.ok_or_else(|| internal("path"))?,
            quality: doc.doc_features.clone().unwrap_or_else(|| doc.features.clone()),
            model: ModelInfo { kind, sha256, tesseract_version: rythmiq_ocr::tesseract_version(), page_seg_mode },
            flags: res.config.flags.clone(),
            pages,
            text,
            mean_confidence: if n_words == 0 { 0.0 } else { (conf_sum / n_words as f64) as f32 },
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
    /// `results/<content sha256>/<output fingerprint>.json` ([`rythmiq_types::intake::result_key`]): the same
    /// input under the same config always lands on the same key, so a retry overwrites rather than duplicates.
    pub fn result_key(content_sha256: &str, fingerprint: &str) -> String {
        rythmiq_types::intake::result_key(content_sha256, fingerprint)
    }
}

impl Step for Upload {
    const STAGE: Stage = Stage::Upload;

    fn run(doc: &mut DocState, res: &mut Resources) -> Result<(), PipelineError> {
        let key = res.result_key(doc)?;
        let result = doc.result.as_ref().ok_or_else(|| internal("result"))?;
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
