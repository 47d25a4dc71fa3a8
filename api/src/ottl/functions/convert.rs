//! Converters between encodings and ids, and the item tests: `Hex`, `Base64Encode`,
//! `TraceID`, `SpanID`, `IsEmpty`, `Coalesce`, `Log`, `IsRootSpan`.

use super::types::{arg, float_like};
use super::{converter, item_converter, Args, Func, Spec};
use crate::ottl::error::RuntimeError;
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "Hex",
        params: &["target"],
        build: hex,
    },
    Spec {
        name: "Base64Encode",
        params: &["target", "variant?"],
        build: base64_encode,
    },
    Spec {
        name: "TraceID",
        params: &["target"],
        build: |a| id(a, 16, "TraceID"),
    },
    Spec {
        name: "SpanID",
        params: &["target"],
        build: |a| id(a, 8, "SpanID"),
    },
    Spec {
        name: "IsEmpty",
        params: &["target"],
        build: is_empty,
    },
    Spec {
        name: "Log",
        params: &["target"],
        build: log,
    },
    Spec {
        name: "IsRootSpan",
        params: &[],
        build: is_root_span,
    },
];

/// The Collector's byte-slice-like reading: bytes as they are, strings as their bytes,
/// numbers big-endian.
fn bytes_like(v: &Value) -> Option<Vec<u8>> {
    Some(match v {
        Value::Bytes(b) => b.clone(),
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_be_bytes().to_vec(),
        Value::Double(d) => d.to_bits().to_be_bytes().to_vec(),
        Value::Bool(b) => vec![u8::from(*b)],
        _ => return None,
    })
}

fn hex(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        Ok(Value::Str(crate::wire::hex(
            &bytes_like(arg(v, 0)).unwrap_or_default(),
        )))
    }))
}

fn base64_encode(mut args: Args) -> Result<Func, String> {
    use base64::Engine;
    let variant = args.literal_str(1)?.unwrap_or_else(|| "base64".into());
    let engine = match variant.as_str() {
        "base64" => base64::engine::general_purpose::STANDARD,
        "base64-raw" => base64::engine::general_purpose::STANDARD_NO_PAD,
        "base64-url" => base64::engine::general_purpose::URL_SAFE,
        "base64-raw-url" => base64::engine::general_purpose::URL_SAFE_NO_PAD,
        other => return Err(format!("unsupported variant: {other}")),
    };
    Ok(converter(args.rest(), move |v| {
        let text = super::types::string(arg(v, 0))?;
        Ok(Value::Str(engine.encode(text)))
    }))
}

/// `TraceID(0x...)` / `SpanID(0x...)`: raw bytes of the id's length, or its hex text.
fn id(args: Args, len: usize, name: &'static str) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        let raw = bytes_like(arg(v, 0)).unwrap_or_default();
        if raw.len() == len {
            return Ok(Value::Bytes(raw));
        }
        if raw.len() == len * 2 {
            if let Some(b) = std::str::from_utf8(&raw).ok().and_then(crate::wire::unhex) {
                return Ok(Value::Bytes(b));
            }
        }
        Err(RuntimeError::new(format!(
            "{name}: expected {len} bytes or {} hex digits, got {} bytes",
            len * 2,
            raw.len()
        )))
    }))
}

fn is_empty(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        Ok(Value::Bool(match arg(v, 0) {
            Value::Nil => true,
            Value::Str(s) => s.is_empty(),
            Value::Bytes(b) => b.is_empty(),
            Value::Map(m) => m.is_empty(),
            Value::List(l) => l.is_empty(),
            _ => false,
        }))
    }))
}

fn log(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let Some(x) = float_like(arg(v, 0))? else {
            return Err(RuntimeError::new("invalid input: <nil>"));
        };
        if x <= 0.0 {
            return Err(RuntimeError::new(format!(
                "invalid input: expected number greater than zero but got {x}"
            )));
        }
        Ok(Value::Double(x.ln()))
    }))
}

/// `IsRootSpan()`: the span has no parent.
fn is_root_span(_: Args) -> Result<Func, String> {
    Ok(item_converter(|item| match &item.span {
        Some(span) => Ok(Value::Bool(span.parent_span_id.iter().all(|b| *b == 0))),
        None => Err(RuntimeError::new("IsRootSpan: only in the span context")),
    }))
}
