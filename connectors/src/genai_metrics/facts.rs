//! What one span contributes to the metrics, read once from either form a batch holds: a
//! decoded span, or the encoded bytes (walked in place, nothing allocated, so a connector
//! behind a `batch` processor does not decode what it only reads).

use std::borrow::Cow;

use llamacol_api::otlp::common::v1::{any_value::Value, KeyValue};
use llamacol_api::otlp::trace::v1::{status::StatusCode, Span};

use super::config::{Dimension, FIXED_ATTRIBUTES};

pub const OPERATION: usize = 0;
const ERROR_TYPE: usize = 5;

/// The numeric attributes read as measurements.
const MEASURED: [&str; 4] = [
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cost",
    "gen_ai.response.time_to_first_chunk",
];

/// Span events whose time marks the first chunk or completion of a response.
const FIRST_CHUNK_EVENTS: [&str; 5] = [
    "gen_ai.first_chunk",
    "gen_ai.choice",
    "gen_ai.content.completion",
    "llm.content.completion.chunk",
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

    fn text(self) -> Cow<'a, str> {
        match self {
            Attr::Str(s) => Cow::Borrowed(s),
            Attr::Int(i) => Cow::Owned(i.to_string()),
            Attr::Double(d) => Cow::Owned(d.to_string()),
            Attr::Bool(b) => Cow::Owned(b.to_string()),
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
    /// `service.name`, the fixed attributes, the dimensions (`None`: absent).
    pub key: Vec<Option<Cow<'a, str>>>,
    pub start: u64,
    pub end: u64,
    pub failed: bool,
    pub input_tokens: Option<f64>,
    pub output_tokens: Option<f64>,
    pub cost: Option<f64>,
    /// `gen_ai.response.time_to_first_chunk`, seconds.
    pub time_to_first_chunk: Option<f64>,
    /// Time of the earliest first-chunk event, ns.
    pub first_chunk_at: Option<u64>,
}

impl<'a> Facts<'a> {
    /// Starts a span: the key holds the resource's service and no attributes yet.
    pub fn clear(&mut self, service: Option<Attr<'a>>, dimensions: usize) {
        self.key.clear();
        self.key.push(service.map(Attr::text));
        self.key.extend(std::iter::repeat_n(
            None,
            FIXED_ATTRIBUTES.len() + dimensions,
        ));
        self.start = 0;
        self.end = 0;
        self.failed = false;
        self.input_tokens = None;
        self.output_tokens = None;
        self.cost = None;
        self.time_to_first_chunk = None;
        self.first_chunk_at = None;
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
            self.key[1 + i] = Some(value.text());
            return;
        }
        match key {
            k if k == MEASURED[0] => self.input_tokens = value.amount(),
            k if k == MEASURED[1] => self.output_tokens = value.amount(),
            k if k == MEASURED[2] => self.cost = value.amount(),
            k if k == MEASURED[3] => self.time_to_first_chunk = value.amount(),
            _ => {
                if let Some(d) = dimensions.iter().position(|d| d.name == key) {
                    self.key[1 + FIXED_ATTRIBUTES.len() + d] = Some(value.text());
                }
            }
        }
    }

    /// Takes one span event.
    pub fn event(&mut self, name: &str, time: u64) {
        if FIRST_CHUNK_EVENTS.contains(&name) {
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
        if self.key[1 + OPERATION].is_none() {
            return false;
        }
        if self.failed && self.key[1 + ERROR_TYPE].is_none() {
            self.key[1 + ERROR_TYPE] = Some(Cow::Borrowed("_OTHER"));
        }
        for (i, d) in dimensions.iter().enumerate() {
            let slot = &mut self.key[1 + FIXED_ATTRIBUTES.len() + i];
            if slot.is_none() {
                *slot = from_resource(&d.name)
                    .map(Attr::text)
                    .or_else(|| d.default.as_deref().map(Cow::Borrowed));
            }
        }
        true
    }

    /// A decoded span.
    pub fn of_span(
        &mut self,
        span: &'a Span,
        resource: &'a [KeyValue],
        service: Option<Attr<'a>>,
        dimensions: &'a [Dimension],
    ) -> bool {
        self.clear(service, dimensions.len());
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

/// A decoded attribute list's value for `key`.
pub fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<Attr<'a>> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| Attr::of(kv.value.as_ref().and_then(|v| v.value.as_ref())))
}
