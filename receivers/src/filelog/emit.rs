//! Entries to OTLP log records: the body decoded, the file's attributes and the
//! configured ones, the operators run, then one resource block per distinct resource.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use llamacol_api::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use llamacol_api::otlp::resource::v1::Resource;
use serde_json::{Map, Value};

use super::decode::{Body, Decoder};
use super::operators::{Entry, Operators};

/// What every entry of one file starts with.
pub struct Template<'a> {
    pub decoder: Decoder,
    pub attributes: &'a Map<String, Value>,
    pub resource: &'a Map<String, Value>,
    pub record_number: bool,
    pub record_offset: bool,
}

/// Builds the request for one chunk of one file; `failed` hears of operator errors.
pub fn request(
    template: &Template,
    entries: &[(Vec<u8>, u64)],
    first_record: u64,
    operators: &Operators,
    failed: &mut dyn FnMut(&str, String),
) -> ExportLogsServiceRequest {
    let observed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut by_resource: BTreeMap<String, (Map<String, Value>, Vec<LogRecord>)> = BTreeMap::new();
    for (i, (bytes, offset)) in entries.iter().enumerate() {
        // An empty line counts as a record but is not emitted, as in the Collector.
        if bytes.is_empty() {
            continue;
        }
        let mut entry = Entry {
            body: Value::Null,
            attributes: template.attributes.clone(),
            resource: template.resource.clone(),
            ..Entry::default()
        };
        let raw_body = template.decoder.decode(bytes);
        if template.record_number {
            entry.attributes.insert(
                "log.file.record_number".into(),
                Value::from(first_record + i as u64 + 1),
            );
        }
        if template.record_offset {
            entry
                .attributes
                .insert("log.file.record_offset".into(), Value::from(*offset));
        }
        let bytes_body = match raw_body {
            Body::Text(text) => {
                entry.body = Value::String(text);
                None
            }
            Body::Bytes(b) => Some(b),
        };
        if !operators.is_empty() && bytes_body.is_none() && !operators.apply(&mut entry, failed) {
            continue;
        }
        let body = match bytes_body {
            Some(b) => Some(AnyValue {
                value: Some(any_value::Value::BytesValue(b)),
            }),
            None => Some(to_any(&entry.body)),
        };
        let record = LogRecord {
            time_unix_nano: entry.timestamp.unwrap_or(0),
            observed_time_unix_nano: observed,
            severity_number: entry.severity,
            severity_text: entry.severity_text,
            body,
            attributes: to_attributes(&entry.attributes),
            ..Default::default()
        };
        let key = serde_json::to_string(&entry.resource).unwrap_or_default();
        by_resource
            .entry(key)
            .or_insert_with(|| (entry.resource, Vec::new()))
            .1
            .push(record);
    }
    ExportLogsServiceRequest {
        resource_logs: by_resource
            .into_values()
            .map(|(resource, log_records)| ResourceLogs {
                resource: Some(Resource {
                    attributes: to_attributes(&resource),
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope::default()),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn to_attributes(map: &Map<String, Value>) -> Vec<KeyValue> {
    map.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(to_any(v)),
            ..Default::default()
        })
        .collect()
}

/// A JSON value as an OTLP value (numbers that fit an i64 as ints).
pub fn to_any(v: &Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(to_any).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: to_attributes(map),
        })),
    };
    AnyValue { value }
}
