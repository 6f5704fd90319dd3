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
