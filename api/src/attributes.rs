//! Building OTLP attributes (`KeyValue`) without the nested `Option`s, for components that
//! produce telemetry (scrapers, generators).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// A key with any value (possibly empty).
pub fn kv_any(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..Default::default()
    }
}

pub fn string(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

pub fn int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

pub fn double(key: &str, value: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(value))
}

/// A string value.
pub fn string_value(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    }
}

/// pdata's `Str()`: the text of a string value, "" for any other type.
pub fn str_of(v: &AnyValue) -> &str {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s,
        _ => "",
    }
}

/// The value of `key`, if present.
pub fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// Removes `key`, giving its value.
pub fn take(attrs: &mut Vec<KeyValue>, key: &str) -> Option<AnyValue> {
    let i = attrs.iter().position(|kv| kv.key == key)?;
    attrs.remove(i).value
}

/// pdata's `Put`: a key already there keeps its place and takes the new value.
pub fn put(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = Some(value),
        None => attrs.push(kv_any(key, value)),
    }
}

/// Attribute values as strings per the attribute spec: strings as they are, others as JSON.
pub fn value_string(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<serde_json::Value> = a.values.iter().map(json).collect();
            serde_json::Value::Array(items).to_string()
        }
        Some(any_value::Value::KvlistValue(l)) => {
            let map: serde_json::Map<String, serde_json::Value> = l
                .values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map(json).unwrap_or_default(),
                    )
                })
                .collect();
            serde_json::Value::Object(map).to_string()
        }
        Some(any_value::Value::StringValueStrindex(i)) => i.to_string(),
        None => String::new(),
    }
}

fn json(v: &AnyValue) -> serde_json::Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone().into(),
        Some(any_value::Value::BoolValue(b)) => (*b).into(),
        Some(any_value::Value::IntValue(i)) => (*i).into(),
        Some(any_value::Value::DoubleValue(d)) => (*d).into(),
        _ => value_string(v).into(),
    }
}

/// A JSON value as an attribute value (the reverse of [`value_string`]'s JSON): numbers
/// that are whole and typed as integers become ints, other numbers doubles, arrays and
/// objects array and kvlist values, `null` an empty value.
pub fn from_json(v: &serde_json::Value) -> AnyValue {
    use serde_json::Value;
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(items) => Some(any_value::Value::ArrayValue(
            opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: items.iter().map(from_json).collect(),
            },
        )),
        Value::Object(map) => Some(any_value::Value::KvlistValue(
            opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: from_json_map(map),
            },
        )),
    };
    AnyValue { value }
}

/// A JSON object as attributes (key order kept).
pub fn from_json_map(map: &serde_json::Map<String, serde_json::Value>) -> Vec<KeyValue> {
    map.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(from_json(v)),
            ..Default::default()
        })
        .collect()
}

/// The Prometheus `job` and `instance` of a resource, as the Collector derives them:
/// `service.namespace/service.name` (or `service.name` alone) and `service.instance.id`.
pub fn job_instance(resource: &[KeyValue]) -> (Option<String>, Option<String>) {
    let get = |k: &str| {
        resource
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.as_ref())
            .map(value_string)
    };
    let job = match (get("service.namespace"), get("service.name")) {
        (Some(ns), Some(name)) if !ns.is_empty() => Some(format!("{ns}/{name}")),
        (_, name) => name,
    };
    (job, get("service.instance.id"))
}
