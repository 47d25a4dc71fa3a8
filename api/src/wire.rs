//! Allocation-free checking and item counting of encoded OTLP requests.
//!
//! The walker knows the OTLP message schema (field numbers, wire types, which fields are
//! UTF-8 strings, which nested messages are the counted items) and accepts only what
//! prost would decode, so a payload accepted here can always be decoded later.

use crate::signal::Signal;

/// Nesting deeper than this is refused (prost's own limit is 100).
const MAX_DEPTH: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("malformed protobuf at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
    #[error("protobuf decode failed: {0}")]
    Decode(#[source] prost::DecodeError),
}

#[derive(Clone, Copy)]
enum WireType {
    Varint,
    Fixed64,
    Fixed32,
    Str,
    Bytes,
    Msg(&'static Schema),
    /// `repeated fixed64/double`: packed (length-delimited) or one value per tag.
    PackedFixed64,
    /// `repeated uint64`: packed or one value per tag.
    PackedVarint,
}

struct Field {
    number: u32,
    kind: WireType,
    /// Each occurrence of this field is one counted item.
    item: bool,
}

struct Schema(&'static [Field]);

impl Schema {
    /// The field numbered `number`. Schemas list their fields by number from 1 with few
    /// gaps, so the field is nearly always at `number - 1`: one comparison per field on
    /// the receivers' hot path instead of a search.
    #[inline]
    fn field(&self, number: u32) -> Option<&Field> {
        let at = usize::try_from(number).ok()?.checked_sub(1)?;
        match self.0.get(at) {
            Some(f) if f.number == number => Some(f),
            _ => self.0.iter().find(|f| f.number == number),
        }
    }
}

const fn f(number: u32, kind: WireType) -> Field {
    Field {
        number,
        kind,
        item: false,
    }
}

const fn item(number: u32, kind: WireType) -> Field {
    Field {
        number,
        kind,
        item: true,
    }
}

use WireType::*;

// opentelemetry/proto/common/v1/common.proto
static ANY_VALUE: Schema = Schema(&[
    f(1, Str),
    f(2, Varint),
    f(3, Varint),
    f(4, Fixed64),
    f(5, Msg(&ARRAY_VALUE)),
    f(6, Msg(&KEY_VALUE_LIST)),
    f(7, Bytes),
    f(8, Varint),
]);
static ARRAY_VALUE: Schema = Schema(&[f(1, Msg(&ANY_VALUE))]);
static KEY_VALUE_LIST: Schema = Schema(&[f(1, Msg(&KEY_VALUE))]);
static KEY_VALUE: Schema = Schema(&[f(1, Str), f(2, Msg(&ANY_VALUE)), f(3, Varint)]);
static SCOPE: Schema = Schema(&[f(1, Str), f(2, Str), f(3, Msg(&KEY_VALUE)), f(4, Varint)]);
static ENTITY_REF: Schema = Schema(&[f(1, Str), f(2, Str), f(3, Str), f(4, Str)]);
// opentelemetry/proto/resource/v1/resource.proto
static RESOURCE: Schema = Schema(&[f(1, Msg(&KEY_VALUE)), f(2, Varint), f(3, Msg(&ENTITY_REF))]);

// opentelemetry/proto/trace/v1/trace.proto
static TRACES_REQUEST: Schema = Schema(&[f(1, Msg(&RESOURCE_SPANS))]);
static RESOURCE_SPANS: Schema = Schema(&[f(1, Msg(&RESOURCE)), f(2, Msg(&SCOPE_SPANS)), f(3, Str)]);
static SCOPE_SPANS: Schema = Schema(&[f(1, Msg(&SCOPE)), item(2, Msg(&SPAN)), f(3, Str)]);
static SPAN: Schema = Schema(&[
    f(1, Bytes),
    f(2, Bytes),
    f(3, Str),
    f(4, Bytes),
    f(5, Str),
    f(6, Varint),
    f(7, Fixed64),
    f(8, Fixed64),
    f(9, Msg(&KEY_VALUE)),
    f(10, Varint),
    f(11, Msg(&SPAN_EVENT)),
    f(12, Varint),
    f(13, Msg(&SPAN_LINK)),
    f(14, Varint),
    f(15, Msg(&STATUS)),
    f(16, Fixed32),
]);
static SPAN_EVENT: Schema = Schema(&[
    f(1, Fixed64),
    f(2, Str),
    f(3, Msg(&KEY_VALUE)),
    f(4, Varint),
]);
static SPAN_LINK: Schema = Schema(&[
    f(1, Bytes),
    f(2, Bytes),
    f(3, Str),
    f(4, Msg(&KEY_VALUE)),
    f(5, Varint),
    f(6, Fixed32),
]);
static STATUS: Schema = Schema(&[f(2, Str), f(3, Varint)]);

// opentelemetry/proto/metrics/v1/metrics.proto
static METRICS_REQUEST: Schema = Schema(&[f(1, Msg(&RESOURCE_METRICS))]);
static RESOURCE_METRICS: Schema =
    Schema(&[f(1, Msg(&RESOURCE)), f(2, Msg(&SCOPE_METRICS)), f(3, Str)]);
static SCOPE_METRICS: Schema = Schema(&[f(1, Msg(&SCOPE)), f(2, Msg(&METRIC)), f(3, Str)]);
static METRIC: Schema = Schema(&[
    f(1, Str),
    f(2, Str),
    f(3, Str),
    f(5, Msg(&GAUGE)),
    f(7, Msg(&SUM)),
    f(9, Msg(&HISTOGRAM)),
    f(10, Msg(&EXP_HISTOGRAM)),
    f(11, Msg(&SUMMARY)),
    f(12, Msg(&KEY_VALUE)),
]);
static GAUGE: Schema = Schema(&[item(1, Msg(&NUMBER_POINT))]);
static SUM: Schema = Schema(&[item(1, Msg(&NUMBER_POINT)), f(2, Varint), f(3, Varint)]);
static HISTOGRAM: Schema = Schema(&[item(1, Msg(&HISTOGRAM_POINT)), f(2, Varint)]);
static EXP_HISTOGRAM: Schema = Schema(&[item(1, Msg(&EXP_HISTOGRAM_POINT)), f(2, Varint)]);
static SUMMARY: Schema = Schema(&[item(1, Msg(&SUMMARY_POINT))]);
static NUMBER_POINT: Schema = Schema(&[
    f(2, Fixed64),
    f(3, Fixed64),
    f(4, Fixed64),
    f(5, Msg(&EXEMPLAR)),
    f(6, Fixed64),
    f(7, Msg(&KEY_VALUE)),
    f(8, Varint),
]);
static HISTOGRAM_POINT: Schema = Schema(&[
    f(2, Fixed64),
    f(3, Fixed64),
    f(4, Fixed64),
    f(5, Fixed64),
    f(6, PackedFixed64),
    f(7, PackedFixed64),
    f(8, Msg(&EXEMPLAR)),
    f(9, Msg(&KEY_VALUE)),
    f(10, Varint),
    f(11, Fixed64),
    f(12, Fixed64),
]);
static EXP_HISTOGRAM_POINT: Schema = Schema(&[
    f(1, Msg(&KEY_VALUE)),
    f(2, Fixed64),
    f(3, Fixed64),
    f(4, Fixed64),
    f(5, Fixed64),
    f(6, Varint),
    f(7, Fixed64),
    f(8, Msg(&EXP_BUCKETS)),
    f(9, Msg(&EXP_BUCKETS)),
    f(10, Varint),
    f(11, Msg(&EXEMPLAR)),
    f(12, Fixed64),
    f(13, Fixed64),
    f(14, Fixed64),
]);
static EXP_BUCKETS: Schema = Schema(&[f(1, Varint), f(2, PackedVarint)]);
static SUMMARY_POINT: Schema = Schema(&[
    f(2, Fixed64),
    f(3, Fixed64),
    f(4, Fixed64),
    f(5, Fixed64),
    f(6, Msg(&QUANTILE)),
    f(7, Msg(&KEY_VALUE)),
    f(8, Varint),
]);
static QUANTILE: Schema = Schema(&[f(1, Fixed64), f(2, Fixed64)]);
static EXEMPLAR: Schema = Schema(&[
    f(2, Fixed64),
    f(3, Fixed64),
    f(4, Bytes),
    f(5, Bytes),
    f(6, Fixed64),
    f(7, Msg(&KEY_VALUE)),
]);

// opentelemetry/proto/logs/v1/logs.proto
static LOGS_REQUEST: Schema = Schema(&[f(1, Msg(&RESOURCE_LOGS))]);
static RESOURCE_LOGS: Schema = Schema(&[f(1, Msg(&RESOURCE)), f(2, Msg(&SCOPE_LOGS)), f(3, Str)]);
static SCOPE_LOGS: Schema = Schema(&[f(1, Msg(&SCOPE)), item(2, Msg(&LOG_RECORD)), f(3, Str)]);
static LOG_RECORD: Schema = Schema(&[
    f(1, Fixed64),
    f(2, Varint),
    f(3, Str),
    f(5, Msg(&ANY_VALUE)),
    f(6, Msg(&KEY_VALUE)),
    f(7, Varint),
    f(8, Fixed32),
    f(9, Bytes),
    f(10, Bytes),
    f(11, Fixed64),
    f(12, Str),
]);

/// Checks an encoded export request of `signal` and returns how many items it holds.
pub fn count_items(signal: Signal, buf: &[u8]) -> Result<usize, WireError> {
    let schema = match signal {
        Signal::Traces => &TRACES_REQUEST,
        Signal::Metrics => &METRICS_REQUEST,
        Signal::Logs => &LOGS_REQUEST,
    };
    Walker { buf, base: 0 }.message(schema, 0)
}

struct Walker<'a> {
    buf: &'a [u8],
    /// Offset of `buf` in the whole payload, for error messages.
    base: usize,
}

fn malformed<T>(offset: usize, what: &'static str) -> Result<T, WireError> {
    Err(WireError::Malformed { offset, what })
}

impl Walker<'_> {
    fn message(&self, schema: &Schema, depth: u32) -> Result<usize, WireError> {
        if depth > MAX_DEPTH {
            return malformed(self.base, "messages nested too deeply");
        }
        let mut items = 0;
        let mut pos = 0;
        while pos < self.buf.len() {
            let start = pos;
            let key = self.varint(&mut pos)?;
            let (number, wire_type) = split_key(key).ok_or(WireError::Malformed {
                offset: self.base + start,
                what: "invalid field key",
            })?;
            let field = schema.field(number);
            let kind = field.map(|f| f.kind);
            match wire_type {
                0 | 1 | 5 => {
                    self.skip_scalar(&mut pos, wire_type)?;
                    let fits = match kind {
                        None => true,
                        Some(Varint | PackedVarint) => wire_type == 0,
                        Some(Fixed64 | PackedFixed64) => wire_type == 1,
                        Some(Fixed32) => wire_type == 5,
                        Some(Str | Bytes | Msg(_)) => false,
                    };
                    if !fits {
                        return malformed(
                            self.base + start,
                            "scalar wire type where the schema wants another",
                        );
                    }
                }
                2 => {
                    let (body_start, len) = self.skip_len(&mut pos)?;
                    let body = Walker {
                        buf: &self.buf[body_start..pos],
                        base: self.base + body_start,
                    };
                    match kind {
                        None | Some(Bytes) => {}
                        Some(Str) => {
                            // Nearly every string on the wire is ASCII: `is_ascii` is
                            // inlined, where a `from_utf8` call per attribute key and
                            // value was a quarter of this check's time.
                            if !body.buf.is_ascii() && std::str::from_utf8(body.buf).is_err() {
                                return malformed(body.base, "string field is not valid UTF-8");
                            }
                        }
                        // Attributes are most of every request: one laid out as every
                        // encoder writes it is checked by matching its bytes, without the
                        // two nested walks (the walk still decides anything else).
                        Some(Msg(inner))
                            if std::ptr::eq(inner, &KEY_VALUE) && plain_key_value(body.buf) => {}
                        Some(Msg(inner)) => items += body.message(inner, depth + 1)?,
                        Some(PackedFixed64) => {
                            if len % 8 != 0 {
                                return malformed(
                                    body.base,
                                    "packed fixed64 length is not a multiple of 8",
                                );
                            }
                        }
                        Some(PackedVarint) => {
                            let mut p = 0;
                            while p < body.buf.len() {
                                body.varint(&mut p)?;
                            }
                        }
                        Some(Varint | Fixed64 | Fixed32) => {
                            return malformed(
                                self.base + start,
                                "length-delimited where the schema wants a scalar",
                            );
                        }
                    }
                    if field.is_some_and(|f| f.item) {
                        items += 1;
                    }
                }
                3 => {
                    if kind.is_some() {
                        return malformed(
                            self.base + start,
                            "group where the schema wants another wire type",
                        );
                    }
                    self.skip_group(&mut pos, number, depth)?;
                }
                _ => return malformed(self.base + start, "invalid wire type"),
            }
        }
        Ok(items)
    }

    /// Skips an unknown group up to its matching end-group tag.
    fn skip_group(&self, pos: &mut usize, number: u32, depth: u32) -> Result<(), WireError> {
        if depth > MAX_DEPTH {
            return malformed(self.base + *pos, "groups nested too deeply");
        }
        loop {
            let start = *pos;
            if start >= self.buf.len() {
                return malformed(self.base + start, "unterminated group");
            }
            let key = self.varint(pos)?;
            let (inner, wire_type) = split_key(key).ok_or(WireError::Malformed {
                offset: self.base + start,
                what: "invalid field key",
            })?;
            match wire_type {
                0 | 1 | 5 => self.skip_scalar(pos, wire_type)?,
                2 => {
                    self.skip_len(pos)?;
                }
                3 => self.skip_group(pos, inner, depth + 1)?,
                4 if inner == number => return Ok(()),
                _ => return malformed(self.base + start, "mismatched end of group"),
            }
        }
    }

    /// Skips a varint (0), fixed64 (1) or fixed32 (5) value.
    fn skip_scalar(&self, pos: &mut usize, wire_type: u8) -> Result<(), WireError> {
        match wire_type {
            0 => self.varint(pos).map(drop),
            1 => self.skip(pos, 8),
            _ => self.skip(pos, 4),
        }
    }

    /// Skips a length-delimited value; returns where its body starts and its length.
    fn skip_len(&self, pos: &mut usize) -> Result<(usize, usize), WireError> {
        let len = usize::try_from(self.varint(pos)?).unwrap_or(usize::MAX);
        let start = *pos;
        self.skip(pos, len)?;
        Ok((start, len))
    }

    #[inline]
    fn varint(&self, pos: &mut usize) -> Result<u64, WireError> {
        // Most varints on the wire (keys, lengths under 128, small numbers) are one byte.
        if let Some(&byte) = self.buf.get(*pos) {
            if byte < 0x80 {
                *pos += 1;
                return Ok(u64::from(byte));
            }
        }
        self.long_varint(pos)
    }

    fn long_varint(&self, pos: &mut usize) -> Result<u64, WireError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(*pos) else {
                return malformed(self.base + *pos, "truncated varint");
            };
            *pos += 1;
            if i == 9 && byte > 1 {
                return malformed(self.base + *pos - 1, "varint overflows 64 bits");
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        malformed(self.base + *pos, "varint longer than 10 bytes")
    }

    fn skip(&self, pos: &mut usize, len: usize) -> Result<(), WireError> {
        match pos.checked_add(len) {
            Some(end) if end <= self.buf.len() => {
                *pos = end;
                Ok(())
            }
            _ => malformed(self.base + *pos, "field runs past the end of its message"),
        }
    }
}

/// Whether `kv` is a `KeyValue` the walk would accept, laid out as encoders write it:
/// an ASCII key under 128 bytes, then a value under 128 bytes holding exactly one ASCII
/// string (under 128 bytes), bool, int or double. `false` says nothing about validity:
/// the caller walks such a message field by field.
#[inline]
fn plain_key_value(kv: &[u8]) -> bool {
    let [0x0a, key_len, rest @ ..] = kv else {
        return false;
    };
    let key_len = usize::from(*key_len);
    if key_len >= 0x80 || rest.len() < key_len {
        return false;
    }
    let (key, rest) = rest.split_at(key_len);
    let [0x12, value_len, value @ ..] = rest else {
        return false;
    };
    *value_len < 0x80
        && usize::from(*value_len) == value.len()
        && key.is_ascii()
        && plain_any_value(value)
}

/// Whether `value` (under 128 bytes) is an `AnyValue` of exactly one field: an ASCII
/// string (1), a bool (2) or int (3) varint, or a double (4).
#[inline]
fn plain_any_value(value: &[u8]) -> bool {
    match value {
        // (`len` is under 128: the whole value is.)
        [0x0a, len, text @ ..] => usize::from(*len) == text.len() && text.is_ascii(),
        [0x10 | 0x18, varint @ ..] => whole_varint(varint),
        [0x21, fixed @ ..] => fixed.len() == 8,
        _ => false,
    }
}

/// Whether `bytes` is exactly one varint that fits 64 bits.
#[inline]
fn whole_varint(bytes: &[u8]) -> bool {
    match bytes.split_last() {
        Some((&last, init)) => {
            last < 0x80
                && init.iter().all(|b| *b >= 0x80)
                && (bytes.len() < 10 || (bytes.len() == 10 && last <= 1))
        }
        None => false,
    }
}

fn split_key(key: u64) -> Option<(u32, u8)> {
    let number = u32::try_from(key >> 3).ok()?;
    // Field numbers are 1..=2^29-1 in protobuf.
    if number == 0 || number > (1 << 29) - 1 {
        return None;
    }
    Some((number, (key & 7) as u8))
}

/// Data points in one encoded `Metric` message.
pub fn metric_data_points(buf: &[u8]) -> Result<usize, WireError> {
    Walker { buf, base: 0 }.message(&METRIC, 0)
}

/// One top-level field of a message: its number and where its value lies in the buffer
/// (for length-delimited fields, the body without the length prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField {
    pub number: u32,
    pub wire_type: u8,
    pub value: std::ops::Range<usize>,
    /// Where the field's key starts: `start..value.end` is the whole field, as written.
    pub start: usize,
}

/// The top-level fields of an encoded message, in order.
pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields {
        walker: Walker { buf, base: 0 },
        pos: 0,
    }
}

pub struct Fields<'a> {
    walker: Walker<'a>,
    pos: usize,
}

impl Iterator for Fields<'_> {
    type Item = Result<RawField, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.walker.buf.len() {
            return None;
        }
        Some(self.step())
    }
}

impl Fields<'_> {
    fn step(&mut self) -> Result<RawField, WireError> {
        let w = &self.walker;
        let start = self.pos;
        let key = w.varint(&mut self.pos)?;
        let (number, wire_type) = split_key(key).ok_or(WireError::Malformed {
            offset: start,
            what: "invalid field key",
        })?;
        let value = match wire_type {
            0 | 1 | 5 => {
                let from = self.pos;
                w.skip_scalar(&mut self.pos, wire_type)?;
                from..self.pos
            }
            2 => {
                let (from, len) = w.skip_len(&mut self.pos)?;
                from..from + len
            }
            3 => {
                let from = self.pos;
                w.skip_group(&mut self.pos, number, 0)?;
                from..self.pos
            }
            _ => return malformed(start, "invalid wire type"),
        };
        Ok(RawField {
            number,
            wire_type,
            value,
            start,
        })
    }
}

/// Bytes a length-delimited field of a small number (1..=15) takes, body included.
pub fn len_field_size(body_len: usize) -> usize {
    1 + varint_size(body_len as u64) + body_len
}

pub fn varint_size(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Writes the key and length of a length-delimited field numbered 1..=15.
pub fn put_len_prefix(out: &mut bytes::BytesMut, number: u32, body_len: usize) {
    use bytes::BufMut;
    debug_assert!((1..=15).contains(&number));
    out.put_u8(((number << 3) | 2) as u8);
    let mut v = body_len as u64;
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

pub mod attrs;
mod by_size;
mod by_trace;
pub mod lenient;
pub mod resources;
pub use by_size::{split_by_size, SizedPieces};
pub use by_trace::{split_by_trace, Piece, SplitError};

#[cfg(test)]
mod tests;

/// Trace and span ids (and other bytes) as lowercase hex, as OTLP/JSON, Prometheus
/// exemplars, Parquet columns, Graphistry nodes and the live page write them.
pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(b.len() * 2);
    for x in b {
        out.push(DIGITS[usize::from(x >> 4)] as char);
        out.push(DIGITS[usize::from(x & 0xf)] as char);
    }
    out
}

/// The bytes of a hex string (either case); `None` if it is not hex or has an odd length.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
