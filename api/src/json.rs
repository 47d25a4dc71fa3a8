//! OTLP/JSON encoding of batches, for every component that writes JSON (file, debug,
//! OTLP/HTTP with `encoding: json`, a user's webhook).
//! The shapes are the OTLP/JSON ones (`TracesData`, `MetricsData`, `LogsData`): lowerCamelCase
//! fields, hex trace/span ids, enums as integers, 64-bit integers as strings.

use crate::wire::WireError;
use crate::Batch;

#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error(transparent)]
    Decode(#[from] WireError),
    #[error("encoding OTLP/JSON: {0}")]
    Encode(#[from] serde_json::Error),
}

/// One batch as a compact OTLP/JSON object (no trailing newline).
pub fn to_json(batch: &mut Batch) -> Result<String, JsonError> {
    Ok(match batch {
        Batch::Traces(p) => serde_json::to_string(p.message()?)?,
        Batch::Metrics(p) => serde_json::to_string(p.message()?)?,
        Batch::Logs(p) => serde_json::to_string(p.message()?)?,
    })
}

/// One batch as indented OTLP/JSON, for people.
pub fn to_json_pretty(batch: &mut Batch) -> Result<String, JsonError> {
    Ok(match batch {
        Batch::Traces(p) => serde_json::to_string_pretty(p.message()?)?,
        Batch::Metrics(p) => serde_json::to_string_pretty(p.message()?)?,
        Batch::Logs(p) => serde_json::to_string_pretty(p.message()?)?,
    })
}
