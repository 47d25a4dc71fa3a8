//! One span's (or log record's) attributes brought to the current GenAI conventions.
//! Generic over the attribute list: a decoded span's or an encoded one's read in place
//! (`llamacol_api::wire::attrs`), so both paths give the same answers.

use llamacol_api::otlp::common::v1::any_value::Value;
pub use llamacol_api::wire::attrs::{get, get_str, has, Attrs};

use super::mapping::{self, Convert, Hints, INVOCATION_PARAMETERS};
use super::values;

pub const OPERATION: &str = "gen_ai.operation.name";

/// The text of attribute `i`, when it is a string.
fn text_at(attrs: &impl Attrs, i: usize) -> Option<String> {
    match attrs.value(i)?.into_owned() {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// Maps every legacy key of `attrs` (see `mapping.rs`), removes them unless
/// `keep_original`, and names the operation of a span that has none when its scheme's
/// hints or its model / token usage say what it is (`root`: the span has no parent).
/// Returns whether the attributes now describe a GenAI operation.
///
/// Without `keep_original` a legacy attribute that wins becomes the current one in place
/// (its key rewritten, its value converted without a copy; on the wire a value kept as it
/// is stays its bytes); the rest are removed.
pub fn normalize(attrs: &mut impl Attrs, keep_original: bool, root: bool) -> bool {
    // (row, index) of every legacy key, in table order.
    let mut legacy: Vec<(usize, usize)> = Vec::new();
    for i in 0..attrs.len() {
        if let Some((row, _)) = mapping::lookup(attrs.key(i)) {
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
            derived.model_name = text_at(attrs, i);
        }
        match (rule.convert, rule.from) {
            (Convert::Derive, from) => {
                match from {
                    "llm.request.type" => hints.request_type = text_at(attrs, i),
                    "openinference.span.kind" => {
                        hints.openinference_kind = text_at(attrs, i);
                        kinds.push(i);
                        continue;
                    }
                    "traceloop.span.kind" => {
                        hints.traceloop_kind = text_at(attrs, i);
                        kinds.push(i);
                        continue;
                    }
                    "llm.invocation_parameters" | "embedding.invocation_parameters" => {
                        let json = text_at(attrs, i).and_then(|s| serde_json::from_str(&s).ok());
                        if let Some(json) = json {
                            parameters(attrs, &json);
                        }
                    }
                    "gen_ai.openai.api_base" => derived.base_url = text_at(attrs, i),
                    "gen_ai.server.time_to_first_token" | "gen_ai.server.ttft" => {
                        derived.first_chunk = attrs.value(i).and_then(|v| values::double_of(&v));
                    }
                    _ => {}
                }
                remove.set(i, !keep_original);
            }
            _ if has(attrs, rule.to) => remove.set(i, !keep_original),
            (how, _) if keep_original => {
                if let Some(v) = attrs.value(i).and_then(|v| values::convert(&v, how)) {
                    attrs.add(rule.to, v);
                }
            }
            (Convert::Same, _) => attrs.rename(i, rule.to),
            (how, _) => match attrs
                .take_value(i)
                .and_then(|v| values::convert_owned(v, how))
            {
                Some(v) => attrs.replace(i, Some(rule.to), v),
                None => remove.set(i, true),
            },
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
        attrs.remove_where(|i, _| remove.get(i));
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
    fn apply(self, attrs: &mut impl Attrs) {
        if let Some(model) = self.model_name {
            // No request model anywhere: the answering model is the best there is.
            if !has(attrs, "gen_ai.request.model") {
                attrs.add("gen_ai.request.model", Value::StringValue(model));
            }
        }
        if let Some((host, port)) = self.base_url.as_deref().and_then(host_and_port) {
            if !has(attrs, "server.address") {
                attrs.add("server.address", Value::StringValue(host));
            }
            if !has(attrs, "server.port") {
                attrs.add("server.port", Value::IntValue(i64::from(port)));
            }
        }
        // Only a streaming call has a first chunk; on any other call OpenLIT's value is the
        // whole latency.
        let streaming = matches!(
            get(attrs, "gen_ai.request.stream").as_deref(),
            Some(Value::BoolValue(true))
        );
        if let Some(seconds) = self.first_chunk.filter(|s| s.is_finite() && *s >= 0.0) {
            if streaming && !has(attrs, FIRST_CHUNK) {
                attrs.add(FIRST_CHUNK, Value::DoubleValue(seconds));
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
fn parameters(attrs: &mut impl Attrs, json: &serde_json::Value) {
    for (name, to, how) in INVOCATION_PARAMETERS {
        if let Some(v) = json.get(name).and_then(|v| values::from_json(v, *how)) {
            if !has(attrs, to) {
                attrs.add(to, v);
            }
        }
    }
}

/// A model or token usage: what makes a span a GenAI call even without an operation.
fn describes_a_call(attrs: &impl Attrs) -> bool {
    (0..attrs.len()).any(|i| {
        matches!(
            attrs.key(i),
            "gen_ai.request.model"
                | "gen_ai.response.model"
                | "gen_ai.usage.input_tokens"
                | "gen_ai.usage.output_tokens"
        )
    })
}

/// Adds the operation the hints name, else `chat` for a span that describes a model
/// call; whether it added one.
fn name_operation(attrs: &mut impl Attrs, hints: &Hints) -> bool {
    let operation = match mapping::operation_from(hints) {
        Some(op) => op,
        None if describes_a_call(attrs) && hints.openinference_kind.is_none() => "chat",
        None => return false,
    };
    attrs.add(OPERATION, Value::StringValue(operation.to_string()));
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
