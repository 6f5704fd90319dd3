//! Shared support for the workspace tests and benchmarks: where the corpus and the models are, and a pipeline
//! wired to local stores in a temporary directory.

pub mod catalogue;
pub mod monitoring;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rythmiq_pipeline::{Pipeline, PipelineConfig, Processed};
use rythmiq_storage::{LocalStore, ObjectStore};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample corpus.
pub fn corpus_dir() -> PathBuf {
    repo_root().join("corpus")
}

pub fn models_dir() -> PathBuf {
    repo_root().join("models")
}

/// A corpus file's bytes.
pub fn corpus_bytes(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).unwrap_or_else(|e| panic!("corpus file {name}: {e}"))
}

/// A corpus document's ground truth.
pub fn ground_truth(name: &str) -> String {
    let stem = Path::new(name).file_stem().and_then(|s| s.to_str()).expect("file stem");
    std::fs::read_to_string(corpus_dir().join(format!("{stem}.gt.txt"))).expect("ground truth")
}

/// The ONNX Runtime library the PP-OCR engine loads: `RYTHMIQ_ORT_LIB`, else where `scripts/setup` installs it in
/// this checkout (an absolute path: a crate's tests run in that crate's folder).
pub fn ort_lib() -> PathBuf {
    std::env::var_os("RYTHMIQ_ORT_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(PipelineConfig::default().ort_lib))
}

/// The default config (engine `auto`: both engines), with the models and the runtime of this checkout.
pub fn test_config() -> PipelineConfig {
    PipelineConfig { models_dir: models_dir(), ort_lib: ort_lib(), ..PipelineConfig::default() }
}

/// A pipeline whose input store is `input_dir` and whose output store is a fresh temporary directory.
pub struct TestPipeline {
    pub pipeline: Pipeline,
    pub output: Arc<LocalStore>,
    _out_dir: tempfile::TempDir,
}

impl TestPipeline {
    /// Must be called on the thread that will process documents (the clock is bound to it).
    pub fn new(config: PipelineConfig, input_dir: &Path) -> TestPipeline {
        let out_dir = tempfile::tempdir().expect("temp dir");
        let output = Arc::new(LocalStore::new(out_dir.path()).expect("output store"));
        let input: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(input_dir).expect("input store"));
        let pipeline = Pipeline::new(config, input, output.clone()).expect("pipeline");
        TestPipeline { pipeline, output, _out_dir: out_dir }
    }

    pub fn process(&mut self, key: &str) -> Processed {
        self.pipeline.process(key, key)
    }
}

/// Runs `f` on a fresh, uniquely named thread (as the worker does), so CPU attribution is per pipeline.
pub fn on_pipeline_thread<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let name = name.to_string();
    std::thread::spawn(move || {
        rythmiq_pipeline::cpu::name_current_thread(&name).expect("naming the thread");
        f()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
