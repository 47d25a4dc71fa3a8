//! `resource` processor (traces, metrics, logs): inserts, updates, upserts, deletes,
//! hashes, extracts from and converts resource attributes, as the Collector's `resource`
//! processor does (its actions are the `attributes` processor's, `attraction`); e.g. the
//! Helm chart adds `k8s.node.name` from the downward API this way.

mod config;

use std::sync::Arc;

use llamacol_api::attraction::Actions;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};

pub use config::ResourceConfig;

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "resource",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<ResourceConfig>(),
        build,
    }
}

fn build(
    _ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<ResourceConfig>(block)?;
    let actions = Actions::new("attributes", &config.attributes)
        .map_err(llamacol_api::config::issues_error)?;
    Ok(stateless::processor(ResourceProcessor { actions }, next))
}

pub struct ResourceProcessor {
    actions: Actions,
}

impl Process for ResourceProcessor {
    fn process(&self, mut batch: Batch) -> Result<Batch, ConsumeError> {
        let metadata = batch.metadata().clone();
        batch
            .for_each_resource_mut(|resource, _| {
                self.actions
                    .apply(&mut resource.attributes, metadata.as_deref())
            })
            .map_err(ConsumeError::permanent)?;
        Ok(batch)
    }
}

#[cfg(test)]
mod tests;
