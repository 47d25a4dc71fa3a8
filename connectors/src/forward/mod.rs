//! `forward` connector: passes every batch on unchanged to the pipelines of the same
//! signal that list it as a receiver (the Collector's `forward` connector), e.g. to run
//! one pipeline's data through several others' processors.

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ComponentConfig, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, Connector, ConnectorFactory, ConsumeError, Consumer, SignalPair,
};
use serde::Deserialize;

/// `forward` takes no settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {}

impl ComponentConfig for ForwardConfig {}

pub fn factory() -> ConnectorFactory {
    ConnectorFactory {
        type_name: "forward",
        pairs: &SignalPair::SAME,
        config: ConfigSpec::of::<ForwardConfig>(),
        build,
    }
}

fn build(
    _ctx: &BuildContext,
    block: &Value,
    _pair: SignalPair,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Connector>, BoxError> {
    parse_block::<ForwardConfig>(block)?;
    Ok(Arc::new(Forward { next }))
}

pub struct Forward {
    next: Arc<dyn Consumer>,
}

#[async_trait]
impl Consumer for Forward {
    /// The next pipelines' answer is this pipeline's answer: backpressure and refusals
    /// travel back to the first receiver unchanged.
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.next.consume(batch).await
    }
}

impl Connector for Forward {}

#[cfg(test)]
mod tests;
