//! `redact` processor (traces, logs): replaces what matches any of `patterns` in string
//! attribute values (spans, span events, resources, log records) and in log bodies with
//! `mask`; e.g. email addresses and API keys that reach LLM prompts. A stateless
//! processor: a [`Process`] over each batch, which `llamacol_api::stateless` puts in
//! front of the next stage (so its answer, backpressure and refusals, travels back
//! unchanged).

mod config;

use std::sync::Arc;

use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};
use regex::RegexSet;

pub use config::RedactConfig;

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "redact",
        signals: &[Signal::Traces, Signal::Logs],
        config: ConfigSpec::of::<RedactConfig>(),
        build,
    }
}

fn build(
    _ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<RedactConfig>(block)?;
    Ok(stateless::processor(Redact::new(&config)?, next))
}

pub struct Redact {
    /// Tells cheaply whether any pattern matches (most values have nothing to hide).
    any: RegexSet,
    patterns: Vec<regex::Regex>,
    mask: String,
    attributes: Vec<String>,
}

impl Redact {
    pub fn new(config: &RedactConfig) -> Result<Redact, BoxError> {
        Ok(Redact {
            any: RegexSet::new(&config.patterns)?,
            patterns: config
                .patterns
                .iter()
                .map(|p| regex::Regex::new(p))
                .collect::<Result<_, _>>()?,
            mask: config.mask.clone(),
            attributes: config.attributes.clone(),
        })
    }

    fn text(&self, s: &mut String) {
        if !self.any.is_match(s) {
            return;
        }
        for p in &self.patterns {
            if let std::borrow::Cow::Owned(changed) = p.replace_all(s, self.mask.as_str()) {
                *s = changed;
            }
        }
    }

    fn value(&self, v: &mut Option<AnyValue>) {
        match v.as_mut().and_then(|v| v.value.as_mut()) {
            Some(Value::StringValue(s)) => self.text(s),
            Some(Value::ArrayValue(a)) => a.values.iter_mut().for_each(|v| {
                if let Some(Value::StringValue(s)) = v.value.as_mut() {
                    self.text(s);
                }
            }),
            _ => {}
        }
    }

    fn attributes(&self, attrs: &mut [KeyValue]) {
        for kv in attrs {
            if self.attributes.is_empty() || self.attributes.contains(&kv.key) {
                self.value(&mut kv.value);
            }
        }
    }
}

impl Process for Redact {
    fn process(&self, batch: Batch) -> Result<Batch, ConsumeError> {
        Ok(match batch {
            Batch::Traces(mut p) => {
                let request = p.message_mut().map_err(ConsumeError::permanent)?;
                for rs in &mut request.resource_spans {
                    if let Some(r) = rs.resource.as_mut() {
                        self.attributes(&mut r.attributes);
                    }
                    for span in rs.scope_spans.iter_mut().flat_map(|s| &mut s.spans) {
                        self.attributes(&mut span.attributes);
                        for e in &mut span.events {
                            self.attributes(&mut e.attributes);
                        }
                    }
                }
                Batch::Traces(p)
            }
            Batch::Logs(mut p) => {
                let request = p.message_mut().map_err(ConsumeError::permanent)?;
                for rl in &mut request.resource_logs {
                    if let Some(r) = rl.resource.as_mut() {
                        self.attributes(&mut r.attributes);
                    }
                    for record in rl.scope_logs.iter_mut().flat_map(|s| &mut s.log_records) {
                        self.attributes(&mut record.attributes);
                        if self.attributes.is_empty() {
                            self.value(&mut record.body);
                        }
                    }
                }
                Batch::Logs(p)
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests;
