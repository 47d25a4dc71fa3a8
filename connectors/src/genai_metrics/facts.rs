//! What one span contributes to the metrics, read once from either form a batch holds: a
//! decoded span, or the encoded bytes (walked in place, nothing allocated, so a connector
//! behind a `batch` processor does not decode what it only reads).

use llamacol_api::otlp::common::v1::{any_value::Value, KeyValue};
use llamacol_api::otlp::trace::v1::{status::StatusCode, Span};

use super::config::{Dimension, FIXED_ATTRIBUTES, RESOURCE_KEYS};

/// Where the parts of a series key are: the resource keys, the side (`server` for a
/// SERVER span, else none), the fixed attributes, the dimensions.
pub const SIDE: usize = RESOURCE_KEYS.len();
pub const FIXED: usize = SIDE + 1;
/// Indexes into [`FIXED_ATTRIBUTES`].
pub const OPERATION: usize = 0;
const ERROR_TYPE: usize = 6;
/// `SpanKind::SERVER`.
const SERVER: i32 = 2;

/// The numeric attributes read as measurements.
const MEASURED: [&str; 5] = [
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cost",
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.request.stream",
];

/// Span events, one per chunk of a streaming response (OpenLLMetry).
const CHUNK_EVENTS: [&str; 2] = [
    "gen_ai.content.completion.chunk",
    "llm.content.completion.chunk",
];

/// Span events that mark the first chunk of a streaming response (OpenInference's, and
/// names SDKs use for it). Never an end-of-response event (`gen_ai.choice`,
/// `gen_ai.content.completion`): a non-streaming call emits those when it ends.
const FIRST_CHUNK_EVENTS: [&str; 3] = [
    "First Token Stream Event",
    "gen_ai.first_chunk",
    "first_token",
];

/// An attribute value, borrowed from wherever the span is.
#[derive(Debug, Clone, Copy)]
pub enum Attr<'a> {
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl<'a> Attr<'a> {
    pub fn of(value: Option<&'a Value>) -> Option<Attr<'a>> {
        Some(match value? {
            Value::StringValue(s) => Attr::Str(s),
            Value::IntValue(i) => Attr::Int(*i),
            Value::DoubleValue(d) => Attr::Double(*d),
            Value::BoolValue(b) => Attr::Bool(*b),
            _ => return None,
        })
    }

    /// `f` of the value as text; an integer (a port, say) is written on the stack, not
    /// allocated, since it is read for every span.
    pub fn with_text<R>(self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Attr::Str(s) => f(s),
            Attr::Int(i) => {
                let mut buf = [0u8; 20];
                let mut at = buf.len();
                let mut n = i.unsigned_abs();
                loop {
                    at -= 1;
                    buf[at] = b'0' + (n % 10) as u8;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                let digits = std::str::from_utf8(&buf[at..]).unwrap_or_default();
                if i < 0 {
                    f(&format!("-{digits}"))
                } else {
                    f(digits)
                }
            }
            Attr::Double(d) => f(&d.to_string()),
            Attr::Bool(b) => f(if b { "true" } else { "false" }),
        }
    }

    /// A finite, non-negative number (token counts and costs sent as strings count too).
    fn amount(self) -> Option<f64> {
        let v = match self {
            Attr::Int(i) => i as f64,
            Attr::Double(d) => d,
            Attr::Str(s) => s.trim().parse().ok()?,
            Attr::Bool(_) => return None,
        };
        (v.is_finite() && v >= 0.0).then_some(v)
    }
}

/// One span's series key and measurements. Reused across spans (`clear`).
#[derive(Debug, Default)]
pub struct Facts<'a> {
    /// The resource keys, the side, the fixed attributes, the dimensions (`None`: absent).
    pub key: Vec<Option<Attr<'a>>>,
    pub start: u64,
    pub end: u64,
    pub failed: bool,
    pub input_tokens: Option<f64>,
    pub output_tokens: Option<f64>,
    pub cost: Option<f64>,
    /// `gen_ai.request.stream`.
    pub streaming: bool,
    /// `gen_ai.response.time_to_first_chunk`, seconds.
    pub time_to_first_chunk: Option<f64>,
    /// Time of the earliest first-chunk event, ns.
    pub first_chunk_at: Option<u64>,
    /// Times of the per-chunk events, ns, as they came.
    pub chunks: Vec<u64>,
}

/// The resource's values of [`RESOURCE_KEYS`].
pub type ResourceKey<'a> = [Option<Attr<'a>>; RESOURCE_KEYS.len()];

impl<'a> Facts<'a> {
    /// Starts a span: the key holds the resource's keys and no attributes yet.
    pub fn clear(&mut self, resource: &ResourceKey<'a>, dimensions: usize) {
        self.key.clear();
        self.key.extend(resource.iter().copied());
        self.key.extend(std::iter::repeat_n(
            None,
            1 + FIXED_ATTRIBUTES.len() + dimensions,
        ));
        self.start = 0;
        self.end = 0;
        self.failed = false;
        self.input_tokens = None;
        self.output_tokens = None;
        self.cost = None;
        self.streaming = false;
        self.time_to_first_chunk = None;
        self.first_chunk_at = None;
        self.chunks.clear();
    }

    /// Takes the span's kind.
    pub fn kind(&mut self, kind: i32) {
        if kind == SERVER {
            self.key[SIDE] = Some(Attr::Str("server"));
        }
    }

    /// Whether the span is a SERVER span.
    pub fn server(&self) -> bool {
        self.key[SIDE].is_some()
    }

    /// Whether a span attribute with this key is read at all.
    pub fn wants(key: &[u8], dimensions: &[Dimension]) -> bool {
        FIXED_ATTRIBUTES.iter().any(|k| k.as_bytes() == key)
            || MEASURED.iter().any(|k| k.as_bytes() == key)
            || dimensions.iter().any(|d| d.name.as_bytes() == key)
    }

    /// Takes one span attribute.
    pub fn attribute(&mut self, key: &str, value: Attr<'a>, dimensions: &[Dimension]) {
        if let Some(i) = FIXED_ATTRIBUTES.iter().position(|k| *k == key) {
            self.key[FIXED + i] = Some(value);
            return;
        }
        match key {
            k if k == MEASURED[0] => self.input_tokens = value.amount(),
            k if k == MEASURED[1] => self.output_tokens = value.amount(),
            k if k == MEASURED[2] => self.cost = value.amount(),
            k if k == MEASURED[3] => self.time_to_first_chunk = value.amount(),
            k if k == MEASURED[4] => self.streaming = matches!(value, Attr::Bool(true)),
            _ => {
                if let Some(d) = dimensions.iter().position(|d| d.name == key) {
                    self.key[FIXED + FIXED_ATTRIBUTES.len() + d] = Some(value);
                }
            }
        }
    }

    /// Takes one span event.
    pub fn event(&mut self, name: &str, time: u64) {
        let chunk = CHUNK_EVENTS.contains(&name);
        if chunk {
            self.chunks.push(time);
        }
        if chunk || FIRST_CHUNK_EVENTS.contains(&name) {
            self.first_chunk_at = Some(self.first_chunk_at.map_or(time, |t| t.min(time)));
        }
    }

    /// Ends a span: fills dimensions the span lacks from the resource, then defaults, and
    /// the error type of a failed span without one. False when it is not a GenAI span.
    pub fn finish(
        &mut self,
        dimensions: &'a [Dimension],
        from_resource: impl Fn(&str) -> Option<Attr<'a>>,
    ) -> bool {
        if self.key[FIXED + OPERATION].is_none() {
            return false;
        }
        if self.failed && self.key[FIXED + ERROR_TYPE].is_none() {
            self.key[FIXED + ERROR_TYPE] = Some(Attr::Str("_OTHER"));
        }
        for (i, d) in dimensions.iter().enumerate() {
            let slot = &mut self.key[FIXED + FIXED_ATTRIBUTES.len() + i];
            if slot.is_none() {
                *slot = from_resource(&d.name).or_else(|| d.default.as_deref().map(Attr::Str));
            }
        }
        true
    }

    /// A decoded span.
    pub fn of_span(
        &mut self,
        span: &'a Span,
        resource: &'a [KeyValue],
        resource_key: &ResourceKey<'a>,
        dimensions: &'a [Dimension],
    ) -> bool {
        self.clear(resource_key, dimensions.len());
        self.kind(span.kind);
        self.start = span.start_time_unix_nano;
        self.end = span.end_time_unix_nano;
        self.failed = span
            .status
            .as_ref()
            .is_some_and(|s| s.code == StatusCode::Error as i32);
        for kv in &span.attributes {
            if let Some(v) = Attr::of(kv.value.as_ref().and_then(|v| v.value.as_ref())) {
                self.attribute(&kv.key, v, dimensions);
            }
        }
        for e in &span.events {
            self.event(&e.name, e.time_unix_nano);
        }
        self.finish(dimensions, |k| find(resource, k))
    }
}

/// The values of [`RESOURCE_KEYS`] in a decoded resource.
pub fn resource_key(resource: &[KeyValue]) -> ResourceKey<'_> {
    RESOURCE_KEYS.map(|k| find(resource, k))
}

/// A decoded attribute list's value for `key`.
pub fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<Attr<'a>> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| Attr::of(kv.value.as_ref().and_then(|v| v.value.as_ref())))
}
