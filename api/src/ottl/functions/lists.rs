//! List and parsing converters: `Sort`, `SliceToMap`, `Coalesce`, `ParseInt`,
//! `ParseKeyValue`, `ToKeyValueString`, `IsValidLuhn`, `IsInCIDR`, `Decode`, `UUID`,
//! `UUIDv7`; and the `stringify_all` editor.

use std::cmp::Ordering;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use super::maps::modify_map;
use super::types::{arg, as_go_string, string};
use super::{converter, editor, Args, Func, Spec};
use crate::ottl::error::{Eval, RuntimeError};
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "Sort",
        params: &["target", "order?"],
        build: sort,
    },
    Spec {
        name: "SliceToMap",
        params: &["target", "key_path?", "value_path?"],
        build: slice_to_map,
    },
    Spec {
        name: "Coalesce",
        params: &["values"],
        build: coalesce,
    },
    Spec {
        name: "ParseInt",
        params: &["target", "base"],
        build: parse_int,
    },
    Spec {
        name: "ParseKeyValue",
        params: &["target", "delimiter?", "pair_delimiter?"],
        build: parse_key_value,
    },
    Spec {
        name: "ToKeyValueString",
        params: &["target", "delimiter?", "pair_delimiter?", "sort_output?"],
        build: to_key_value_string,
    },
    Spec {
        name: "IsValidLuhn",
        params: &["target"],
        build: is_valid_luhn,
    },
    Spec {
        name: "IsInCIDR",
        params: &["target", "networks"],
        build: is_in_cidr,
    },
    Spec {
        name: "Decode",
        params: &["target", "encoding"],
        build: decode,
    },
    Spec {
        name: "UUID",
        params: &[],
        build: |a| Ok(converter(a.rest(), |_| Ok(Value::Str(uuid(4))))),
    },
    Spec {
        name: "UUIDv7",
        params: &[],
        build: |a| Ok(converter(a.rest(), |_| Ok(Value::Str(uuid(7))))),
    },
    Spec {
        name: "stringify_all",
        params: &["target"],
        build: stringify_all,
    },
];

fn list(v: &Value, name: &str) -> Eval<Vec<AnyValue>> {
    match v {
        Value::List(l) => Ok(l.clone()),
        other => Err(RuntimeError::new(format!(
            "{name}: expected a list, got {}",
            other.type_name()
        ))),
    }
}

/// `Sort(list, "asc"|"desc")` as the Collector's: numbers as numbers (ints and doubles
/// together as doubles), anything with strings, bools or empties as their text; maps or
/// lists inside leave the list as it is.
fn sort(mut args: Args) -> Result<Func, String> {
    let order = args.literal_str(1)?.unwrap_or_else(|| "asc".into());
    if order != "asc" && order != "desc" {
        return Err(format!(
            "invalid arguments: {order}. Order should be either \"asc\" or \"desc\""
        ));
    }
    let desc = order == "desc";
    Ok(converter(args.rest(), move |v| {
        let mut items = list(arg(v, 0), "Sort")?;
        use any_value::Value as V;
        let kinds: Vec<u8> = items
            .iter()
            .map(|i| match &i.value {
                Some(V::IntValue(_)) => 0,
                Some(V::DoubleValue(_)) => 1,
                Some(V::StringValue(_) | V::BoolValue(_)) | None => 2,
                _ => 3,
            })
            .collect();
        if items.is_empty() || kinds.contains(&3) {
            return Ok(Value::List(items));
        }
        let number = |a: &AnyValue| match &a.value {
            Some(V::IntValue(i)) => *i as f64,
            Some(V::DoubleValue(d)) => *d,
            _ => 0.0,
        };
        let text = kinds.contains(&2);
        let by = |a: &AnyValue, b: &AnyValue| {
            if text {
                as_go_string(a).cmp(&as_go_string(b))
            } else {
                number(a).partial_cmp(&number(b)).unwrap_or(Ordering::Equal)
            }
        };
        items.sort_by(|a, b| if desc { by(b, a) } else { by(a, b) });
        Ok(Value::List(items))
    }))
}

fn path_arg(args: &mut Args, i: usize) -> Result<Option<Vec<String>>, String> {
    args.literal_strings(i)
}

fn extract<'m>(m: &'m [KeyValue], path: &[String]) -> Option<&'m AnyValue> {
    let (first, rest) = path.split_first()?;
    let v = m.iter().find(|kv| kv.key == *first)?.value.as_ref()?;
    if rest.is_empty() {
        return Some(v);
    }
    match &v.value {
        Some(any_value::Value::KvlistValue(inner)) => extract(&inner.values, rest),
        _ => None,
    }
}

fn slice_to_map(mut args: Args) -> Result<Func, String> {
    let key_path = path_arg(&mut args, 1)?;
    let value_path = path_arg(&mut args, 2)?;
    Ok(converter(args.rest(), move |v| {
        let items = list(arg(v, 0), "SliceToMap")?;
        let mut out: Vec<KeyValue> = Vec::with_capacity(items.len());
        for (i, elem) in items.iter().enumerate() {
            let map = match (&elem.value, key_path.is_some() || value_path.is_some()) {
                (Some(any_value::Value::KvlistValue(m)), _) => Some(&m.values),
                (_, true) => {
                    return Err(RuntimeError::new(
                        "slice elements must be maps when using `key_path` or `value_path`",
                    ))
                }
                _ => None,
            };
            let key = match (&key_path, map) {
                (Some(path), Some(m)) => match extract(m, path).and_then(|k| k.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    Some(_) => {
                        return Err(RuntimeError::new(format!(
                            "element {i}: extracted key attribute is not of type string"
                        )))
                    }
                    None => {
                        return Err(RuntimeError::new(format!(
                            "could not extract key from element {i}: provided object does not contain the path {path:?}"
                        )))
                    }
                },
                _ => i.to_string(),
            };
            let value = match (&value_path, map) {
                (Some(path), Some(m)) => extract(m, path).cloned().ok_or_else(|| {
                    RuntimeError::new(format!(
                        "could not extract value from element {i}: provided object does not contain the path {path:?}"
                    ))
                })?,
                _ => elem.clone(),
            };
            match out.iter_mut().find(|kv| kv.key == key) {
                Some(kv) => kv.value = Some(value),
                None => out.push(crate::attributes::kv_any(&key, value)),
            }
        }
        Ok(Value::Map(out))
    }))
}

/// The first value that is not nil (a list's items evaluated in order).
fn coalesce(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let items = list(arg(v, 0), "Coalesce")?;
        Ok(items
            .iter()
            .map(Value::from_any)
            .find(|v| !v.is_nil())
            .unwrap_or(Value::Nil))
    }))
}

/// Go's `strconv.ParseInt(s, base, 64)`: base 0 reads the `0x`, `0o`, `0b`, `0` prefixes.
fn parse_int(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let text = string(arg(v, 0))?;
        let base = super::types::int(arg(v, 1))?;
        let (negative, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (radix, digits) = match base {
            0 => {
                let lower = digits.to_ascii_lowercase();
                if lower.starts_with("0x") {
                    (16, &digits[2..])
                } else if lower.starts_with("0o") {
                    (8, &digits[2..])
                } else if lower.starts_with("0b") {
                    (2, &digits[2..])
                } else if digits.len() > 1 && digits.starts_with('0') {
                    (8, &digits[1..])
                } else {
                    (10, digits)
                }
            }
            2..=36 => (base as u32, digits),
            _ => return Err(RuntimeError::new(format!("invalid base {base}"))),
        };
        let digits = digits.replace('_', "");
        let n = i64::from_str_radix(&digits, radix).map_err(|_| {
            RuntimeError::new(format!(
                "strconv.ParseInt: parsing {text:?}: invalid syntax"
            ))
        })?;
        Ok(Value::Int(if negative { -n } else { n }))
    }))
}

fn delimiters(args: &mut Args, at: usize) -> Result<(String, String), String> {
    let delimiter = args.literal_str(at)?.unwrap_or_else(|| "=".into());
    let pair = args.literal_str(at + 1)?.unwrap_or_else(|| " ".into());
    if delimiter.is_empty() {
        return Err("delimiter cannot be set to an empty string".into());
    }
    if pair.is_empty() {
        return Err("pair delimiter cannot be set to an empty string".into());
    }
    if pair == delimiter {
        return Err(format!(
            "pair delimiter {pair:?} cannot be equal to delimiter {delimiter:?}"
        ));
    }
    Ok((delimiter, pair))
}

/// Splits on `delimiter` outside single or double quotes (quotes dropped, a backslash
/// keeps the next quote), as the Collector's `parseutils.SplitString`.
fn split_quoted(input: &str, delimiter: &str) -> Eval<Vec<String>> {
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut quote: u8 = 0;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        if quote == 0 && bytes[i..].starts_with(delimiter.as_bytes()) {
            if !current.is_empty() {
                out.push(String::from_utf8_lossy(&current).into_owned());
                current.clear();
            }
            i += delimiter.len();
            continue;
        }
        let b = bytes[i];
        i += 1;
        if !escaped {
            if quote == 0 && (b == b'"' || b == b'\'') {
                quote = b;
                continue;
            }
            if b == quote {
                quote = 0;
                continue;
            }
            escaped = b == b'\\';
        } else {
            escaped = false;
        }
        current.push(b);
    }
    if quote != 0 {
        return Err(RuntimeError::new("never reached the end of a quoted value"));
    }
    if !current.is_empty() {
        out.push(String::from_utf8_lossy(&current).into_owned());
    }
    Ok(out)
}

fn parse_key_value(mut args: Args) -> Result<Func, String> {
    let (delimiter, pair) = delimiters(&mut args, 1)?;
    Ok(converter(args.rest(), move |v| {
        let text = string(arg(v, 0))?;
        if text.is_empty() {
            return Err(RuntimeError::new("cannot parse from empty target"));
        }
        let mut out: Vec<KeyValue> = Vec::new();
        let mut bad = Vec::new();
        for p in split_quoted(text, &pair)? {
            match p.split_once(delimiter.as_str()) {
                Some((k, val)) => {
                    let (k, val) = (k.trim(), val.trim());
                    match out.iter_mut().find(|kv| kv.key == k) {
                        Some(kv) => kv.value = Some(Value::from(val).into_any()),
                        None => out.push(crate::attributes::string(k, val)),
                    }
                }
                None => bad.push(format!("cannot split {p:?} into 2 items, got 1 item(s)")),
            }
        }
        if !bad.is_empty() {
            return Err(RuntimeError::new(format!(
                "failed to split pairs into key-values: {}",
                bad.join("; ")
            )));
        }
        Ok(Value::Map(out))
    }))
}

fn to_key_value_string(mut args: Args) -> Result<Func, String> {
    let (delimiter, pair) = delimiters(&mut args, 1)?;
    let sorted = args.literal_bool(3)?.unwrap_or(false);
    Ok(converter(args.rest(), move |v| {
        let Value::Map(mut m) = arg(v, 0).clone() else {
            return Err(RuntimeError::new("ToKeyValueString: expected a map"));
        };
        if sorted {
            m.sort_by(|a, b| a.key.cmp(&b.key));
        }
        let quote = |s: &str| {
            let s = s.replace('"', "\\\"");
            if s.contains(pair.as_str()) || s.contains(delimiter.as_str()) {
                format!("\"{s}\"")
            } else {
                s
            }
        };
        let parts: Vec<String> = m
            .iter()
            .map(|kv| {
                let value = kv.value.as_ref().map(as_go_string).unwrap_or_default();
                format!("{}{delimiter}{}", quote(&kv.key), quote(&value))
            })
            .collect();
        Ok(Value::Str(parts.join(&pair)))
    }))
}

/// The Luhn checksum over a string or int of digits.
fn is_valid_luhn(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let text = match arg(v, 0) {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            other => {
                return Err(RuntimeError::new(format!(
                    "IsValidLuhn: expected a string or int, got {}",
                    other.type_name()
                )))
            }
        };
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RuntimeError::new(
                "invalid input: the value must contain only digits",
            ));
        }
        let sum: u32 = text
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 1 {
                    let x = d * 2;
                    if x > 9 {
                        x - 9
                    } else {
                        x
                    }
                } else {
                    d
                }
            })
            .sum();
        Ok(Value::Bool(sum.is_multiple_of(10)))
    }))
}

fn is_in_cidr(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let Ok(ip) = string(arg(v, 0))?.parse::<std::net::IpAddr>() else {
            return Ok(Value::Bool(false));
        };
        let networks = list(arg(v, 1), "IsInCIDR")?;
        for n in networks.iter().map(Value::from_any) {
            let Some(text) = n.as_str() else { continue };
            let Some((net, bits)) = text.split_once('/') else {
                return Err(RuntimeError::new(format!("invalid CIDR {text:?}")));
            };
            let (Ok(net), Ok(bits)) = (net.parse::<std::net::IpAddr>(), bits.parse::<u32>()) else {
                return Err(RuntimeError::new(format!("invalid CIDR {text:?}")));
            };
            let inside = match (ip, net) {
                (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) if bits <= 32 => {
                    let mask = if bits == 0 {
                        0
                    } else {
                        u32::MAX << (32 - bits)
                    };
                    u32::from(a) & mask == u32::from(b) & mask
                }
                (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) if bits <= 128 => {
                    let mask = if bits == 0 {
                        0
                    } else {
                        u128::MAX << (128 - bits)
                    };
                    u128::from(a) & mask == u128::from(b) & mask
                }
                _ => false,
            };
            if inside {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    }))
}

/// `Decode(value, encoding)`: `base64`, `base64-raw`, `base64-url`, `base64-raw-url`, and
/// the text encodings `utf-8`/`ascii` (as they are) and `latin1`/`iso-8859-1`.
fn decode(args: Args) -> Result<Func, String> {
    use base64::Engine;
    Ok(converter(args.rest(), |v| {
        let text = string(arg(v, 0))?;
        let encoding = string(arg(v, 1))?.to_ascii_lowercase();
        let engine = match encoding.as_str() {
            "base64" => Some(base64::engine::general_purpose::STANDARD),
            "base64-raw" => Some(base64::engine::general_purpose::STANDARD_NO_PAD),
            "base64-url" => Some(base64::engine::general_purpose::URL_SAFE),
            "base64-raw-url" => Some(base64::engine::general_purpose::URL_SAFE_NO_PAD),
            _ => None,
        };
        if let Some(engine) = engine {
            let bytes = engine
                .decode(text)
                .map_err(|e| RuntimeError::new(format!("could not decode: {e}")))?;
            return Ok(Value::Str(String::from_utf8_lossy(&bytes).into_owned()));
        }
        match encoding.as_str() {
            "utf-8" | "utf8" | "ascii" | "us-ascii" => Ok(Value::Str(text.to_string())),
            "latin1" | "iso-8859-1" => Ok(Value::Str(text.chars().collect())),
            other => Err(RuntimeError::new(format!(
                "no charmap defined for encoding '{other}'"
            ))),
        }
    }))
}

/// A random UUID, version 4 or 7 (7: the first 48 bits are the Unix time in ms).
fn uuid(version: u8) -> String {
    let mut b: [u8; 16] = rand::random();
    if version == 7 {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    }
    b[6] = (b[6] & 0x0f) | (version << 4);
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::wire::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `stringify_all(map)`: every value that is not a string becomes its text.
fn stringify_all(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    Ok(editor(target, args.rest(), |item, target, _| {
        modify_map(item, target, |m| {
            for kv in m.iter_mut() {
                let v = kv.value.get_or_insert_with(AnyValue::default);
                if !matches!(v.value, Some(any_value::Value::StringValue(_))) {
                    v.value = Some(any_value::Value::StringValue(as_go_string(v)));
                }
            }
            Ok(())
        })
    }))
}
