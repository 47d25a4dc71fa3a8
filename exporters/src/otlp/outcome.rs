//! Which failures the OTLP spec says to retry, and partial-success reporting.

use llamacol_api::otlp::collector::{logs, metrics, trace};
use llamacol_api::ConsumeError;
use tonic::{Code, Status};
use tonic_types::StatusExt;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("gRPC export failed: {code:?}: {message}")]
    Grpc { code: Code, message: String },
    #[error("HTTP export failed: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("encoding the request: {0}")]
    Encode(String),
    #[error("request of {size} bytes is larger than `max_request_size` ({limit} bytes)")]
    TooLarge { size: usize, limit: usize },
}

/// Refuses, before it is sent, a body larger than `limit` (`max_request_size`): in another
/// encoding than the batch's (OTLP/JSON, Jaeger's model) a batch the queue cut to size can
/// still be over it. The queue then cuts it smaller; the limit is in that encoding's bytes,
/// so it is not stated as the batch's.
pub fn check_size(size: usize, limit: Option<usize>) -> Result<(), ConsumeError> {
    match limit {
        Some(limit) if size > limit => Err(ConsumeError::request_too_large(
            ExportError::TooLarge { size, limit },
            None,
        )),
        _ => Ok(()),
    }
}

/// OTLP/gRPC: UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE and
/// DATA_LOSS are retryable; RESOURCE_EXHAUSTED only when the server sent RetryInfo.
/// A refusal for the message's size (RESOURCE_EXHAUSTED from grpc-go servers, tonic's
/// OUT_OF_RANGE) is neither: the queue cuts the request and sends the pieces.
pub fn from_grpc(status: &Status) -> ConsumeError {
    let retry_info = status.get_details_retry_info().and_then(|r| r.retry_delay);
    let error = ExportError::Grpc {
        code: status.code(),
        message: status.message().to_string(),
    };
    if matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange)
        && says_too_large(status.message())
    {
        return ConsumeError::request_too_large(error, stated_limit(status.message()));
    }
    let retryable = match status.code() {
        Code::Unavailable
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_info.is_some(),
        _ => false,
    };
    match (retryable, retry_info) {
        (true, Some(delay)) => ConsumeError::retryable(error).with_retry_after(delay),
        (true, None) => ConsumeError::retryable(error),
        (false, _) => ConsumeError::permanent(error),
    }
}

/// Whether a gRPC status message is a refusal for the message's size: grpc-go's
/// "received message larger than max (N vs. M)" and "received message after decompression
/// larger than max M"; tonic's "decoded message length too large: found N bytes, the limit
/// is: M bytes", and for a compressed message "Error decompressing: size limit, of M bytes,
/// exceeded while decompressing message" (seen from llamacol's receiver, tonic 0.14).
fn says_too_large(message: &str) -> bool {
    message.contains("larger than max")
        || message.contains("message length too large")
        || message.contains("exceeded while decompressing")
}

/// The limit a size refusal states: the last number in the message (`M` above).
fn stated_limit(message: &str) -> Option<usize> {
    message
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|s| !s.is_empty())
        .and_then(|n| n.parse().ok())
}

/// Items a server rejected in an otherwise successful response, and its message.
pub trait PartialSuccess {
    fn rejected(&self) -> Option<(i64, &str)>;
}

impl PartialSuccess for trace::v1::ExportTraceServiceResponse {
    fn rejected(&self) -> Option<(i64, &str)> {
        self.partial_success
            .as_ref()
            .map(|p| (p.rejected_spans, p.error_message.as_str()))
    }
}

impl PartialSuccess for metrics::v1::ExportMetricsServiceResponse {
    fn rejected(&self) -> Option<(i64, &str)> {
        self.partial_success
            .as_ref()
            .map(|p| (p.rejected_data_points, p.error_message.as_str()))
    }
}

impl PartialSuccess for logs::v1::ExportLogsServiceResponse {
    fn rejected(&self) -> Option<(i64, &str)> {
        self.partial_success
            .as_ref()
            .map(|p| (p.rejected_log_records, p.error_message.as_str()))
    }
}

/// Logs a partial success (the spec says not to retry it).
pub fn report_partial(id: &str, response: &dyn PartialSuccess) {
    if let Some((rejected, message)) = response.rejected() {
        if rejected > 0 || !message.is_empty() {
            tracing::warn!(component = %id, rejected, message, "backend accepted the export partially; rejected items are not retried");
        }
    }
}
