//! The one consumer trait everything downstream of a receiver implements, and its error.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::batch::Batch;

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Takes one batch. Awaiting the call is the backpressure; the error says whether the
/// sender should retry (and the receiver turns it into the protocol's answer).
#[async_trait]
pub trait Consumer: Send + Sync {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Try again later: queue full, memory limit, backend unavailable.
    Retryable,
    /// Retrying the same data cannot succeed: malformed or rejected data.
    Permanent,
}

/// Why a batch was not consumed, and whether retrying can help.
#[derive(Debug)]
pub struct ConsumeError {
    kind: ErrorKind,
    retry_after: Option<Duration>,
    too_large: Option<RequestTooLarge>,
    source: BoxError,
}

/// The far side refused a request for its size (gRPC `RESOURCE_EXHAUSTED` "larger than
/// max", HTTP 413), or the exporter found it larger than the far side takes before
/// sending. Not retried as it is: the exporter's queue splits it and sends the pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTooLarge {
    /// The largest encoded OTLP request the far side takes, when its answer said so.
    pub limit: Option<usize>,
}

impl ConsumeError {
    pub fn retryable(source: impl Into<BoxError>) -> Self {
        ConsumeError {
            kind: ErrorKind::Retryable,
            retry_after: None,
            too_large: None,
            source: source.into(),
        }
    }

    pub fn permanent(source: impl Into<BoxError>) -> Self {
        ConsumeError {
            kind: ErrorKind::Permanent,
            retry_after: None,
            too_large: None,
            source: source.into(),
        }
    }

    /// A request refused for its size: permanent as it is, but its pieces may pass.
    /// `limit`: the largest encoded OTLP request the far side takes, when known.
    pub fn request_too_large(source: impl Into<BoxError>, limit: Option<usize>) -> Self {
        ConsumeError {
            too_large: Some(RequestTooLarge { limit }),
            ..ConsumeError::permanent(source)
        }
    }

    /// Set when the request was refused for its size (see [`RequestTooLarge`]).
    pub fn too_large(&self) -> Option<RequestTooLarge> {
        self.too_large
    }

    /// A server's hint for when to retry (HTTP `Retry-After`, gRPC `RetryInfo`).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for ConsumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for ConsumeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Hands each batch to several consumers: a clone to every one but the last.
/// Every consumer is called even when an earlier one fails; a retryable failure wins
/// over a permanent one, so the sender retries when any path can still take the data.
pub struct FanOut {
    consumers: Vec<Arc<dyn Consumer>>,
}

impl FanOut {
    /// One consumer is returned as it is: no fan-out cost on single paths.
    pub fn over(mut consumers: Vec<Arc<dyn Consumer>>) -> Arc<dyn Consumer> {
        if consumers.len() == 1 {
            if let Some(only) = consumers.pop() {
                return only;
            }
        }
        Arc::new(FanOut { consumers })
    }
}

#[async_trait]
impl Consumer for FanOut {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let mut first_error: Option<ConsumeError> = None;
        let last = self.consumers.len().saturating_sub(1);
        let mut batch = Some(batch);
        for (i, consumer) in self.consumers.iter().enumerate() {
            let this = if i == last {
                batch.take()
            } else {
                batch.clone()
            };
            let Some(this) = this else { break };
            if let Err(e) = consumer.consume(this).await {
                first_error = match first_error {
                    Some(prev) if prev.is_retryable() || !e.is_retryable() => Some(prev),
                    _ => Some(e),
                };
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// An error with its causes, `: `-joined (a transport error's TLS or connect reason is in
/// its chain; its own message often is not enough to act on).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
