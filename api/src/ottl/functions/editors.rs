//! The general editors: `set`, `clear`, `append`, `delete_index`.

use opentelemetry_proto::tonic::common::v1::AnyValue;

use super::{editor, Args, Func, Spec};
use crate::ottl::error::{Eval, RuntimeError};
use crate::ottl::expr::Path;
use crate::ottl::item::Item;
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "set",
        params: &["target", "value"],
        build: set,
    },
    Spec {
        name: "clear",
        params: &["target"],
        build: clear,
    },
    Spec {
        name: "append",
        params: &["target", "value?", "values?"],
        build: append,
    },
    Spec {
        name: "delete_index",
        params: &["target", "startIndex", "endIndex?"],
        build: delete_index,
    },
];

/// `set(target, value)`: a nil value makes a map entry an empty value, and leaves
/// typed fields as they are (their setters take only their own type).
fn set(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    Ok(editor(target, args.rest(), |item, target, v| {
        target.set(item, v[1].clone().unwrap_or_default())
    }))
}

/// `clear(target)`: the target's zero value of its own type.
fn clear(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    Ok(editor(target, args.rest(), |item, target, _| {
        let zero = match target.get(item)? {
            Value::Nil => return Ok(()),
            Value::Bool(_) => Value::Bool(false),
            Value::Int(_) => Value::Int(0),
            Value::Double(_) => Value::Double(0.0),
            Value::Str(_) => Value::Str(String::new()),
            Value::Bytes(b) => Value::Bytes(vec![
                0;
                if b.len() == 16 || b.len() == 8 {
                    b.len()
                } else {
                    0
                }
            ]),
            Value::Map(_) => Value::Map(Vec::new()),
            Value::List(_) => Value::List(Vec::new()),
            Value::Time(_) => Value::Time(GO_ZERO_TIME),
            Value::Duration(_) => Value::Duration(0),
        };
        force_set(item, target, zero)
    }))
}

/// Go's zero `time.Time` (year 1) in Unix nanoseconds, as pcommon stores it (wrapped).
const GO_ZERO_TIME: i64 = -6_795_364_578_871_345_152;

/// Sets even a value the plain setters would skip (a zero id, an empty string body).
fn force_set(item: &mut Item, target: &Path, v: Value) -> Eval<()> {
    target.set(item, v)
}

/// `append(target, value = x, values = [...])`: the target becomes a list (a single
/// value becomes its first element) with the new values at the end.
fn append(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let rest = args.rest();
    if rest[1].is_none() && rest[2].is_none() {
        return Err(
            "append: at least one of the optional arguments ('value' or 'values') must be provided"
                .into(),
        );
    }
    Ok(editor(target, rest, |item, target, v| {
        let mut list: Vec<AnyValue> = match target.get(item)? {
            Value::Nil => Vec::new(),
            Value::List(l) => l,
            Value::Map(_) => {
                return Err(RuntimeError::new(
                    "unsupported type of target field: \"Map\"",
                ))
            }
            other => vec![other.into_any()],
        };
        if let Some(value) = &v[1] {
            list.push(value.clone().into_any());
        }
        if let Some(values) = &v[2] {
            match values {
                Value::List(items) => list.extend(items.iter().cloned()),
                other => list.push(other.clone().into_any()),
            }
        }
        target.set(item, Value::List(list))
    }))
}

fn delete_index(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    Ok(editor(target, args.rest(), |item, target, v| {
        let Value::List(mut list) = target.get(item)? else {
            return Err(RuntimeError::new("delete_index: target is not a list"));
        };
        let len = list.len() as i64;
        let start = super::types::int(super::types::arg(v, 1))?;
        let end = match &v[2] {
            Some(e) => super::types::int(e)?,
            None => start + 1,
        };
        if !(start == 0 && end == len) {
            if start < 0 || start >= len {
                return Err(RuntimeError::new(format!(
                    "startIndex {start} out of bounds for slice of length {len}"
                )));
            }
            if end < start {
                return Err(RuntimeError::new(format!(
                    "endIndex {end} cannot be less than startIndex {start}"
                )));
            }
            if end > len {
                return Err(RuntimeError::new(format!(
                    "deletion range [{start}:{end}] out of bounds for slice of length {len}"
                )));
            }
        }
        list.drain(start as usize..end as usize);
        target.set(item, Value::List(list))
    }))
}
