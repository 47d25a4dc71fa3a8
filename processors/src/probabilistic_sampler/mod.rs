//! `probabilistic_sampler` processor (traces, logs): the Collector's head sampler with
//! its config and its answers. `proportional` / `equalizing` are OpenTelemetry consistent
//! probability sampling (OTEP 235: randomness from `rv` or the trace id's low 56 bits,
//! `th` written into the `ot` tracestate entry of what is kept); `hash_seed` is the
//! Collector's legacy FNV bucket algorithm, bit for bit. Decisions depend only on the
//! trace id and tracestate (or, for logs, the record's attributes), so every span of a
//! trace gets the same answer on any instance. What is not kept is counted in
//! `llamacol_processor_sampled_out_items_total`: a decision, not a loss.

mod config;
pub mod sampler;
mod wire;

use std::sync::Arc;

use llamacol_api::attributes::value_string;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value::Value, KeyValue};
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, OutcomeCounter, Processor,
    ProcessorFactory, Signal,
};

pub use config::{AttributeSource, Mode, ProbabilisticSamplerConfig};
use llamacol_api::tracestate::threshold::{Randomness, Threshold, TraceStateError};
use llamacol_api::tracestate::W3cTraceState;
use sampler::{should_sample, span_priority, Carrier, Sampler};

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "probabilistic_sampler",
        signals: &[Signal::Traces, Signal::Logs],
        config: ConfigSpec::of::<ProbabilisticSamplerConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<ProbabilisticSamplerConfig>(block)?;
    Ok(stateless::processor(
        ProbabilisticSampler::new(&config, ctx.sampled_out.clone()),
        next,
    ))
}

pub struct ProbabilisticSampler {
    sampler: Sampler,
    fail_closed: bool,
    precision: usize,
    sampling_priority: String,
    sampled_out: OutcomeCounter,
}

impl Process for ProbabilisticSampler {
    fn process(&self, batch: Batch) -> Result<Batch, ConsumeError> {
        Ok(match batch {
            Batch::Traces(mut p) if p.decoded().is_none() => {
                // Encoded only: decided on the wire, without decoding the spans.
                let sampled = p
                    .encoded()
                    .map(|bytes| wire::sample(&self.sampler, self.fail_closed, bytes));
                match sampled {
                    Some(Ok(s)) => {
                        self.sampled_out.add(s.total - s.kept);
                        p.replace_encoded(s.bytes.freeze(), s.kept);
                        Batch::Traces(p)
                    }
                    _ => self.decoded_traces(p)?,
                }
            }
            Batch::Traces(p) => self.decoded_traces(p)?,
            Batch::Logs(mut p) => {
                let before = p.items();
                self.logs(p.message_mut().map_err(ConsumeError::permanent)?);
                p.recount();
                self.sampled_out.add(before - p.items());
                Batch::Logs(p)
            }
            other => other,
        })
    }
}

impl ProbabilisticSampler {
    fn decoded_traces(
        &self,
        mut p: llamacol_api::Payload<ExportTraceServiceRequest>,
    ) -> Result<Batch, ConsumeError> {
        let before = p.items();
        self.traces(p.message_mut().map_err(ConsumeError::permanent)?);
        p.recount();
        self.sampled_out.add(before - p.items());
        Ok(Batch::Traces(p))
    }

    pub fn new(config: &ProbabilisticSamplerConfig, sampled_out: OutcomeCounter) -> Self {
        ProbabilisticSampler {
            sampler: Sampler::new(config),
            fail_closed: config.fail_closed,
            precision: config.sampling_precision,
            sampling_priority: config.sampling_priority.clone(),
            sampled_out,
        }
    }

    /// Removes the spans not kept (and emptied scopes and resources); writes `th` into
    /// the tracestate of the kept ones.
    pub fn traces(&self, request: &mut ExportTraceServiceRequest) {
        for rs in &mut request.resource_spans {
            for ss in &mut rs.scope_spans {
                ss.spans.retain_mut(|span| {
                    let parsed = W3cTraceState::parse(&span.trace_state);
                    let inputs = self.sampler.randomness(&span.trace_id, None, parsed, false);
                    let priority = span_priority(attribute(&span.attributes, "sampling.priority"));
                    let (keep, carrier, error) = should_sample(
                        &self.sampler,
                        self.fail_closed,
                        inputs,
                        |t| match priority {
                            Some(true) => Threshold::ALWAYS,
                            Some(false) => Threshold::NEVER,
                            None => t,
                        },
                    );
                    if let Some(e) = error {
                        tracing::debug!(error = %e, "traces sampler");
                    }
                    if keep {
                        if let Some(state) = carrier {
                            span.trace_state = state.serialize();
                        }
                    }
                    keep
                });
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        request
            .resource_spans
            .retain(|rs| !rs.scope_spans.is_empty());
    }

    /// Removes the log records not kept; writes `sampling.threshold` (and in `hash_seed`
    /// mode `sampling.randomness`) on the kept ones.
    pub fn logs(&self, request: &mut ExportLogsServiceRequest) {
        for rl in &mut request.resource_logs {
            for sl in &mut rl.scope_logs {
                sl.log_records.retain_mut(|record| {
                    let from_attribute = match &self.sampler {
                        Sampler::Hashing { logs_attribute, .. } if !logs_attribute.is_empty() => {
                            attribute_bytes(&record.attributes, logs_attribute)
                        }
                        _ => None,
                    };
                    let forced = self.priority_threshold(&record.attributes);
                    let parsed = RecordCarrier::parse(&mut record.attributes);
                    let inputs = self.sampler.randomness(
                        &record.trace_id,
                        from_attribute.as_deref(),
                        parsed,
                        true,
                    );
                    let (keep, _, error) =
                        should_sample(&self.sampler, self.fail_closed, inputs, |t| {
                            forced.unwrap_or(t)
                        });
                    if let Some(e) = error {
                        tracing::debug!(error = %e, "logs sampler");
                    }
                    keep
                });
            }
            rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
        }
        request.resource_logs.retain(|rl| !rl.scope_logs.is_empty());
    }

    /// `sampling_priority`: a number attribute, in percent, that replaces the threshold
    /// (0 and values outside (0, 100] leave it alone, as the Collector's code does).
    fn priority_threshold(&self, attributes: &[KeyValue]) -> Option<Threshold> {
        if self.sampling_priority.is_empty() {
            return None;
        }
        let probability = match attribute(attributes, &self.sampling_priority)? {
            Value::DoubleValue(d) => d / 100.0,
            Value::IntValue(i) => *i as f64 / 100.0,
            _ => 0.0,
        };
        if probability == 0.0 {
            return None;
        }
        Threshold::from_probability(probability, self.precision).ok()
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// An attribute as the bytes `hash_seed` hashes: bytes as they are, anything else as text.
fn attribute_bytes(attributes: &[KeyValue], key: &str) -> Option<Vec<u8>> {
    let kv = attributes.iter().find(|kv| kv.key == key)?;
    let value = kv.value.as_ref()?;
    Some(match &value.value {
        Some(Value::BytesValue(b)) => b.clone(),
        _ => value_string(value).into_bytes(),
    })
}

impl Carrier for W3cTraceState {
    fn threshold(&self) -> Option<Threshold> {
        self.ot.threshold()
    }
    fn explicit_randomness(&self) -> Option<Randomness> {
        self.ot.randomness()
    }
    fn set_randomness(&mut self, r: Randomness) {
        self.ot.set_randomness(r);
    }
    fn clear_threshold(&mut self) {
        self.ot.clear_threshold();
    }
    fn update_threshold(&mut self, t: Threshold) -> Result<(), TraceStateError> {
        self.ot.update_threshold(t)
    }
}

/// A log record's `sampling.threshold` / `sampling.randomness` string attributes, read
/// once and written back in place (a new key goes last, as pdata's `PutStr` puts it).
struct RecordCarrier<'a> {
    attributes: &'a mut Vec<KeyValue>,
    threshold: Option<Threshold>,
    randomness: Option<Randomness>,
}

const THRESHOLD_KEY: &str = "sampling.threshold";
const RANDOMNESS_KEY: &str = "sampling.randomness";

impl<'a> RecordCarrier<'a> {
    fn parse(attributes: &'a mut Vec<KeyValue>) -> (RecordCarrier<'a>, Option<TraceStateError>) {
        let text = |key: &str| match attribute(attributes, key) {
            Some(Value::StringValue(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let (t, r) = (text(THRESHOLD_KEY), text(RANDOMNESS_KEY));
        let mut error = None;
        let threshold = t.and_then(|t| Threshold::parse(&t).map_err(|e| error = Some(e)).ok());
        let randomness = r.and_then(|r| Randomness::parse(&r).map_err(|e| error = Some(e)).ok());
        (
            RecordCarrier {
                attributes,
                threshold,
                randomness,
            },
            error,
        )
    }

    fn put(&mut self, key: &str, value: String) {
        let value = Some(llamacol_api::otlp::common::v1::AnyValue {
            value: Some(Value::StringValue(value)),
        });
        match self.attributes.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = value,
            None => self.attributes.push(KeyValue {
                key: key.to_string(),
                value,
                ..Default::default()
            }),
        }
    }
}

impl Carrier for RecordCarrier<'_> {
    fn threshold(&self) -> Option<Threshold> {
        self.threshold
    }
    fn explicit_randomness(&self) -> Option<Randomness> {
        self.randomness
    }
    fn set_randomness(&mut self, r: Randomness) {
        self.randomness = Some(r);
        self.put(RANDOMNESS_KEY, r.rvalue());
    }
    fn clear_threshold(&mut self) {
        self.threshold = None;
        self.attributes.retain(|kv| kv.key != THRESHOLD_KEY);
    }
    fn update_threshold(&mut self, t: Threshold) -> Result<(), TraceStateError> {
        if self.threshold.is_some_and(|existing| t < existing) {
            return Err(TraceStateError::InconsistentSampling);
        }
        self.put(THRESHOLD_KEY, t.tvalue());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
