//! One span's (or log record's) attributes brought to the current GenAI conventions.

use llamacol_pipeline::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};

use super::mapping::{self, Convert, INVOCATION_PARAMETERS};
use super::values::{self, str_of, value_of};

pub const OPERATION: &str = "gen_ai.operation.name";

pub fn has(attrs: &[KeyValue], key: &str) -> bool {
    attrs.iter().any(|kv| kv.key == key)
}

pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| kv.key == key).and_then(value_of)
}

pub fn attr(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Maps every legacy key of `attrs` (see `mapping.rs`), removes them unless
/// `keep_original`, and names the operation of a span that has a model or token usage
/// but no `gen_ai.operation.name`. Returns whether the attributes now describe a GenAI
/// operation.
pub fn normalize(attrs: &mut Vec<KeyValue>, keep_original: bool) -> bool {
    // (row, index) of every legacy key, in table order.
    let mut legacy: Vec<(usize, usize)> = Vec::new();
    for (i, kv) in attrs.iter().enumerate() {
        if let Some((row, _)) = mapping::lookup(&kv.key) {
            legacy.push((row, i));
        }
    }
    let has_operation = has(attrs, OPERATION);
    if legacy.is_empty() && has_operation {
        return true;
    }
    legacy.sort_unstable();
    let mut added: Vec<KeyValue> = Vec::new();
    let mut add = |attrs: &[KeyValue], key: &'static str, value: Option<Value>| {
        if let Some(value) = value {
            if !has(attrs, key) && !added.iter().any(|kv| kv.key == key) {
                added.push(attr(key, value));
            }
        }
    };
    let (mut request_type, mut span_kind) = (None, None);
    for &(row, i) in &legacy {
        let rule = &mapping::RULES[row];
        let kv = &attrs[i];
        match (rule.convert, rule.from) {
            (Convert::Derive, "llm.request.type") => request_type = str_of(kv).map(str::to_string),
            (Convert::Derive, "openinference.span.kind") => {
                span_kind = str_of(kv).map(str::to_string)
            }
            (Convert::Derive, "llm.invocation_parameters") => {
                let Some(json) = str_of(kv).and_then(|s| serde_json::from_str(s).ok()) else {
                    continue;
                };
                let json: serde_json::Value = json;
                for (name, to, how) in INVOCATION_PARAMETERS {
                    if let Some(v) = json.get(name) {
                        add(attrs, to, values::from_json(v, *how));
                    }
                }
            }
            (Convert::Derive, _) => {}
            (how, _) => add(
                attrs,
                rule.to,
                value_of(kv).and_then(|v| values::convert(v, how)),
            ),
        }
    }
    if !keep_original && !legacy.is_empty() {
        attrs.retain(|kv| mapping::lookup(&kv.key).is_none());
    }
    attrs.extend(added);
    if has_operation {
        return true;
    }
    let described = [
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
    ]
    .iter()
    .any(|k| has(attrs, k));
    if described {
        let operation = mapping::operation_from(request_type.as_deref(), span_kind.as_deref());
        attrs.push(attr(OPERATION, Value::StringValue(operation.to_string())));
    }
    described
}
