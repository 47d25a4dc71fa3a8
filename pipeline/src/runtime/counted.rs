//! The counting wrapper the pipeline puts around every consumer it wires.

use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::Batch;
use crate::consumer::{ConsumeError, Consumer};
use crate::telemetry::Counters;

pub struct Counted {
    inner: Arc<dyn Consumer>,
    counters: Arc<Counters>,
}

impl Counted {
    pub fn wrap(inner: Arc<dyn Consumer>, counters: Arc<Counters>) -> Arc<dyn Consumer> {
        Arc::new(Counted { inner, counters })
    }
}

#[async_trait]
impl Consumer for Counted {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let items = batch.items();
        let result = self.inner.consume(batch).await;
        match &result {
            Ok(()) => Counters::add(&self.counters.accepted, items),
            Err(_) => Counters::add(&self.counters.refused, items),
        }
        result
    }
}
