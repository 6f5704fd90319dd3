//! Property tests of the intake sniff (`rythmiq_types::intake`), the first thing every submission meets: any byte
//! string gets a typed verdict without panicking, a format's magic number followed by anything is that format, and
//! text that opens with none of them is refused as `unsupported_format`.

use proptest::prelude::*;
use rythmiq_types::intake::{sniff, validate, DocumentFormat};
use rythmiq_types::ErrorKind;

/// Each format's magic number as the sniff documents it, with the format it must classify as.
fn magic_prefixes() -> Vec<(Vec<u8>, DocumentFormat)> {
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[0; 8]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    vec![
        (vec![0xFF, 0xD8, 0xFF], DocumentFormat::Jpeg),
        (b"\x89PNG\r\n\x1a\n".to_vec(), DocumentFormat::Png),
        (b"II*\0".to_vec(), DocumentFormat::Tiff),
        (b"MM\0*".to_vec(), DocumentFormat::Tiff),
        (b"GIF87a".to_vec(), DocumentFormat::Gif),
        (b"GIF89a".to_vec(), DocumentFormat::Gif),
        (b"RIFF\0\0\0\0WEBP".to_vec(), DocumentFormat::WebP),
        (b"\0\0\0\x0cjP  \r\n\x87\n".to_vec(), DocumentFormat::Jpeg2000),
        (vec![0xFF, 0x4F, 0xFF, 0x51], DocumentFormat::Jpeg2000),
        (bmp, DocumentFormat::Bmp),
        (b"P1\n".to_vec(), DocumentFormat::Pnm),
        (b"P6 ".to_vec(), DocumentFormat::Pnm),
        (b"%PDF-".to_vec(), DocumentFormat::Pdf),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes: a verdict, never a panic, and `validate` agrees with `sniff`.
    #[test]
    fn any_bytes_get_a_typed_verdict(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        match (validate(&bytes), sniff(&bytes)) {
            (Ok(format), Some(sniffed)) => prop_assert_eq!(format, sniffed),
            (Err(err), None) if bytes.is_empty() => prop_assert_eq!(err.kind, ErrorKind::EmptyInput),
            (Err(err), None) => prop_assert_eq!(err.kind, ErrorKind::UnsupportedFormat),
            (verdict, sniffed) => prop_assert!(false, "validate {:?} but sniff {:?}", verdict, sniffed),
        }
    }

    /// A valid magic number followed by anything classifies as its format (the sniff never decodes).
    #[test]
    fn a_valid_prefix_classifies(which in 0usize..13, tail in proptest::collection::vec(any::<u8>(), 0..128)) {
        let prefixes = magic_prefixes();
        let (prefix, want) = &prefixes[which % prefixes.len()];
        let mut bytes = prefix.clone();
        bytes.extend_from_slice(&tail);
        prop_assert_eq!(sniff(&bytes), Some(*want));
        prop_assert_eq!(validate(&bytes).map_err(|e| e.kind), Ok(*want));
    }

    /// A magic number cut short is no document (none of ours contains a shorter one).
    #[test]
    fn a_cut_magic_number_is_refused(which in 0usize..13, cut in 1usize..12) {
        let prefixes = magic_prefixes();
        let (prefix, _) = &prefixes[which % prefixes.len()];
        let cut = cut.min(prefix.len() - 1);
        prop_assert_eq!(sniff(&prefix[..cut]), None, "{:?}", &prefix[..cut]);
    }

    /// Text that opens with a lower-case letter is no format we read: `unsupported_format`, typed.
    #[test]
    fn text_is_unsupported(text in "[a-z][ -~\n]{0,200}") {
        let err = validate(text.as_bytes()).unwrap_err();
        prop_assert_eq!(err.kind, ErrorKind::UnsupportedFormat);
        prop_assert!(!err.kind.is_retryable());
    }
}
