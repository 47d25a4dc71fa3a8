//! `genai` processor (traces, logs): brings every LLM naming scheme (the llamatelemetry
//! notebooks' `llm.*`, older GenAI semconv, OpenLLMetry, OpenInference) to the current
//! GenAI semantic conventions (`mapping.rs` is the table), names the operation of spans
//! that lack one, marks failed ones with `error.type`, drops prompt content by default,
//! and optionally renames generic span names, adds the node's llama.cpp server and GPUs
//! to the resource, and prices each call.

mod config;
pub mod content;
pub mod identity;
pub mod kept;
mod keys;
pub mod mapping;
mod node;
mod normalize;
mod values;
pub mod wire;

use std::sync::Arc;

use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::live::traces::TraceId;
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::any_value::Value;
use llamacol_api::otlp::trace::v1::status::StatusCode;
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};

pub use config::{GenaiConfig, Price};
pub use content::ContentMode;
pub use identity::Identities;
use normalize::{get, get_str, has, normalize, Attrs, OPERATION};
use values::int_of;

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "genai",
        signals: &[Signal::Traces, Signal::Logs],
        config: ConfigSpec::of::<GenaiConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<GenaiConfig>(block)?;
    if config.identities == Identities::Hash && config.identity_salt.is_none() {
        tracing::warn!(
            processor = %ctx.id,
            "no identity_salt: user and session ids are hashed with a random key of this \
             process, so their hashes change on restart and differ between collectors; \
             set identity_salt (the same secret everywhere) to keep them comparable"
        );
    }
    ctx.node
        .live()
        .feeds(llamacol_api::live::Panel::TRACES, &ctx.id.to_string());
    Ok(stateless::processor(
        GenaiProcessor::new(config, ctx.node.clone()),
        next,
    ))
}

pub struct GenaiProcessor {
    config: GenaiConfig,
    node: node::NodeResource,
    identities: identity::IdentityPolicy,
}

impl Process for GenaiProcessor {
    fn process(&self, batch: Batch) -> Result<Batch, ConsumeError> {
        Ok(match batch {
            Batch::Traces(mut p) if p.decoded().is_none() => {
                // Encoded only: rewritten on the wire; a request that does not read there
                // takes the decoded path, which reports it.
                let mut found = wire::Found::default();
                match p.encoded().map(|b| wire::traces(self, b, &mut found)) {
                    Some(Ok(rewritten)) => {
                        if let Some(bytes) = rewritten {
                            let items = p.items();
                            p.replace_encoded(bytes.freeze(), items);
                        }
                        if let Some(bytes) = p.encoded() {
                            self.node
                                .context()
                                .live()
                                .offer_encoded_traces(bytes, &found.genai_traces);
                        }
                    }
                    _ => self.traces(p.message_mut().map_err(ConsumeError::permanent)?),
                }
                Batch::Traces(p)
            }
            Batch::Traces(mut p) => {
                self.traces(p.message_mut().map_err(ConsumeError::permanent)?);
                Batch::Traces(p)
            }
            Batch::Logs(mut p) => {
                self.logs(p.message_mut().map_err(ConsumeError::permanent)?);
                Batch::Logs(p)
            }
            other => other,
        })
    }
}

impl GenaiProcessor {
    pub fn new(config: GenaiConfig, node: llamacol_api::NodeContext) -> Self {
        GenaiProcessor {
            node: node::NodeResource::new(node),
            identities: identity::IdentityPolicy::new(
                config.identities,
                config.identity_salt.as_deref(),
            ),
            config,
        }
    }

    /// Content and identifiers of one attribute list (`event`: the list of a GenAI event,
    /// whose body fields are content too). Keys are classified once here; the two passes
    /// run only when some key is of their class.
    fn scrub(&self, attrs: &mut impl Attrs, event: bool) {
        let mut flags = 0;
        for i in 0..attrs.len() {
            let key = attrs.key(i);
            flags |= keys::class(key);
            if event && content::EVENT_CONTENT_KEYS.contains(&key) {
                flags |= keys::CONTENT;
            }
        }
        let c = &self.config;
        if flags & keys::CONTENT != 0 {
            let content = if event {
                content::is_event_content
            } else {
                content::is_content
            };
            content::apply(
                attrs,
                c.content,
                c.max_content_bytes,
                c.keep_original,
                content,
            );
        }
        if flags & keys::IDENTITY != 0 {
            self.identities.apply(attrs);
        }
    }

    /// Normalizes every span of `request` in place, then offers it to the live page's
    /// list of recent GenAI traces (as normalized: content already dropped).
    pub fn traces(&self, request: &mut ExportTraceServiceRequest) {
        let c = &self.config;
        let mut genai_traces: Vec<TraceId> = Vec::new();
        for rs in &mut request.resource_spans {
            let mut server: Option<node::Endpoint> = None;
            let mut any = false;
            for span in rs.scope_spans.iter_mut().flat_map(|s| &mut s.spans) {
                let root = span.parent_span_id.is_empty();
                let genai = normalize(&mut span.attributes, c.keep_original, root);
                self.scrub(&mut span.attributes, false);
                for event in &mut span.events {
                    self.scrub(&mut event.attributes, event.name.starts_with("gen_ai."));
                }
                if !genai {
                    continue;
                }
                any = true;
                if let Ok(id) = TraceId::try_from(&span.trace_id[..]) {
                    if genai_traces.last() != Some(&id) && genai_traces.len() < 64 {
                        genai_traces.push(id);
                    }
                }
                let failed = span
                    .status
                    .as_ref()
                    .is_some_and(|s| s.code == StatusCode::Error as i32);
                if let Some(name) = self.genai_span(&mut span.attributes, &span.name, failed) {
                    span.name = name;
                }
                if c.node_context && server.is_none() {
                    server = node::Endpoint::of(&span.attributes);
                }
                if c.node_context {
                    let times = (span.start_time_unix_nano, span.end_time_unix_nano);
                    let (trace, id) = (&span.trace_id, &span.span_id);
                    self.node
                        .add_gpu_during(&mut span.attributes, times, trace, id);
                }
            }
            if any && c.node_context {
                let resource = rs.resource.get_or_insert_with(Default::default);
                self.node.add_to(&mut resource.attributes, server.as_ref());
            }
        }
        // Always offered: later spans of a trace already kept need not be GenAI ones.
        self.node
            .context()
            .live()
            .offer_traces(request, &genai_traces);
    }

    /// Normalizes every log record (GenAI events sent as logs) of `request` in place;
    /// the body of a GenAI event is content.
    pub fn logs(&self, request: &mut ExportLogsServiceRequest) {
        let c = &self.config;
        for record in request
            .resource_logs
            .iter_mut()
            .flat_map(|r| &mut r.scope_logs)
            .flat_map(|s| &mut s.log_records)
        {
            normalize(&mut record.attributes, c.keep_original, false);
            let event = if record.event_name.is_empty() {
                get_str(&record.attributes, "event.name").map(|s| s.into_owned())
            } else {
                Some(record.event_name.clone())
            };
            let genai_event = event.is_some_and(|e| e.starts_with("gen_ai."));
            self.scrub(&mut record.attributes, genai_event);
            if !genai_event {
                continue;
            }
            match c.content {
                ContentMode::Drop => record.body = None,
                ContentMode::Keep => {}
                ContentMode::Truncate => {
                    if let Some(body) = record.body.as_mut() {
                        content::truncate_value(body, c.max_content_bytes);
                    }
                }
            }
        }
    }

    /// What a span with a GenAI operation gets beyond the mapping; its new name when
    /// `rename_spans` renames it.
    fn genai_span(&self, attrs: &mut impl Attrs, name: &str, failed: bool) -> Option<String> {
        if failed && !has(attrs, "error.type") {
            // The conventions' fallback when the error has no better name.
            attrs.add("error.type", Value::StringValue("_OTHER".into()));
        }
        if !self.config.pricing.is_empty() && !has(attrs, "gen_ai.usage.cost") {
            if let Some(cost) = self.cost(attrs) {
                attrs.add("gen_ai.usage.cost", Value::DoubleValue(cost));
            }
        }
        if self.config.rename_spans {
            rename(attrs, name)
        } else {
            None
        }
    }

    /// USD for this call, from the model's price and the token counts.
    fn cost(&self, attrs: &impl Attrs) -> Option<f64> {
        let price = ["gen_ai.response.model", "gen_ai.request.model"]
            .iter()
            .find_map(|k| self.config.pricing.get(get_str(attrs, k)?.as_ref()))?;
        let tokens = |k: &str| get(attrs, k).and_then(|v| int_of(&v)).unwrap_or(0).max(0) as f64;
        let (input, output) = (
            tokens("gen_ai.usage.input_tokens"),
            tokens("gen_ai.usage.output_tokens"),
        );
        // The conventions count cached tokens inside input tokens.
        let cached = tokens("gen_ai.usage.cache_read.input_tokens").min(input);
        let cached_price = price.cached_input.unwrap_or(price.input);
        Some(((input - cached) * price.input + cached * cached_price + output * price.output) / 1e6)
    }
}

/// Names no one chose for the call itself: what SDKs put when they know nothing better.
const GENERIC_NAMES: [&str; 12] = [
    "",
    "llm",
    "llm.request",
    "llm_call",
    "chat",
    "completion",
    "completions",
    "chat.completions",
    "chatcompletion",
    "embedding",
    "generate",
    "inference",
];

/// `{operation} {model}` for a span with a generic name; `None` to keep the name.
fn rename(attrs: &impl Attrs, name: &str) -> Option<String> {
    let operation = get_str(attrs, OPERATION)?;
    let name = name.to_ascii_lowercase();
    let provider = get_str(attrs, "gen_ai.provider.name").unwrap_or_default();
    let generic = GENERIC_NAMES.contains(&name.as_str())
        || name == operation
        || (!provider.is_empty()
            && (name == provider || name.starts_with(&format!("{provider}."))));
    if !generic {
        return None;
    }
    Some(match get_str(attrs, "gen_ai.request.model") {
        Some(model) => format!("{operation} {model}"),
        None => operation.into_owned(),
    })
}

#[cfg(test)]
mod tests;
