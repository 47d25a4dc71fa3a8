//! `genai` on an encoded `ExportTraceServiceRequest`, without decoding it: each span's
//! attributes are read in place (`WireAttrs`) and go through the same rules as the decoded
//! path (normalize, content, identities, error type, cost, name); a span they leave alone
//! is copied as its bytes, a changed one is written from its unchanged fields' bytes and
//! the changed attributes, and the lengths around it are written anew. Only the resource
//! of a GenAI span with `node_context` is decoded (to add the node's server and GPUs).

use std::ops::Range;

use bytes::{BufMut, BytesMut};
use llamacol_api::live::traces::TraceId;
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::otlp::trace::v1::status::StatusCode;
use llamacol_api::wire::attrs::WireAttrs;
use llamacol_api::wire::{fields, put_len_prefix, RawField, WireError};
use prost::Message;

use super::node::Endpoint;
use super::normalize::normalize;
use super::GenaiProcessor;

/// What a walk found beyond the bytes.
#[derive(Default)]
pub struct Found {
    /// Trace ids of GenAI spans (for the live page), as the decoded path collects them.
    pub genai_traces: Vec<TraceId>,
}

/// The rewritten request, or `None` when no span changed (forward the bytes as they are).
pub fn traces(
    p: &GenaiProcessor,
    buf: &[u8],
    found: &mut Found,
) -> Result<Option<BytesMut>, WireError> {
    let mut out = BytesMut::with_capacity(buf.len() + buf.len() / 16);
    let mut changed = false;
    for f in fields(buf) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => match resource_spans(p, &buf[f.value.clone()], found)? {
                Some(body) => {
                    changed = true;
                    put_len_prefix(&mut out, 1, body.len());
                    out.put_slice(&body);
                }
                None => out.put_slice(whole(buf, &f)),
            },
            _ => out.put_slice(whole(buf, &f)),
        }
    }
    Ok(changed.then_some(out))
}

fn whole<'a>(buf: &'a [u8], f: &RawField) -> &'a [u8] {
    &buf[f.start..f.value.end]
}

/// One `ResourceSpans`, rewritten, or `None` when nothing in it changed.
fn resource_spans(
    p: &GenaiProcessor,
    rs: &[u8],
    found: &mut Found,
) -> Result<Option<BytesMut>, WireError> {
    let mut body = BytesMut::with_capacity(rs.len() + 64);
    let (mut changed, mut any_genai) = (false, false);
    let mut server: Option<Endpoint> = None;
    // Where the resource field was written (to be replaced), or none yet.
    let mut resource: Option<(Range<usize>, Range<usize>)> = None;
    for f in fields(rs) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => {
                let at = body.len();
                body.put_slice(whole(rs, &f));
                resource = Some((at..body.len(), f.value.clone()));
            }
            (2, 2) => {
                let ss = &rs[f.value.clone()];
                let mut scope = Scope {
                    out: BytesMut::with_capacity(ss.len() + 64),
                    changed: false,
                    any_genai: false,
                    server: None,
                };
                scope_spans(p, ss, &mut scope, found)?;
                if scope.changed {
                    changed = true;
                    put_len_prefix(&mut body, 2, scope.out.len());
                    body.put_slice(&scope.out);
                } else {
                    body.put_slice(whole(rs, &f));
                }
                any_genai |= scope.any_genai;
                if server.is_none() {
                    server = scope.server;
                }
            }
            _ => body.put_slice(whole(rs, &f)),
        }
    }
    if any_genai && p.config.node_context {
        let (span, old) = match &resource {
            Some((span, value)) => (span.clone(), &rs[value.clone()]),
            None => (0..0, &[][..]),
        };
        let mut r = Resource::decode(old).map_err(WireError::Decode)?;
        let before = r.attributes.len();
        p.node.add_to(&mut r.attributes, server.as_ref());
        if r.attributes.len() != before || resource.is_none() {
            changed = true;
            let mut field = BytesMut::with_capacity(r.encoded_len() + 8);
            put_len_prefix(&mut field, 1, r.encoded_len());
            // Cannot fail: the buffer grows.
            let _ = r.encode(&mut field);
            let mut rebuilt = BytesMut::with_capacity(body.len() + field.len());
            rebuilt.put_slice(&body[..span.start]);
            rebuilt.put_slice(&field);
            rebuilt.put_slice(&body[span.end..]);
            body = rebuilt;
        }
    }
    Ok(changed.then_some(body))
}

struct Scope {
    out: BytesMut,
    changed: bool,
    any_genai: bool,
    /// The first GenAI span's server (node context).
    server: Option<Endpoint>,
}

fn scope_spans(
    p: &GenaiProcessor,
    ss: &[u8],
    scope: &mut Scope,
    found: &mut Found,
) -> Result<(), WireError> {
    for f in fields(ss) {
        let f = f?;
        if (f.number, f.wire_type) != (2, 2) {
            scope.out.put_slice(whole(ss, &f));
            continue;
        }
        let bytes = &ss[f.value.clone()];
        let at = scope.out.len();
        // The length prefix is written after the span, once its size is known.
        let mut span_out = BytesMut::new();
        let facts = span(p, bytes, &mut span_out)?;
        if facts.genai {
            scope.any_genai = true;
            if let Ok(id) = TraceId::try_from(facts.trace_id) {
                let ids = &mut found.genai_traces;
                if ids.last() != Some(&id) && ids.len() < 64 {
                    ids.push(id);
                }
            }
            if p.config.node_context && scope.server.is_none() {
                scope.server = facts.server;
            }
        }
        if facts.changed {
            scope.changed = true;
            put_len_prefix(&mut scope.out, 2, span_out.len());
            scope.out.put_slice(&span_out);
        } else {
            scope.out.put_slice(whole(ss, &f));
        }
        debug_assert!(scope.out.len() > at);
    }
    Ok(())
}

struct SpanFacts<'a> {
    trace_id: &'a [u8],
    genai: bool,
    changed: bool,
    server: Option<Endpoint>,
}

/// One span: its rewritten body in `out` when it changed.
fn span<'a>(
    p: &GenaiProcessor,
    span: &'a [u8],
    out: &mut BytesMut,
) -> Result<SpanFacts<'a>, WireError> {
    let mut attrs = WireAttrs::new();
    let (mut trace_id, mut root, mut name, mut failed): (&[u8], bool, &str, bool) =
        (&[], true, "", false);
    let mut events = 0;
    for f in fields(span) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => trace_id = &span[f.value],
            (4, 2) => root = f.value.is_empty(),
            (5, 2) => name = utf8(span, &f)?,
            (9, 2) => attrs.add_encoded(&span[f.value])?,
            (11, 2) => events += 1,
            (15, 2) => failed = status_code(&span[f.value])? == StatusCode::Error as u64,
            _ => {}
        }
    }
    let genai = normalize(&mut attrs, p.config.keep_original, root);
    p.scrub(&mut attrs, false);
    // Events' attributes, rewritten only for the events that changed.
    let mut new_events: Vec<Option<BytesMut>> = Vec::with_capacity(events);
    if events > 0 {
        for f in fields(span) {
            let f = f?;
            if (f.number, f.wire_type) == (11, 2) {
                new_events.push(event(p, &span[f.value])?);
            }
        }
    }
    let new_name = if genai {
        p.genai_span(&mut attrs, name, failed)
    } else {
        None
    };
    let server = if genai && p.config.node_context {
        Endpoint::of(&attrs)
    } else {
        None
    };
    let changed = attrs.changed() || new_name.is_some() || new_events.iter().any(Option::is_some);
    if changed {
        write_span(span, &attrs, new_name.as_deref(), &new_events, out)?;
    }
    Ok(SpanFacts {
        trace_id,
        genai,
        changed,
        server,
    })
}

/// The span's fields in their order, with the attributes, name and events replaced.
fn write_span(
    span: &[u8],
    attrs: &WireAttrs,
    name: Option<&str>,
    events: &[Option<BytesMut>],
    out: &mut BytesMut,
) -> Result<(), WireError> {
    out.reserve(span.len() + attrs.encoded_len());
    let (mut attrs_written, mut event) = (false, 0);
    for f in fields(span) {
        let f = f?;
        match (f.number, f.wire_type, name) {
            (9, 2, _) => {
                if !attrs_written {
                    attrs.write(9, out);
                    attrs_written = true;
                }
            }
            (5, 2, Some(name)) => {
                put_len_prefix(out, 5, name.len());
                out.put_slice(name.as_bytes());
            }
            (11, 2, _) => {
                match &events[event] {
                    Some(body) => {
                        put_len_prefix(out, 11, body.len());
                        out.put_slice(body);
                    }
                    None => out.put_slice(whole(span, &f)),
                }
                event += 1;
            }
            _ => out.put_slice(whole(span, &f)),
        }
    }
    if !attrs_written {
        attrs.write(9, out);
    }
    if let (Some(name), false) = (name, has_field(span, 5)?) {
        put_len_prefix(out, 5, name.len());
        out.put_slice(name.as_bytes());
    }
    Ok(())
}

/// A span event's new body when scrubbing changed its attributes.
fn event(p: &GenaiProcessor, event: &[u8]) -> Result<Option<BytesMut>, WireError> {
    let mut attrs = WireAttrs::new();
    let mut name = "";
    for f in fields(event) {
        let f = f?;
        match (f.number, f.wire_type) {
            (2, 2) => name = utf8(event, &f)?,
            (3, 2) => attrs.add_encoded(&event[f.value])?,
            _ => {}
        }
    }
    p.scrub(&mut attrs, name.starts_with("gen_ai."));
    if !attrs.changed() {
        return Ok(None);
    }
    let mut out = BytesMut::with_capacity(event.len());
    let mut written = false;
    for f in fields(event) {
        let f = f?;
        if (f.number, f.wire_type) == (3, 2) {
            if !written {
                attrs.write(3, &mut out);
                written = true;
            }
        } else {
            out.put_slice(whole(event, &f));
        }
    }
    Ok(Some(out))
}

fn has_field(buf: &[u8], number: u32) -> Result<bool, WireError> {
    for f in fields(buf) {
        if f?.number == number {
            return Ok(true);
        }
    }
    Ok(false)
}

fn utf8<'a>(buf: &'a [u8], f: &RawField) -> Result<&'a str, WireError> {
    std::str::from_utf8(&buf[f.value.clone()]).map_err(|_| WireError::Malformed {
        offset: f.value.start,
        what: "string field is not UTF-8",
    })
}

/// The `code` of an encoded `Status`.
fn status_code(status: &[u8]) -> Result<u64, WireError> {
    let mut code = 0;
    for f in fields(status) {
        let f = f?;
        if (f.number, f.wire_type) == (3, 0) {
            code = prost::encoding::decode_varint(&mut &status[f.value.clone()])
                .map_err(WireError::Decode)?;
        }
    }
    Ok(code)
}
