//! How consume errors become protocol answers: retryable -> gRPC UNAVAILABLE with a
//! `google.rpc.RetryInfo` detail / HTTP 503 with `Retry-After`; permanent ->
//! INVALID_ARGUMENT / 400 (ARCHITECTURE.md section 4).

use std::time::Duration;

use llamacol_api::wire::WireError;
use llamacol_api::{ConsumeError, Signal};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Seconds a client is told to wait when the pipeline gave no hint.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

pub fn grpc_status(e: &ConsumeError) -> Status {
    if e.is_retryable() {
        // RetryInfo tells OTLP clients how long to back off (the gRPC twin of Retry-After).
        let delay = Duration::from_secs(retry_after_secs(e));
        Status::with_error_details(
            Code::Unavailable,
            format!("{e}; retry later"),
            ErrorDetails::with_retry_info(Some(delay)),
        )
    } else {
        Status::invalid_argument(e.to_string())
    }
}

pub fn retry_after_secs(e: &ConsumeError) -> u64 {
    e.retry_after()
        .unwrap_or(DEFAULT_RETRY_AFTER)
        .as_secs()
        .max(1)
}

pub fn invalid_payload(signal: Signal, e: &WireError) -> String {
    format!("invalid OTLP {signal} export request: {e}")
}
