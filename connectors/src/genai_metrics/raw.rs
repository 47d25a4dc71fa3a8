//! The spans of an encoded `ExportTraceServiceRequest`, read in place: only the fields
//! the metrics need (times, status code, attributes, event names and times), strings
//! borrowed from the buffer (`wire::lenient`, shared with the parquet exporter). The
//! receiver checked the bytes already; a field that does not read as expected ends that
//! message's walk, never trusted.

use llamacol_api::wire::lenient::{each, fixed64, repeated, single, varint};

use super::config::{Dimension, RESOURCE_KEYS};
use super::facts::{Attr, Facts, ResourceKey};

/// Calls `each` with every span's facts (GenAI spans only).
pub fn spans<'a>(
    buf: &'a [u8],
    dimensions: &'a [Dimension],
    facts: &mut Facts<'a>,
    mut each: impl FnMut(&Facts<'a>),
) {
    for rs in repeated(buf, 1) {
        // The resource may come after the spans on the wire: read it first.
        let resource = single(rs, 1);
        let from_resource = |key: &str| attribute_of(resource, 1, key);
        let resource_key: ResourceKey<'a> = RESOURCE_KEYS.map(from_resource);
        for ss in repeated(rs, 2) {
            for span in repeated(ss, 2) {
                read_span(span, &resource_key, dimensions, facts);
                if facts.finish(dimensions, from_resource) {
                    each(facts);
                }
            }
        }
    }
}

fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// A `KeyValue`: its key and scalar value, the value read only when `wanted(key)`
/// (most attributes of a span are not, and are skipped without a UTF-8 check).
fn key_value<'a>(kv: &'a [u8], wanted: impl Fn(&[u8]) -> bool) -> Option<(&'a str, Attr<'a>)> {
    let (mut key, mut value) = (None, None);
    for (number, wire, b) in each(kv) {
        match (number, wire) {
            (1, 2) => key = Some(b),
            (2, 2) => value = Some(b),
            _ => {}
        }
    }
    let key = key.filter(|k| wanted(k))?;
    Some((text(key)?, any_value(value?)?))
}

fn any_value(v: &[u8]) -> Option<Attr<'_>> {
    let mut out = None;
    for (number, wire, b) in each(v) {
        out = match (number, wire) {
            (1, 2) => text(b).map(Attr::Str),
            (2, 0) => Some(Attr::Bool(varint(b) != 0)),
            (3, 0) => Some(Attr::Int(varint(b) as i64)),
            (4, 1) => Some(Attr::Double(f64::from_bits(fixed64(b)))),
            _ => out,
        };
    }
    out
}

/// The value of attribute `key` in the message `msg`, whose attributes are field `number`.
fn attribute_of<'a>(msg: &'a [u8], number: u32, key: &str) -> Option<Attr<'a>> {
    repeated(msg, number)
        .filter_map(|kv| key_value(kv, |k| k == key.as_bytes()))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .last()
}

fn read_span<'a>(
    span: &'a [u8],
    resource_key: &ResourceKey<'a>,
    dimensions: &'a [Dimension],
    facts: &mut Facts<'a>,
) {
    facts.clear(resource_key, dimensions.len());
    for (number, wire, b) in each(span) {
        match (number, wire) {
            (6, 0) => facts.kind(varint(b) as i32),
            (7, 1) => facts.start = fixed64(b),
            (8, 1) => facts.end = fixed64(b),
            (9, 2) => {
                if let Some((k, v)) = key_value(b, |k| Facts::wants(k, dimensions)) {
                    facts.attribute(k, v, dimensions);
                }
            }
            (11, 2) => {
                let (mut name, mut time) = ("", 0);
                for (n, w, e) in each(b) {
                    match (n, w) {
                        (1, 1) => time = fixed64(e),
                        (2, 2) => name = text(e).unwrap_or_default(),
                        _ => {}
                    }
                }
                facts.event(name, time);
            }
            (15, 2) => {
                for (_, _, code) in each(b).filter(|(n, w, _)| *n == 3 && *w == 0) {
                    // STATUS_CODE_ERROR = 2.
                    facts.failed = varint(code) == 2;
                }
            }
            _ => {}
        }
    }
}
