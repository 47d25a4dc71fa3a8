//! Splitting a request's spans (or log records) by a key, keeping each item's resource
//! and scope: what routes traces by trace id (load balancing) and groups them per trace
//! (tail sampling).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

use prost::Message;

use crate::repeated::{Repeated, TooMuchRepeated};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// What each piece repeats; the item a `Repeated` error names.
const REPEATED_TEXT: &str = "resource and scope text";
const PIECE: &str = "group the request is split into";

fn encoded_len(message: Option<&impl Message>, schema_url: &str) -> usize {
    message.map_or(0, Message::encoded_len) + schema_url.len()
}

/// Per key and per resource block, one piece with the resource, the scopes and the spans
/// of that key, in arrival order; with the number of spans in it. Each piece holds a copy
/// of its resource and scopes: a request whose pieces would copy more than
/// `repeated::LIMIT` bytes of them (a large resource on very many keys) is refused.
pub fn spans_by<K: Hash + Eq + Copy>(
    request: ExportTraceServiceRequest,
    key: impl FnMut(Option<&Resource>, &Span) -> K,
) -> Result<Vec<(K, ResourceSpans, usize)>, TooMuchRepeated> {
    pieces_by(request.resource_spans, key)
}

/// [`spans_by`] for log records.
pub fn logs_by<K: Hash + Eq + Copy>(
    request: ExportLogsServiceRequest,
    key: impl FnMut(Option<&Resource>, &LogRecord) -> K,
) -> Result<Vec<(K, ResourceLogs, usize)>, TooMuchRepeated> {
    pieces_by(request.resource_logs, key)
}

/// The resource > scope > item nesting spans and log records share.
trait Nested: Sized {
    type Scope;
    type Item;
    fn resource(&self) -> Option<&Resource>;
    fn schema_url(&self) -> &str;
    fn take_scopes(&mut self) -> Vec<Self::Scope>;
    /// The same resource block with no scopes.
    fn empty_like(&self) -> Self;
    fn scopes_mut(&mut self) -> &mut Vec<Self::Scope>;
    /// Bytes of the scope's own text (what each piece copies).
    fn scope_len(scope: &Self::Scope) -> usize;
    fn take_items(scope: &mut Self::Scope) -> Vec<Self::Item>;
    /// The same scope with only `item` in it.
    fn scope_like(scope: &Self::Scope, item: Self::Item) -> Self::Scope;
    fn items_mut(scope: &mut Self::Scope) -> &mut Vec<Self::Item>;
}

fn pieces_by<R: Nested, K: Hash + Eq + Copy>(
    blocks: Vec<R>,
    mut key: impl FnMut(Option<&Resource>, &R::Item) -> K,
) -> Result<Vec<(K, R, usize)>, TooMuchRepeated> {
    let mut out: Vec<(K, R, usize)> = Vec::new();
    let mut repeated = Repeated::new(REPEATED_TEXT);
    for mut block in blocks {
        let resource_bytes = encoded_len(block.resource(), block.schema_url());
        // Per key in this resource block: its piece in `out` and the scope block its last
        // scope came from (items of one scope block stay together).
        let mut pieces: HashMap<K, (usize, usize)> = HashMap::new();
        for (s, mut scope) in block.take_scopes().into_iter().enumerate() {
            let scope_bytes = R::scope_len(&scope);
            for item in R::take_items(&mut scope) {
                let k = key(block.resource(), &item);
                let (i, last_scope) = match pieces.entry(k) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => {
                        repeated.add(PIECE, resource_bytes, 1)?;
                        out.push((k, block.empty_like(), 0));
                        e.insert((out.len() - 1, usize::MAX))
                    }
                };
                let piece = &mut out[*i];
                piece.2 += 1;
                let scopes = piece.1.scopes_mut();
                match scopes.last_mut() {
                    Some(last) if *last_scope == s => R::items_mut(last).push(item),
                    _ => {
                        repeated.add(PIECE, scope_bytes, 1)?;
                        *last_scope = s;
                        scopes.push(R::scope_like(&scope, item));
                    }
                }
            }
        }
    }
    Ok(out)
}

impl Nested for ResourceSpans {
    type Scope = ScopeSpans;
    type Item = Span;
    fn resource(&self) -> Option<&Resource> {
        self.resource.as_ref()
    }
    fn schema_url(&self) -> &str {
        &self.schema_url
    }
    fn take_scopes(&mut self) -> Vec<ScopeSpans> {
        std::mem::take(&mut self.scope_spans)
    }
    fn empty_like(&self) -> Self {
        ResourceSpans {
            resource: self.resource.clone(),
            scope_spans: Vec::new(),
            schema_url: self.schema_url.clone(),
        }
    }
    fn scopes_mut(&mut self) -> &mut Vec<ScopeSpans> {
        &mut self.scope_spans
    }
    fn scope_len(scope: &ScopeSpans) -> usize {
        encoded_len(scope.scope.as_ref(), &scope.schema_url)
    }
    fn take_items(scope: &mut ScopeSpans) -> Vec<Span> {
        std::mem::take(&mut scope.spans)
    }
    fn scope_like(scope: &ScopeSpans, item: Span) -> ScopeSpans {
        ScopeSpans {
            scope: scope.scope.clone(),
            spans: vec![item],
            schema_url: scope.schema_url.clone(),
        }
    }
    fn items_mut(scope: &mut ScopeSpans) -> &mut Vec<Span> {
        &mut scope.spans
    }
}

impl Nested for ResourceLogs {
    type Scope = ScopeLogs;
    type Item = LogRecord;
    fn resource(&self) -> Option<&Resource> {
        self.resource.as_ref()
    }
    fn schema_url(&self) -> &str {
        &self.schema_url
    }
    fn take_scopes(&mut self) -> Vec<ScopeLogs> {
        std::mem::take(&mut self.scope_logs)
    }
    fn empty_like(&self) -> Self {
        ResourceLogs {
            resource: self.resource.clone(),
            scope_logs: Vec::new(),
            schema_url: self.schema_url.clone(),
        }
    }
    fn scopes_mut(&mut self) -> &mut Vec<ScopeLogs> {
        &mut self.scope_logs
    }
    fn scope_len(scope: &ScopeLogs) -> usize {
        encoded_len(scope.scope.as_ref(), &scope.schema_url)
    }
    fn take_items(scope: &mut ScopeLogs) -> Vec<LogRecord> {
        std::mem::take(&mut scope.log_records)
    }
    fn scope_like(scope: &ScopeLogs, item: LogRecord) -> ScopeLogs {
        ScopeLogs {
            scope: scope.scope.clone(),
            log_records: vec![item],
            schema_url: scope.schema_url.clone(),
        }
    }
    fn items_mut(scope: &mut ScopeLogs) -> &mut Vec<LogRecord> {
        &mut scope.log_records
    }
}

/// A span's (or record's) trace id as 16 bytes (zeros where it has fewer).
pub fn trace_id_of(bytes: &[u8]) -> [u8; 16] {
    let mut id = [0u8; 16];
    let n = bytes.len().min(16);
    id[..n].copy_from_slice(&bytes[..n]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: u8, name: &str) -> Span {
        Span {
            trace_id: vec![trace; 16],
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn pieces_keep_resource_scope_and_order() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![
                    ScopeSpans {
                        spans: vec![span(1, "a"), span(2, "b"), span(1, "c")],
                        ..Default::default()
                    },
                    ScopeSpans {
                        spans: vec![span(1, "d")],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        };
        let pieces = spans_by(request, |_, s| trace_id_of(&s.trace_id)[0]).expect("within");
        let names = |p: &ResourceSpans| -> Vec<Vec<String>> {
            p.scope_spans
                .iter()
                .map(|ss| ss.spans.iter().map(|s| s.name.clone()).collect())
                .collect()
        };
        assert_eq!(pieces.len(), 2);
        assert_eq!((pieces[0].0, pieces[0].2), (1, 3));
        assert_eq!(names(&pieces[0].1), vec![vec!["a", "c"], vec!["d"]]);
        assert_eq!(names(&pieces[1].1), vec![vec!["b"]]);
    }

    /// Each piece copies its resource: a 1 MiB resource split by trace into 1,100 pieces
    /// (1.1 GiB of copies from a request of about 1 MiB) is refused with the cause; into
    /// 100 pieces it is split. Log records the same.
    #[test]
    fn pieces_copying_a_large_resource_past_the_bound_are_refused() {
        let resource = Some(Resource {
            attributes: vec![crate::attributes::string("big", &"x".repeat(1 << 20))],
            ..Default::default()
        });
        let traces = |n: u16| ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource.clone(),
                scope_spans: vec![ScopeSpans {
                    spans: (0..n)
                        .map(|t| Span {
                            trace_id: t.to_be_bytes().repeat(8),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let by_trace = |_: Option<&Resource>, s: &Span| trace_id_of(&s.trace_id);
        let error = spans_by(traces(1_100), by_trace).expect_err("past the bound");
        assert!(
            error
                .to_string()
                .contains("resource and scope text repeated"),
            "{error}"
        );
        assert_eq!(spans_by(traces(100), by_trace).expect("within").len(), 100);

        let logs = |n: u16| ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource.clone(),
                scope_logs: vec![ScopeLogs {
                    log_records: (0..n)
                        .map(|t| LogRecord {
                            trace_id: t.to_be_bytes().repeat(8),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let by_trace = |_: Option<&Resource>, l: &LogRecord| trace_id_of(&l.trace_id);
        assert!(logs_by(logs(1_100), by_trace).is_err());
        assert_eq!(logs_by(logs(100), by_trace).expect("within").len(), 100);
    }
}
