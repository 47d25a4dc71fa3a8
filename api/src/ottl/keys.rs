//! Keyed access inside maps and lists (`attributes["a"]["b"][0]`), with the Collector's
//! rules (`ctxutil/value.go`): reading a missing map key gives nil; an index out of range
//! is an error; writing creates the missing maps on the way (and a list where an empty
//! value meets an integer key).

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};

use super::error::{Eval, RuntimeError};
use super::value::Value;

/// The largest index writing into an empty value creates a list up to (the Collector
/// appends that many empty values; bounded here so one statement cannot allocate
/// without limit).
const MAX_CREATED_INDEX: i64 = 65_536;

/// A key after evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Str(String),
    Int(i64),
}

fn type_name(v: &AnyValue) -> &'static str {
    match &v.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => "Empty",
        Some(any_value::Value::StringValue(_)) => "Str",
        Some(any_value::Value::BoolValue(_)) => "Bool",
        Some(any_value::Value::IntValue(_)) => "Int",
        Some(any_value::Value::DoubleValue(_)) => "Double",
        Some(any_value::Value::BytesValue(_)) => "Bytes",
        Some(any_value::Value::ArrayValue(_)) => "Slice",
        Some(any_value::Value::KvlistValue(_)) => "Map",
    }
}

fn map_key(key: &Key) -> Eval<&str> {
    match key {
        Key::Str(s) => Ok(s),
        Key::Int(_) => Err(RuntimeError::new("non-string indexing is not supported")),
    }
}

pub fn get_in_map(map: &[KeyValue], first: &Key, rest: &[Key]) -> Eval<Value> {
    let name = map_key(first)?;
    match map.iter().find(|kv| kv.key == name) {
        None => Ok(Value::Nil),
        Some(kv) => match &kv.value {
            Some(v) => get_in_value(v, rest),
            None => get_in_value(&AnyValue::default(), rest),
        },
    }
}

pub fn get_in_value(mut v: &AnyValue, path_keys: &[Key]) -> Eval<Value> {
    for key in path_keys {
        match &v.value {
            Some(any_value::Value::KvlistValue(m)) => {
                let name = map_key(key)?;
                match m.values.iter().find(|kv| kv.key == name) {
                    None => return Ok(Value::Nil),
                    Some(kv) => match &kv.value {
                        Some(inner) => v = inner,
                        None => return Ok(Value::Nil),
                    },
                }
            }
            Some(any_value::Value::ArrayValue(a)) => {
                let Key::Int(i) = key else {
                    return Err(RuntimeError::new(
                        "unable to resolve an integer index in slice",
                    ));
                };
                match usize::try_from(*i).ok().and_then(|i| a.values.get(i)) {
                    Some(inner) => v = inner,
                    None => return Err(RuntimeError::new(format!("index {i} out of bounds"))),
                }
            }
            _ => {
                return Err(RuntimeError::new(format!(
                    "type {} does not support string indexing",
                    type_name(v)
                )))
            }
        }
    }
    Ok(Value::from_any(v))
}

/// The value under `name`, added empty if absent.
pub fn entry<'m>(map: &'m mut Vec<KeyValue>, name: &str) -> &'m mut AnyValue {
    let at = match map.iter().position(|kv| kv.key == name) {
        Some(i) => i,
        None => {
            map.push(KeyValue {
                key: name.to_string(),
                value: Some(AnyValue::default()),
                ..Default::default()
            });
            map.len() - 1
        }
    };
    map[at].value.get_or_insert_with(AnyValue::default)
}

pub fn set_in_map(map: &mut Vec<KeyValue>, first: &Key, rest: &[Key], v: Value) -> Eval<()> {
    let name = map_key(first)?;
    set_in_value(entry(map, name), rest, v)
}

pub fn set_in_value(mut current: &mut AnyValue, path_keys: &[Key], v: Value) -> Eval<()> {
    check_settable(&v)?;
    for key in path_keys {
        if current.value.is_none() {
            if let Key::Int(i) = key {
                if !(0..=MAX_CREATED_INDEX).contains(i) {
                    return Err(RuntimeError::new(format!(
                        "index {i} out of bounds (a new list is created up to index {MAX_CREATED_INDEX})"
                    )));
                }
            }
            current.value = Some(match key {
                Key::Str(_) => any_value::Value::KvlistValue(KeyValueList::default()),
                Key::Int(i) => any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue::default(); usize::try_from(*i).unwrap_or(0)],
                }),
            });
            if let (Key::Int(_), Some(any_value::Value::ArrayValue(a))) = (key, &mut current.value)
            {
                a.values.push(AnyValue::default());
            }
        }
        let described = type_name(current);
        current = match &mut current.value {
            Some(any_value::Value::KvlistValue(m)) => entry(&mut m.values, map_key(key)?),
            Some(any_value::Value::ArrayValue(a)) => {
                let Key::Int(i) = key else {
                    return Err(RuntimeError::new(
                        "unable to resolve an integer index in slice",
                    ));
                };
                let len = a.values.len();
                match usize::try_from(*i).ok().filter(|i| *i < len) {
                    Some(i) => &mut a.values[i],
                    None => return Err(RuntimeError::new(format!("index {i} out of bounds"))),
                }
            }
            _ => {
                return Err(RuntimeError::new(format!(
                    "type {described} does not support string indexing"
                )))
            }
        };
    }
    *current = v.into_any();
    Ok(())
}

/// OTLP values cannot hold times and durations (the Collector: `unsupported type`).
pub fn check_settable(v: &Value) -> Eval<()> {
    if v.is_otlp() {
        Ok(())
    } else {
        Err(RuntimeError::new(format!(
            "unsupported type {} for set operation",
            v.type_name()
        )))
    }
}
