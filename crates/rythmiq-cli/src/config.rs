//! The effective configuration: defaults, then a TOML file, then `RYTHMIQ_*` environment variables, then flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rythmiq_pipeline::{PageSegPolicy, PipelineConfig};
use rythmiq_types::{EngineKind, ModelKind};
use serde::{Deserialize, Serialize};

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

/// The optimisation and routing flags that every command accepts.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Configuration (file, then RYTHMIQ_* environment, then these flags)")]
pub struct Overrides {
    /// TOML config file (sections as printed by `rythmiq config`).
    #[arg(long, global = true, env = "RYTHMIQ_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory with the OCR models (fast/, best_int/, osd/, SHA256SUMS).
    #[arg(long, global = true)]
    pub models_dir: Option<PathBuf>,
    /// OpenMP threads per OCR engine (the binary restarts itself to apply it).
    #[arg(long, global = true)]
    pub ocr_threads: Option<u32>,
    /// OCR model (default best_int; `best` is an alias of best_int).
    #[arg(long, global = true, value_parser = ["fast", "best_int", "best"])]
    pub model: Option<String>,
    /// OCR engine: tesseract, ppocr or auto (PP-OCR for pages taller than 1.5x their width, Tesseract for the rest).
    #[arg(long, global = true)]
    pub engine: Option<String>,
    /// The ONNX Runtime library the PP-OCR engine loads (default: where scripts/setup installs it).
    #[arg(long, global = true)]
    pub ort_lib: Option<PathBuf>,
    /// `auto` engine: re-read with PP-OCR the lines whose mean word confidence (0..100) is below this.
    #[arg(long, global = true)]
    pub auto_line_confidence: Option<f32>,
    /// `auto` engine: read the whole page with PP-OCR when Tesseract's mean confidence is below this.
    #[arg(long, global = true)]
    pub auto_page_confidence: Option<f32>,
    /// Pre-resize: cap the longest side of the working image, in pixels.
    #[arg(long, global = true)]
    pub max_working_side_px: Option<u32>,
    /// Skip pre_ocr on the standard path at or above this quality score.
    #[arg(long, global = true)]
    pub skip_pre_ocr_above: Option<f64>,
    /// Serve repeats from the result cache.
    #[arg(long, global = true)]
    pub result_cache: Option<bool>,
    /// Quality score at or above which a document takes the fast path.
    #[arg(long, global = true)]
    pub fast_path_threshold: Option<f64>,
    /// Tesseract page segmentation mode: `auto` (by document shape) or a fixed mode number.
    #[arg(long, global = true)]
    pub page_seg_mode: Option<String>,
    /// Queue and metrics database URL (postgres://...); unset: the embedded SQLite file. Also `DATABASE_URL`.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Object storage: `s3://bucket/prefix` or a directory. Also `RYTHMIQ_STORAGE`.
    #[arg(long, global = true)]
    pub storage: Option<String>,
    /// Log lines on stderr: `text` (colour only on a terminal without NO_COLOR) or `json` (one object a line).
    #[arg(long, global = true, env = "RYTHMIQ_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Images with more pixels than this are refused from their header.
    #[arg(long, global = true)]
    pub max_image_pixels: Option<u64>,
    /// Documents (PDF, multi-page TIFF) with more pages than this are refused (`too_many_pages`).
    #[arg(long, global = true)]
    pub max_pages: Option<u32>,
    /// Resolution PDF pages without a usable text layer are rendered at for OCR.
    #[arg(long, global = true)]
    pub pdf_dpi: Option<u32>,
}

impl Overrides {
    /// The flags again, as arguments for a child `rythmiq` (the load test's server): the child resolves the same
    /// file, environment and flags, so it runs the configuration this process was given.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(flag.to_string());
                args.push(v);
            }
        };
        push("--config", self.config.as_ref().map(|p| p.display().to_string()));
        push("--models-dir", self.models_dir.as_ref().map(|p| p.display().to_string()));
        push("--ocr-threads", self.ocr_threads.map(|v| v.to_string()));
        push("--model", self.model.clone());
        push("--engine", self.engine.clone());
        push("--ort-lib", self.ort_lib.as_ref().map(|p| p.display().to_string()));
        push("--auto-line-confidence", self.auto_line_confidence.map(|v| v.to_string()));
        push("--auto-page-confidence", self.auto_page_confidence.map(|v| v.to_string()));
        push("--max-working-side-px", self.max_working_side_px.map(|v| v.to_string()));
        push("--skip-pre-ocr-above", self.skip_pre_ocr_above.map(|v| v.to_string()));
        push("--result-cache", self.result_cache.map(|v| v.to_string()));
        push("--fast-path-threshold", self.fast_path_threshold.map(|v| v.to_string()));
        push("--page-seg-mode", self.page_seg_mode.clone());
        push("--database-url", self.database_url.clone());
        push("--storage", self.storage.clone());
        push("--max-image-pixels", self.max_image_pixels.map(|v| v.to_string()));
        push("--max-pages", self.max_pages.map(|v| v.to_string()));
        push("--pdf-dpi", self.pdf_dpi.map(|v| v.to_string()));
        push("--log-format", self.log_format.clone());
        args
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
    pub fn resolve(overrides: &Overrides) -> anyhow::Result<Config> {
        let mut config = match &overrides.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
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
        let p = &mut config.pipeline;
        if let Some(v) = &overrides.models_dir {
            p.models_dir = v.clone();
        }
        if let Some(v) = overrides.ocr_threads {
            p.flags.ocr_threads = v;
        }
        if let Some(v) = &overrides.model {
            p.flags.model = parse_model(v)?;
        }
        if let Some(v) = &overrides.engine {
            p.flags.engine = parse_engine(v)?;
        }
        if let Some(v) = &overrides.ort_lib {
            p.ort_lib = v.clone();
        }
        if let Some(v) = overrides.auto_line_confidence {
            p.auto_line_confidence = v;
        }
        if let Some(v) = overrides.auto_page_confidence {
            p.auto_page_confidence = Some(v);
        }
        if let Some(v) = overrides.max_working_side_px {
            p.flags.max_working_side_px = Some(v);
        }
        if let Some(v) = overrides.skip_pre_ocr_above {
            p.flags.skip_pre_ocr_above = Some(v);
        }
        if let Some(v) = overrides.result_cache {
            p.flags.result_cache = v;
        }
        if let Some(v) = overrides.fast_path_threshold {
            p.fast_path_threshold = v;
        }
        if let Some(v) = overrides.page_seg_mode.clone().or(env_parse("RYTHMIQ_PAGE_SEG_MODE")?) {
            p.page_seg_mode = parse_psm(&v)?;
        }
        if let Some(v) = overrides.max_image_pixels {
            p.max_image_pixels = v;
        }
        if let Some(v) = overrides.max_pages {
            p.max_pages = v;
        }
        if let Some(v) = overrides.pdf_dpi {
            p.pdf_dpi = v;
        }
        if let Some(v) = &overrides.database_url {
            config.database.url = Some(v.clone());
        }
        if let Some(v) = &overrides.storage {
            config.storage.location = Some(v.clone());
        }
        let p = &mut config.pipeline;
        p.models_dir = locate_models(&p.models_dir);
        p.ort_lib = locate_beside_checkout(&p.ort_lib);
        p.validate()?;
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
