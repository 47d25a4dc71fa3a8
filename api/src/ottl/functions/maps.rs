//! Editors over maps: `delete_key`, `delete_matching_keys`, `keep_keys`,
//! `keep_matching_keys`, `limit`, `truncate_all`, `merge_maps`, `flatten`; and the map
//! converters `Keys`, `Values`, `ContainsValue`, `Len`, `ParseJSON`.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use super::types::{arg, string, string_like};
use super::{converter, editor, Args, Func, Spec};
use crate::ottl::error::{Eval, RuntimeError};
use crate::ottl::expr::Path;
use crate::ottl::item::Item;
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "delete_key",
        params: &["target", "key"],
        build: delete_key,
    },
    Spec {
        name: "delete_matching_keys",
        params: &["target", "pattern"],
        build: |a| matching_keys(a, false),
    },
    Spec {
        name: "keep_matching_keys",
        params: &["target", "pattern"],
        build: |a| matching_keys(a, true),
    },
    Spec {
        name: "keep_keys",
        params: &["target", "keys"],
        build: keep_keys,
    },
    Spec {
        name: "limit",
        params: &["target", "limit", "priority_keys?"],
        build: limit,
    },
    Spec {
        name: "truncate_all",
        params: &["target", "limit", "utf8_safe?", "truncation_marker?"],
        build: truncate_all,
    },
    Spec {
        name: "merge_maps",
        params: &["target", "source", "strategy"],
        build: merge_maps,
    },
    Spec {
        name: "flatten",
        params: &["target", "prefix?", "depth?", "resolveConflicts?"],
        build: flatten,
    },
    Spec {
        name: "Keys",
        params: &["target"],
        build: keys,
    },
    Spec {
        name: "Values",
        params: &["target"],
        build: values,
    },
    Spec {
        name: "ContainsValue",
        params: &["target", "item"],
        build: contains_value,
    },
    Spec {
        name: "Len",
        params: &["target"],
        build: len,
    },
    Spec {
        name: "ParseJSON",
        params: &["target"],
        build: parse_json,
    },
];

/// Runs `f` on the map at `target`, in place when the path is an attribute map itself.
pub fn modify_map(
    item: &mut Item,
    target: &Path,
    f: impl FnOnce(&mut Vec<KeyValue>) -> Eval<()>,
) -> Eval<()> {
    if target.keys.is_empty() {
        if let Some(map) = item.map_mut(target.field)? {
            return f(map);
        }
    }
    match target.get(item)? {
        Value::Map(mut m) => {
            f(&mut m)?;
            target.set(item, Value::Map(m))
        }
        Value::Nil => Ok(()),
        other => Err(RuntimeError::new(format!(
            "expected pcommon.Map but got {}",
            other.type_name()
        ))),
    }
}

fn delete_key(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    Ok(editor(target, args.rest(), |item, target, v| {
        let key = string(arg(v, 1))?.to_string();
        modify_map(item, target, |m| {
            m.retain(|kv| kv.key != key);
            Ok(())
        })
    }))
}

fn matching_keys(mut args: Args, keep: bool) -> Result<Func, String> {
    let target = args.path(0)?;
    let pattern = super::replace::Pattern::new(&args, &args.rest_ref()[1])?;
    Ok(editor(target, args.rest(), move |item, target, v| {
        let pattern = pattern.get(arg(v, 1))?;
        modify_map(item, target, |m| {
            m.retain(|kv| pattern.is_match(&kv.key) == keep);
            Ok(())
        })
    }))
}

fn keep_keys(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    Ok(editor(target, args.rest(), |item, target, v| {
        let keys: Vec<String> = match arg(v, 1) {
            Value::List(l) => l
                .iter()
                .map(Value::from_any)
                .filter_map(|k| string_like(&k))
                .collect(),
            other => {
                return Err(RuntimeError::new(format!(
                    "keep_keys: keys must be a list, got {}",
                    other.type_name()
                )))
            }
        };
        modify_map(item, target, |m| {
            m.retain(|kv| keys.contains(&kv.key));
            Ok(())
        })
    }))
}

fn limit(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let limit = args
        .literal_int(1)?
        .ok_or("limit: the limit must be a literal integer")?;
    let priority = args.literal_strings(2)?.unwrap_or_default();
    if limit < 0 {
        return Err(format!(
            "invalid limit for limit function, {limit} cannot be negative"
        ));
    }
    if limit < priority.len() as i64 {
        return Err(format!(
            "invalid limit for limit function, {limit} cannot be less than number of priority attributes {}",
            priority.len()
        ));
    }
    Ok(editor(target, args.rest(), move |item, target, _| {
        modify_map(item, target, |m| {
            if m.len() as i64 <= limit {
                return Ok(());
            }
            let mut count = m.iter().filter(|kv| priority.contains(&kv.key)).count() as i64;
            m.retain(|kv| {
                if priority.contains(&kv.key) {
                    return true;
                }
                if count < limit {
                    count += 1;
                    return true;
                }
                false
            });
            Ok(())
        })
    }))
}

fn truncate_all(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let limit = args
        .literal_int(1)?
        .ok_or("truncate_all: the limit must be a literal integer")?;
    let utf8_safe = args.literal_bool(2)?.unwrap_or(true);
    let marker = args.literal_str(3)?.unwrap_or_default();
    if limit < 0 {
        return Err(format!(
            "invalid limit for truncate_all function, {limit} cannot be negative"
        ));
    }
    if marker.len() as i64 > limit {
        return Err(format!(
            "invalid truncation marker for truncate_all function, length of marker {} cannot be greater than limit {limit}",
            marker.len()
        ));
    }
    Ok(editor(target, args.rest(), move |item, target, _| {
        modify_map(item, target, |m| {
            for kv in m.iter_mut() {
                let Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s)),
                }) = &mut kv.value
                else {
                    continue;
                };
                if s.len() as i64 > limit {
                    let mut at = limit as usize - marker.len();
                    // Not utf8-safe still cuts on a character boundary: a Rust string
                    // cannot hold half a character (the Collector's would).
                    let _ = utf8_safe;
                    while at > 0 && !s.is_char_boundary(at) {
                        at -= 1;
                    }
                    s.truncate(at);
                    s.push_str(&marker);
                }
            }
            Ok(())
        })
    }))
}

fn merge_maps(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let strategy = args.literal_str(2)?.unwrap_or_default();
    if !matches!(strategy.as_str(), "insert" | "update" | "upsert") {
        return Err(format!(
            "invalid value for strategy, {strategy}, must be 'insert', 'update' or 'upsert'"
        ));
    }
    Ok(editor(target, args.rest(), move |item, target, v| {
        let source = match arg(v, 1) {
            Value::Map(m) => m.clone(),
            Value::Nil => return Ok(()),
            other => {
                return Err(RuntimeError::new(format!(
                    "expected pcommon.Map but got {}",
                    other.type_name()
                )))
            }
        };
        modify_map(item, target, |m| {
            for kv in source {
                match m.iter().position(|t| t.key == kv.key) {
                    Some(i) if strategy != "insert" => m[i].value = kv.value,
                    None if strategy != "update" => m.push(kv),
                    _ => {}
                }
            }
            Ok(())
        })
    }))
}

fn flatten(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let prefix = args.literal_str(1)?.unwrap_or_default();
    let depth = args.literal_int(2)?.unwrap_or(i64::MAX);
    let resolve = args.literal_bool(3)?.unwrap_or(false);
    if depth < 1 {
        return Err(format!(
            "invalid depth '{depth}' for flatten function, must be greater than 0"
        ));
    }
    Ok(editor(target, args.rest(), move |item, target, _| {
        modify_map(item, target, |m| {
            let mut out = Flat {
                result: Vec::new(),
                resolve,
                max_depth: depth,
            };
            out.map(m, &prefix, 0);
            *m = out.result;
            Ok(())
        })
    }))
}

struct Flat {
    result: Vec<KeyValue>,
    resolve: bool,
    max_depth: i64,
}

impl Flat {
    fn map(&mut self, m: &[KeyValue], prefix: &str, depth: i64) {
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}.")
        };
        for kv in m {
            let v = kv.value.clone().unwrap_or_default();
            self.value(&kv.key, &v, depth, &prefix);
        }
    }

    fn list(&mut self, l: &[AnyValue], prefix: &str, depth: i64) {
        for (i, v) in l.iter().enumerate() {
            self.value(&i.to_string(), v, depth + 1, &format!("{prefix}."));
        }
    }

    fn value(&mut self, k: &str, v: &AnyValue, depth: i64, prefix: &str) {
        let key = format!("{prefix}{k}");
        match &v.value {
            Some(any_value::Value::KvlistValue(m)) if depth < self.max_depth => {
                self.map(&m.values, &key, depth + 1)
            }
            Some(any_value::Value::ArrayValue(a)) if depth < self.max_depth => {
                for (i, e) in a.values.iter().enumerate() {
                    let at = format!("{key}.{i}");
                    match &e.value {
                        Some(any_value::Value::KvlistValue(m)) if depth + 1 < self.max_depth => {
                            self.map(&m.values, &at, depth + 2)
                        }
                        Some(any_value::Value::ArrayValue(inner)) if depth + 1 < self.max_depth => {
                            self.list(&inner.values, &at, depth + 2)
                        }
                        _ if self.resolve => self.conflict(&key, e.clone()),
                        _ => self.put(at, e.clone()),
                    }
                }
            }
            _ if self.resolve => self.conflict(&key, v.clone()),
            _ => self.put(key, v.clone()),
        }
    }

    fn put(&mut self, key: String, v: AnyValue) {
        match self.result.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = Some(v),
            None => self.result.push(crate::attributes::kv_any(&key, v)),
        }
    }

    /// With `resolveConflicts`, a key seen before gets `.0`, `.1`, ... appended.
    fn conflict(&mut self, key: &str, v: AnyValue) {
        if !self.result.iter().any(|kv| kv.key == key) {
            return self.put(key.to_string(), v);
        }
        let mut n = 0;
        loop {
            let candidate = format!("{key}.{n}");
            if !self.result.iter().any(|kv| kv.key == candidate) {
                return self.put(candidate, v);
            }
            n += 1;
        }
    }
}

fn keys(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| match arg(v, 0) {
        Value::Map(m) => Ok(Value::List(
            m.iter()
                .map(|kv| Value::Str(kv.key.clone()).into_any())
                .collect(),
        )),
        other => Err(RuntimeError::new(format!(
            "expected pcommon.Map but got {}",
            other.type_name()
        ))),
    }))
}

fn values(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| match arg(v, 0) {
        Value::Map(m) => Ok(Value::List(
            m.iter()
                .map(|kv| kv.value.clone().unwrap_or_default())
                .collect(),
        )),
        other => Err(RuntimeError::new(format!(
            "expected pcommon.Map but got {}",
            other.type_name()
        ))),
    }))
}

fn contains_value(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| match arg(v, 0) {
        Value::List(l) => {
            let wanted = arg(v, 1);
            Ok(Value::Bool(l.iter().any(|e| {
                Value::from_any(e).compare(wanted, crate::ottl::value::CompareOp::Eq)
            })))
        }
        other => Err(RuntimeError::new(format!(
            "expected pcommon.Slice but got {}",
            other.type_name()
        ))),
    }))
}

fn len(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| match arg(v, 0) {
        Value::Str(s) => Ok(Value::Int(s.len() as i64)),
        Value::List(l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.len() as i64)),
        other => Err(RuntimeError::new(format!(
            "Len: unsupported target type {}",
            other.type_name()
        ))),
    }))
}

/// `ParseJSON(text)`: an object becomes a map, an array a list; numbers are doubles (as
/// Go's decoder reads them).
fn parse_json(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let text = string(arg(v, 0))?;
        let parsed: serde_json::Value =
            serde_json::from_str(text).map_err(|e| RuntimeError::new(format!("ParseJSON: {e}")))?;
        match parsed {
            serde_json::Value::Object(o) => Ok(Value::Map(
                o.iter()
                    .map(|(k, v)| crate::attributes::kv_any(k, json_value(v)))
                    .collect(),
            )),
            serde_json::Value::Array(a) => Ok(Value::List(a.iter().map(json_value).collect())),
            _ => Err(RuntimeError::new(
                "ParseJSON: could only parse a JSON object or array",
            )),
        }
    }))
}

fn json_value(v: &serde_json::Value) -> AnyValue {
    use serde_json::Value as J;
    let value = match v {
        J::Null => None,
        J::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        J::Number(n) => Some(any_value::Value::DoubleValue(
            n.as_f64().unwrap_or(f64::NAN),
        )),
        J::String(s) => Some(any_value::Value::StringValue(s.clone())),
        J::Array(a) => Some(any_value::Value::ArrayValue(
            opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: a.iter().map(json_value).collect(),
            },
        )),
        J::Object(o) => Some(any_value::Value::KvlistValue(
            opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: o
                    .iter()
                    .map(|(k, v)| crate::attributes::kv_any(k, json_value(v)))
                    .collect(),
            },
        )),
    };
    AnyValue { value }
}
