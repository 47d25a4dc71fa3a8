//! Splitting a request's spans (or log records) by a key, keeping each item's resource
//! and scope: what routes traces by trace id (load balancing) and groups them per trace
//! (tail sampling).

use std::collections::HashMap;
use std::hash::Hash;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// Per key and per resource block, one piece with the resource, the scopes and the spans
/// of that key, in arrival order; with the number of spans in it.
pub fn spans_by<K: Hash + Eq + Copy>(
    request: ExportTraceServiceRequest,
    mut key: impl FnMut(Option<&Resource>, &Span) -> K,
) -> Vec<(K, ResourceSpans, usize)> {
    let mut out: Vec<(K, ResourceSpans, usize)> = Vec::new();
    for rs in request.resource_spans {
        // Per key in this resource block: its piece in `out` and the scope block its last
        // ScopeSpans came from (spans of one scope block stay together).
        let mut pieces: HashMap<K, (usize, usize)> = HashMap::new();
        for (s, ss) in rs.scope_spans.into_iter().enumerate() {
            for span in ss.spans {
                let k = key(rs.resource.as_ref(), &span);
                let (i, last_scope) = pieces.entry(k).or_insert_with(|| {
                    out.push((
                        k,
                        ResourceSpans {
                            resource: rs.resource.clone(),
                            scope_spans: Vec::new(),
                            schema_url: rs.schema_url.clone(),
                        },
                        0,
                    ));
                    (out.len() - 1, usize::MAX)
                });
                let piece = &mut out[*i];
                piece.2 += 1;
                match piece.1.scope_spans.last_mut() {
                    Some(last) if *last_scope == s => last.spans.push(span),
                    _ => {
                        *last_scope = s;
                        piece.1.scope_spans.push(ScopeSpans {
                            scope: ss.scope.clone(),
                            spans: vec![span],
                            schema_url: ss.schema_url.clone(),
                        });
                    }
                }
            }
        }
    }
    out
}

/// [`spans_by`] for log records.
pub fn logs_by<K: Hash + Eq + Copy>(
    request: ExportLogsServiceRequest,
    mut key: impl FnMut(Option<&Resource>, &LogRecord) -> K,
) -> Vec<(K, ResourceLogs, usize)> {
    let mut out: Vec<(K, ResourceLogs, usize)> = Vec::new();
    for rl in request.resource_logs {
        let mut pieces: HashMap<K, (usize, usize)> = HashMap::new();
        for (s, sl) in rl.scope_logs.into_iter().enumerate() {
            for record in sl.log_records {
                let k = key(rl.resource.as_ref(), &record);
                let (i, last_scope) = pieces.entry(k).or_insert_with(|| {
                    out.push((
                        k,
                        ResourceLogs {
                            resource: rl.resource.clone(),
                            scope_logs: Vec::new(),
                            schema_url: rl.schema_url.clone(),
                        },
                        0,
                    ));
                    (out.len() - 1, usize::MAX)
                });
                let piece = &mut out[*i];
                piece.2 += 1;
                match piece.1.scope_logs.last_mut() {
                    Some(last) if *last_scope == s => last.log_records.push(record),
                    _ => {
                        *last_scope = s;
                        piece.1.scope_logs.push(ScopeLogs {
                            scope: sl.scope.clone(),
                            log_records: vec![record],
                            schema_url: sl.schema_url.clone(),
                        });
                    }
                }
            }
        }
    }
    out
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
        let pieces = spans_by(request, |_, s| trace_id_of(&s.trace_id)[0]);
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
}
