//! `resource` processor (traces, metrics, logs): inserts, updates, upserts or deletes
//! resource attributes, as the Collector's `resource` processor does; e.g. the Helm
//! chart adds `k8s.node.name` and `k8s.pod.name` from the downward API this way.

mod config;

use std::sync::Arc;

use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::otlp::common::v1::{any_value, AnyValue, KeyValue};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};

pub use config::{Action, ActionKind, ResourceConfig};

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
    let actions = config
        .attributes
        .iter()
        .map(|a| Step {
            key: a.key.clone(),
            kind: a.action,
            value: a.value.as_ref().map(any_value),
            from: a.from_attribute.clone(),
        })
        .collect();
    Ok(stateless::processor(ResourceProcessor { actions }, next))
}

/// A YAML scalar as an attribute value of the same type.
fn any_value(v: &serde_yaml::Value) -> any_value::Value {
    match v {
        serde_yaml::Value::Bool(b) => any_value::Value::BoolValue(*b),
        serde_yaml::Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_yaml::Value::String(s) => any_value::Value::StringValue(s.clone()),
        other => any_value::Value::StringValue(format!("{other:?}")),
    }
}

struct Step {
    key: String,
    kind: ActionKind,
    value: Option<any_value::Value>,
    from: Option<String>,
}

pub struct ResourceProcessor {
    actions: Vec<Step>,
}

impl ResourceProcessor {
    fn apply(&self, resource: &mut Resource) {
        let attributes = &mut resource.attributes;
        for step in &self.actions {
            let at = attributes.iter().position(|kv| kv.key == step.key);
            if step.kind == ActionKind::Delete {
                attributes.retain(|kv| kv.key != step.key);
                continue;
            }
            let value = match (&step.value, &step.from) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(from)) => attributes
                    .iter()
                    .find(|kv| kv.key == *from)
                    .and_then(|kv| kv.value.as_ref()?.value.clone()),
                (None, None) => None,
            };
            let Some(value) = value else { continue };
            let value = Some(AnyValue { value: Some(value) });
            match (step.kind, at) {
                (ActionKind::Update | ActionKind::Upsert, Some(i)) => attributes[i].value = value,
                (ActionKind::Insert | ActionKind::Upsert, None) => attributes.push(KeyValue {
                    key: step.key.clone(),
                    value,
                    ..Default::default()
                }),
                _ => {}
            }
        }
    }
}

impl Process for ResourceProcessor {
    fn process(&self, mut batch: Batch) -> Result<Batch, ConsumeError> {
        batch
            .for_each_resource_mut(|resource, _| self.apply(resource))
            .map_err(ConsumeError::permanent)?;
        Ok(batch)
    }
}

#[cfg(test)]
mod tests;
