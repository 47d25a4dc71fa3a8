//! Held trace pieces (`llamacol_api::wire::split_by_trace`) read for the policies.

use bytes::Bytes;
use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use llamacol_api::wire::attrs::key_of;
use llamacol_api::wire::{fields, WireError};
use prost::Message;

use super::policy::Needs;

/// A held piece as the policies read it: decoded whole when they need everything (OTTL
/// conditions), else only the span fields they read (trace id, trace state, times,
/// status, flags) and the resource and span attributes of the keys they name; the rest
/// (names, events, links, content) is skipped unread.
pub fn for_policies(body: &Bytes, needs: &Needs) -> Result<ResourceSpans, WireError> {
    if needs.everything {
        return ResourceSpans::decode(body.clone()).map_err(WireError::Decode);
    }
    let mut rs = ResourceSpans::default();
    for f in fields(body) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => {
                let mut resource = Resource::default();
                let r = &body[f.value];
                for g in fields(r) {
                    let g = g?;
                    if (g.number, g.wire_type) == (1, 2) {
                        wanted(&r[g.value], needs, &mut resource.attributes)?;
                    }
                }
                rs.resource = Some(resource);
            }
            (2, 2) => {
                let ss = &body[f.value];
                let mut scope = ScopeSpans::default();
                for g in fields(ss) {
                    let g = g?;
                    if (g.number, g.wire_type) == (2, 2) {
                        scope.spans.push(span_for_policies(&ss[g.value], needs)?);
                    }
                }
                rs.scope_spans.push(scope);
            }
            _ => {}
        }
    }
    Ok(rs)
}

fn span_for_policies(span: &[u8], needs: &Needs) -> Result<Span, WireError> {
    let mut s = Span::default();
    let fixed = |b: &[u8]| -> Result<[u8; 8], WireError> {
        b.try_into().map_err(|_| WireError::Malformed {
            offset: 0,
            what: "fixed64 of the wrong size",
        })
    };
    for f in fields(span) {
        let f = f?;
        let b = &span[f.value.clone()];
        match (f.number, f.wire_type) {
            (1, 2) => s.trace_id = b.to_vec(),
            (3, 2) => {
                s.trace_state = std::str::from_utf8(b)
                    .map_err(|_| WireError::Malformed {
                        offset: f.value.start,
                        what: "tracestate is not UTF-8",
                    })?
                    .to_string()
            }
            (7, 1) => s.start_time_unix_nano = u64::from_le_bytes(fixed(b)?),
            (8, 1) => s.end_time_unix_nano = u64::from_le_bytes(fixed(b)?),
            (9, 2) => wanted(b, needs, &mut s.attributes)?,
            (15, 2) => s.status = Some(Status::decode(b).map_err(WireError::Decode)?),
            (16, 5) => {
                let four: [u8; 4] = b.try_into().map_err(|_| WireError::Malformed {
                    offset: f.value.start,
                    what: "fixed32 of the wrong size",
                })?;
                s.flags = u32::from_le_bytes(four);
            }
            _ => {}
        }
    }
    Ok(s)
}

/// Adds the encoded key-value `kv` to `to` when the policies name its key.
fn wanted(kv: &[u8], needs: &Needs, to: &mut Vec<KeyValue>) -> Result<(), WireError> {
    if !needs.keys.is_empty() && needs.keys.contains(key_of(kv)?) {
        to.push(KeyValue::decode(kv).map_err(WireError::Decode)?);
    }
    Ok(())
}
