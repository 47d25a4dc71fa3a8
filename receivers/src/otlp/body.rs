//! OTLP/HTTP request bodies: decompression within a size limit, then protobuf (checked
//! on the wire, not decoded) or JSON. Public so the fuzzers drive exactly what the
//! receiver runs on untrusted input.

use std::io::Read;

use bytes::Bytes;
use llamacol_api::otlp::collector::{logs, metrics, trace};
use llamacol_api::{Batch, Signal};

/// A body that is not a valid export request of its signal: what the client is told (400).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

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
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(raw.as_ref())),
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

/// A protobuf export request, checked on the wire.
pub fn protobuf(signal: Signal, bytes: Bytes) -> Result<Batch, InvalidRequest> {
    Batch::from_bytes(signal, bytes)
        .map_err(|e| InvalidRequest(super::status::invalid_payload(signal, &e)))
}

/// An OTLP/JSON export request.
pub fn json(signal: Signal, bytes: &[u8]) -> Result<Batch, InvalidRequest> {
    let invalid = |e: serde_json::Error| {
        InvalidRequest(format!("invalid OTLP/JSON {signal} export request: {e}"))
    };
    Ok(match signal {
        Signal::Traces => serde_json::from_slice::<trace::v1::ExportTraceServiceRequest>(bytes)
            .map_err(invalid)?
            .into(),
        Signal::Metrics => {
            serde_json::from_slice::<metrics::v1::ExportMetricsServiceRequest>(bytes)
                .map_err(invalid)?
                .into()
        }
        Signal::Logs => serde_json::from_slice::<logs::v1::ExportLogsServiceRequest>(bytes)
            .map_err(invalid)?
            .into(),
    })
}
