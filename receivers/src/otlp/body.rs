//! OTLP/HTTP request bodies: decompression within a size limit, then protobuf (checked
//! on the wire, not decoded) or JSON. Public so the fuzzers drive exactly what the
//! receiver runs on untrusted input.

use bytes::Bytes;
use llamacol_api::otlp::collector::{logs, metrics, trace};
use llamacol_api::{Batch, Signal};

/// A body that is not a valid export request of its signal: what the client is told (400).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

pub use crate::server::body::{decompress, BodyError};

/// A protobuf export request, checked on the wire.
pub fn protobuf(signal: Signal, bytes: Bytes) -> Result<Batch, InvalidRequest> {
    Batch::from_bytes(signal, bytes)
        .map_err(|e| InvalidRequest(crate::server::status::invalid_payload(signal, &e)))
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
