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
use llamacol_api::wire::{fields, len_field_size, lenient, put_len_prefix, RawField, WireError};
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
/// Every span is read first and the changed ones planned; then the request is written
/// once, lengths known, each unchanged byte copied once.
pub fn traces(
    p: &GenaiProcessor,
    buf: &[u8],
    found: &mut Found,
) -> Result<Option<BytesMut>, WireError> {
    let mut plans: Vec<Piece> = Vec::new();
    let mut changed = false;
    for f in fields(buf) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => match resource_spans(p, &buf[f.value.clone()], found)? {
                Some(plan) => {
                    changed = true;
                    plans.push(plan);
                }
                None => plans.push(Piece::Input(whole(buf, &f))),
            },
            _ => plans.push(Piece::Input(whole(buf, &f))),
        }
    }
    if !changed {
        return Ok(None);
    }
    let mut out = BytesMut::with_capacity(plans.iter().map(Piece::size).sum());
    for piece in &plans {
        piece.write(&mut out);
    }
    Ok(Some(out))
}

fn whole<'a>(buf: &'a [u8], f: &RawField) -> &'a [u8] {
    &buf[f.start..f.value.end]
}

/// Part of the output request.
enum Piece<'a> {
    /// Bytes of the input, key and length included.
    Input(&'a [u8]),
    /// A whole field written here.
    Written(BytesMut),
    /// A message field (`ResourceSpans` = 1, `ScopeSpans` = 2) of changed parts.
    Nested {
        number: u32,
        len: usize,
        parts: Vec<Piece<'a>>,
    },
    /// A changed span (field 2 of `ScopeSpans`).
    Span(Box<SpanPlan<'a>>),
}

impl Piece<'_> {
    /// Bytes this piece takes, key and length included.
    fn size(&self) -> usize {
        match self {
            Piece::Input(b) => b.len(),
            Piece::Written(b) => b.len(),
            Piece::Nested { len, .. } => len_field_size(*len),
            Piece::Span(plan) => len_field_size(plan.len),
        }
    }

    fn write(&self, out: &mut BytesMut) {
        match self {
            Piece::Input(b) => out.put_slice(b),
            Piece::Written(b) => out.put_slice(b),
            Piece::Nested { number, len, parts } => {
                put_len_prefix(out, *number, *len);
                for part in parts {
                    part.write(out);
                }
            }
            Piece::Span(plan) => {
                put_len_prefix(out, 2, plan.len);
                plan.layout(|part| {
                    match part {
                        Part::Bytes(b) => out.put_slice(b),
                        Part::Attrs => plan.attrs.write(9, out),
                        Part::Name(name) => {
                            put_len_prefix(out, 5, name.len());
                            out.put_slice(name.as_bytes());
                        }
                        Part::Event(body) => {
                            put_len_prefix(out, 11, body.len());
                            out.put_slice(body);
                        }
                    };
                });
            }
        }
    }
}

fn nested(number: u32, parts: Vec<Piece<'_>>) -> Piece<'_> {
    let len = parts.iter().map(Piece::size).sum();
    Piece::Nested { number, len, parts }
}

/// One `ResourceSpans` planned, or `None` when nothing in it changed.
fn resource_spans<'a>(
    p: &GenaiProcessor,
    rs: &'a [u8],
    found: &mut Found,
) -> Result<Option<Piece<'a>>, WireError> {
    let mut parts: Vec<Piece> = Vec::new();
    let (mut changed, mut any_genai) = (false, false);
    let mut server: Option<Endpoint> = None;
    // The resource: its part's index and its body.
    let mut resource: Option<(usize, &[u8])> = None;
    for f in fields(rs) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => {
                resource = Some((parts.len(), &rs[f.value.clone()]));
                parts.push(Piece::Input(whole(rs, &f)));
            }
            (2, 2) => {
                let mut scope = Scope::default();
                scope_spans(p, &rs[f.value.clone()], &mut scope, found)?;
                any_genai |= scope.any_genai;
                if server.is_none() {
                    server = scope.server;
                }
                if scope.changed {
                    changed = true;
                    parts.push(nested(2, scope.parts));
                } else {
                    parts.push(Piece::Input(whole(rs, &f)));
                }
            }
            _ => parts.push(Piece::Input(whole(rs, &f))),
        }
    }
    if any_genai && p.config.node_context {
        let old = resource.map_or(&[][..], |(_, body)| body);
        let mut r = Resource::decode(old).map_err(WireError::Decode)?;
        let before = r.attributes.len();
        p.node.add_to(&mut r.attributes, server.as_ref());
        if r.attributes.len() != before || resource.is_none() {
            changed = true;
            let mut field = BytesMut::with_capacity(r.encoded_len() + 8);
            put_len_prefix(&mut field, 1, r.encoded_len());
            // Cannot fail: the buffer grows.
            let _ = r.encode(&mut field);
            match resource {
                Some((at, _)) => parts[at] = Piece::Written(field),
                None => parts.insert(0, Piece::Written(field)),
            }
        }
    }
    Ok(changed.then(|| nested(1, parts)))
}

#[derive(Default)]
struct Scope<'a> {
    parts: Vec<Piece<'a>>,
    changed: bool,
    any_genai: bool,
    /// The first GenAI span's server (node context).
    server: Option<Endpoint>,
}

fn scope_spans<'a>(
    p: &GenaiProcessor,
    ss: &'a [u8],
    scope: &mut Scope<'a>,
    found: &mut Found,
) -> Result<(), WireError> {
    for f in fields(ss) {
        let f = f?;
        if (f.number, f.wire_type) != (2, 2) {
            scope.parts.push(Piece::Input(whole(ss, &f)));
            continue;
        }
        let (facts, plan) = span(p, &ss[f.value.clone()])?;
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
        match plan {
            Some(plan) => {
                scope.changed = true;
                scope.parts.push(Piece::Span(Box::new(plan)));
            }
            None => scope.parts.push(Piece::Input(whole(ss, &f))),
        }
    }
    Ok(())
}

struct SpanFacts<'a> {
    trace_id: &'a [u8],
    genai: bool,
    server: Option<Endpoint>,
}

/// A changed span: its bytes and what replaces some of its fields.
struct SpanPlan<'a> {
    span: &'a [u8],
    /// The span's fields in order, as runs of bytes kept and the fields replaced.
    segments: Vec<Segment>,
    attrs: WireAttrs<'a>,
    name: Option<String>,
    /// Per event in order: its new body when it changed.
    events: Vec<Option<BytesMut>>,
    /// Length of the rewritten body.
    len: usize,
}

/// A run of the span's fields, read once on arrival.
enum Segment {
    /// Fields kept as they are (adjacent ones merged).
    Bytes(Range<usize>),
    /// The attributes (where the first attributes field was).
    Attrs,
    /// The name field (the new name when renamed).
    Name(Range<usize>),
    /// Event `i` (its new body when it changed).
    Event(usize, Range<usize>),
}

/// Adds the field `whole` to the kept runs.
fn keep(segments: &mut Vec<Segment>, whole: Range<usize>) {
    if let Some(Segment::Bytes(run)) = segments.last_mut() {
        if run.end == whole.start {
            run.end = whole.end;
            return;
        }
    }
    segments.push(Segment::Bytes(whole));
}

/// A piece of a rewritten span, in order.
enum Part<'p> {
    Bytes(&'p [u8]),
    Attrs,
    Name(&'p str),
    Event(&'p [u8]),
}

impl SpanPlan<'_> {
    /// The rewritten span's pieces in order; both sizing and writing walk them.
    fn layout<'p>(&'p self, mut each: impl FnMut(Part<'p>)) {
        for segment in &self.segments {
            match segment {
                Segment::Bytes(run) => each(Part::Bytes(&self.span[run.clone()])),
                Segment::Attrs => each(Part::Attrs),
                Segment::Name(field) => match &self.name {
                    Some(name) => each(Part::Name(name)),
                    None => each(Part::Bytes(&self.span[field.clone()])),
                },
                Segment::Event(i, field) => match self.events.get(*i) {
                    Some(Some(body)) => each(Part::Event(body)),
                    _ => each(Part::Bytes(&self.span[field.clone()])),
                },
            }
        }
        let has = |f: fn(&Segment) -> bool| self.segments.iter().any(f);
        if !has(|s| matches!(s, Segment::Attrs)) {
            each(Part::Attrs);
        }
        if let (Some(name), false) = (&self.name, has(|s| matches!(s, Segment::Name(_)))) {
            each(Part::Name(name));
        }
    }
}

/// One span, its fields walked once: what the walk needs of it, and its plan when it
/// changed.
fn span<'a>(
    p: &GenaiProcessor,
    span: &'a [u8],
) -> Result<(SpanFacts<'a>, Option<SpanPlan<'a>>), WireError> {
    let mut attrs = WireAttrs::with_capacity(32);
    let (mut trace_id, mut root, mut name, mut failed): (&[u8], bool, &str, bool) =
        (&[], true, "", false);
    let (mut start, mut end, mut span_id): (u64, u64, &[u8]) = (0, 0, &[]);
    let mut new_events: Vec<Option<BytesMut>> = Vec::new();
    let mut segments: Vec<Segment> = Vec::with_capacity(6);
    let mut attrs_seen = false;
    for f in fields(span) {
        let f = f?;
        let field = f.start..f.value.end;
        match (f.number, f.wire_type) {
            (1, 2) => trace_id = &span[f.value.clone()],
            (4, 2) => root = f.value.is_empty(),
            (5, 2) => name = utf8(span, &f)?,
            (9, 2) => attrs.add_encoded(&span[f.value.clone()])?,
            (11, 2) => new_events.push(event(p, &span[f.value.clone()])?),
            (15, 2) => failed = status_code(&span[f.value.clone()])? == StatusCode::Error as u64,
            (2, 2) => span_id = &span[f.value.clone()],
            (7, 1) => start = lenient::fixed64(&span[f.value.clone()]),
            (8, 1) => end = lenient::fixed64(&span[f.value.clone()]),
            _ => {}
        }
        match (f.number, f.wire_type) {
            (9, 2) if attrs_seen => {}
            (9, 2) => {
                attrs_seen = true;
                segments.push(Segment::Attrs);
            }
            (5, 2) => segments.push(Segment::Name(field)),
            (11, 2) => segments.push(Segment::Event(new_events.len() - 1, field)),
            _ => keep(&mut segments, field),
        }
    }
    let genai = normalize(&mut attrs, p.config.keep_original, root);
    p.scrub(&mut attrs, false);
    let new_name = if genai {
        p.genai_span(&mut attrs, name, failed)
    } else {
        None
    };
    let server = if genai && p.config.node_context {
        p.node
            .add_gpu_during(&mut attrs, (start, end), trace_id, span_id);
        Endpoint::of(&attrs)
    } else {
        None
    };
    let facts = SpanFacts {
        trace_id,
        genai,
        server,
    };
    if !attrs.changed() && new_name.is_none() && new_events.iter().all(Option::is_none) {
        return Ok((facts, None));
    }
    let mut plan = SpanPlan {
        span,
        segments,
        attrs,
        name: new_name,
        events: new_events,
        len: 0,
    };
    let mut len = 0;
    plan.layout(|part| {
        len += match part {
            Part::Bytes(b) => b.len(),
            Part::Attrs => plan.attrs.encoded_len(),
            Part::Name(n) => len_field_size(n.len()),
            Part::Event(b) => len_field_size(b.len()),
        }
    });
    plan.len = len;
    Ok((facts, Some(plan)))
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
