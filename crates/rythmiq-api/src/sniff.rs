//! What a submission is, decided before anything is stored: the request's content type, and the magic number of
//! the document's first bytes.
//!
//! The magic-number sniff is the shared intake (`rythmiq_types::intake::admit`, which the submit handler calls):
//! it keeps obvious non-documents (text, archives) out of the queue, where they would burn a worker attempt to fail
//! permanently. It does not decode: a truncated or corrupt file with the right magic number is accepted here and
//! failed once by the worker's decoder (`corrupt_image`, `corrupt_document`).

/// How the request carries the document, from its `Content-Type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// The body is the document (`image/*` we read, `application/octet-stream`, or no content type).
    Raw,
    /// `multipart/form-data` with this boundary.
    Multipart { boundary: String },
    /// `application/json` naming an object: `{"s3_uri": "s3://bucket/key"}`.
    Json,
}

/// Content types accepted as raw document bytes. The declared type need not match the bytes (the decoder sniffs
/// anyway); it only has to say "an image" or "a PDF".
const RAW_TYPES: &[&str] = &[
    "image/jpeg",
    "image/jpg",
    "image/png",
    "image/tiff",
    "image/bmp",
    "image/x-ms-bmp",
    "image/webp",
    "image/gif",
    "image/jp2",
    "image/x-portable-anymap",
    "image/x-portable-bitmap",
    "image/x-portable-graymap",
    "image/x-portable-pixmap",
    "application/pdf",
    "application/octet-stream",
];

/// Classifies a `Content-Type` header value; `None` when unsupported (415). A missing header counts as raw bytes:
/// the sniff still decides whether they are an image.
pub(crate) fn body_kind(content_type_opt: Option<&str>) -> Option<BodyKind> {
    let Some(content_type) = content_type_opt else {
        return Some(BodyKind::Raw);
    };
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if RAW_TYPES.contains(&essence.as_str()) {
        return Some(BodyKind::Raw);
    }
    match essence.as_str() {
        "application/json" => Some(BodyKind::Json),
        "multipart/form-data" => {
            let boundary = parts.find_map(|param| {
                let (name, value) = param.split_once('=')?;
                name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_string())
            })?;
            // RFC 2046: 1 to 70 characters. Refusing others keeps the parser's search bounded and simple.
            (!boundary.is_empty() && boundary.len() <= 70).then_some(BodyKind::Multipart { boundary })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rythmiq_types::intake::{sniff, DocumentFormat as ImageFormat};

    #[test]
    fn content_types() {
        assert_eq!(body_kind(None), Some(BodyKind::Raw));
        assert_eq!(body_kind(Some("image/PNG")), Some(BodyKind::Raw));
        assert_eq!(body_kind(Some("application/octet-stream; foo=bar")), Some(BodyKind::Raw));
        assert_eq!(body_kind(Some("application/json; charset=utf-8")), Some(BodyKind::Json));
        assert_eq!(
            body_kind(Some("multipart/form-data; boundary=\"abc\"")),
            Some(BodyKind::Multipart { boundary: "abc".into() })
        );
        for bad in ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded", ""] {
            assert_eq!(body_kind(Some(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn magic_numbers() {
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 8]);
        bmp.extend_from_slice(&54u32.to_le_bytes());
        let cases: &[(&[u8], Option<ImageFormat>)] = &[
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], Some(ImageFormat::Jpeg)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some(ImageFormat::Png)),
            (b"II*\0\x08\0\0\0", Some(ImageFormat::Tiff)),
            (b"MM\0*\0\0\0\x08", Some(ImageFormat::Tiff)),
            (b"GIF89a\x01\0", Some(ImageFormat::Gif)),
            (b"RIFF\x24\0\0\0WEBPVP8 ", Some(ImageFormat::WebP)),
            (b"P5\n10 10\n255\n", Some(ImageFormat::Pnm)),
            (b"\0\0\0\x0cjP  \r\n\x87\n", Some(ImageFormat::Jpeg2000)),
            (&bmp, Some(ImageFormat::Bmp)),
            (b"%PDF-1.7\n", Some(ImageFormat::Pdf)),
            (b"hello world", None),
            (b"BMW is a car brand.", None),
            (b"RIFF\x24\0\0\0WAVEfmt ", None),
            (b"PK\x03\x04", None),
            (b"P7 not pnm", None),
            (b"", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), *want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }
}
