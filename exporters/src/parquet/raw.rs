//! Spans read in place from an encoded `ExportTraceServiceRequest` (with
//! `wire::lenient`): strings and ids are borrowed from the buffer, so building the spans table allocates no `String` per field
//! and no decoded message is built and freed (decoding and dropping it was about a third
//! of the exporter's CPU). Field numbers are those of opentelemetry-proto's trace,
//! resource and common messages. The receiver checked the bytes' structure; a field that
//! does not read as expected here ends that message's walk (never a panic), and text that
//! is not UTF-8 is written with U+FFFD in place of the bad bytes.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;

use arrow::array::{BinaryArray, BinaryBuilder, StringArray, StringBuilder};
use llamacol_api::attributes::value_string;
use llamacol_api::otlp::common::v1::AnyValue;
use prost::Message;

pub use llamacol_api::wire::lenient::{each, fixed64, repeated, single, varint};

pub fn text(b: &[u8]) -> Cow<'_, str> {
    // The checked conversion is the fast path; the lossy one only runs on bad bytes.
    std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b), Cow::Borrowed)
}

/// One span's scalar fields; attributes, events and links are walked where they are written.
#[derive(Default)]
pub struct Span<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub trace_state: &'a [u8],
    pub name: &'a [u8],
    pub kind: u64,
    pub start: u64,
    pub end: u64,
    pub status_code: u64,
    pub status_message: &'a [u8],
}

/// The repeated fields of one span, collected by `Span::read` in the same pass (vectors
/// kept from span to span, so no allocation once they have grown).
#[derive(Default)]
pub struct SpanLists<'a> {
    pub attributes: Vec<&'a [u8]>,
    pub events: Vec<&'a [u8]>,
    pub links: Vec<&'a [u8]>,
}

impl<'a> Span<'a> {
    pub fn read(body: &'a [u8], lists: &mut SpanLists<'a>) -> Span<'a> {
        let mut s = Span::default();
        lists.attributes.clear();
        lists.events.clear();
        lists.links.clear();
        for (number, wire, b) in each(body) {
            match (number, wire) {
                (9, 2) => lists.attributes.push(b),
                (11, 2) => lists.events.push(b),
                (13, 2) => lists.links.push(b),
                (1, 2) => s.trace_id = b,
                (2, 2) => s.span_id = b,
                (3, 2) => s.trace_state = b,
                (4, 2) => s.parent_span_id = b,
                (5, 2) => s.name = b,
                (6, 0) => s.kind = varint(b),
                (7, 1) => s.start = fixed64(b),
                (8, 1) => s.end = fixed64(b),
                (15, 2) => {
                    for (n, w, v) in each(b) {
                        match (n, w) {
                            (2, 2) => s.status_message = v,
                            (3, 0) => s.status_code = varint(v),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        s
    }
}

/// A `KeyValue`'s key and its `AnyValue` body (None when the value is absent).
#[inline]
pub fn key_value(kv: &[u8]) -> (&[u8], Option<&[u8]>) {
    // As every OTLP encoder writes it: the key (field 1) then the value (field 2), each
    // under 128 bytes, so each length is one byte. Read without the general field walk,
    // which a span pays for on each of its dozens of attributes.
    if let [0x0a, key_len, rest @ ..] = kv {
        if let Some((key, rest)) = rest.split_at_checked(usize::from(*key_len)) {
            match rest {
                [] if *key_len < 0x80 => return (key, None),
                [0x12, value_len, value @ ..]
                    if *key_len < 0x80
                        && *value_len < 0x80
                        && usize::from(*value_len) == value.len() =>
                {
                    return (key, Some(value));
                }
                _ => {}
            }
        }
    }
    key_value_walked(kv)
}

/// `key_value` for any layout: fields in any order, repeated (the last wins), long lengths.
fn key_value_walked(kv: &[u8]) -> (&[u8], Option<&[u8]>) {
    let (mut key, mut value) = (&[][..], None);
    for (n, w, b) in each(kv) {
        match (n, w) {
            (1, 2) => key = b,
            (2, 2) => value = Some(b),
            _ => {}
        }
    }
    (key, value)
}

/// A scalar `AnyValue` as read in place; arrays, maps and anything unusual are decoded
/// and printed by `value_string`, the form every exporter shares.
#[derive(Debug, PartialEq)]
pub enum Scalar<'a> {
    Str(&'a [u8]),
    Bool(bool),
    Int(i64),
    Double(f64),
    Other(&'a [u8]),
}

#[inline]
pub fn scalar(v: &[u8]) -> Scalar<'_> {
    // A value that is exactly one field as encoders write it (a string under 128 bytes,
    // an int, a double, a bool) is read without the general field walk.
    match v {
        [0x0a, len, s @ ..] if *len < 0x80 && usize::from(*len) == s.len() => {
            return Scalar::Str(s)
        }
        [0x21, bits @ ..] if bits.len() == 8 => {
            return Scalar::Double(f64::from_bits(fixed64(bits)))
        }
        [0x18, int @ ..] if one_varint(int) => return Scalar::Int(varint(int) as i64),
        [0x10, b] if *b < 0x80 => return Scalar::Bool(*b != 0),
        _ => {}
    }
    scalar_walked(v)
}

/// Whether `b` is exactly one varint (every byte but the last has the continuation bit).
fn one_varint(b: &[u8]) -> bool {
    match b.split_last() {
        Some((last, rest)) => {
            last & 0x80 == 0 && rest.len() < 10 && rest.iter().all(|x| x & 0x80 != 0)
        }
        None => false,
    }
}

/// `scalar` for any layout.
fn scalar_walked(v: &[u8]) -> Scalar<'_> {
    let mut out = Scalar::Str(&[]);
    let mut fields_seen = 0;
    for (n, w, b) in each(v) {
        fields_seen += 1;
        out = match (n, w) {
            (1, 2) => Scalar::Str(b),
            (2, 0) => Scalar::Bool(varint(b) != 0),
            (3, 0) => Scalar::Int(varint(b) as i64),
            (4, 1) => Scalar::Double(f64::from_bits(fixed64(b))),
            _ => return Scalar::Other(v),
        };
    }
    // Two values in one oneof (the last wins in protobuf) is rare: let prost decide.
    if fields_seen > 1 {
        return Scalar::Other(v);
    }
    out
}

/// A text column being built: a `StringBuilder` (each value checked as UTF-8 as it is
/// appended), or a `BinaryBuilder` whose bytes are checked once for the whole column by
/// `utf8` at the end (one pass over the buffer instead of a call per value: the spans
/// table's hot path).
pub trait Text {
    /// Text from the wire, perhaps not UTF-8.
    fn bytes(&mut self, b: &[u8]);
    fn str(&mut self, s: &str);
}

impl Text for StringBuilder {
    fn bytes(&mut self, b: &[u8]) {
        self.append_value(text(b));
    }
    fn str(&mut self, s: &str) {
        self.append_value(s);
    }
}

impl Text for BinaryBuilder {
    fn bytes(&mut self, b: &[u8]) {
        self.append_value(b);
    }
    fn str(&mut self, s: &str) {
        self.append_value(s);
    }
}

/// A column of wire bytes as text: checked in one pass; should any value not be UTF-8,
/// every value is converted on its own with U+FFFD for the bad bytes.
pub fn utf8(binary: &BinaryArray) -> StringArray {
    StringArray::try_from_binary(binary.clone()).unwrap_or_else(|_| {
        binary
            .iter()
            .map(|v| v.map(String::from_utf8_lossy))
            .collect()
    })
}

/// Appends the text form of an `AnyValue` (as `value_string` prints it) as one value.
pub fn append_value(b: &mut impl Text, value: Option<&[u8]>) {
    match value.map(scalar) {
        None => b.str(""),
        Some(Scalar::Str(s)) => b.bytes(s),
        Some(Scalar::Bool(x)) => b.str(if x { "true" } else { "false" }),
        Some(Scalar::Int(i)) => b.str(itoa::Buffer::new().format(i)),
        Some(Scalar::Double(d)) => double_text(d, |s| b.str(s)),
        Some(Scalar::Other(v)) => b.str(&other_string(v)),
    }
}

/// Hands `out` a double as Rust's `Display` (and so `value_string`) prints it.
fn double_text(d: f64, out: impl FnOnce(&str)) {
    // GenAI request parameters (temperature, top_p) repeat from span to span: the last
    // double printed on this thread is kept and handed out again unformatted.
    thread_local! {
        static LAST: RefCell<(Option<u64>, String)> = const { RefCell::new((None, String::new())) };
    }
    LAST.with_borrow_mut(|(bits, text)| {
        if *bits != Some(d.to_bits()) {
            text.clear();
            print_double(d, text);
            *bits = Some(d.to_bits());
        }
        out(text)
    })
}

/// `ryu` where it agrees with `Display`: ryu writes `1.0` and `1e16` where `Display`
/// writes `1` and `10000000000000000`, so those forms (and NaN, infinities) go through
/// `Display`.
fn print_double(d: f64, text: &mut String) {
    if d.is_finite() {
        let mut buffer = ryu::Buffer::new();
        let s = buffer.format_finite(d);
        if !s.contains('e') {
            return text.push_str(s.strip_suffix(".0").unwrap_or(s));
        }
    }
    let _ = write!(text, "{d}");
}

/// The text of an `AnyValue` as an owned string (promoted columns, service name).
pub fn value_text(value: &[u8]) -> String {
    match scalar(value) {
        Scalar::Str(s) => text(s).into_owned(),
        Scalar::Bool(x) => x.to_string(),
        Scalar::Int(i) => itoa::Buffer::new().format(i).to_string(),
        Scalar::Double(d) => {
            let mut out = String::new();
            double_text(d, |s| out.push_str(s));
            out
        }
        Scalar::Other(v) => other_string(v),
    }
}

fn other_string(v: &[u8]) -> String {
    AnyValue::decode(v)
        .map(|a| value_string(&a))
        .unwrap_or_default()
}

/// Lowercase hex of an id, appended as one value (a trace id's 32 digits written into a
/// stack buffer, not one `write_char` each; to a `BinaryBuilder`, unchecked until the
/// column is done).
pub fn append_hex(b: &mut impl Text, id: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 64];
    if id.len() > digits.len() / 2 {
        return b.str(&llamacol_api::wire::hex(id));
    }
    for (pair, x) in digits.chunks_exact_mut(2).zip(id) {
        pair[0] = DIGITS[usize::from(x >> 4)];
        pair[1] = DIGITS[usize::from(x & 0xf)];
    }
    b.bytes(&digits[..id.len() * 2]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use llamacol_api::otlp::common::v1::{any_value::Value, ArrayValue, KeyValue};

    /// The value as appended to a `StringBuilder`, to a `BinaryBuilder` checked by `utf8`,
    /// as `value_text` gives it, and as `value_string` prints it.
    fn printed(v: Value) -> [String; 4] {
        let any = AnyValue { value: Some(v) };
        let bytes = any.encode_to_vec();
        let mut text = StringBuilder::new();
        append_value(&mut text, Some(&bytes));
        let mut binary = BinaryBuilder::new();
        append_value(&mut binary, Some(&bytes));
        [
            text.finish().value(0).to_string(),
            utf8(&binary.finish()).value(0).to_string(),
            value_text(&bytes),
            value_string(&any),
        ]
    }

    #[test]
    fn values_print_as_value_string_does() {
        for v in [
            Value::StringValue("héllo".into()),
            Value::StringValue(String::new()),
            Value::BoolValue(true),
            Value::BoolValue(false),
            Value::IntValue(-42),
            Value::IntValue(i64::MAX),
            Value::DoubleValue(0.1),
            Value::DoubleValue(0.7),
            Value::DoubleValue(1.0),
            Value::DoubleValue(-0.0),
            Value::DoubleValue(123456.789),
            Value::DoubleValue(1e15),
            Value::DoubleValue(1e16),
            Value::DoubleValue(1e-5),
            Value::DoubleValue(1e-7),
            Value::DoubleValue(f64::MAX),
            Value::DoubleValue(f64::MIN_POSITIVE),
            Value::DoubleValue(5e-324),
            Value::DoubleValue(f64::INFINITY),
            Value::DoubleValue(f64::NAN),
            Value::DoubleValue(-1e300),
            Value::BytesValue(vec![0, 255, 16]),
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::IntValue(1)),
                }],
            }),
        ] {
            // Twice: the second time from the last-double cache.
            for _ in 0..2 {
                let forms = printed(v.clone());
                assert!(forms.iter().all(|f| *f == forms[3]), "{forms:?}");
            }
        }
    }

    /// Every layout the fast paths take, and those next to them they must leave to the
    /// general walk, read the same both ways.
    #[test]
    fn fast_paths_read_as_the_general_walk() {
        let long = "x".repeat(200);
        let values = [
            Value::StringValue(String::new()),
            Value::StringValue("chat".into()),
            Value::StringValue("y".repeat(127)),
            Value::StringValue("y".repeat(128)),
            Value::IntValue(0),
            Value::IntValue(-1),
            Value::IntValue(300),
            Value::DoubleValue(0.7),
            Value::BoolValue(true),
            Value::BoolValue(false),
            Value::BytesValue(vec![1, 2]),
        ];
        let mut encoded: Vec<Vec<u8>> = Vec::new();
        for key in ["", "k", &"k".repeat(127), &long] {
            encoded.push(
                KeyValue {
                    key: key.into(),
                    ..KeyValue::default()
                }
                .encode_to_vec(),
            );
            for v in &values {
                encoded.push(
                    KeyValue {
                        key: key.into(),
                        value: Some(AnyValue {
                            value: Some(v.clone()),
                        }),
                        ..KeyValue::default()
                    }
                    .encode_to_vec(),
                );
            }
        }
        // Value before key; the key twice (the last wins); a value whose body is two
        // fields; trailing garbage; a one-byte length of 0x85 over 0x85 bytes.
        encoded.push([&[0x12, 2, 0x18, 5][..], &[0x0a, 1, b'k']].concat());
        encoded.push([&[0x0a, 1, b'a'][..], &[0x0a, 1, b'b'], &[0x12, 2, 0x18, 5]].concat());
        encoded.push(vec![0x0a, 1, b'k', 0x12, 4, 0x18, 5, 0x18, 6]);
        encoded.push(vec![0x0a, 1, b'k', 0x12, 2, 0x18, 5, 0xff]);
        encoded.push([&[0x0a, 1, b'k', 0x12, 0x85][..], &[0x0a; 0x85]].concat());
        for kv in &encoded {
            assert_eq!(key_value(kv), key_value_walked(kv), "{kv:?}");
            if let (_, Some(v)) = key_value_walked(kv) {
                assert_eq!(scalar(v), scalar_walked(v), "{v:?}");
            }
        }
        // Scalars cut short or over-long fall back, and read as the walk reads them.
        for v in [
            &[0x21, 1, 2][..],
            &[0x18],
            &[0x18, 0x80],
            &[0x10, 0x80, 1],
            &[0x0a, 3, b'a'],
        ] {
            assert_eq!(scalar(v), scalar_walked(v), "{v:?}");
        }
    }

    #[test]
    fn a_key_value_without_value_is_empty_text() {
        let kv = KeyValue {
            key: "k".into(),
            ..KeyValue::default()
        }
        .encode_to_vec();
        let (key, value) = key_value(&kv);
        assert_eq!(key, b"k");
        let mut b = StringBuilder::new();
        append_value(&mut b, value);
        assert_eq!(b.finish().value(0), "");
    }

    #[test]
    fn a_binary_column_checked_as_utf8_replaces_only_bad_bytes() {
        let mut b = BinaryBuilder::new();
        b.append_value("ok");
        b.append_value(b"bad\xffbyte");
        b.append_null();
        b.append_value("héllo");
        let a = utf8(&b.finish());
        assert_eq!(a.value(0), "ok");
        assert_eq!(a.value(1), "bad\u{fffd}byte");
        assert!(a.is_null(2));
        assert_eq!(a.value(3), "héllo");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let mut b = StringBuilder::new();
        b.append_value(text(b"ok\xffok"));
        assert_eq!(b.finish().value(0), "ok\u{fffd}ok");
    }

    #[test]
    fn hex_ids_are_lowercase_and_empty_ids_empty() {
        let mut b = StringBuilder::new();
        append_hex(&mut b, &[0xab, 0x01]);
        append_hex(&mut b, &[]);
        let long: Vec<u8> = (0..40).collect();
        append_hex(&mut b, &long);
        let a = b.finish();
        assert_eq!((a.value(0), a.value(1), a.len()), ("ab01", "", 3));
        assert_eq!(a.value(2), llamacol_api::wire::hex(&long));
        assert!(a.value(2).starts_with("000102"), "{}", a.value(2));
    }
}
