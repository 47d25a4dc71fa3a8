//! Type checks and conversions: `Is*`, `Int`, `Double`, `String`, `Bool`, and the
//! "string-like" / "int-like" readings the Collector's getters apply to arguments.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use super::{converter, Args, Func, Spec};
use crate::ottl::error::{Eval, RuntimeError};
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "IsString",
        params: &["value"],
        build: |a| is(a, |v| matches!(v, Value::Str(_))),
    },
    Spec {
        name: "IsInt",
        params: &["value"],
        build: |a| is(a, |v| matches!(v, Value::Int(_))),
    },
    Spec {
        name: "IsDouble",
        params: &["value"],
        build: |a| is(a, |v| matches!(v, Value::Double(_))),
    },
    Spec {
        name: "IsBool",
        params: &["value"],
        build: |a| is(a, |v| matches!(v, Value::Bool(_))),
    },
    Spec {
        name: "IsMap",
        params: &["value"],
        build: |a| is(a, |v| matches!(v, Value::Map(_))),
    },
    Spec {
        name: "IsList",
        params: &["value"],
        build: |a| is(a, |v| matches!(v, Value::List(_))),
    },
    Spec {
        name: "Int",
        params: &["target"],
        build: |a| convert(a, |v| int_like(v).map(|o| o.map_or(Value::Nil, Value::Int))),
    },
    Spec {
        name: "Double",
        params: &["target"],
        build: |a| {
            convert(a, |v| {
                float_like(v).map(|o| o.map_or(Value::Nil, Value::Double))
            })
        },
    },
    Spec {
        name: "String",
        params: &["target"],
        build: |a| convert(a, |v| Ok(string_like(v).map_or(Value::Nil, Value::Str))),
    },
    Spec {
        name: "Bool",
        params: &["target"],
        build: |a| {
            convert(a, |v| {
                bool_like(v).map(|o| o.map_or(Value::Nil, Value::Bool))
            })
        },
    },
];

fn is(args: Args, test: fn(&Value) -> bool) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        Ok(Value::Bool(v[0].as_ref().is_some_and(test)))
    }))
}

fn convert(args: Args, f: fn(&Value) -> Eval<Value>) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        f(v[0].as_ref().unwrap_or(&Value::Nil))
    }))
}

/// A required argument's value.
pub fn arg(values: &[Option<Value>], i: usize) -> &Value {
    values
        .get(i)
        .and_then(Option::as_ref)
        .unwrap_or(&Value::Nil)
}

/// The value as a string getter reads it: strings only.
pub fn string(v: &Value) -> Eval<&str> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(RuntimeError::new(format!(
            "expected string but got {}",
            other.type_name()
        ))),
    }
}

pub fn int(v: &Value) -> Eval<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(RuntimeError::new(format!(
            "expected int64 but got {}",
            other.type_name()
        ))),
    }
}

/// The Collector's `StringLikeGetter`: nil is absent; bytes are hex; maps and lists are
/// JSON (keys sorted, as Go's encoder writes them); numbers and bools are their text.
pub fn string_like(v: &Value) -> Option<String> {
    Some(match v {
        Value::Nil => return None,
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => crate::wire::hex(b),
        Value::Int(i) => i.to_string(),
        Value::Double(d) => go_json_float(*d),
        Value::Bool(b) => b.to_string(),
        Value::Map(m) => map_json(m),
        Value::List(l) => list_json(l),
        Value::Time(t) => format!("\"{}\"", super::time::format_rfc3339(*t)),
        Value::Duration(d) => d.to_string(),
    })
}

pub fn int_like(v: &Value) -> Eval<Option<i64>> {
    Ok(Some(match v {
        Value::Nil => return Ok(None),
        Value::Int(i) => *i,
        Value::Double(d) => *d as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => s.parse().map_err(|_| {
            RuntimeError::new(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
        })?,
        other => {
            return Err(RuntimeError::new(format!(
                "unsupported type: {}",
                other.type_name()
            )))
        }
    }))
}

pub fn float_like(v: &Value) -> Eval<Option<f64>> {
    Ok(Some(match v {
        Value::Nil => return Ok(None),
        Value::Int(i) => *i as f64,
        Value::Double(d) => *d,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.parse().map_err(|_| {
            RuntimeError::new(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
        })?,
        other => {
            return Err(RuntimeError::new(format!(
                "unsupported type: {}",
                other.type_name()
            )))
        }
    }))
}

pub fn bool_like(v: &Value) -> Eval<Option<bool>> {
    Ok(Some(match v {
        Value::Nil => return Ok(None),
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Double(d) => *d != 0.0,
        Value::Str(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => {
                return Err(RuntimeError::new(format!(
                    "strconv.ParseBool: parsing {s:?}: invalid syntax"
                )))
            }
        },
        other => {
            return Err(RuntimeError::new(format!(
                "unsupported type: {}",
                other.type_name()
            )))
        }
    }))
}

/// Go's `strconv.FormatFloat(f, 'g'-like)` as `encoding/json` writes a float64.
pub fn go_json_float(f: f64) -> String {
    if f.is_nan() || f.is_infinite() {
        return f.to_string();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Exponent form, with a two-digit exponent at least (Go: `1e-07`, `1e+21`).
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// pcommon's `Value.AsString()`: what `body.string` and several converters read.
pub fn as_go_string(v: &AnyValue) -> String {
    match &v.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => format!("{d}"),
        Some(any_value::Value::BytesValue(b)) => base64_std(b),
        Some(any_value::Value::ArrayValue(a)) => list_json(&a.values),
        Some(any_value::Value::KvlistValue(m)) => map_json(&m.values),
    }
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A map as Go's `json.Marshal(map.AsRaw())` writes it: keys sorted, bytes in base64.
pub fn map_json(m: &[KeyValue]) -> String {
    serde_json::Value::Object(
        m.iter()
            .map(|kv| (kv.key.clone(), json(kv.value.as_ref())))
            .collect(),
    )
    .to_string()
}

pub fn list_json(l: &[AnyValue]) -> String {
    serde_json::Value::Array(l.iter().map(|v| json(Some(v))).collect()).to_string()
}

fn json(v: Option<&AnyValue>) -> serde_json::Value {
    use serde_json::Value as J;
    match v.and_then(|v| v.value.as_ref()) {
        None | Some(any_value::Value::StringValueStrindex(_)) => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(J::Null, J::Number)
        }
        Some(any_value::Value::BytesValue(b)) => J::String(base64_std(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|v| json(Some(v))).collect())
        }
        Some(any_value::Value::KvlistValue(m)) => J::Object(
            m.values
                .iter()
                .map(|kv| (kv.key.clone(), json(kv.value.as_ref())))
                .collect(),
        ),
    }
}
