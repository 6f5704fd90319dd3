//! Image decoding through Leptonica (the decoder Tesseract itself uses): JPEG, PNG, TIFF (any compression,
//! 1-bit included), BMP, PNM, GIF, WebP, JPEG 2000. The header is read first so that a decompression bomb is
//! refused before a single pixel is allocated.

use std::os::raw::c_int;
use std::sync::Once;

use rythmiq_imaging::GrayImage;
use rythmiq_types::{ErrorKind, PipelineError};

use crate::sys;

/// Limits checked before decoding.
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    /// Width x height above this is refused from the header alone.
    pub max_image_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 40 MP holds an A4 page at 600 dpi (35 MP) and the corpus' largest scan (4961 x 7016 = 34.8 MP).
        DecodeLimits { max_image_pixels: 40_000_000 }
    }
}

/// A decoded page.
#[derive(Debug)]
pub struct Decoded {
    pub image: GrayImage,
    /// Horizontal resolution from the header, when it states one.
    pub dpi: Option<u32>,
    /// Leptonica's format name: `jpeg`, `png`, `tiff`, ...
    pub format: &'static str,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the document is empty (0 bytes)")]
    Empty,
    #[error("unsupported format: {0}")]
    Unsupported(String),
    #[error("corrupt or truncated {format} image")]
    Corrupt { format: &'static str },
    #[error("image is {width}x{height} = {pixels} pixels, above the limit of {limit}")]
    TooLarge { width: u32, height: u32, pixels: u64, limit: u64 },
}

impl From<DecodeError> for PipelineError {
    fn from(err: DecodeError) -> Self {
        let kind = match err {
            DecodeError::Empty => ErrorKind::EmptyInput,
            DecodeError::Unsupported(_) => ErrorKind::UnsupportedFormat,
            DecodeError::Corrupt { .. } => ErrorKind::CorruptImage,
            DecodeError::TooLarge { .. } => ErrorKind::ImageTooLarge,
        };
        PipelineError::new(kind, err.to_string())
    }
}

fn quiet_leptonica() {
    static ONCE: Once = Once::new();
    // SAFETY: sets a process-global severity level; Leptonica reads it without synchronisation, so we set it
    // exactly once before any decode.
    ONCE.call_once(|| unsafe {
        sys::setMsgSeverity(sys::L_SEVERITY_NONE);
    });
}

fn format_name(format: c_int) -> &'static str {
    match format {
        1 => "bmp",
        2 => "jpeg",
        3 => "png",
        4..=10 | 17 => "tiff",
        11 => "pnm",
        13 => "gif",
        14 => "jp2",
        15 => "webp",
        _ => "unknown",
    }
}

/// Decodes `bytes` into a grey image, refusing empty, unknown, damaged and oversized input with a typed error.
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<Decoded, DecodeError> {
    quiet_leptonica();
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.starts_with(b"%PDF") {
        return Err(DecodeError::Unsupported("PDF: rasterise its pages to images first".to_string()));
    }
    // findFileFormatBuffer reads up to 12 bytes unconditionally: give it a padded copy of the head.
    let mut head = [0u8; 16];
    let n = bytes.len().min(head.len());
    head[..n].copy_from_slice(&bytes[..n]);
    let mut format: c_int = 0;
    // SAFETY: `head` is 16 readable bytes; `format` is a valid out-pointer.
    unsafe { sys::findFileFormatBuffer(head.as_ptr(), &mut format) };
    match format {
        sys::IFF_UNKNOWN => return Err(DecodeError::Unsupported("not a known image format".to_string())),
        sys::IFF_PS | sys::IFF_LPDF | sys::IFF_SPIX => {
            return Err(DecodeError::Unsupported(format!("leptonica format {format}")));
        }
        _ => {}
    }
    let name = format_name(format);
    let (mut w, mut h, mut bps, mut spp, mut cmap, mut hdr_format) = (0, 0, 0, 0, 0, 0);
    // SAFETY: `bytes` is valid for `bytes.len()` bytes; all out-pointers are valid.
    let ok = unsafe {
        sys::pixReadHeaderMem(
            bytes.as_ptr(),
            bytes.len(),
            &mut hdr_format,
            &mut w,
            &mut h,
            &mut bps,
            &mut spp,
            &mut cmap,
        )
    };
    if ok != 0 || w <= 0 || h <= 0 {
        return Err(DecodeError::Corrupt { format: name });
    }
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_image_pixels {
        return Err(DecodeError::TooLarge { width: w as u32, height: h as u32, pixels, limit: limits.max_image_pixels });
    }
    if format == sys::IFF_JFIF_JPEG && !jpeg_is_complete(bytes) {
        // libjpeg fills a truncated scan with grey and only warns; a half page is not a page.
        return Err(DecodeError::Corrupt { format: name });
    }
    // SAFETY: as above; the returned Pix (or NULL) is owned by us and destroyed below.
    let mut pix = unsafe { sys::pixReadMem(bytes.as_ptr(), bytes.len()) };
    if pix.is_null() {
        return Err(DecodeError::Corrupt { format: name });
    }
    // SAFETY: `pix` is a valid Pix; pixConvertTo8 returns a new Pix (or a clone) that we own.
    let mut grey = unsafe { sys::pixConvertTo8(pix, 0) };
    let dpi = unsafe { sys::pixGetXRes(pix) };
    unsafe { sys::pixDestroy(&mut pix) };
    if grey.is_null() {
        return Err(DecodeError::Corrupt { format: name });
    }
    let image = unsafe { copy_grey(grey) };
    unsafe { sys::pixDestroy(&mut grey) };
    Ok(Decoded { image: image.ok_or(DecodeError::Corrupt { format: name })?, dpi: (dpi > 0).then_some(dpi as u32), format: name })
}

/// Copies an 8-bpp Pix into a packed `GrayImage`.
///
/// # Safety
/// `pix` must be a valid 8-bpp Pix.
unsafe fn copy_grey(pix: *mut sys::Pix) -> Option<GrayImage> {
    if sys::pixGetDepth(pix) != 8 {
        return None;
    }
    let (w, h, wpl) = (sys::pixGetWidth(pix) as usize, sys::pixGetHeight(pix) as usize, sys::pixGetWpl(pix) as usize);
    let data = sys::pixGetData(pix) as *const u8;
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let line = std::slice::from_raw_parts(data.add(y * wpl * 4), wpl * 4);
        // Leptonica stores bytes big-endian within each 32-bit word.
        let swizzle = if cfg!(target_endian = "little") { 3 } else { 0 };
        out.extend((0..w).map(|x| line[x ^ swizzle]));
    }
    GrayImage::from_raw(w as u32, h as u32, out)
}

/// A JPEG is complete when an end-of-image marker (FF D9) follows the last scan; trailing padding is allowed.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unknown_are_typed() {
        assert_eq!(decode(&[], DecodeLimits::default()).unwrap_err(), DecodeError::Empty);
        assert!(matches!(decode(b"hello world, not an image", DecodeLimits::default()), Err(DecodeError::Unsupported(_))));
        assert!(matches!(decode(b"%PDF-1.7\n...", DecodeLimits::default()), Err(DecodeError::Unsupported(m)) if m.contains("PDF")));
    }
}
