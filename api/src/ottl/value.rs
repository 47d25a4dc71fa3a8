//! OTTL's values: what a path, literal or converter yields (the Collector's `any` with
//! its pdata types), their comparison rules (`compare.go`) and their conversion to and
//! from OTLP `AnyValue`s.

use std::cmp::Ordering;

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};

/// One OTTL value. Maps and lists hold OTLP values directly, so reading an attribute
/// map and setting it elsewhere converts nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    Map(Vec<KeyValue>),
    List(Vec<AnyValue>),
    /// Nanoseconds since the Unix epoch, UTC (Go's `time.Time` in OTTL).
    Time(i64),
    /// Nanoseconds (Go's `time.Duration`).
    Duration(i64),
}

/// A comparison operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Ne => ordering != Ordering::Equal,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

impl Value {
    /// The type's name as the Collector's messages spell it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int64",
            Value::Double(_) => "float64",
            Value::Str(_) => "string",
            Value::Bytes(_) => "[]byte",
            Value::Map(_) => "pcommon.Map",
            Value::List(_) => "pcommon.Slice",
            Value::Time(_) => "time.Time",
            Value::Duration(_) => "time.Duration",
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of an OTLP attribute; an empty value is `Nil`.
    pub fn from_any(v: &AnyValue) -> Value {
        match &v.value {
            // A profiles dictionary index has no meaning outside its dictionary.
            None | Some(any_value::Value::StringValueStrindex(_)) => Value::Nil,
            Some(any_value::Value::StringValue(s)) => Value::Str(s.clone()),
            Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
            Some(any_value::Value::IntValue(i)) => Value::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => Value::Double(*d),
            Some(any_value::Value::BytesValue(b)) => Value::Bytes(b.clone()),
            Some(any_value::Value::ArrayValue(a)) => Value::List(a.values.clone()),
            Some(any_value::Value::KvlistValue(m)) => Value::Map(m.values.clone()),
        }
    }

    /// As an OTLP value. Times and durations have no OTLP type: a time is written as
    /// its RFC 3339 text and a duration as Go's text, as the Collector's pdata would
    /// refuse them (`unsupported type`), so callers refuse them first where that matters.
    pub fn into_any(self) -> AnyValue {
        let value = match self {
            Value::Nil => None,
            Value::Bool(b) => Some(any_value::Value::BoolValue(b)),
            Value::Int(i) => Some(any_value::Value::IntValue(i)),
            Value::Double(d) => Some(any_value::Value::DoubleValue(d)),
            Value::Str(s) => Some(any_value::Value::StringValue(s)),
            Value::Bytes(b) => Some(any_value::Value::BytesValue(b)),
            Value::Map(m) => Some(any_value::Value::KvlistValue(KeyValueList { values: m })),
            Value::List(l) => Some(any_value::Value::ArrayValue(ArrayValue { values: l })),
            Value::Time(t) => Some(any_value::Value::StringValue(
                crate::ottl::functions::time::format_rfc3339(t),
            )),
            Value::Duration(d) => Some(any_value::Value::StringValue(
                crate::ottl::functions::time::format_go_duration(d),
            )),
        };
        AnyValue { value }
    }

    /// Whether OTLP can hold the value (everything but times and durations).
    pub fn is_otlp(&self) -> bool {
        !matches!(self, Value::Time(_) | Value::Duration(_))
    }

    /// The Collector's comparison: nils equal each other only; ints and doubles compare
    /// as numbers; strings, bytes, bools, times and durations with their own kind; maps
    /// and lists by content (equality only); any other mix is unequal (only `!=` holds).
    pub fn compare(&self, other: &Value, op: CompareOp) -> bool {
        use Value::*;
        let ordering = match (self, other) {
            (Nil, Nil) => Some(Ordering::Equal),
            (Nil, _) | (_, Nil) => return op == CompareOp::Ne,
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Int(a), Double(b)) => (*a as f64).partial_cmp(b),
            (Double(a), Int(b)) => a.partial_cmp(&(*b as f64)),
            (Double(a), Double(b)) => a.partial_cmp(b),
            (Str(a), Str(b)) => Some(a.cmp(b)),
            (Bytes(a), Bytes(b)) => Some(a.cmp(b)),
            (Time(a), Time(b)) | (Duration(a), Duration(b)) => Some(a.cmp(b)),
            (Map(a), Map(b)) => {
                return match op {
                    CompareOp::Eq => maps_equal(a, b),
                    CompareOp::Ne => !maps_equal(a, b),
                    _ => false,
                }
            }
            (List(a), List(b)) => {
                return match op {
                    CompareOp::Eq => a == b,
                    CompareOp::Ne => a != b,
                    _ => false,
                }
            }
            _ => None,
        };
        match ordering {
            Some(o) => op.holds(o),
            // NaN, or kinds that do not compare.
            None => op == CompareOp::Ne,
        }
    }
}

/// Maps are equal when they hold the same keys with equal values, in any order.
fn maps_equal(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|kv| b.iter().any(|o| o.key == kv.key && o.value == kv.value))
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
