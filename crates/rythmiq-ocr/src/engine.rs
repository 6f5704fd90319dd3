//! A loaded Tesseract engine. Loading costs 70-120 ms of CPU; recognising a page reuses everything loaded, so a
//! worker thread keeps one engine for its whole life.
//!
//! Threading contract: a `TessBaseAPI` may move between threads but must never be used by two at once, so the
//! engine is `Send` and not `Sync`, and every method takes `&mut self`.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::path::Path;

use rythmiq_imaging::GrayImage;
use rythmiq_types::{BBox, Block, ErrorKind, Line, ModelKind, PipelineError, Word};

use crate::models::{model_dir, verify_model, ModelError};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("tesseract could not initialise {model} from {dir}")]
    Init { model: String, dir: String },
    #[error("tesseract failed to recognise the page")]
    Recognize,
    #[error("image of {width}x{height} cannot be given to tesseract")]
    BadImage { width: u32, height: u32 },
}

impl From<OcrError> for PipelineError {
    fn from(err: OcrError) -> Self {
        let kind = match err {
            OcrError::Model(_) | OcrError::Init { .. } => ErrorKind::Internal,
            OcrError::Recognize => ErrorKind::OcrFailed,
            // A page the engine cannot take will never become one: permanent.
            OcrError::BadImage { .. } => ErrorKind::DegenerateImage,
        };
        PipelineError::new(kind, err.to_string())
    }
}

/// The version string of the linked libtesseract.
pub fn tesseract_version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::TessVersion()) }.to_string_lossy().into_owned()
}

/// Owns a `TessBaseAPI` handle.
struct Api(*mut sys::TessBaseAPI);

// SAFETY: TessBaseAPI has no thread affinity; `Api` is only reachable through `&mut` (see the module contract).
unsafe impl Send for Api {}

impl Drop for Api {
    fn drop(&mut self) {
        // SAFETY: the handle came from TessBaseAPICreate and is dropped once.
        unsafe {
            sys::TessBaseAPIEnd(self.0);
            sys::TessBaseAPIDelete(self.0);
        }
    }
}

impl Api {
    fn init(datapath: &Path, lang: &str, oem: c_int) -> Option<Api> {
        let datapath = CString::new(datapath.to_string_lossy().as_bytes()).ok()?;
        let lang = CString::new(lang).ok()?;
        // SAFETY: create returns an owned handle; Init2 reads the two C strings during the call only.
        unsafe {
            let api = Api(sys::TessBaseAPICreate());
            if api.0.is_null() {
                return None;
            }
            // Tesseract prints "Estimating resolution" and similar to stderr otherwise.
            let (name, value) = (c"debug_file", c"/dev/null");
            sys::TessBaseAPISetVariable(api.0, name.as_ptr(), value.as_ptr());
            (sys::TessBaseAPIInit2(api.0, datapath.as_ptr(), lang.as_ptr(), oem) == 0).then_some(api)
        }
    }

    fn set_image(&mut self, img: &GrayImage, dpi: Option<u32>) -> Result<(), OcrError> {
        let (w, h) = (img.width(), img.height());
        if w < 3 || h < 3 || w > i32::MAX as u32 / 2 || h > i32::MAX as u32 / 2 {
            return Err(OcrError::BadImage { width: w, height: h });
        }
        // SAFETY: the pixel buffer holds w*h bytes with stride w; Tesseract copies it into its own Pix here.
        unsafe {
            sys::TessBaseAPISetImage(self.0, img.pixels().as_ptr(), w as c_int, h as c_int, 1, w as c_int);
            // Without a resolution Tesseract guesses one per page (and warns); 300 is what it assumes for scans.
            sys::TessBaseAPISetSourceResolution(self.0, dpi.unwrap_or(300).clamp(70, 2400) as c_int);
        }
        Ok(())
    }
}

/// What Tesseract found on one page, before schema adaptation.
#[derive(Clone, Debug, Default)]
pub struct OcrPage {
    pub blocks: Vec<Block>,
    pub mean_confidence: f32,
}

/// One LSTM model, loaded and ready.
pub struct OcrEngine {
    api: Api,
    model: ModelKind,
    model_sha256: String,
}

impl std::fmt::Debug for OcrEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcrEngine").field("model", &self.model).finish()
    }
}

impl OcrEngine {
    /// Loads `kind` from `<models_root>/<kind>/eng.traineddata` in LSTM-only mode, after checking its sha256.
    pub fn load(models_root: &Path, kind: ModelKind) -> Result<OcrEngine, OcrError> {
        let model_sha256 = verify_model(models_root, kind.as_str(), "eng")?;
        let dir = model_dir(models_root, kind);
        let api = Api::init(&dir, "eng", sys::OEM_LSTM_ONLY)
            .ok_or_else(|| OcrError::Init { model: kind.to_string(), dir: dir.display().to_string() })?;
        Ok(OcrEngine { api, model: kind, model_sha256 })
    }

    pub fn model(&self) -> ModelKind {
        self.model
    }

    pub fn model_sha256(&self) -> &str {
        &self.model_sha256
    }

    /// Recognises one page with page segmentation mode `psm` (3 = automatic, 4 = single column, 6 = single block).
    pub fn recognize(&mut self, img: &GrayImage, dpi: Option<u32>, psm: u32) -> Result<OcrPage, OcrError> {
        self.api.set_image(img, dpi)?;
        // SAFETY: the handle is valid and has an image; a null monitor means no deadline.
        let status = unsafe {
            sys::TessBaseAPISetPageSegMode(self.api.0, psm as c_int);
            sys::TessBaseAPIRecognize(self.api.0, std::ptr::null_mut())
        };
        if status != 0 {
            unsafe { sys::TessBaseAPIClear(self.api.0) };
            return Err(OcrError::Recognize);
        }
        let page = unsafe { self.collect() };
        // SAFETY: drops the page's results and image; the loaded model stays.
        unsafe { sys::TessBaseAPIClear(self.api.0) };
        Ok(page)
    }

    /// Walks the result iterator word by word, opening a block or a line whenever the iterator says one begins.
    ///
    /// # Safety
    /// `Recognize` must have succeeded on this handle.
    unsafe fn collect(&mut self) -> OcrPage {
        let iter = sys::TessBaseAPIGetIterator(self.api.0);
        if iter.is_null() {
            return OcrPage::default();
        }
        let page_iter = sys::TessResultIteratorGetPageIterator(iter);
        let mut blocks: Vec<Block> = Vec::new();
        let (mut conf_sum, mut n_words) = (0f64, 0usize);
        loop {
            let text_ptr = sys::TessResultIteratorGetUTF8Text(iter, sys::RIL_WORD);
            if !text_ptr.is_null() {
                let text = take_text(text_ptr);
                let confidence = sys::TessResultIteratorConfidence(iter, sys::RIL_WORD);
                let new_block =
                    blocks.is_empty() || sys::TessPageIteratorIsAtBeginningOf(page_iter, sys::RIL_BLOCK) != 0;
                if new_block {
                    blocks.push(Block { bbox: bbox(page_iter, sys::RIL_BLOCK), lines: Vec::new() });
                }
                let block = blocks.last_mut().expect("pushed above");
                if new_block
                    || block.lines.is_empty()
                    || sys::TessPageIteratorIsAtBeginningOf(page_iter, sys::RIL_TEXTLINE) != 0
                {
                    block.lines.push(Line { bbox: bbox(page_iter, sys::RIL_TEXTLINE), words: Vec::new() });
                }
                let text = text.trim().to_string();
                if !text.is_empty() {
                    conf_sum += confidence as f64;
                    n_words += 1;
                    let line = block.lines.last_mut().expect("pushed above");
                    line.words.push(Word { text, bbox: bbox(page_iter, sys::RIL_WORD), confidence });
                }
            }
            if sys::TessResultIteratorNext(iter, sys::RIL_WORD) == 0 {
                break;
            }
        }
        sys::TessResultIteratorDelete(iter);
        for block in &mut blocks {
            block.lines.retain(|l| !l.words.is_empty());
        }
        blocks.retain(|b| !b.lines.is_empty());
        let mean_confidence = if n_words == 0 { 0.0 } else { (conf_sum / n_words as f64) as f32 };
        OcrPage { blocks, mean_confidence }
    }
}

/// Takes ownership of a string Tesseract allocated.
unsafe fn take_text(ptr: *mut c_char) -> String {
    let text = CStr::from_ptr(ptr).to_string_lossy().into_owned();
    sys::TessDeleteText(ptr);
    text
}

unsafe fn bbox(page_iter: *const sys::TessPageIterator, level: c_int) -> BBox {
    let (mut left, mut top, mut right, mut bottom) = (0, 0, 0, 0);
    sys::TessPageIteratorBoundingBox(page_iter, level, &mut left, &mut top, &mut right, &mut bottom);
    BBox { left, top, right, bottom }
}

/// Page orientation as Tesseract's OSD reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Orientation {
    /// Clockwise rotation that brings the page upright: 0, 90, 180 or 270.
    pub rotate_clockwise_degrees: u32,
    /// OSD's confidence (unbounded; above ~2 is reliable).
    pub confidence: f32,
}

/// Tesseract's orientation and script detector (legacy engine, `osd.traineddata`).
pub struct OsdEngine {
    api: Api,
}

impl OsdEngine {
    pub fn load(models_root: &Path) -> Result<OsdEngine, OcrError> {
        verify_model(models_root, "osd", "osd")?;
        let dir = models_root.join("osd");
        let api = Api::init(&dir, "osd", sys::OEM_TESSERACT_ONLY)
            .ok_or_else(|| OcrError::Init { model: "osd".into(), dir: dir.display().to_string() })?;
        Ok(OsdEngine { api })
    }

    /// Detects the orientation of `img`; `None` when OSD finds too little text to decide.
    pub fn detect(&mut self, img: &GrayImage, dpi: Option<u32>) -> Result<Option<Orientation>, OcrError> {
        self.api.set_image(img, dpi)?;
        let (mut deg, mut conf, mut script, mut script_conf) = (0, 0f32, std::ptr::null(), 0f32);
        // SAFETY: valid handle with an image; out-pointers valid. The script name is owned by Tesseract in 5.x
        // (a pointer into its unicharset), so it is not freed here.
        let ok = unsafe {
            sys::TessBaseAPISetPageSegMode(self.api.0, sys::PSM_OSD_ONLY);
            let ok =
                sys::TessBaseAPIDetectOrientationScript(self.api.0, &mut deg, &mut conf, &mut script, &mut script_conf);
            sys::TessBaseAPIClear(self.api.0);
            ok
        };
        if ok == 0 {
            return Ok(None);
        }
        // OSD reports the page's orientation (counter-clockwise degrees the content is turned); the correction is
        // the same angle clockwise.
        let rotate = ((360 - deg.rem_euclid(360)) % 360) as u32;
        Ok(Some(Orientation { rotate_clockwise_degrees: rotate, confidence: conf }))
    }
}
