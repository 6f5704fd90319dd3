//! The typed failure of one document, and whether trying again can help.

use serde::{Deserialize, Serialize};

/// Why a document failed. Callers branch on this: permanent kinds are never retried, retryable kinds back off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Zero-byte input.
    EmptyInput,
    /// Bytes that are no document format we read (text, an archive, an unknown magic number).
    UnsupportedFormat,
    /// A known format whose data is damaged or truncated.
    CorruptImage,
    /// Pixel count (read from the header, before decoding) above `max_image_pixels`, or bytes above `max_input_bytes`.
    ImageTooLarge,
    /// An image that can never hold readable text: a side under the minimum (1x1, 1x20000), before or after the
    /// pre-resize.
    DegenerateImage,
    /// A multi-page document (PDF, TIFF) with more pages than `max_pages`, counted from its structure.
    TooManyPages,
    /// A PDF that is encrypted or needs a password.
    EncryptedDocument,
    /// A PDF whose structure is damaged, or that the renderer could not read within its limits.
    CorruptDocument,
    /// The input object does not exist.
    NotFound,
    /// The object store refused us (credentials, permissions).
    AccessDenied,
    /// The object store did not answer or answered with a server error.
    StorageUnavailable,
    /// The database did not answer.
    DatabaseUnavailable,
    /// The OCR engine failed on a readable image.
    OcrFailed,
    /// The job ran past its deadline.
    Timeout,
    /// The worker stopped (shutdown, lease lost) before finishing.
    Interrupted,
    /// A bug or an invariant broken: retried, then dead-lettered.
    Internal,
    /// The job was admitted under another output config than the worker's (its config fingerprint, or the result
    /// key it implies, differs). Never processed: a result made under one config must not be stored under another's
    /// key, and retrying on the same worker cannot help.
    ConfigMismatch,
    /// The stored input's bytes are not the bytes admitted (their sha256 differs from the job's content hash).
    InputMismatch,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::EmptyInput,
        ErrorKind::UnsupportedFormat,
        ErrorKind::CorruptImage,
        ErrorKind::ImageTooLarge,
        ErrorKind::DegenerateImage,
        ErrorKind::TooManyPages,
        ErrorKind::EncryptedDocument,
        ErrorKind::CorruptDocument,
        ErrorKind::NotFound,
        ErrorKind::AccessDenied,
        ErrorKind::StorageUnavailable,
        ErrorKind::DatabaseUnavailable,
        ErrorKind::OcrFailed,
        ErrorKind::Timeout,
        ErrorKind::Interrupted,
        ErrorKind::Internal,
        ErrorKind::ConfigMismatch,
        ErrorKind::InputMismatch,
    ];

    /// Whether a later attempt may succeed. Bad input never becomes good input, so it is permanent.
    pub fn is_retryable(self) -> bool {
        match self {
            ErrorKind::EmptyInput
            | ErrorKind::UnsupportedFormat
            | ErrorKind::CorruptImage
            | ErrorKind::ImageTooLarge
            | ErrorKind::DegenerateImage
            | ErrorKind::TooManyPages
            | ErrorKind::EncryptedDocument
            | ErrorKind::CorruptDocument
            | ErrorKind::NotFound
            | ErrorKind::AccessDenied
            | ErrorKind::ConfigMismatch
            | ErrorKind::InputMismatch => false,
            ErrorKind::StorageUnavailable
            | ErrorKind::DatabaseUnavailable
            | ErrorKind::OcrFailed
            | ErrorKind::Timeout
            | ErrorKind::Interrupted
            | ErrorKind::Internal => true,
        }
    }

    /// Whether the fault is the submitter's (a validation failure), as opposed to ours.
    pub fn is_validation(self) -> bool {
        matches!(
            self,
            ErrorKind::EmptyInput
                | ErrorKind::UnsupportedFormat
                | ErrorKind::CorruptImage
                | ErrorKind::ImageTooLarge
                | ErrorKind::DegenerateImage
                | ErrorKind::TooManyPages
                | ErrorKind::EncryptedDocument
                | ErrorKind::CorruptDocument
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::EmptyInput => "empty_input",
            ErrorKind::UnsupportedFormat => "unsupported_format",
            ErrorKind::CorruptImage => "corrupt_image",
            ErrorKind::ImageTooLarge => "image_too_large",
            ErrorKind::DegenerateImage => "degenerate_image",
            ErrorKind::TooManyPages => "too_many_pages",
            ErrorKind::EncryptedDocument => "encrypted_document",
            ErrorKind::CorruptDocument => "corrupt_document",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::StorageUnavailable => "storage_unavailable",
            ErrorKind::DatabaseUnavailable => "database_unavailable",
            ErrorKind::OcrFailed => "ocr_failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Internal => "internal",
            ErrorKind::ConfigMismatch => "config_mismatch",
            ErrorKind::InputMismatch => "input_mismatch",
        }
    }

    pub fn parse(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A document's failure: its kind (for routing retries and counting) and a message for humans.
/// The message never holds SQL or host paths; it may name the document's own key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct PipelineError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PipelineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> PipelineError {
        PipelineError { kind, message: message.into() }
    }
}

/// Displays an error with its whole `source()` chain, `outer: cause: root cause`, like anyhow's `{:#}`: for log
/// fields (`error = %ErrorChain(&err)`), where `%err` alone would print only the outermost message ("database
/// unavailable") and lose the reason.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod chain_tests {
    use super::ErrorChain;

    #[derive(Debug, thiserror::Error)]
    #[error("database unavailable")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn prints_every_cause() {
        let err = Outer(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"));
        assert_eq!(ErrorChain(&err).to_string(), "database unavailable: connection refused");
    }
}
