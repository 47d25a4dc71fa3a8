//! The entry operators work on: the Collector's stanza entry (body, attributes,
//! resource, timestamp, severity), with JSON-like values.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub body: Value,
    pub attributes: Map<String, Value>,
    pub resource: Map<String, Value>,
    /// Unix nanoseconds, when an operator parsed one.
    pub timestamp: Option<u64>,
    /// OTLP severity number (0: unset) and the text it was read from.
    pub severity: i32,
    pub severity_text: String,
}
