//! One span's (or log record's) attributes brought to the current GenAI conventions.

use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};

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
///
/// Without `keep_original` a legacy attribute that wins becomes the current one in place
/// (its key rewritten, its value converted without a copy); the rest are removed.
pub fn normalize(attrs: &mut Vec<KeyValue>, keep_original: bool) -> bool {
    // (row, index) of every legacy key, in table order.
    let mut legacy: Vec<(usize, usize)> = Vec::new();
    for (i, kv) in attrs.iter().enumerate() {
        if let Some((row, _)) = mapping::lookup(&kv.key) {
            legacy.push((row, i));
        }
    }
    let has_operation = has(attrs, OPERATION);
    if legacy.is_empty() {
        return has_operation || describes_a_call(attrs) && name_operation(attrs, None, None);
    }
    legacy.sort_unstable();
    let original_len = attrs.len();
    let mut remove = Marks::new(original_len);
    let (mut request_type, mut span_kind) = (None, None);
    for &(row, i) in &legacy {
        let rule = &mapping::RULES[row];
        match (rule.convert, rule.from) {
            (Convert::Derive, from) => {
                let kv = &attrs[i];
                match from {
                    "llm.request.type" => request_type = str_of(kv).map(str::to_string),
                    "openinference.span.kind" => span_kind = str_of(kv).map(str::to_string),
                    "llm.invocation_parameters" => {
                        let json = str_of(kv).and_then(|s| serde_json::from_str(s).ok());
                        if let Some(json) = json {
                            parameters(attrs, &json);
                        }
                    }
                    _ => {}
                }
                remove.set(i, !keep_original);
            }
            _ if has(attrs, rule.to) => remove.set(i, !keep_original),
            (how, _) if keep_original => {
                if let Some(v) = value_of(&attrs[i]).and_then(|v| values::convert(v, how)) {
                    attrs.push(attr(rule.to, v));
                }
            }
            (how, _) => {
                let kv = &mut attrs[i];
                let value = kv.value.take().and_then(|v| v.value);
                match value.and_then(|v| values::convert_owned(v, how)) {
                    Some(v) => {
                        kv.key.clear();
                        kv.key.push_str(rule.to);
                        kv.value = Some(AnyValue { value: Some(v) });
                    }
                    None => remove.set(i, true),
                }
            }
        }
    }
    if remove.any() {
        let mut at = 0;
        attrs.retain(|_| {
            let keep = !remove.get(at);
            at += 1;
            keep
        });
    }
    if has_operation {
        return true;
    }
    describes_a_call(attrs) && name_operation(attrs, request_type.as_deref(), span_kind.as_deref())
}

/// `llm.invocation_parameters`' JSON as `gen_ai.request.*` attributes (current ones win).
fn parameters(attrs: &mut Vec<KeyValue>, json: &serde_json::Value) {
    for (name, to, how) in INVOCATION_PARAMETERS {
        if let Some(v) = json.get(name).and_then(|v| values::from_json(v, *how)) {
            if !has(attrs, to) {
                attrs.push(attr(to, v));
            }
        }
    }
}

/// A model or token usage: what makes a span a GenAI call even without an operation.
fn describes_a_call(attrs: &[KeyValue]) -> bool {
    attrs.iter().any(|kv| {
        matches!(
            kv.key.as_str(),
            "gen_ai.request.model"
                | "gen_ai.response.model"
                | "gen_ai.usage.input_tokens"
                | "gen_ai.usage.output_tokens"
        )
    })
}

/// Adds the operation name derived from the legacy hints; always true.
fn name_operation(
    attrs: &mut Vec<KeyValue>,
    request_type: Option<&str>,
    span_kind: Option<&str>,
) -> bool {
    let operation = mapping::operation_from(request_type, span_kind);
    attrs.push(attr(OPERATION, Value::StringValue(operation.to_string())));
    true
}

/// Which attributes to remove: a bit mask, without allocating for up to 64 attributes.
struct Marks {
    small: u64,
    big: Vec<bool>,
}

impl Marks {
    fn new(len: usize) -> Marks {
        Marks {
            small: 0,
            big: if len > 64 {
                vec![false; len]
            } else {
                Vec::new()
            },
        }
    }

    fn set(&mut self, i: usize, on: bool) {
        if !on {
            return;
        }
        match self.big.get_mut(i) {
            Some(b) => *b = true,
            None if i < 64 => self.small |= 1 << i,
            None => {}
        }
    }

    fn get(&self, i: usize) -> bool {
        match self.big.get(i) {
            Some(b) => *b,
            None => i < 64 && self.small & (1 << i) != 0,
        }
    }

    fn any(&self) -> bool {
        self.small != 0 || self.big.iter().any(|b| *b)
    }
}
