//! `rythmiq ocr`: the worker's pipeline on local files, results on stdout.

use rythmiq_pipeline::oneshot::{parse_page_range, run_ocr, OutputFormat};

use crate::args::{OcrArgs, OcrFormat};
use crate::config::Config;

pub fn ocr(config: Config, args: OcrArgs) -> anyhow::Result<()> {
    let range = args.pages.as_deref().map(parse_page_range).transpose().map_err(|e| anyhow::anyhow!(e))?;
    let format = match args.format {
        OcrFormat::Text => OutputFormat::Text,
        OcrFormat::Json => OutputFormat::Json,
        OcrFormat::Tsv => OutputFormat::Tsv,
        OcrFormat::Hocr => OutputFormat::Hocr,
    };
    let stdout = std::io::stdout();
    let outcomes =
        run_ocr(config.pipeline, &args.files, format, range, &mut stdout.lock()).map_err(|e| anyhow::anyhow!(e))?;
    let failed: Vec<_> = outcomes.iter().filter_map(|o| o.error.as_ref().map(|e| (&o.file, e))).collect();
    for (file, (kind, message)) in &failed {
        eprintln!("{}: {kind}: {message}", file.display());
    }
    anyhow::ensure!(failed.is_empty(), "{} of {} files failed", failed.len(), outcomes.len());
    Ok(())
}
