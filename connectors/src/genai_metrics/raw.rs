//! The spans of an encoded `ExportTraceServiceRequest`, read in place: only the fields
//! the metrics need (times, status code, attributes, event names and times), strings
//! borrowed from the buffer. The receiver checked the bytes already, so a field that
//! does not read as expected is skipped, never trusted.

use llamacol_pipeline::wire::{fields, RawField};

use super::config::Dimension;
use super::facts::{Attr, Facts};

/// Calls `each` with every span's facts (GenAI spans only).
pub fn spans<'a>(
    buf: &'a [u8],
    dimensions: &'a [Dimension],
    facts: &mut Facts<'a>,
    mut each: impl FnMut(&Facts<'a>),
) {
    for rs in fields(buf)
        .flatten()
        .filter(|f| f.number == 1 && f.wire_type == 2)
    {
        let rs = body(buf, &rs);
        // The resource may come after the spans on the wire: read it first.
        let mut resource: &[u8] = &[];
        for f in fields(rs)
            .flatten()
            .filter(|f| f.number == 1 && f.wire_type == 2)
        {
            resource = body(rs, &f);
        }
        let from_resource = |key: &str| attribute_of(resource, 1, key);
        let service = from_resource("service.name");
        for ss in fields(rs)
            .flatten()
            .filter(|f| f.number == 2 && f.wire_type == 2)
        {
            let ss = body(rs, &ss);
            for span in fields(ss)
                .flatten()
                .filter(|f| f.number == 2 && f.wire_type == 2)
            {
                read_span(body(ss, &span), service, dimensions, facts);
                if facts.finish(dimensions, from_resource) {
                    each(facts);
                }
            }
        }
    }
}

fn body<'a>(buf: &'a [u8], f: &RawField) -> &'a [u8] {
    buf.get(f.value.clone()).unwrap_or_default()
}

fn fixed64(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

fn varint(b: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// A `KeyValue`: its key and scalar value, the value read only when `wanted(key)`
/// (most attributes of a span are not, and are skipped without a UTF-8 check).
fn key_value<'a>(kv: &'a [u8], wanted: impl Fn(&[u8]) -> bool) -> Option<(&'a str, Attr<'a>)> {
    let (mut key, mut value) = (None, None);
    for f in fields(kv).flatten() {
        match (f.number, f.wire_type) {
            (1, 2) => key = Some(body(kv, &f)),
            (2, 2) => value = Some(body(kv, &f)),
            _ => {}
        }
    }
    let key = key.filter(|k| wanted(k))?;
    Some((text(key)?, any_value(value?)?))
}

fn any_value(v: &[u8]) -> Option<Attr<'_>> {
    let mut out = None;
    for f in fields(v).flatten() {
        let b = body(v, &f);
        out = match (f.number, f.wire_type) {
            (1, 2) => text(b).map(Attr::Str),
            (2, 0) => varint(b).map(|x| Attr::Bool(x != 0)),
            (3, 0) => varint(b).map(|x| Attr::Int(x as i64)),
            (4, 1) => fixed64(b).map(|x| Attr::Double(f64::from_bits(x))),
            _ => out,
        };
    }
    out
}

/// The value of attribute `key` in the message `msg`, whose attributes are field `number`.
fn attribute_of<'a>(msg: &'a [u8], number: u32, key: &str) -> Option<Attr<'a>> {
    fields(msg)
        .flatten()
        .filter(|f| f.number == number && f.wire_type == 2)
        .filter_map(|f| key_value(body(msg, &f), |k| k == key.as_bytes()))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .last()
}

fn read_span<'a>(
    span: &'a [u8],
    service: Option<Attr<'a>>,
    dimensions: &'a [Dimension],
    facts: &mut Facts<'a>,
) {
    facts.clear(service, dimensions.len());
    for f in fields(span).flatten() {
        let b = body(span, &f);
        match (f.number, f.wire_type) {
            (7, 1) => facts.start = fixed64(b).unwrap_or(0),
            (8, 1) => facts.end = fixed64(b).unwrap_or(0),
            (9, 2) => {
                if let Some((k, v)) = key_value(b, |k| Facts::wants(k, dimensions)) {
                    facts.attribute(k, v, dimensions);
                }
            }
            (11, 2) => {
                let (mut name, mut time) = ("", 0);
                for e in fields(b).flatten() {
                    match (e.number, e.wire_type) {
                        (1, 1) => time = fixed64(body(b, &e)).unwrap_or(0),
                        (2, 2) => name = text(body(b, &e)).unwrap_or_default(),
                        _ => {}
                    }
                }
                facts.event(name, time);
            }
            (15, 2) => {
                for s in fields(b)
                    .flatten()
                    .filter(|s| s.number == 3 && s.wire_type == 0)
                {
                    // STATUS_CODE_ERROR = 2.
                    facts.failed = varint(body(b, &s)) == Some(2);
                }
            }
            _ => {}
        }
    }
}
