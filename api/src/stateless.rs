//! A stateless processor is a function over a batch (the Collector's
//! `processorhelper.NewTraces(..., ProcessTracesFunc)`): it changes, filters or replaces
//! the batch and the helper hands the result to the next stage, returning that stage's
//! answer as it is (so backpressure and retryable refusals travel back unchanged). A batch
//! the function emptied (it had items and has none: everything filtered or sampled out)
//! is not handed on. The component is its config and a [`Process`]; the helper is the
//! [`Processor`].

use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::Batch;
use crate::component::Processor;
use crate::consumer::{ConsumeError, Consumer};

/// What a stateless processor does to one batch. Decode only what you change
/// (`payload.message_mut()`); a batch of a signal you leave alone passes on encoded.
/// `Err` refuses the batch: the next stage never sees it, the sender gets the error.
pub trait Process: Send + Sync + 'static {
    fn process(&self, batch: Batch) -> Result<Batch, ConsumeError>;
}

/// A plain function (or closure) is a [`Process`].
impl<F> Process for F
where
    F: Fn(Batch) -> Result<Batch, ConsumeError> + Send + Sync + 'static,
{
    fn process(&self, batch: Batch) -> Result<Batch, ConsumeError> {
        self(batch)
    }
}

/// `process` in front of `next`: what a stateless processor's build function returns.
pub fn processor(process: impl Process, next: Arc<dyn Consumer>) -> Arc<dyn Processor> {
    Arc::new(Stateless { process, next })
}

struct Stateless<P> {
    process: P,
    next: Arc<dyn Consumer>,
}

#[async_trait]
impl<P: Process> Consumer for Stateless<P> {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let had_items = batch.items() > 0;
        let batch = self.process.process(batch)?;
        if had_items && batch.items() == 0 {
            return Ok(());
        }
        self.next.consume(batch).await
    }
}

impl<P: Process> Processor for Stateless<P> {}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::{sample_logs, sample_traces, Capture};

    #[tokio::test]
    async fn passes_the_processed_batch_on_and_refuses_what_the_function_refuses() {
        let capture = Arc::new(Capture::default());
        let only_traces = processor(
            |batch: Batch| match batch {
                Batch::Logs(_) => Err(ConsumeError::permanent("no logs here")),
                other => Ok(other),
            },
            capture.clone(),
        );
        only_traces
            .consume(Batch::from(sample_traces(1, 3)))
            .await
            .expect("traces pass");
        let refused = only_traces.consume(Batch::from(sample_logs(2))).await;
        assert!(refused.is_err_and(|e| !e.is_retryable()));
        assert_eq!(capture.batches().len(), 1);
        assert_eq!(capture.batches()[0].items(), 3);
    }

    #[tokio::test]
    async fn a_batch_the_function_emptied_is_not_handed_on_an_empty_one_is() {
        let capture = Arc::new(Capture::default());
        let drop_all = processor(
            |batch: Batch| {
                let Batch::Traces(mut p) = batch else {
                    return Ok(batch);
                };
                p.message_mut()
                    .map_err(ConsumeError::permanent)?
                    .resource_spans
                    .clear();
                p.recount();
                Ok(Batch::Traces(p))
            },
            capture.clone(),
        );
        drop_all
            .consume(Batch::from(sample_traces(1, 3)))
            .await
            .expect("taken");
        assert!(capture.batches().is_empty(), "emptied: not handed on");
        drop_all
            .consume(Batch::from(sample_traces(0, 0)))
            .await
            .expect("taken");
        assert_eq!(capture.batches().len(), 1, "empty as received: handed on");
    }
}
