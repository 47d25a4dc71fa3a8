//! Prompt and completion content: dropped by default, kept, or cut to a size. Kept
//! content in the indexed forms (OpenLLMetry `gen_ai.prompt.N.*`, OpenInference
//! `llm.input_messages.N.message.*`) becomes the conventions' `gen_ai.input.messages` /
//! `gen_ai.output.messages` JSON.

use std::collections::BTreeMap;

use llamacol_api::otlp::common::v1::{any_value::Value, KeyValue};
use serde::Deserialize;

use super::normalize::{attr, has};
use super::values::str_of;

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

const CONTENT_KEYS: [&str; 11] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "input.value",
    "output.value",
    "input.mime_type",
    "output.mime_type",
];
const CONTENT_PREFIXES: [&str; 5] = [
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompt_template.",
];

pub fn is_content(key: &str) -> bool {
    // Every content key starts with one of these four letters: most keys stop here.
    if !matches!(key.as_bytes().first(), Some(b'g' | b'i' | b'o' | b'l')) {
        return false;
    }
    CONTENT_KEYS.contains(&key)
        || key == "llm.prompts"
        || CONTENT_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Applies `mode` to `attrs`.
pub fn apply(attrs: &mut Vec<KeyValue>, mode: ContentMode, max_bytes: usize, keep_original: bool) {
    if !attrs.iter().any(|kv| is_content(&kv.key)) {
        return;
    }
    if mode == ContentMode::Drop {
        attrs.retain(|kv| !is_content(&kv.key));
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
        for kv in attrs.iter_mut().filter(|kv| is_content(&kv.key)) {
            if let Some(Value::StringValue(s)) = kv.value.as_mut().and_then(|v| v.value.as_mut()) {
                truncate(s, max_bytes);
            }
        }
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
    attrs: &mut Vec<KeyValue>,
    prefix: &str,
    sep: &str,
    target: &'static str,
    keep_original: bool,
) {
    let mut found: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    for kv in attrs.iter() {
        let Some(rest) = kv.key.strip_prefix(prefix) else {
            continue;
        };
        let Some((index, field)) = rest.split_once(sep) else {
            continue;
        };
        let (Ok(index), Some(value)) = (index.parse::<usize>(), str_of(kv)) else {
            continue;
        };
        found
            .entry(index)
            .or_default()
            .insert(field.to_string(), value.to_string());
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
        attrs.push(attr(target, Value::StringValue(json)));
    }
    if !keep_original {
        attrs.retain(|kv| !kv.key.starts_with(prefix));
    }
}
