//! Prompt and completion content: dropped by default, kept, or cut to a size. Kept
//! content in the indexed forms (OpenLLMetry `gen_ai.prompt.N.*`, OpenInference
//! `llm.input_messages.N.message.*`) becomes the conventions' `gen_ai.input.messages` /
//! `gen_ai.output.messages` JSON.

use std::collections::BTreeMap;

use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue};
use serde::Deserialize;

use super::normalize::{has, Attrs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentMode {
    /// Remove every content attribute (the default: prompts are personal data).
    #[default]
    Drop,
    /// Keep it whole.
    Keep,
    /// Keep at most `max_content_bytes` of each value.
    Truncate,
}

/// Every content-bearing key of every scheme read here (the conventions, OpenLLMetry,
/// OpenInference, OpenLIT, MCP), sorted: prompts, completions, messages, system
/// instructions, tool arguments and results, retrieval queries and documents, embedded
/// text, agents' inputs and outputs, and request headers (they may carry credentials).
#[rustfmt::skip]
pub static CONTENT_KEYS: &[&str] = &[
    "audio.transcript", "audio.url",
    "db.marqo.search.query",
    "embedding.embeddings",
    "gen_ai.agent.action.log", "gen_ai.agent.action.tool_input", "gen_ai.agent.actions",
    "gen_ai.agent.actual_output", "gen_ai.agent.context", "gen_ai.agent.evaluation",
    "gen_ai.agent.expected_output", "gen_ai.agent.final_result", "gen_ai.agent.finish.log",
    "gen_ai.agent.finish.output", "gen_ai.agent.human_input", "gen_ai.agent.instructions",
    "gen_ai.agent.memory", "gen_ai.agent.next_goal", "gen_ai.agent.step_messages",
    "gen_ai.agent.task", "gen_ai.agent.thinking", "gen_ai.agent.tool_results",
    "gen_ai.browser.action.value", "gen_ai.browser.console.logs",
    "gen_ai.browser.task.description",
    "gen_ai.completion",
    "gen_ai.content.completion", "gen_ai.content.prompt", "gen_ai.content.reasoning",
    "gen_ai.content.revised_prompt",
    "gen_ai.evaluation.explanation",
    "gen_ai.execution.input", "gen_ai.execution.output",
    "gen_ai.extraction.instruction",
    "gen_ai.framework.pipeline.input_data", "gen_ai.framework.pipeline.output_data",
    "gen_ai.framework.query.text",
    "gen_ai.headers",
    "gen_ai.input.messages",
    "gen_ai.knowledge.search.query",
    "gen_ai.memory.input", "gen_ai.memory.query.text", "gen_ai.memory.records",
    "gen_ai.memory.search.query",
    "gen_ai.message.content",
    "gen_ai.output.messages",
    "gen_ai.prompt",
    "gen_ai.request.speech.prompt",
    "gen_ai.response.audio.text", "gen_ai.response.image",
    "gen_ai.response.speech.diarized_transcript", "gen_ai.response.speech.timestamps",
    "gen_ai.response.tool_calls",
    "gen_ai.retrieval.documents", "gen_ai.retrieval.query", "gen_ai.retrieval.query.text",
    "gen_ai.system_instructions",
    "gen_ai.task.description", "gen_ai.task.expected_output", "gen_ai.task.input",
    "gen_ai.task.output",
    "gen_ai.tool.args", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    "gen_ai.tool.input", "gen_ai.tool.input_kwargs", "gen_ai.tool.output", "gen_ai.tool.result",
    "gen_ai.vectordb.search.query",
    "gen_ai.workflow.input", "gen_ai.workflow.output",
    "image.url",
    "input.documents", "input.images", "input.mime_type", "input.value",
    "llm.choices", "llm.function_call", "llm.headers", "llm.input_messages",
    "llm.output_messages", "llm.prompt_template.template", "llm.prompt_template.variables",
    "llm.prompts",
    "mcp.completion.argument.value", "mcp.completion.context.arguments",
    "mcp.completion.values", "mcp.fastmcp.prompt.arguments", "mcp.params",
    "mcp.request.argument", "mcp.request.payload", "mcp.response.payload", "mcp.response.value",
    "mcp.result", "mcp.sampling.messages", "mcp.tool.arguments", "mcp.tool.result",
    "output.documents", "output.images", "output.mime_type", "output.value",
    "pinecone.query.queries",
    "reranker.input_documents", "reranker.output_documents", "reranker.query",
    "retrieval.documents",
    "traceloop.entity.input", "traceloop.entity.output", "traceloop.prompt.template",
    "traceloop.prompt.template_variables",
    "video.url",
];

/// Keys under these hold content (indexed messages, documents, embeddings).
pub const CONTENT_PREFIXES: [&str; 10] = [
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompts.",
    "llm.choices.",
    "embedding.embeddings.",
    "retrieval.documents.",
    "reranker.input_documents.",
    "reranker.output_documents.",
    "input.documents.",
    "output.documents.",
];

/// Inside a GenAI event (the older conventions' `gen_ai.user.message`, `gen_ai.choice`,
/// ... sent as span events), the body's fields arrive as these attributes.
pub const EVENT_CONTENT_KEYS: [&str; 6] = [
    "content",
    "message",
    "tool_calls",
    "arguments",
    "result",
    "body",
];

pub fn is_content(key: &str) -> bool {
    super::keys::class(key) & super::keys::CONTENT != 0
}

/// Content of an attribute of a GenAI event.
pub fn is_event_content(key: &str) -> bool {
    EVENT_CONTENT_KEYS.contains(&key) || is_content(key)
}

/// Applies `mode` to the content of `attrs` (`content`: which keys are content). The caller
/// classified the keys already and calls this only when some are content.
pub fn apply(
    attrs: &mut impl Attrs,
    mode: ContentMode,
    max_bytes: usize,
    keep_original: bool,
    content: fn(&str) -> bool,
) {
    if mode == ContentMode::Drop {
        attrs.remove_where(|_, key| content(key));
        return;
    }
    for (prefix, sep, target) in [
        ("gen_ai.prompt.", ".", "gen_ai.input.messages"),
        ("gen_ai.completion.", ".", "gen_ai.output.messages"),
        ("llm.input_messages.", ".message.", "gen_ai.input.messages"),
        (
            "llm.output_messages.",
            ".message.",
            "gen_ai.output.messages",
        ),
    ] {
        messages(attrs, prefix, sep, target, keep_original);
    }
    if mode == ContentMode::Truncate {
        for i in 0..attrs.len() {
            if !content(attrs.key(i)) {
                continue;
            }
            let Some(value) = attrs.take_value(i) else {
                continue;
            };
            let mut value = AnyValue { value: Some(value) };
            truncate_value(&mut value, max_bytes);
            if let Some(v) = value.value {
                attrs.replace(i, None, v);
            }
        }
    }
}

/// Keeps at most `max` bytes of text in `value`, structured values included: strings are
/// cut in order (array items, map values) until `max` is spent; items after that are
/// removed.
pub fn truncate_value(value: &mut AnyValue, max: usize) {
    let mut budget = max;
    cut(value, &mut budget);
}

/// Cuts `value` to `budget`; false when nothing of it is left (the caller removes it).
fn cut(value: &mut AnyValue, budget: &mut usize) -> bool {
    match value.value.as_mut() {
        Some(Value::StringValue(s)) => {
            truncate(s, *budget);
            *budget -= s.len();
            true
        }
        Some(Value::BytesValue(b)) => {
            b.truncate(*budget);
            *budget -= b.len();
            true
        }
        Some(Value::ArrayValue(a)) => {
            a.values.retain_mut(|item| *budget > 0 && cut(item, budget));
            true
        }
        Some(Value::KvlistValue(list)) => {
            list.values
                .retain_mut(|kv| *budget > 0 && kv.value.as_mut().is_none_or(|v| cut(v, budget)));
            true
        }
        _ => true,
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
pub fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// `<prefix><N><sep><field>` attributes as one JSON array of messages in `target`.
fn messages(
    attrs: &mut impl Attrs,
    prefix: &str,
    sep: &str,
    target: &'static str,
    keep_original: bool,
) {
    let mut found: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    for i in 0..attrs.len() {
        let Some(rest) = attrs.key(i).strip_prefix(prefix) else {
            continue;
        };
        let Some((index, field)) = rest.split_once(sep) else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        let field = field.to_string();
        let Some(Value::StringValue(value)) = attrs.value(i).map(|v| v.into_owned()) else {
            continue;
        };
        found.entry(index).or_default().insert(field, value);
    }
    if found.is_empty() {
        return;
    }
    if !has(attrs, target) {
        let list: Vec<serde_json::Value> = found
            .values()
            .map(|fields| {
                let mut message = serde_json::json!({
                    "role": fields.get("role").map_or("user", String::as_str),
                    "parts": [{"type": "text", "content": fields.get("content").map_or("", String::as_str)}],
                });
                if let Some(reason) = fields.get("finish_reason") {
                    message["finish_reason"] = serde_json::Value::String(reason.clone());
                }
                message
            })
            .collect();
        let json = serde_json::Value::Array(list).to_string();
        attrs.add(target, Value::StringValue(json));
    }
    if !keep_original {
        attrs.remove_where(|_, key| key.starts_with(prefix));
    }
}
