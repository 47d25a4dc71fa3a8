//! Converting attribute values between the shapes different schemes send them in.

use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue, ArrayValue};

use super::mapping::{Convert, PROVIDER_RENAMES};

pub fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::IntValue(i) => Some(*i),
        Value::DoubleValue(d) if d.is_finite() => Some(d.round() as i64),
        Value::StringValue(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().map(|d| d.round() as i64)),
        _ => None,
    }
}

pub fn double_of(v: &Value) -> Option<f64> {
    match v {
        Value::DoubleValue(d) => Some(*d),
        Value::IntValue(i) => Some(*i as f64),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::BoolValue(b) => Some(*b),
        Value::StringValue(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::StringValue(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

pub fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::ArrayValue(ArrayValue {
        values: items
            .into_iter()
            .map(|s| AnyValue {
                value: Some(Value::StringValue(s)),
            })
            .collect(),
    })
}

/// The provider name in current form.
pub fn provider(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    PROVIDER_RENAMES
        .iter()
        .find(|(old, _)| *old == lower)
        .map_or(lower, |(_, new)| (*new).to_string())
}

/// `value` converted as `convert` says; `None` when it cannot be (left out, the legacy
/// key still removed: a value no reader could use is not worth keeping twice).
pub fn convert(value: &Value, convert: Convert) -> Option<Value> {
    Some(match convert {
        Convert::Same | Convert::Derive => value.clone(),
        Convert::Int => Value::IntValue(int_of(value)?),
        Convert::Double => Value::DoubleValue(double_of(value)?),
        Convert::Bool => Value::BoolValue(bool_of(value)?),
        Convert::Provider => match value {
            Value::StringValue(s) => Value::StringValue(provider(s)),
            _ => return None,
        },
        Convert::OneElementArray | Convert::StringArray => match value {
            Value::StringValue(s) => strings([s.clone()]),
            Value::ArrayValue(a) => Value::ArrayValue(a.clone()),
            _ => return None,
        },
    })
}

/// As [`convert`], taking the value: strings are moved, not copied.
pub fn convert_owned(value: Value, how: Convert) -> Option<Value> {
    match (how, value) {
        (Convert::Same | Convert::Derive, v) => Some(v),
        (Convert::Provider, Value::StringValue(s)) => Some(Value::StringValue(provider(&s))),
        (Convert::OneElementArray | Convert::StringArray, Value::StringValue(s)) => {
            Some(strings([s]))
        }
        (Convert::OneElementArray | Convert::StringArray, v @ Value::ArrayValue(_)) => Some(v),
        (how, v) => convert(&v, how),
    }
}

/// A JSON value (from `llm.invocation_parameters`) as an attribute value.
pub fn from_json(json: &serde_json::Value, how: Convert) -> Option<Value> {
    let raw = match json {
        serde_json::Value::Bool(b) => Value::BoolValue(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::IntValue(i),
            None => Value::DoubleValue(n.as_f64()?),
        },
        serde_json::Value::String(s) => Value::StringValue(s.clone()),
        serde_json::Value::Array(items) => strings(
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect::<Vec<_>>(),
        ),
        _ => return None,
    };
    convert(&raw, how)
}
