//! Traces sampled on the wire: an encoded `ExportTraceServiceRequest` is walked for each
//! span's trace id, tracestate and `sampling.priority` only; kept spans are copied as
//! they are (with a new tracestate field when the decision wrote one) and lengths are
//! re-encoded around them. Nothing else is decoded. The decisions are the decoded path's
//! (the same `Sampler`), so both give the same answers.

use bytes::{BufMut, BytesMut};
use llamacol_api::otlp::common::v1::any_value::Value;
use llamacol_api::wire::{fields, put_len_prefix, RawField, WireError};

use super::sampler::{should_sample, span_priority, Sampler};
use llamacol_api::tracestate::threshold::Threshold;
use llamacol_api::tracestate::W3cTraceState;

/// The request with only the kept spans, and how many spans it kept of how many.
pub struct Sampled {
    pub bytes: BytesMut,
    pub kept: usize,
    pub total: usize,
}

/// Samples the spans of `buf`. Any field that does not read as expected is an error;
/// the caller then takes the decoding path, which reports it.
pub fn sample(sampler: &Sampler, fail_closed: bool, buf: &[u8]) -> Result<Sampled, WireError> {
    let mut out = BytesMut::with_capacity(buf.len());
    let (mut kept, mut total) = (0, 0);
    for rs in fields(buf) {
        let rs = rs?;
        if rs.number != 1 || rs.wire_type != 2 {
            continue;
        }
        let body = &buf[rs.value.clone()];
        let mut rs_out = BytesMut::new();
        let mut any = false;
        for_each_field(body, |f, whole| {
            if f.number == 2 && f.wire_type == 2 {
                let ss = &body[f.value.clone()];
                let mut ss_out = BytesMut::new();
                let mut spans_kept = 0;
                for_each_field(ss, |g, whole| {
                    if g.number == 2 && g.wire_type == 2 {
                        total += 1;
                        if let Some(span) = sample_span(sampler, fail_closed, &ss[g.value.clone()])?
                        {
                            put_len_prefix(&mut ss_out, 2, span.len());
                            ss_out.put_slice(&span);
                            spans_kept += 1;
                        }
                    } else {
                        ss_out.put_slice(whole);
                    }
                    Ok(())
                })?;
                if spans_kept > 0 {
                    kept += spans_kept;
                    any = true;
                    put_len_prefix(&mut rs_out, 2, ss_out.len());
                    rs_out.put_slice(&ss_out);
                }
            } else {
                rs_out.put_slice(whole);
            }
            Ok(())
        })?;
        if any {
            put_len_prefix(&mut out, 1, rs_out.len());
            out.put_slice(&rs_out);
        }
    }
    Ok(Sampled {
        bytes: out,
        kept,
        total,
    })
}

/// Calls `each` with every field of `buf` and its whole encoding (key included).
fn for_each_field(
    buf: &[u8],
    mut each: impl FnMut(&RawField, &[u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut start = 0;
    for f in fields(buf) {
        let f = f?;
        each(&f, &buf[start..f.value.end])?;
        start = f.value.end;
    }
    Ok(())
}

/// The span's bytes to keep (its tracestate replaced when the decision wrote one), or
/// `None` when it is sampled out.
fn sample_span(
    sampler: &Sampler,
    fail_closed: bool,
    span: &[u8],
) -> Result<Option<Vec<u8>>, WireError> {
    let (mut trace_id, mut trace_state, mut priority): (&[u8], &str, Option<bool>) =
        (&[], "", None);
    for f in fields(span) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => trace_id = &span[f.value.clone()],
            (3, 2) => {
                trace_state = std::str::from_utf8(&span[f.value.clone()]).map_err(|_| {
                    WireError::Malformed {
                        offset: f.value.start,
                        what: "tracestate is not UTF-8",
                    }
                })?
            }
            (9, 2) => {
                if let Some(p) = priority_attribute(&span[f.value.clone()])? {
                    priority = Some(p);
                }
            }
            _ => {}
        }
    }
    let parsed = W3cTraceState::parse(trace_state);
    let inputs = sampler.randomness(trace_id, None, parsed, false);
    let (keep, carrier, _) = should_sample(sampler, fail_closed, inputs, |t| match priority {
        Some(true) => Threshold::ALWAYS,
        Some(false) => Threshold::NEVER,
        None => t,
    });
    if !keep {
        return Ok(None);
    }
    let new_state = carrier.map(|c| c.serialize());
    let Some(new_state) = new_state.filter(|s| s != trace_state) else {
        return Ok(Some(span.to_vec()));
    };
    let mut out = BytesMut::with_capacity(span.len() + new_state.len() + 4);
    for_each_field(span, |f, whole| {
        if f.number != 3 {
            out.put_slice(whole);
        }
        Ok(())
    })?;
    if !new_state.is_empty() {
        put_len_prefix(&mut out, 3, new_state.len());
        out.put_slice(new_state.as_bytes());
    }
    Ok(Some(out.to_vec()))
}

/// A `KeyValue` named `sampling.priority`: its decision, read as the decoded path reads it.
fn priority_attribute(kv: &[u8]) -> Result<Option<bool>, WireError> {
    let mut is_priority = false;
    let mut value: Option<&[u8]> = None;
    for f in fields(kv) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => is_priority = &kv[f.value.clone()] == b"sampling.priority",
            (2, 2) => value = Some(&kv[f.value.clone()]),
            _ => {}
        }
    }
    if !is_priority {
        return Ok(None);
    }
    let Some(any) = value else { return Ok(None) };
    let mut decoded: Option<Value> = None;
    for f in fields(any) {
        let f = f?;
        let raw = &any[f.value.clone()];
        decoded = match (f.number, f.wire_type) {
            (1, 2) => Some(Value::StringValue(
                String::from_utf8_lossy(raw).into_owned(),
            )),
            (3, 0) => Some(Value::IntValue(varint(raw) as i64)),
            (4, 1) => raw
                .try_into()
                .ok()
                .map(|b: [u8; 8]| Value::DoubleValue(f64::from_le_bytes(b))),
            _ => decoded,
        };
    }
    Ok(span_priority(decoded.as_ref()))
}

fn varint(b: &[u8]) -> u64 {
    b.iter()
        .take(10)
        .enumerate()
        .fold(0u64, |v, (i, byte)| v | (u64::from(byte & 0x7f) << (7 * i)))
}
