//! The one place where the stages are wired: their order, the page loop, the text_layer/fast/standard routing,
//! the result cache, and the CPU clock read at every stage boundary.
//!
//! A document is processed page by page: `fetch` once; then, for every page, `quality_scoring` (which opens the
//! document on its first page), the page's route, `pre_ocr`, `enhancement` and `ocr`; then `schema_adaptation`
//! and `upload` once. A stage's record is the sum over the pages (one `cpu_metrics` row per stage per document,
//! as before), and is `skipped` only when no page ran it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use rythmiq_storage::ObjectStore;
use rythmiq_types::intake::JobKeys;
use rythmiq_types::{DocumentRun, EngineKind, ErrorKind, PathKind, PipelineError, ResultDocument, Stage, StageRecord};

use crate::config::{ConfigError, PipelineConfig, RouteOverride};
use crate::cpu::{CpuSnapshot, StageClock};
use crate::stages::{
    DocState, Enhancement, Fetch, Ocr, PreOcr, QualityScoring, Resources, SchemaAdaptation, Step, TextLayerRead, Upload,
};

/// Decides the path from the quality score (or the override).
pub fn route(config: &PipelineConfig, score: f64) -> PathKind {
    match config.route {
        RouteOverride::ForceFast => PathKind::Fast,
        RouteOverride::ForceStandard => PathKind::Standard,
        RouteOverride::Auto if score >= config.fast_path_threshold => PathKind::Fast,
        RouteOverride::Auto => PathKind::Standard,
    }
}

/// What `process` returns: the measurements (always) and the result document (on success).
#[derive(Debug)]
pub struct Processed {
    pub run: DocumentRun,
    pub result: Option<ResultDocument>,
}

/// A pipeline bound to the thread that created it: its engines stay warm between documents, its clock reads
/// this thread's CPU. Create it on the thread that will call `process`, and give that thread a unique name
/// first (see [`crate::cpu::name_current_thread`]).
pub struct Pipeline {
    res: Resources,
    clock: StageClock,
    docs_done: u64,
}

impl Pipeline {
    pub fn new(
        config: PipelineConfig,
        input: Arc<dyn ObjectStore>,
        output: Arc<dyn ObjectStore>,
    ) -> Result<Pipeline, ConfigError> {
        config.validate()?;
        // I/O runs on this thread's own runtime, so its CPU is on this thread's clock.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConfigError(format!("cannot start the I/O runtime: {e}")))?;
        if let Some(limit) = crate::cpu::omp_limit_mismatch(config.flags.ocr_threads) {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    ocr_threads = config.flags.ocr_threads,
                    omp_thread_limit = %limit,
                    "OMP_THREAD_LIMIT is not the configured OCR threads, so OpenMP does not follow the config (set it \
                     before the process starts, as the rythmiq binary does); the stage clock counts the OpenMP threads"
                );
            });
        }
        // OpenMP threads only exist when Tesseract may use more than one.
        let clock = StageClock::for_current_thread(crate::cpu::helpers_possible(config.flags.ocr_threads));
        Ok(Pipeline {
            res: Resources {
                config,
                input,
                output,
                runtime,
                engine: None,
                osd: None,
                ppocr: None,
                model_load_cpu_seconds: 0.0,
                weights: Default::default(),
                fingerprint: None,
            },
            clock,
            docs_done: 0,
        })
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.res.config
    }

    /// Whether the next document will start on a fresh engine.
    pub fn is_cold(&self) -> bool {
        match self.res.config.flags.engine {
            EngineKind::Tesseract => self.res.engine.is_none(),
            EngineKind::Ppocr => self.res.ppocr.is_none(),
            EngineKind::Auto => self.res.engine.is_none() || self.res.ppocr.is_none(),
        }
    }

    /// Runs one document through the pipeline. Never panics: a panic inside a stage becomes an `internal` error
    /// on this document, and the pipeline stays usable.
    pub fn process(&mut self, document_id: &str, input_key: &str) -> Processed {
        self.process_pages(document_id, input_key, None)
    }

    /// [`Pipeline::process`] restricted to pages `first..=last` (1-based, clamped to the document).
    pub fn process_pages(&mut self, document_id: &str, input_key: &str, page_range: Option<(u32, u32)>) -> Processed {
        let doc = DocState { input_key: input_key.to_string(), page_range, ..Default::default() };
        self.process_doc(document_id, doc)
    }

    /// This pipeline's output fingerprint ([`PipelineConfig::fingerprint`], computed once).
    pub fn fingerprint(&mut self) -> Result<String, PipelineError> {
        self.res.fingerprint()
    }

    /// Runs a queued job under the keys intake decided and the job row carries; they are verified, never
    /// recomputed silently:
    /// - a job admitted under another config fingerprint than this pipeline's, or whose result key is not the
    ///   one its hash and fingerprint imply, fails as `config_mismatch` before anything is fetched (no stage runs,
    ///   so the run has no stage records);
    /// - input bytes whose sha256 is not the job's content hash fail as `input_mismatch` after `fetch`;
    /// - the result is stored under (and the result cache read from) the job's result key.
    pub fn process_job(&mut self, document_id: &str, input_key: &str, keys: &JobKeys) -> Processed {
        let doc = DocState { input_key: input_key.to_string(), job_keys: Some(keys.clone()), ..Default::default() };
        self.process_doc(document_id, doc)
    }

    /// `config_mismatch` unless the job's keys were made under this pipeline's fingerprint.
    fn verify_job_keys(&mut self, keys: &JobKeys) -> Result<(), PipelineError> {
        let own = self.res.fingerprint()?;
        let mismatch = |what: String| Err(PipelineError::new(ErrorKind::ConfigMismatch, what));
        if keys.config_fingerprint != own {
            return mismatch(format!(
                "the job was admitted under config fingerprint {}, this worker's config is {own}: run the API and \
                 the workers with the same output config (model, flags, version), or re-submit the document",
                keys.config_fingerprint
            ));
        }
        let implied = rythmiq_types::intake::result_key(&keys.content_sha256, &keys.config_fingerprint);
        if keys.result_key != implied {
            return mismatch(format!(
                "the job's result key {} is not the one its hash and fingerprint imply ({implied})",
                keys.result_key
            ));
        }
        Ok(())
    }

    fn process_doc(&mut self, document_id: &str, mut doc: DocState) -> Processed {
        let input_key = doc.input_key.clone();
        let span = tracing::info_span!("document", document_id, input_key);
        let _enter = span.enter();
        let cold_start = self.is_cold();
        self.res.model_load_cpu_seconds = 0.0;
        let mut stages: Vec<StageRecord> = Vec::with_capacity(Stage::ALL.len());
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.run_stages(&mut doc, &mut stages)))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(PipelineError::new(ErrorKind::Internal, format!("stage panicked: {what}")))
            });
        self.docs_done += 1;
        let error = outcome.err().map(|e| (e.kind, e.message));
        if let Some((kind, message)) = &error {
            tracing::warn!(error_kind = %kind, error = %message, "document failed");
        }
        let n_pages = match &doc.result {
            Some(result) => result.pages.len() as u32,
            None => doc.readings.len() as u32,
        };
        let run = DocumentRun {
            document_id: document_id.to_string(),
            path: doc.doc_path.or(doc.path),
            quality_score: doc
                .doc_features
                .as_ref()
                .map(|f| f.score)
                .or_else(|| (doc.image.is_some() || doc.result.is_some()).then_some(doc.features.score)),
            cold_start,
            rerouted: doc.rerouted,
            model_load_cpu_seconds: self.res.model_load_cpu_seconds,
            stages,
            model: self.res.config.flags.model,
            flags: self.res.config.flags.clone(),
            input_bytes: doc.bytes.len() as u64,
            pages: n_pages,
            error,
            result_key: doc.result_key.clone(),
            cache_hit: doc.cache_hit,
            pages_by_engine: doc.pages_by_engine,
        };
        Processed { run, result: doc.result }
    }

    fn run_stages(&mut self, doc: &mut DocState, stages: &mut Vec<StageRecord>) -> Result<(), PipelineError> {
        if let Some(keys) = doc.job_keys.clone() {
            self.verify_job_keys(&keys)?;
        }
        let mut mark = self.clock.snapshot();
        self.step::<Fetch>(doc, stages, &mut mark)?;
        if self.res.config.flags.result_cache && doc.page_range.is_none() && self.lookup_cache(doc)? {
            // The lookup's cost belongs to fetch: it is what a hit pays instead of the rest.
            let end = self.clock.snapshot();
            if let Some(fetch) = stages.last_mut() {
                let extra = self.clock.record(Stage::Fetch, &mark, &end);
                fetch.cpu_seconds += extra.cpu_seconds;
                fetch.helper_cpu_seconds += extra.helper_cpu_seconds;
                fetch.wall_seconds += extra.wall_seconds;
            }
            stages.extend(Stage::ALL[1..].iter().map(|&s| StageRecord::skipped(s)));
            return Ok(());
        }
        // The page loop. Each page's stages are summed into the document's records, also when a page fails.
        let mut page_idx = doc.page_range.map_or(0, |(first, _)| first.saturating_sub(1));
        loop {
            doc.start_page(page_idx);
            let mut page_stages = Vec::with_capacity(5);
            let outcome = self.run_page(doc, &mut page_stages, &mut mark);
            merge_stages(stages, page_stages);
            outcome?;
            doc.finish_page();
            page_idx += 1;
            let n_pages = doc.document.as_ref().map_or(1, |d| d.n_pages());
            let last = doc.page_range.map_or(n_pages, |(_, last)| last.min(n_pages));
            if page_idx >= last {
                break;
            }
        }
        if doc.readings.is_empty() {
            return Err(PipelineError::new(
                ErrorKind::UnsupportedFormat,
                "the requested pages are not in the document",
            ));
        }
        self.step::<SchemaAdaptation>(doc, stages, &mut mark)?;
        self.step::<Upload>(doc, stages, &mut mark)?;
        Ok(())
    }

    /// One page: `quality_scoring`, its route, then `pre_ocr`, `enhancement` and `ocr` as the route says.
    fn run_page(
        &mut self,
        doc: &mut DocState,
        stages: &mut Vec<StageRecord>,
        mark: &mut CpuSnapshot,
    ) -> Result<(), PipelineError> {
        self.step::<QualityScoring>(doc, stages, mark)?;
        if doc.text_layer.is_some() {
            doc.path = Some(PathKind::TextLayer);
            stages.push(StageRecord::skipped(Stage::PreOcr));
            stages.push(StageRecord::skipped(Stage::Enhancement));
            return self.step::<TextLayerRead>(doc, stages, mark);
        }
        let path = route(&self.res.config, doc.features.score);
        doc.path = Some(path);
        let skip_pre_ocr =
            path == PathKind::Fast || self.res.config.flags.skip_pre_ocr_above.is_some_and(|q| doc.features.score >= q);
        if skip_pre_ocr {
            stages.push(StageRecord::skipped(Stage::PreOcr));
        } else {
            self.step::<PreOcr>(doc, stages, mark)?;
        }
        if path == PathKind::Fast {
            stages.push(StageRecord::skipped(Stage::Enhancement));
        } else {
            self.step::<Enhancement>(doc, stages, mark)?;
        }
        self.step::<Ocr>(doc, stages, mark)?;
        let low_confidence = doc
            .ocr
            .as_ref()
            .is_some_and(|page| self.res.config.reroute_below_confidence.is_some_and(|min| page.mean_confidence < min));
        if path == PathKind::Fast && low_confidence {
            self.reroute(doc, stages, mark)?;
        }
        Ok(())
    }

    /// Runs a fast-path document again on the standard path, keeping the better of the two readings. The skipped
    /// records of `pre_ocr` and `enhancement` are replaced by real ones, and `ocr` holds both attempts' cost.
    fn reroute(
        &mut self,
        doc: &mut DocState,
        stages: &mut Vec<StageRecord>,
        mark: &mut CpuSnapshot,
    ) -> Result<(), PipelineError> {
        tracing::info!(
            confidence = doc.ocr.as_ref().map_or(0.0, |p| p.mean_confidence),
            "low confidence on the fast path: rerouting to the standard path"
        );
        let first_ocr = stages.pop().expect("ocr was just recorded");
        stages.retain(|s| !s.skipped);
        let first_reading = doc.ocr.take();
        let first_read_by = doc.read_by;
        let first_image = doc.image.clone();
        let first_transforms = doc.transforms.clone();
        let (first_dpi, first_scale) = (doc.dpi, doc.scale_applied);
        doc.path = Some(PathKind::Standard);
        doc.rerouted = true;
        self.step::<PreOcr>(doc, stages, mark)?;
        self.step::<Enhancement>(doc, stages, mark)?;
        self.step::<Ocr>(doc, stages, mark)?;
        let ocr = stages.last_mut().expect("ocr was just recorded");
        ocr.cpu_seconds += first_ocr.cpu_seconds;
        ocr.helper_cpu_seconds += first_ocr.helper_cpu_seconds;
        ocr.wall_seconds += first_ocr.wall_seconds;
        let second_conf = doc.ocr.as_ref().map_or(0.0, |p| p.mean_confidence);
        if let Some(first) = first_reading.filter(|f| f.mean_confidence > second_conf) {
            // The corrections made it worse: keep the fast path's reading and the image it was made from. The path
            // stays `standard`: that is the route (and the CPU) the document took.
            doc.ocr = Some(first);
            doc.read_by = first_read_by;
            doc.image = first_image;
            doc.dpi = first_dpi;
            doc.scale_applied = first_scale;
            doc.transforms = first_transforms;
            doc.rotation_applied = 0;
            doc.deskew_applied = 0.0;
        }
        Ok(())
    }

    /// Runs one stage between two clock readings. The stage is recorded whether it succeeds or fails.
    fn step<S: Step>(
        &mut self,
        doc: &mut DocState,
        stages: &mut Vec<StageRecord>,
        mark: &mut CpuSnapshot,
    ) -> Result<(), PipelineError> {
        let _stage_span = tracing::debug_span!("stage", stage = %S::STAGE).entered();
        let outcome = S::run(doc, &mut self.res);
        let end = self.clock.snapshot();
        stages.push(self.clock.record(S::STAGE, mark, &end));
        *mark = end;
        outcome
    }

    /// Result cache: a previous result for the same content, output-affecting config and model.
    fn lookup_cache(&mut self, doc: &mut DocState) -> Result<bool, PipelineError> {
        let key = self.res.result_key(doc)?;
        let store = self.res.output.clone();
        let lookup_key = key.clone();
        let cached = self.res.runtime.block_on(async move {
            match store.get(&lookup_key).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(rythmiq_storage::StorageError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let Some(bytes) = cached else { return Ok(false) };
        // A cached document that does not parse is treated as a miss and overwritten by this run.
        let Ok(result) = serde_json::from_slice::<ResultDocument>(&bytes) else { return Ok(false) };
        doc.path = Some(result.path);
        doc.result_key = Some(key);
        doc.cache_hit = true;
        doc.result = Some(result);
        Ok(true)
    }
}

/// Adds one page's stage records into the document's: costs summed, `skipped` only while no page ran the stage;
/// kept in stage order.
fn merge_stages(total: &mut Vec<StageRecord>, page: Vec<StageRecord>) {
    for record in page {
        match total.iter_mut().find(|t| t.stage == record.stage) {
            Some(t) => {
                t.cpu_seconds += record.cpu_seconds;
                t.helper_cpu_seconds += record.helper_cpu_seconds;
                t.wall_seconds += record.wall_seconds;
                t.skipped &= record.skipped;
            }
            None => total.push(record),
        }
    }
    total.sort_by_key(|r| r.stage);
}
