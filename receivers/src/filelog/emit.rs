//! Entries to OTLP log records: the body decoded, the file's attributes and the
//! configured ones, the operators run, then one resource block per distinct resource.

use std::time::{SystemTime, UNIX_EPOCH};

use llamacol_api::attributes::{from_json, from_json_map};
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, InstrumentationScope};
use llamacol_api::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use llamacol_api::otlp::resource::v1::Resource;
use serde_json::{Map, Value};

use super::decode::{Body, Decoder};
use super::operators::{Entry, Operators};
use super::reader::Chunk;

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
    chunk: &Chunk,
    first_record: u64,
    operators: &Operators,
    failed: &mut dyn FnMut(&str, String),
) -> ExportLogsServiceRequest {
    let observed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // One block per distinct resource; a file's entries nearly always share one, so a
    // short list compared by value beats keying by serialized maps.
    let mut by_resource: Vec<(Map<String, Value>, Vec<LogRecord>)> = Vec::new();
    for (i, (range, offset)) in chunk.entries.iter().enumerate() {
        let bytes = &chunk.buf[range.clone()];
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
            None => Some(from_json(&entry.body)),
        };
        let record = LogRecord {
            time_unix_nano: entry.timestamp.unwrap_or(0),
            observed_time_unix_nano: observed,
            severity_number: entry.severity,
            severity_text: entry.severity_text,
            body,
            attributes: from_json_map(&entry.attributes),
            ..Default::default()
        };
        match by_resource.iter_mut().find(|(r, _)| *r == entry.resource) {
            Some((_, records)) => records.push(record),
            None => by_resource.push((entry.resource, vec![record])),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: by_resource
            .into_iter()
            .map(|(resource, log_records)| ResourceLogs {
                resource: Some(Resource {
                    attributes: from_json_map(&resource),
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
