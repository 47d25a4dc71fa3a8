//! Request bodies: read within `max_request_body_size`, then decompressed within it.

use std::io::Read;

use axum::body::Body;
use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};

#[derive(Debug)]
pub enum BodyError {
    /// Larger than the limit, before or after decompression.
    TooLarge,
    Invalid(String),
}

/// `raw` decoded per `Content-Encoding` (`gzip`, `deflate`, `zstd`, none), to at most
/// `max` bytes.
pub fn decompress(encoding: &str, raw: Bytes, max: usize) -> Result<Bytes, BodyError> {
    let encoding = encoding.trim().to_ascii_lowercase();
    let reader: Box<dyn Read> = match encoding.as_str() {
        "" | "identity" => return Ok(raw),
        "gzip" => Box::new(flate2::read::GzDecoder::new(raw.as_ref())),
        // `zlib` as the Collector's Zipkin receiver names deflate too.
        "deflate" | "zlib" => Box::new(flate2::read::ZlibDecoder::new(raw.as_ref())),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(raw.as_ref())
                .map_err(|e| BodyError::Invalid(format!("invalid zstd body: {e}")))?,
        ),
        other => {
            return Err(BodyError::Invalid(format!(
                "unsupported Content-Encoding `{other}`; use gzip, zstd, deflate or none"
            )));
        }
    };
    let mut out = Vec::new();
    let limit = max as u64;
    reader
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Invalid(format!("invalid {encoding} body: {e}")))?;
    if out.len() as u64 > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(out))
}

/// A refused body: the status and what the client is told.
pub type Refusal = (StatusCode, String);

/// Reads at most `max` bytes, then decompresses (`Content-Encoding`) to at most `max`.
pub async fn read(max: usize, headers: &HeaderMap, body: Body) -> Result<Bytes, Refusal> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than the {max} byte limit (`max_request_body_size`)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let raw = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("reading request body: {e}"),
            ))
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    decompress(encoding, raw, max).map_err(|e| match e {
        BodyError::TooLarge => too_large(),
        BodyError::Invalid(message) => (StatusCode::BAD_REQUEST, message),
    })
}

/// The media type of `Content-Type`, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}
