//! An encoded `ExportTraceServiceRequest` split by trace without decoding it: per
//! resource block, one piece per trace, an encoded `ResourceSpans` with the block's own
//! fields (resource, schema URL) and, per scope block, its scope fields and that trace's
//! spans, all copied as their bytes (`tail_sampling` holds these; a kept trace is passed
//! on as the bytes it came as). The grouping is `crate::split::spans_by`'s, so both give
//! the same pieces.

use std::collections::HashMap;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::{fields, len_field_size, put_len_prefix, WireError};
use crate::repeated::{Repeated, TooMuchRepeated};
use crate::split::trace_id_of;

type TraceId = [u8; 16];

/// One trace's spans of one resource block.
pub struct Piece {
    pub id: TraceId,
    /// The encoded `ResourceSpans` (a request's field 1, without its key and length).
    pub body: Bytes,
    pub spans: usize,
    /// Whether it holds a root span (no parent); read only when asked.
    pub root: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Repeated(#[from] TooMuchRepeated),
}

/// A span of a trace's piece: its scope block and where the whole span field lies.
type Member = (usize, Range<usize>);

/// A scope block: its own fields and its spans (whole fields, key included).
struct ScopeBlock {
    head: Vec<Range<usize>>,
    head_len: usize,
    spans: Vec<(TraceId, Range<usize>, bool)>,
}

/// The request's spans grouped by trace, in arrival order (`roots`: read whether each
/// piece holds a root span). A piece copies its resource and scope fields: a request
/// whose pieces would copy more than `repeated::LIMIT` bytes of them is refused.
pub fn split_by_trace(buf: &[u8], roots: bool) -> Result<Vec<Piece>, SplitError> {
    let mut out: Vec<Piece> = Vec::new();
    let mut repeated = Repeated::new("resource and scope text");
    for rs in fields(buf) {
        let rs = rs?;
        if (rs.number, rs.wire_type) != (1, 2) {
            continue;
        }
        let base = rs.value.start;
        let block = &buf[rs.value];
        let (mut head, mut head_len) = (Vec::new(), 0);
        let mut scopes: Vec<ScopeBlock> = Vec::new();
        for f in fields(block) {
            let f = f?;
            let whole = base + f.start..base + f.value.end;
            if (f.number, f.wire_type) == (2, 2) {
                scopes.push(scope_block(
                    buf,
                    base + f.value.start..base + f.value.end,
                    roots,
                )?);
            } else {
                head_len += whole.len();
                head.push(whole);
            }
        }
        // Per trace of this block: its place in `out` and its (scope, span) pairs.
        let mut traces: HashMap<TraceId, usize> = HashMap::new();
        let mut members: Vec<Vec<Member>> = Vec::new();
        let first = out.len();
        for (s, scope) in scopes.iter().enumerate() {
            for (id, span, root) in &scope.spans {
                let at = *traces.entry(*id).or_insert_with(|| {
                    out.push(Piece {
                        id: *id,
                        body: Bytes::new(),
                        spans: 0,
                        root: false,
                    });
                    members.push(Vec::new());
                    out.len() - 1 - first
                });
                out[first + at].spans += 1;
                out[first + at].root |= root;
                members[at].push((s, span.clone()));
            }
        }
        for (at, spans) in members.iter().enumerate() {
            repeated.add("group the request is split into", head_len, 1)?;
            let body = piece_body(buf, &head, &scopes, spans, &mut repeated)?;
            out[first + at].body = body;
        }
    }
    Ok(out)
}

fn scope_block(buf: &[u8], body: Range<usize>, roots: bool) -> Result<ScopeBlock, WireError> {
    let base = body.start;
    let scope = &buf[body];
    let mut block = ScopeBlock {
        head: Vec::new(),
        head_len: 0,
        spans: Vec::new(),
    };
    for f in fields(scope) {
        let f = f?;
        let whole = base + f.start..base + f.value.end;
        if (f.number, f.wire_type) == (2, 2) {
            let (id, root) = span_facts(&scope[f.value], roots)?;
            block.spans.push((id, whole, root));
        } else {
            block.head_len += whole.len();
            block.head.push(whole);
        }
    }
    Ok(block)
}

/// A span's trace id (the last field 1, as a decoder reads it) and whether it has no
/// parent (only when `roots`).
fn span_facts(span: &[u8], roots: bool) -> Result<(TraceId, bool), WireError> {
    let (mut id, mut parent): (&[u8], &[u8]) = (&[], &[]);
    for f in fields(span) {
        let f = f?;
        match (f.number, f.wire_type) {
            (1, 2) => id = &span[f.value],
            (4, 2) if roots => parent = &span[f.value],
            _ => {}
        }
    }
    Ok((trace_id_of(id), roots && parent.iter().all(|b| *b == 0)))
}

/// One trace's `ResourceSpans`: the block's own fields, then per scope block (in order)
/// its fields and the trace's spans in it.
fn piece_body(
    buf: &[u8],
    head: &[Range<usize>],
    scopes: &[ScopeBlock],
    spans: &[Member],
    repeated: &mut Repeated,
) -> Result<Bytes, TooMuchRepeated> {
    // Runs of spans from one scope block.
    let mut runs: Vec<(usize, &[Member])> = Vec::new();
    let mut start = 0;
    for i in 1..=spans.len() {
        if i == spans.len() || spans[i].0 != spans[start].0 {
            runs.push((spans[start].0, &spans[start..i]));
            start = i;
        }
    }
    let scope_len = |s: usize, run: &[Member]| {
        scopes[s].head_len + run.iter().map(|(_, r)| r.len()).sum::<usize>()
    };
    let len = head.iter().map(Range::len).sum::<usize>()
        + runs
            .iter()
            .map(|(s, run)| len_field_size(scope_len(*s, run)))
            .sum::<usize>();
    let mut body = BytesMut::with_capacity(len);
    for r in head {
        body.extend_from_slice(&buf[r.clone()]);
    }
    for (s, run) in runs {
        repeated.add("group the request is split into", scopes[s].head_len, 1)?;
        put_len_prefix(&mut body, 2, scope_len(s, run));
        for r in &scopes[s].head {
            body.extend_from_slice(&buf[r.clone()]);
        }
        for (_, r) in run {
            body.extend_from_slice(&buf[r.clone()]);
        }
    }
    debug_assert_eq!(body.len(), len);
    Ok(body.freeze())
}
