//! Per-stage criterion baselines on corpus images (`cargo bench`). The end-to-end CPU per document, the cold/warm
//! split and the comparison with the tesseract CLI are the `rythmiq bench` command's job; these isolate each
//! stage's kernel so a change to one shows up here first. Times are the benchmarking thread's CPU time
//! (`support/thread_cpu.rs`), the unit of the capacity answer.

#[path = "support/thread_cpu.rs"]
mod thread_cpu;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rythmiq_imaging as imaging;
use rythmiq_ocr::{decode, DecodeLimits, OcrEngine};
use rythmiq_suite::{corpus_bytes, models_dir};
use rythmiq_types::ModelKind;

const DOCS: [&str; 3] = ["tess_phototest.tif", "sroie_323.jpg", "ocrmypdf_linn.png"];

fn stages(c: &mut Criterion<thread_cpu::ThreadCpu>) {
    let mut group = c.benchmark_group("stage");
    group.sample_size(10);
    let mut engine = OcrEngine::load(&models_dir(), ModelKind::Fast).expect("model");
    for name in DOCS {
        let bytes = corpus_bytes(name);
        group.bench_function(format!("decode/{name}"), |b| b.iter(|| decode(&bytes, DecodeLimits::default()).unwrap()));
        let decoded = decode(&bytes, DecodeLimits::default()).unwrap();
        let img = decoded.image;
        group.bench_function(format!("quality_scoring/{name}"), |b| b.iter(|| imaging::measure(&img, decoded.dpi)));
        let measured = imaging::measure(&img, decoded.dpi);
        group.bench_function(format!("pre_ocr_deskew_denoise/{name}"), |b| {
            b.iter_batched(
                || img.clone(),
                |i| imaging::denoise_median3(&imaging::rotate_small(&i, 1.0, measured.background_level)),
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("enhancement_resize_sharpen/{name}"), |b| {
            b.iter(|| imaging::unsharp_mask(&imaging::resize(&img, img.width() * 3 / 4, img.height() * 3 / 4), 0.8))
        });
        let psm =
            rythmiq_pipeline::Ocr::page_seg_mode(rythmiq_pipeline::PageSegPolicy::ByKind, img.width(), img.height());
        group.bench_function(format!("ocr/{name}"), |b| b.iter(|| engine.recognize(&img, decoded.dpi, psm).unwrap()));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(thread_cpu::ThreadCpu);
    targets = stages
}
criterion_main!(benches);
