//! A minimal `multipart/form-data` reader for one file part, over a body already buffered under the size limit.
//!
//! Why not axum's `multipart` feature: it pulls in `multer` and `encoding_rs` (new to the build) to stream parts,
//! and the API buffers the whole body anyway (it must hash it before storing). This reader handles what browsers
//! and `curl -F file=@page.png` send: the first part with a `filename` (or, failing that, a part named `file`) is
//! the document; other parts are ignored.

/// The document bytes from a multipart body, or a client-facing reason it could not be read.
pub(crate) fn file_part<'a>(body: &'a [u8], boundary: &str) -> Result<&'a [u8], &'static str> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // The body may start with a preamble; the first delimiter opens the first part.
    let mut pos = find(body, delimiter, 0).ok_or("multipart body has no boundary delimiter")?;
    let mut named_file: Option<&[u8]> = None;
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            break; // the close delimiter
        }
        // The rest of the delimiter line (transport padding), then the part's headers.
        let line_end = find(body, b"\r\n", pos).ok_or("multipart delimiter line is not terminated")?;
        let headers_start = line_end + 2;
        let headers_end = find(body, b"\r\n\r\n", headers_start).ok_or("multipart part has no header terminator")?;
        let headers =
            std::str::from_utf8(&body[headers_start..headers_end]).map_err(|_| "multipart headers are not UTF-8")?;
        let content_start = headers_end + 4;
        let mut next_delimiter = Vec::with_capacity(delimiter.len() + 2);
        next_delimiter.extend_from_slice(b"\r\n");
        next_delimiter.extend_from_slice(delimiter);
        let content_end = find(body, &next_delimiter, content_start).ok_or("multipart part is not terminated")?;
        let content = &body[content_start..content_end];

        let disposition = headers
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim().eq_ignore_ascii_case("content-disposition").then_some(value)
            })
            .unwrap_or("");
        let params: Vec<(String, String)> = disposition
            .split(';')
            .skip(1)
            .filter_map(|param| {
                let (name, value) = param.split_once('=')?;
                Some((name.trim().to_ascii_lowercase(), value.trim().trim_matches('"').to_string()))
            })
            .collect();
        if params.iter().any(|(name, _)| name == "filename" || name == "filename*") {
            return Ok(content);
        }
        if named_file.is_none() && params.iter().any(|(name, value)| name == "name" && value == "file") {
            named_file = Some(content);
        }
        pos = content_end + 2;
    }
    named_file.ok_or("multipart form has no file part")
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > haystack.len() || needle.is_empty() {
        return None;
    }
    haystack[from..].windows(needle.len()).position(|w| w == needle).map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = b"preamble\r\n".to_vec();
        for (disposition, content) in parts {
            body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; ");
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(b"\r\nContent-Type: application/octet-stream\r\n\r\n");
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        body
    }

    #[test]
    fn finds_the_file_part() {
        let png = b"\x89PNG\r\n\x1a\n\r\n--Xy binary \r\n";
        let body = form(&[("name=\"note\"", b"hello"), ("name=\"doc\"; filename=\"a.png\"", png)]);
        assert_eq!(file_part(&body, "XyZ").unwrap(), png);
        let body = form(&[("name=\"file\"", b"abc")]);
        assert_eq!(file_part(&body, "XyZ").unwrap(), b"abc");
        let body = form(&[("name=\"file\"; filename=\"empty\"", b"")]);
        assert_eq!(file_part(&body, "XyZ").unwrap(), b"");
    }

    #[test]
    fn refuses_malformed_forms() {
        assert!(file_part(b"no delimiter", "XyZ").is_err());
        assert!(file_part(&form(&[("name=\"note\"", b"x")]), "XyZ").is_err());
        assert!(file_part(b"--XyZ\r\nContent-Disposition: form-data; filename=a\r\n\r\nunterminated", "XyZ").is_err());
        assert!(file_part(b"--XyZ--\r\n", "XyZ").is_err());
    }
}

/// Property tests: random bodies and boundaries never panic; a generated form gives back its file part whatever the
/// boundary, the other fields, their order and the preamble.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::file_part;
    use crate::sniff::{body_kind, BodyKind};

    /// RFC 2046 boundary characters (bcharsnospace; the space is allowed inside but not last, left out here).
    const BCHARS: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?";

    fn boundary() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(BCHARS.chars().collect::<Vec<_>>()), 1..=70)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// A part: its Content-Disposition parameters after `form-data; `, and its content.
    #[derive(Clone, Debug)]
    struct Part {
        disposition: String,
        content: Vec<u8>,
    }

    fn other_field() -> impl Strategy<Value = Part> {
        ("[a-eg-z][a-z0-9_]{0,11}", proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(name, content)| Part { disposition: format!("name=\"{name}\""), content })
    }

    fn file_field() -> impl Strategy<Value = Part> {
        ("[a-z]{1,8}", "[a-z0-9]{1,8}\\.(png|jpg|tif|pdf)", proptest::collection::vec(any::<u8>(), 0..512)).prop_map(
            |(name, filename, content)| Part {
                disposition: format!("name=\"{name}\"; filename=\"{filename}\""),
                content,
            },
        )
    }

    fn render(boundary: &str, preamble: &[u8], parts: &[Part], epilogue: &[u8]) -> Vec<u8> {
        let mut body = preamble.to_vec();
        if !preamble.is_empty() {
            body.extend_from_slice(b"\r\n");
        }
        for part in parts {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; ").as_bytes());
            body.extend_from_slice(part.disposition.as_bytes());
            body.extend_from_slice(b"\r\nContent-Type: application/octet-stream\r\n\r\n");
            body.extend_from_slice(&part.content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        body.extend_from_slice(epilogue);
        body
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes under any boundary: a result, never a panic; a part found lies inside the body.
        #[test]
        fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), boundary in boundary()) {
            if let Ok(part) = file_part(&body, &boundary) {
                let start = part.as_ptr() as usize - body.as_ptr() as usize;
                prop_assert!(start + part.len() <= body.len());
            }
        }

        /// Bodies that look like forms (delimiter lines and header terminators sprinkled in random bytes) are the
        /// inputs that reach the deeper branches: still no panic.
        #[test]
        fn form_shaped_noise_never_panics(
            boundary in boundary(),
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just(b"\r\n".to_vec()),
                    Just(b"\r\n\r\n".to_vec()),
                    Just(b"--".to_vec()),
                    Just(b"Content-Disposition: form-data; name=\"file\"; filename=\"a\"".to_vec()),
                    proptest::collection::vec(any::<u8>(), 0..16),
                ],
                0..24,
            ),
            delimiter_every in 1usize..5,
        ) {
            let mut body = Vec::new();
            for (i, piece) in pieces.iter().enumerate() {
                if i % delimiter_every == 0 {
                    body.extend_from_slice(format!("--{boundary}").as_bytes());
                }
                body.extend_from_slice(piece);
            }
            let _ = file_part(&body, &boundary);
        }

        /// A generated form round-trips: the file part comes back byte for byte, wherever it sits among other
        /// fields, whatever the boundary, preamble and epilogue.
        #[test]
        fn a_generated_form_round_trips(
            boundary in boundary(),
            before in proptest::collection::vec(other_field(), 0..4),
            file in file_field(),
            after in proptest::collection::vec(other_field(), 0..4),
            preamble in proptest::collection::vec(any::<u8>(), 0..32),
            epilogue in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let delimiter = format!("\r\n--{boundary}");
            let mut parts = before.clone();
            parts.push(file.clone());
            parts.extend(after);
            // A sender picks a boundary that occurs in no content (RFC 2046); so does this generator.
            prop_assume!(!contains(&preamble, format!("--{boundary}").as_bytes()));
            for part in &parts {
                let mut framed = part.content.clone();
                framed.extend_from_slice(b"\r\n");
                prop_assume!(!contains(&framed, delimiter.as_bytes()));
            }
            let body = render(&boundary, &preamble, &parts, &epilogue);
            prop_assert_eq!(file_part(&body, &boundary), Ok(file.content.as_slice()));

            // The same form as the API receives it: the boundary comes from the Content-Type header.
            let header = format!("multipart/form-data; boundary=\"{boundary}\"");
            prop_assert_eq!(body_kind(Some(&header)), Some(BodyKind::Multipart { boundary: boundary.clone() }));
        }

        /// Any Content-Type value gets a classification without panicking.
        #[test]
        fn any_content_type_is_classified(value in "[ -~]{0,120}") {
            if let Some(BodyKind::Multipart { boundary }) = body_kind(Some(&value)) {
                prop_assert!(!boundary.is_empty() && boundary.len() <= 70);
            }
        }
    }
}
