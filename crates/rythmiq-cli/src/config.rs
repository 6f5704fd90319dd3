//! The effective configuration: defaults, then a TOML file, then `RYTHMIQ_*` environment variables, then flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rythmiq_pipeline::{PageSegPolicy, PipelineConfig};
use rythmiq_types::{EngineKind, ModelKind};
use serde::{Deserialize, Serialize};

use crate::args::{EngineArg, GlobalArgs, ModelArg, PipelineArgs, StoreArgs};
use crate::logging::LogFormat;

/// Everything the binary can be told. Each section belongs to the crate that uses it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub pipeline: PipelineConfig,
    /// Local state: the embedded database file and the local object store live here (default `rythmiq-data`).
    pub data_dir: Option<PathBuf>,
    /// The queue and metrics database; no URL means the embedded SQLite file under `data_dir`.
    pub database: rythmiq_db::DbConfig,
    pub storage: StorageConfig,
    pub worker: rythmiq_worker::WorkerConfig,
    pub api: rythmiq_api::ApiConfig,
    /// Whether the file, the environment or a flag named the Tesseract model (otherwise the engine chose it).
    #[serde(skip)]
    pub model_named: bool,
}

/// Where inputs and results live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `s3://bucket/prefix` or a directory; default `<data_dir>/store`. Also `RYTHMIQ_STORAGE`.
    pub location: Option<String>,
    /// S3 settings (endpoint, region, timeouts) used when `location` is an `s3://` URI.
    pub s3: rythmiq_storage::S3Config,
}

/// The flags a command was given that feed the config. Commands without pipeline or storage flags pass `None`:
/// their sections still resolve from the file and the environment.
#[derive(Clone, Copy, Debug)]
pub struct Overrides<'a> {
    pub global: &'a GlobalArgs,
    pub pipeline: Option<&'a PipelineArgs>,
    pub store: Option<&'a StoreArgs>,
    /// Refuse to start when the configured OCR model is missing (the commands that load it).
    pub needs_models: bool,
}

impl Overrides<'_> {
    /// The flags again, as arguments for a child `rythmiq serve` (the load test's server): the child resolves the
    /// same file, environment and flags, so it runs the configuration this process was given. The data directory
    /// is left out: the child gets a fresh one.
    pub fn to_args(self) -> Vec<String> {
        let mut args = self.pipeline_args();
        if let Some(store) = self.store {
            for (flag, value) in [("--database-url", &store.database_url), ("--storage", &store.storage)] {
                if let Some(v) = value {
                    args.extend([flag.to_string(), v.clone()]);
                }
            }
        }
        args
    }

    /// The global and pipeline flags again (no database or storage): what each `bench --compare` row starts
    /// from, so every row runs the configuration this process was given plus the row's own change.
    pub fn pipeline_args(self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(flag.to_string());
                args.push(v);
            }
        };
        push("--config", self.global.config.as_ref().map(|p| p.display().to_string()));
        if self.global.log_format == LogFormat::Json {
            push("--log-format", Some("json".into()));
        }
        let none = PipelineArgs::default();
        let p = self.pipeline.unwrap_or(&none);
        push("--models-dir", p.models_dir.as_ref().map(|p| p.display().to_string()));
        push("--ocr-threads", p.ocr_threads.map(|v| v.to_string()));
        push("--model", p.model.map(|m| model_kind(m).as_str().to_string()));
        push("--engine", p.engine.map(|e| engine_kind(e).as_str().to_string()));
        push("--ort-lib", p.ort_lib.as_ref().map(|p| p.display().to_string()));
        push("--auto-line-confidence", p.auto_line_confidence.map(|v| v.to_string()));
        push("--auto-page-confidence", p.auto_page_confidence.map(|v| v.to_string()));
        push("--max-working-side-px", p.max_working_side_px.map(|v| v.to_string()));
        push("--skip-pre-ocr-above", p.skip_pre_ocr_above.map(|v| v.to_string()));
        push("--result-cache", p.result_cache.map(|v| v.to_string()));
        push("--fast-path-threshold", p.fast_path_threshold.map(|v| v.to_string()));
        push("--page-seg-mode", p.page_seg_mode.clone());
        push("--max-image-pixels", p.max_image_pixels.map(|v| v.to_string()));
        push("--max-pages", p.max_pages.map(|v| v.to_string()));
        push("--pdf-dpi", p.pdf_dpi.map(|v| v.to_string()));
        args
    }
}

fn model_kind(m: ModelArg) -> ModelKind {
    match m {
        ModelArg::Fast => ModelKind::Fast,
        ModelArg::BestInt => ModelKind::BestInt,
    }
}

fn engine_kind(e: EngineArg) -> EngineKind {
    match e {
        EngineArg::Tesseract => EngineKind::Tesseract,
        EngineArg::Ppocr => EngineKind::Ppocr,
        EngineArg::Auto => EngineKind::Auto,
    }
}

fn env_parse<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().map(Some).map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")),
        _ => Ok(None),
    }
}

fn parse_model(name: &str) -> anyhow::Result<ModelKind> {
    ModelKind::parse(name).ok_or_else(|| anyhow::anyhow!("unknown model {name:?} (expected fast or best_int)"))
}

fn parse_engine(name: &str) -> anyhow::Result<EngineKind> {
    EngineKind::parse(name)
        .ok_or_else(|| anyhow::anyhow!("unknown engine {name:?} (expected tesseract, ppocr or auto)"))
}

fn parse_psm(value: &str) -> anyhow::Result<PageSegPolicy> {
    if value == "auto" {
        return Ok(PageSegPolicy::ByKind);
    }
    let psm = value.parse().map_err(|_| anyhow::anyhow!("page seg mode {value:?}: expected auto or a number"))?;
    Ok(PageSegPolicy::Fixed(psm))
}

impl Config {
    /// Resolves the effective config: defaults < file < environment < flags, then validates it.
    pub fn resolve(overrides: Overrides) -> anyhow::Result<Config> {
        // Whether any layer names the Tesseract model: when none does, the engine picks it (`default_model`).
        let mut model_set = false;
        let mut config = match &overrides.global.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                let raw: toml::Value = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
                model_set |= raw.get("pipeline").and_then(|p| p.get("flags")).and_then(|f| f.get("model")).is_some();
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Config::default(),
        };
        let p = &mut config.pipeline;
        if let Some(v) = env_parse::<PathBuf>("RYTHMIQ_MODELS_DIR")? {
            p.models_dir = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_OCR_THREADS")? {
            p.flags.ocr_threads = v;
        }
        if let Some(v) = env_parse::<String>("RYTHMIQ_MODEL")? {
            p.flags.model = parse_model(&v)?;
            model_set = true;
        }
        if let Some(v) = env_parse::<String>("RYTHMIQ_ENGINE")? {
            p.flags.engine = parse_engine(&v)?;
        }
        if let Some(v) = env_parse::<PathBuf>("RYTHMIQ_ORT_LIB")? {
            p.ort_lib = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_AUTO_LINE_CONFIDENCE")? {
            p.auto_line_confidence = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_AUTO_PAGE_CONFIDENCE")? {
            p.auto_page_confidence = Some(v);
        }
        if let Some(v) = env_parse("RYTHMIQ_MAX_WORKING_SIDE_PX")? {
            p.flags.max_working_side_px = Some(v);
        }
        if let Some(v) = env_parse("RYTHMIQ_SKIP_PRE_OCR_ABOVE")? {
            p.flags.skip_pre_ocr_above = Some(v);
        }
        if let Some(v) = env_parse("RYTHMIQ_RESULT_CACHE")? {
            p.flags.result_cache = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_FAST_PATH_THRESHOLD")? {
            p.fast_path_threshold = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_MAX_IMAGE_PIXELS")? {
            p.max_image_pixels = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_MAX_PAGES")? {
            p.max_pages = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_PDF_DPI")? {
            p.pdf_dpi = v;
        }
        if let Some(v) = env_parse::<PathBuf>("RYTHMIQ_DATA_DIR")? {
            config.data_dir = Some(v);
        }
        if let Some(v) = env_parse::<String>("DATABASE_URL")? {
            config.database.url = Some(v);
        }
        if let Some(v) = env_parse::<String>("RYTHMIQ_STORAGE")? {
            config.storage.location = Some(v);
        }
        // Set means set: an empty or blank token is refused by `ApiConfig::validate` rather than read as "no
        // authentication" (an unset variable is the only way to run without a token).
        if let Ok(v) = std::env::var("RYTHMIQ_API_TOKEN") {
            config.api.auth_token = Some(v);
        }
        if let Some(v) = env_parse("RYTHMIQ_ALLOW_UNAUTHENTICATED")? {
            config.api.allow_unauthenticated = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_LISTEN_ADDR")? {
            config.api.listen_addr = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_MAX_QUEUE_DEPTH")? {
            config.api.max_queue_depth = v;
        }
        if let Some(v) = env_parse("RYTHMIQ_WORKER_CONCURRENCY")? {
            config.worker.concurrency = v;
        }
        let none = PipelineArgs::default();
        let flags = overrides.pipeline.unwrap_or(&none);
        let p = &mut config.pipeline;
        if let Some(v) = &flags.models_dir {
            p.models_dir = v.clone();
        }
        if let Some(v) = flags.ocr_threads {
            p.flags.ocr_threads = v;
        }
        if let Some(v) = flags.model {
            p.flags.model = model_kind(v);
            model_set = true;
        }
        if let Some(v) = flags.engine {
            p.flags.engine = engine_kind(v);
        }
        if let Some(v) = &flags.ort_lib {
            p.ort_lib = v.clone();
        }
        if let Some(v) = flags.auto_line_confidence {
            p.auto_line_confidence = v;
        }
        if let Some(v) = flags.auto_page_confidence {
            p.auto_page_confidence = Some(v);
        }
        if let Some(v) = flags.max_working_side_px {
            p.flags.max_working_side_px = Some(v);
        }
        if let Some(v) = flags.skip_pre_ocr_above {
            p.flags.skip_pre_ocr_above = Some(v);
        }
        if let Some(v) = flags.result_cache {
            p.flags.result_cache = v;
        }
        if let Some(v) = flags.fast_path_threshold {
            p.fast_path_threshold = v;
        }
        if let Some(v) = flags.page_seg_mode.clone().or(env_parse("RYTHMIQ_PAGE_SEG_MODE")?) {
            p.page_seg_mode = parse_psm(&v)?;
        }
        if let Some(v) = flags.max_image_pixels {
            p.max_image_pixels = v;
        }
        if let Some(v) = flags.max_pages {
            p.max_pages = v;
        }
        if let Some(v) = flags.pdf_dpi {
            p.pdf_dpi = v;
        }
        if let Some(store) = overrides.store {
            if let Some(v) = &store.data_dir {
                config.data_dir = Some(v.clone());
            }
            if let Some(v) = &store.database_url {
                config.database.url = Some(v.clone());
            }
            if let Some(v) = &store.storage {
                config.storage.location = Some(v.clone());
            }
        }
        let p = &mut config.pipeline;
        if !model_set {
            p.flags.model = p.flags.engine.default_model();
        }
        p.models_dir = locate_models(&p.models_dir);
        p.ort_lib = locate_beside_checkout(&p.ort_lib);
        p.validate_settings()?;
        if overrides.needs_models {
            p.check_models()?;
        }
        config.model_named = model_set;
        config.worker.validate().map_err(|e| anyhow::anyhow!(e))?;
        config.api.validate()?;
        // The embedded database lives in the data directory unless a path was configured.
        if config.database.sqlite_path == rythmiq_db::DbConfig::default().sqlite_path {
            config.database.sqlite_path = config.data_dir().join("rythmiq.db");
        }
        Ok(config)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| PathBuf::from("rythmiq-data"))
    }

    /// The storage location: configured, or the local store under the data directory.
    pub fn storage_location(&self) -> String {
        self.storage.location.clone().unwrap_or_else(|| self.data_dir().join("store").display().to_string())
    }

    /// The database for the start-up banner: the URL with its password masked, or the embedded file.
    pub fn database_description(&self) -> String {
        match &self.database.url {
            Some(url) => mask_password(url),
            None => format!("sqlite:{}", self.database.sqlite_path.display()),
        }
    }

    /// The config as TOML with secrets masked (database password).
    pub fn to_masked_toml(&self) -> anyhow::Result<String> {
        let mut shown = self.clone();
        if let Some(url) = &mut shown.database.url {
            *url = mask_password(url);
        }
        Ok(toml::to_string_pretty(&shown)?)
    }
}

/// `scheme://user:secret@host/...` -> `scheme://user:****@host/...`.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_string(),
    }
}

/// A relative file that does not exist here is looked for beside the executable's checkout
/// (`target/<profile>/rythmiq` -> `target/tools/...`); otherwise it is returned unchanged.
fn locate_beside_checkout(configured: &Path) -> PathBuf {
    if configured.is_absolute() || configured.is_file() {
        return configured.to_path_buf();
    }
    let Ok(exe) = std::env::current_exe() else { return configured.to_path_buf() };
    exe.ancestors()
        .skip(1)
        .take(4)
        .map(|dir| dir.join(configured))
        .find(|c| c.is_file())
        .unwrap_or_else(|| configured.to_path_buf())
}

/// A relative models directory that does not exist here is looked for beside the executable's checkout
/// (`target/<profile>/rythmiq` -> `models/`) and in the container image's location.
fn locate_models(configured: &Path) -> PathBuf {
    if configured.is_absolute() || configured.join("SHA256SUMS").is_file() {
        return configured.to_path_buf();
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).take(4).map(|dir| dir.join(configured)));
    }
    candidates.push(PathBuf::from("/usr/share/rythmiq").join(configured));
    candidates.into_iter().find(|c| c.join("SHA256SUMS").is_file()).unwrap_or_else(|| configured.to_path_buf())
}
