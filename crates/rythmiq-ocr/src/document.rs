//! A submitted document as a list of pages: one for a single image, every page of a multi-page TIFF, every page
//! of a PDF (its text layer, or a raster of it for OCR). [`open`] checks the structure and every page's size
//! before any page is decoded; [`Document::page`] then decodes one page at a time, so memory holds one page.

use rythmiq_imaging::GrayImage;

use crate::decode::{decode_image_page, is_tiff, sniff_image, tiff_page_count, DecodeError, DecodeLimits, Decoded};
use crate::pdf::{blocks_to_px, open_pdf, px_size, text_layer_usable, PdfDocument};

enum Kind {
    Image { format: std::os::raw::c_int },
    Pdf(PdfDocument),
}

/// An opened document.
pub struct Document {
    kind: Kind,
    n_pages: u32,
    /// CPU of the child processes `open` ran (PDF tools), seconds: the caller's stage owes it.
    pub tool_cpu_seconds: f64,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document").field("format", &self.format()).field("n_pages", &self.n_pages).finish()
    }
}

/// One page's content.
#[derive(Debug)]
pub enum PageContent {
    /// Pixels for OCR.
    Raster(Decoded),
    /// A PDF page whose text layer is used as is: its blocks in pixels at `dpi`, origin top-left.
    TextLayer { width_px: u32, height_px: u32, dpi: u32, blocks: Vec<rythmiq_types::Block> },
}

/// A decoded page and the child-process CPU its decoding took (rendering a PDF page).
#[derive(Debug)]
pub struct LoadedPage {
    pub content: PageContent,
    pub tool_cpu_seconds: f64,
}

/// Opens `bytes`: sniffs the format, refuses empty, unknown, encrypted, corrupt and oversized documents and
/// counts the pages (refusing more than `limits.max_pages`). No page is decoded yet.
pub fn open(bytes: &[u8], limits: &DecodeLimits) -> Result<Document, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.starts_with(b"%PDF-") {
        let pdf = open_pdf(bytes, limits)?;
        let (n_pages, cpu) = (pdf.pages.len() as u32, pdf.tool_cpu_seconds);
        return Ok(Document { kind: Kind::Pdf(pdf), n_pages, tool_cpu_seconds: cpu });
    }
    let format = sniff_image(bytes)?;
    let n_pages = if is_tiff(format) { tiff_page_count(bytes, limits.max_pages) } else { 1 };
    if n_pages == 0 {
        return Err(DecodeError::Corrupt { format: "tiff" });
    }
    if n_pages > limits.max_pages {
        // Counted up to max_pages + 1 only: the true count may be higher.
        return Err(DecodeError::TooManyPages { n_pages: n_pages as u64, limit: limits.max_pages });
    }
    Ok(Document { kind: Kind::Image { format }, n_pages, tool_cpu_seconds: 0.0 })
}

impl Document {
    pub fn n_pages(&self) -> u32 {
        self.n_pages
    }

    /// `pdf`, or Leptonica's image format name.
    pub fn format(&self) -> &'static str {
        match &self.kind {
            Kind::Pdf(_) => "pdf",
            Kind::Image { format } => crate::decode::format_name(*format),
        }
    }

    /// Whether page `page_idx` will come from its text layer (no OCR).
    pub fn is_text_layer(&self, page_idx: u32) -> bool {
        match &self.kind {
            Kind::Pdf(pdf) => pdf.pages.get(page_idx as usize).is_some_and(text_layer_usable),
            Kind::Image { .. } => false,
        }
    }

    /// Decodes page `page_idx` (0-based) of the document `bytes` that [`open`] was given.
    pub fn page(&self, bytes: &[u8], page_idx: u32, limits: &DecodeLimits) -> Result<LoadedPage, DecodeError> {
        match &self.kind {
            Kind::Image { format } => Ok(LoadedPage {
                content: PageContent::Raster(decode_image_page(bytes, *format, page_idx, *limits)?),
                tool_cpu_seconds: 0.0,
            }),
            Kind::Pdf(pdf) => {
                let page = pdf
                    .pages
                    .get(page_idx as usize)
                    .ok_or_else(|| DecodeError::CorruptDocument("no such page".into()))?;
                if text_layer_usable(page) {
                    let (width_px, height_px) = px_size(page.width_pt, page.height_pt, limits.pdf_dpi);
                    let blocks = blocks_to_px(&page.blocks, limits.pdf_dpi);
                    return Ok(LoadedPage {
                        content: PageContent::TextLayer { width_px, height_px, dpi: limits.pdf_dpi, blocks },
                        tool_cpu_seconds: 0.0,
                    });
                }
                let (image, cpu): (GrayImage, f64) = pdf.render(page_idx, limits)?;
                Ok(LoadedPage {
                    content: PageContent::Raster(Decoded { image, dpi: Some(limits.pdf_dpi), format: "pdf" }),
                    tool_cpu_seconds: cpu,
                })
            }
        }
    }
}
