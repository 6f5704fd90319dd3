//! The one intake check that the API, `rythmiq enqueue` and `rythmiq ocr` share: what a submission is, from its
//! first bytes (magic number), and whether it is worth a queue slot. It keeps obvious non-documents (text,
//! archives, empty bodies) out of the queue, where they would burn a worker attempt to fail permanently. It does
//! not decode: a truncated image or a corrupt PDF with the right magic number passes here and is failed once by
//! the worker's decoder (`corrupt_image`, `corrupt_document`), never retried.
//!
//! Intake also decides, once, the keys a job is known by ([`JobKeys`]): the content hash, the output config's
//! fingerprint and the result key. The job row carries them; the worker uses and verifies them, never recomputes
//! them silently.

use crate::{ErrorKind, PipelineError};

/// The key prefix inputs are stored under, content-addressed, when nothing else is configured.
pub const DEFAULT_INPUT_PREFIX: &str = "inputs/";

/// What intake decides about a submission, carried on its job row: the same bytes under the same fingerprint are
/// one job, and its result lands on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JobKeys {
    /// Lower-case hex sha256 of the input bytes.
    pub content_sha256: String,
    /// The output-affecting config's fingerprint (the pipeline's `PipelineConfig::fingerprint`).
    pub config_fingerprint: String,
    /// Where the result document is stored: [`result_key`] of the two above.
    pub result_key: String,
}

impl JobKeys {
    /// The keys of content `content_sha256` under `config_fingerprint`; the result key follows from them.
    pub fn new(content_sha256: impl Into<String>, config_fingerprint: impl Into<String>) -> JobKeys {
        let content_sha256 = content_sha256.into();
        let config_fingerprint = config_fingerprint.into();
        let result_key = result_key(&content_sha256, &config_fingerprint);
        JobKeys { content_sha256, config_fingerprint, result_key }
    }

    /// Enqueueing the same bytes under the same configuration twice yields one job.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.content_sha256, self.config_fingerprint)
    }

    /// The content-addressed key of the input under `prefix` (empty, or ending with `/`).
    pub fn input_key(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.content_sha256)
    }
}

/// `results/<content sha256>/<fingerprint>.json`: the same input under the same config always lands on the same
/// key, so a retry overwrites (with identical bytes) rather than duplicates. The one definition of the layout.
pub fn result_key(content_sha256: &str, config_fingerprint: &str) -> String {
    format!("results/{content_sha256}/{config_fingerprint}.json")
}

/// A submission intake accepted: its format and its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    pub format: DocumentFormat,
    pub keys: JobKeys,
}

/// The whole intake step: [`validate`], then hash the bytes and derive the job's keys under `config_fingerprint`.
/// The API and `rythmiq enqueue` both call this, so a document gets the same keys whichever way it came in.
pub fn admit(bytes: &[u8], config_fingerprint: &str) -> Result<Admitted, PipelineError> {
    let format = validate(bytes)?;
    Ok(Admitted { format, keys: JobKeys::new(crate::sha256_hex(bytes), config_fingerprint) })
}

/// Document formats the pipeline reads, by magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentFormat {
    Jpeg,
    Png,
    /// Single- or multi-page.
    Tiff,
    Bmp,
    Gif,
    WebP,
    Pnm,
    Jpeg2000,
    Pdf,
}

impl DocumentFormat {
    /// The content type results and stored inputs are labelled with.
    pub fn content_type(self) -> &'static str {
        match self {
            DocumentFormat::Jpeg => "image/jpeg",
            DocumentFormat::Png => "image/png",
            DocumentFormat::Tiff => "image/tiff",
            DocumentFormat::Bmp => "image/bmp",
            DocumentFormat::Gif => "image/gif",
            DocumentFormat::WebP => "image/webp",
            DocumentFormat::Pnm => "image/x-portable-anymap",
            DocumentFormat::Jpeg2000 => "image/jp2",
            DocumentFormat::Pdf => "application/pdf",
        }
    }
}

/// The format of `bytes` from their first bytes, or `None` for anything else.
pub fn sniff(bytes: &[u8]) -> Option<DocumentFormat> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some(DocumentFormat::Jpeg)
    } else if starts(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(DocumentFormat::Png)
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some(DocumentFormat::Tiff)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(DocumentFormat::Gif)
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(DocumentFormat::WebP)
    } else if starts(&[0, 0, 0, 0x0C, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A])
        || starts(&[0xFF, 0x4F, 0xFF, 0x51])
    {
        Some(DocumentFormat::Jpeg2000)
    } else if bytes.len() >= 14 && starts(b"BM") && bmp_header_plausible(bytes) {
        Some(DocumentFormat::Bmp)
    } else if bytes.len() >= 3
        && bytes[0] == b'P'
        && (b'1'..=b'6').contains(&bytes[1])
        && bytes[2].is_ascii_whitespace()
    {
        Some(DocumentFormat::Pnm)
    } else if starts(b"%PDF-") {
        // The header must open the file: poppler would also find one later, but so would it in any text file.
        Some(DocumentFormat::Pdf)
    } else {
        None
    }
}

/// The intake verdict: the format, or the typed error the document would fail with anyway.
pub fn validate(bytes: &[u8]) -> Result<DocumentFormat, PipelineError> {
    if bytes.is_empty() {
        return Err(PipelineError::new(ErrorKind::EmptyInput, "the document is empty (0 bytes)"));
    }
    sniff(bytes).ok_or_else(|| {
        PipelineError::new(ErrorKind::UnsupportedFormat, "not a PDF or an image format we read (by its first bytes)")
    })
}

/// "BM" alone is two letters of text ("BMW ..."); a BMP's header also holds its pixel-data offset, which lies
/// past the 14-byte file header.
fn bmp_header_plausible(bytes: &[u8]) -> bool {
    let offset = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]);
    (26..=1 << 20).contains(&offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdfs_pass_and_non_documents_are_typed() {
        assert_eq!(validate(b"%PDF-1.7\n%\xe2\xe3").unwrap(), DocumentFormat::Pdf);
        assert_eq!(validate(b"").unwrap_err().kind, ErrorKind::EmptyInput);
        assert_eq!(validate(b"hello %PDF-1.7").unwrap_err().kind, ErrorKind::UnsupportedFormat);
        assert_eq!(validate(b"PK\x03\x04").unwrap_err().kind, ErrorKind::UnsupportedFormat);
        assert_eq!(validate(b"II*\0\x08\0\0\0").unwrap(), DocumentFormat::Tiff);
    }

    #[test]
    fn admit_decides_every_key_once() {
        let pdf = b"%PDF-1.7\n%\xe2\xe3";
        let admitted = admit(pdf, "fp01").unwrap();
        let sha = crate::sha256_hex(pdf);
        assert_eq!(admitted.format, DocumentFormat::Pdf);
        assert_eq!(admitted.keys.content_sha256, sha);
        assert_eq!(admitted.keys.config_fingerprint, "fp01");
        assert_eq!(admitted.keys.result_key, format!("results/{sha}/fp01.json"));
        assert_eq!(admitted.keys.idempotency_key(), format!("{sha}:fp01"));
        assert_eq!(admitted.keys.input_key(DEFAULT_INPUT_PREFIX), format!("inputs/{sha}"));
        assert_eq!(admit(b"", "fp01").unwrap_err().kind, ErrorKind::EmptyInput);
    }
}
