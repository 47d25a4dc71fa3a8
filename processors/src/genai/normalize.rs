//! One span's (or log record's) attributes brought to the current GenAI conventions.

use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};

use super::mapping::{self, Convert, Hints, INVOCATION_PARAMETERS};
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
/// `keep_original`, and names the operation of a span that has none when its scheme's
/// hints or its model / token usage say what it is (`root`: the span has no parent).
/// Returns whether the attributes now describe a GenAI operation.
///
/// Without `keep_original` a legacy attribute that wins becomes the current one in place
/// (its key rewritten, its value converted without a copy); the rest are removed.
pub fn normalize(attrs: &mut Vec<KeyValue>, keep_original: bool, root: bool) -> bool {
    // (row, index) of every legacy key, in table order.
    let mut legacy: Vec<(usize, usize)> = Vec::new();
    for (i, kv) in attrs.iter().enumerate() {
        if let Some((row, _)) = mapping::lookup(&kv.key) {
            legacy.push((row, i));
        }
    }
    let has_operation = has(attrs, OPERATION);
    if legacy.is_empty() {
        return has_operation || name_operation(attrs, &Hints::default());
    }
    legacy.sort_unstable();
    let original_len = attrs.len();
    let mut remove = Marks::new(original_len);
    let mut hints = Hints {
        root,
        ..Hints::default()
    };
    let mut derived = Derived::default();
    // Span kinds are removed only when they named the operation (decided below).
    let mut kinds: Vec<usize> = Vec::new();
    for &(row, i) in &legacy {
        let rule = &mapping::RULES[row];
        if rule.from == "llm.model_name" {
            derived.model_name = str_of(&attrs[i]).map(str::to_string);
        }
        match (rule.convert, rule.from) {
            (Convert::Derive, from) => {
                let text = str_of(&attrs[i]).map(str::to_string);
                match from {
                    "llm.request.type" => hints.request_type = text,
                    "openinference.span.kind" => {
                        hints.openinference_kind = text;
                        kinds.push(i);
                        continue;
                    }
                    "traceloop.span.kind" => {
                        hints.traceloop_kind = text;
                        kinds.push(i);
                        continue;
                    }
                    "llm.invocation_parameters" | "embedding.invocation_parameters" => {
                        if let Some(json) = text.and_then(|s| serde_json::from_str(&s).ok()) {
                            parameters(attrs, &json);
                        }
                    }
                    "gen_ai.openai.api_base" => derived.base_url = text,
                    "gen_ai.server.time_to_first_token" | "gen_ai.server.ttft" => {
                        derived.first_chunk = value_of(&attrs[i]).and_then(values::double_of);
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
    derived.apply(attrs);
    let genai = has_operation || name_operation(attrs, &hints);
    // A kind that named nothing stays: it is all that says what the span is.
    let named = has_operation || mapping::operation_from(&hints).is_some();
    for i in kinds {
        remove.set(i, named && !keep_original);
    }
    if remove.any() {
        let mut at = 0;
        attrs.retain(|_| {
            let keep = !remove.get(at);
            at += 1;
            keep
        });
    }
    genai
}

/// What the legacy keys only hint at, applied once every row is read.
#[derive(Default)]
struct Derived {
    /// OpenInference's `llm.model_name` (the response model).
    model_name: Option<String>,
    /// OpenLLMetry's `gen_ai.openai.api_base`.
    base_url: Option<String>,
    /// OpenLIT's time to first token, seconds (on every call, streaming or not).
    first_chunk: Option<f64>,
}

impl Derived {
    fn apply(self, attrs: &mut Vec<KeyValue>) {
        if let Some(model) = self.model_name {
            // No request model anywhere: the answering model is the best there is.
            if !has(attrs, "gen_ai.request.model") {
                attrs.push(attr("gen_ai.request.model", Value::StringValue(model)));
            }
        }
        if let Some((host, port)) = self.base_url.as_deref().and_then(host_and_port) {
            if !has(attrs, "server.address") {
                attrs.push(attr("server.address", Value::StringValue(host)));
            }
            if !has(attrs, "server.port") {
                attrs.push(attr("server.port", Value::IntValue(i64::from(port))));
            }
        }
        // Only a streaming call has a first chunk; on any other call OpenLIT's value is the
        // whole latency.
        let streaming = matches!(
            get(attrs, "gen_ai.request.stream"),
            Some(Value::BoolValue(true))
        );
        if let Some(seconds) = self.first_chunk.filter(|s| s.is_finite() && *s >= 0.0) {
            if streaming && !has(attrs, FIRST_CHUNK) {
                attrs.push(attr(FIRST_CHUNK, Value::DoubleValue(seconds)));
            }
        }
    }
}

pub const FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";

/// Host and port of a base URL (`http://127.0.0.1:8080/v1/`), the scheme's default port
/// when it names none.
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.strip_prefix('[') {
        // [v6]:port
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None if scheme.eq_ignore_ascii_case("https") => 443,
        None if scheme.eq_ignore_ascii_case("http") => 80,
        None => return None,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// The JSON request parameters as `gen_ai.request.*` attributes (current ones win).
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

/// Adds the operation the hints name, else `chat` for a span that describes a model
/// call; whether it added one.
fn name_operation(attrs: &mut Vec<KeyValue>, hints: &Hints) -> bool {
    let operation = match mapping::operation_from(hints) {
        Some(op) => op,
        None if describes_a_call(attrs) && hints.openinference_kind.is_none() => "chat",
        None => return false,
    };
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
