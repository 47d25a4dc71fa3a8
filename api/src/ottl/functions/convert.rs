//! Converters between encodings and ids, and the item tests: `Hex`, `Base64Encode`,
//! `TraceID`, `SpanID`, `IsEmpty`, `Log`, `IsRootSpan`, `CommunityID`.

use super::types::{arg, float_like};
use super::{converter, item_converter, Args, Func, Spec};
use crate::ottl::error::{Eval, RuntimeError};
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
    Spec {
        name: "CommunityID",
        params: &[
            "source_ip",
            "source_port",
            "destination_ip",
            "destination_port",
            "protocol?",
            "seed?",
        ],
        build: community_id,
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

/// `CommunityID(src_ip, src_port, dst_ip, dst_port, protocol, seed)`: the Community ID
/// flow hash, version 1 (`1:` + base64 of SHA-1 over the seed, the ordered endpoints,
/// the protocol number and the ports), so two directions of one flow get one id.
fn community_id(args: Args) -> Result<Func, String> {
    use base64::Engine;
    Ok(converter(args.rest(), |v| {
        let endpoint = |ip: &Value, port: &Value, which: &str| -> Eval<(Vec<u8>, u16)> {
            let text = super::types::string(ip)?;
            let port = super::types::int(port)?;
            let port = u16::try_from(port).map_err(|_| {
                RuntimeError::new(format!(
                    "{which} port must be between 0 and 65535, got {port}"
                ))
            })?;
            let bytes = match text.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(a)) => a.octets().to_vec(),
                Ok(std::net::IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                    Some(v4) => v4.octets().to_vec(),
                    None => a.octets().to_vec(),
                },
                Err(_) => return Err(RuntimeError::new(format!("invalid {which} IP: {text}"))),
            };
            Ok((bytes, port))
        };
        let (mut src, mut sport) = endpoint(arg(v, 0), arg(v, 1), "source")?;
        let (mut dst, mut dport) = endpoint(arg(v, 2), arg(v, 3), "destination")?;
        let protocol: u8 = match v.get(4).and_then(Option::as_ref) {
            None => 6,
            Some(p) => match super::types::string(p)? {
                "ICMP" => 1,
                "TCP" => 6,
                "UDP" => 17,
                "RSVP" => 46,
                "ICMP6" => 58,
                "SCTP" => 132,
                other => return Err(RuntimeError::new(format!("unsupported protocol: {other}"))),
            },
        };
        let seed = match v.get(5).and_then(Option::as_ref) {
            None => 0,
            Some(s) => {
                let s = super::types::int(s)?;
                u16::try_from(s).map_err(|_| {
                    RuntimeError::new(format!("seed must be between 0 and 65535, got {s}"))
                })?
            }
        };
        let swap = if src.len() != dst.len() {
            src.len() > dst.len()
        } else {
            (src.as_slice(), sport) > (dst.as_slice(), dport)
        };
        if swap {
            std::mem::swap(&mut src, &mut dst);
            std::mem::swap(&mut sport, &mut dport);
        }
        let mut tuple = seed.to_be_bytes().to_vec();
        tuple.extend_from_slice(&src);
        tuple.extend_from_slice(&dst);
        tuple.extend_from_slice(&[protocol, 0]);
        tuple.extend_from_slice(&sport.to_be_bytes());
        tuple.extend_from_slice(&dport.to_be_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &tuple);
        Ok(Value::Str(format!(
            "1:{}",
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
        )))
    }))
}
