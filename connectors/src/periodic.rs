//! What the connectors that aggregate spans into metrics (`genai_metrics`,
//! `span_metrics`) share: a flush on a timer until shutdown, and handing each flush on
//! with refusals logged once until one succeeds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use llamacol_api::log_once::LogOnce;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::task::Background;
use llamacol_api::{Batch, ConsumeError, Consumer};

/// Runs `flush` every `every` (the first one `every` after now) on `task` until it is
/// stopped.
pub fn flush_every<F, Fut>(task: &Background, every: Duration, flush: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    task.spawn(move |cancel| async move {
        let mut ticker = tokio::time::interval(every);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = ticker.tick() => flush().await,
                () = cancel.cancelled() => return,
            }
        }
    });
}

/// Hands a flush on to `next`; a refusal is logged once (with `what`) until a flush
/// succeeds again.
pub async fn hand_on(
    next: &Arc<dyn Consumer>,
    request: ExportMetricsServiceRequest,
    refused: &LogOnce,
    component: &str,
    what: &str,
) -> Result<(), ConsumeError> {
    match next.consume(Batch::from(request)).await {
        Ok(()) => {
            refused.cleared();
            Ok(())
        }
        Err(e) => {
            if refused.is_new("refused") {
                tracing::warn!(component, error = %e, "{what} (logged once until a flush succeeds)");
            }
            Err(e)
        }
    }
}
