//! Property tests of the decoder's header checks: random bytes behind any image format's magic number get a typed
//! error or a page, never a crash; and a header declaring more pixels than `max_image_pixels` is refused from the
//! header alone. The generated headers carry no pixel data at all, so `image_too_large` with the declared size can
//! only come from the header read, before anything the size of the image is allocated.

use proptest::prelude::*;
use rythmiq_ocr::{decode, open, DecodeError, DecodeLimits, MIN_SIDE_PX};

/// 1 MP: small enough that sizes on both sides of it are cheap to generate and, below it, to decode.
const LIMIT_PX: u64 = 1_000_000;

fn limits() -> DecodeLimits {
    DecodeLimits { max_image_pixels: LIMIT_PX, max_pages: 4, ..DecodeLimits::default() }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG with a valid signature and IHDR for `width` x `height` (8-bit grey), then straight to IEND: no pixels.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IEND", &[]);
    png
}

/// A GIF whose logical screen and one image descriptor declare `width` x `height`, with one empty LZW block.
fn gif_header_only(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0, 2, 0, 0x3B]);
    gif
}

/// What the header check must say about a declared size.
fn assert_size_verdict(result: Result<rythmiq_ocr::Decoded, DecodeError>, width: u32, height: u32) {
    let pixels = width as u64 * height as u64;
    match result {
        Err(DecodeError::TooLarge { width: w, height: h, pixels: p, limit }) => {
            assert!(pixels > LIMIT_PX, "{width}x{height} refused as too large");
            assert_eq!((w, h, p, limit), (width, height, pixels, LIMIT_PX));
        }
        other => {
            assert!(pixels <= LIMIT_PX, "{width}x{height} ({pixels} px) not refused from its header: {other:?}");
            if width < MIN_SIDE_PX || height < MIN_SIDE_PX {
                assert!(matches!(other, Err(DecodeError::Degenerate { .. }) | Err(DecodeError::Corrupt { .. })));
            }
        }
    }
}

/// Magic numbers of the image formats the decoder reads (PDFs go to the sandboxed tools, covered elsewhere).
const MAGICS: &[&[u8]] = &[
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    &[0xFF, 0xD8, 0xFF, 0xE0],
    b"II*\0",
    b"MM\0*",
    b"GIF89a",
    b"BM",
    b"P5\n",
    b"RIFF\0\0\0\0WEBPVP8 ",
    b"\0\0\0\x0cjP  \r\n\x87\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A PNG's declared size decides, from the header: too large, degenerate, or (no pixel data) corrupt.
    #[test]
    fn png_sizes_are_judged_from_the_header(width in 1u32..40_000, height in 1u32..40_000) {
        assert_size_verdict(decode(&png_header_only(width, height), limits()), width, height);
    }

    /// A GIF's declared size decides from the header too (Leptonica would decode the whole GIF to read it).
    #[test]
    fn gif_sizes_are_judged_from_the_header(width in 1u16..=u16::MAX, height in 1u16..=u16::MAX) {
        assert_size_verdict(decode(&gif_header_only(width, height), limits()), width as u32, height as u32);
    }

    /// Random bytes behind a magic number: opening and decoding every page answers, typed, without a crash.
    #[test]
    fn random_bytes_behind_a_magic_number_are_typed(
        which in 0usize..9,
        tail in proptest::collection::vec(any::<u8>(), 0..384),
    ) {
        let mut bytes = MAGICS[which % MAGICS.len()].to_vec();
        bytes.extend_from_slice(&tail);
        let limits = limits();
        if let Ok(document) = open(&bytes, &limits) {
            prop_assert!(document.n_pages() >= 1 && document.n_pages() <= limits.max_pages);
            for page_idx in 0..document.n_pages() {
                if let Ok(page) = document.page(&bytes, page_idx, &limits) {
                    if let rythmiq_ocr::PageContent::Raster(decoded) = page.content {
                        prop_assert!(decoded.image.n_pixels() <= LIMIT_PX);
                        prop_assert!(decoded.image.width() >= MIN_SIDE_PX && decoded.image.height() >= MIN_SIDE_PX);
                    }
                }
            }
        }
    }
}
