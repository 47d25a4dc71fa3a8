//! The last GenAI traces, for the live page's trace list: at most [`MAX_TRACES`] traces of
//! at most [`MAX_SPANS`] spans, attribute text capped per span, and at most
//! [`ADMITTED_PER_SECOND`] new traces a second, so what it holds and what it costs the
//! data path stay bounded whatever the load.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::Span;

pub const MAX_TRACES: usize = 50;
pub const MAX_SPANS: usize = 64;
/// Attribute keys and values of one span, in bytes, beyond which the rest is left out.
pub const MAX_ATTRIBUTE_BYTES: usize = 2048;
pub const ADMITTED_PER_SECOND: f64 = 20.0;

pub type TraceId = [u8; 16];

/// One span as the page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveSpan {
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub service: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// `OK`, `ERROR` or `UNSET`.
    pub status: &'static str,
    pub status_message: String,
    pub attributes: Vec<(String, String)>,
    /// Attributes left out over [`MAX_ATTRIBUTE_BYTES`].
    pub attributes_left_out: usize,
}

#[derive(Debug)]
struct Trace {
    id: TraceId,
    spans: Vec<LiveSpan>,
    /// Spans left out over [`MAX_SPANS`].
    spans_left_out: usize,
}

#[derive(Debug)]
pub struct RecentTraces {
    traces: VecDeque<Trace>,
    index: HashMap<TraceId, u64>,
    /// Sequence number of `traces[0]`.
    first: u64,
    /// New traces that may still be admitted (refilled over time).
    budget: f64,
    refilled: Instant,
    /// The list as last rendered, reused for a second: every viewer polls once a second,
    /// and ten of them need not render it ten times.
    rendered: Option<(Instant, serde_json::Value)>,
}

impl Default for RecentTraces {
    fn default() -> Self {
        RecentTraces {
            traces: VecDeque::with_capacity(MAX_TRACES),
            index: HashMap::with_capacity(MAX_TRACES),
            first: 0,
            budget: ADMITTED_PER_SECOND,
            refilled: Instant::now(),
            rendered: None,
        }
    }
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    bytes.try_into().ok()
}

/// The trace id of an encoded span, read in place: every span of every request is asked,
/// and encoders write the trace id first, so the walk nearly always stops at one field.
fn span_trace_id(span: &[u8]) -> Result<Option<TraceId>, crate::wire::WireError> {
    for f in crate::wire::fields(span) {
        let f = f?;
        if (f.number, f.wire_type) == (1, 2) {
            return Ok(trace_id(&span[f.value]));
        }
    }
    Ok(None)
}

fn service_name(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .map(|kv| text(kv.value.as_ref()))
        .unwrap_or_default()
}

impl RecentTraces {
    /// Takes the spans of `request` whose trace is kept, after admitting the traces of
    /// `genai` (trace ids of spans with a GenAI operation) while the budget allows.
    pub fn offer(&mut self, request: &ExportTraceServiceRequest, genai: &[TraceId]) {
        if !self.admit_offered(genai) {
            return;
        }
        for rs in &request.resource_spans {
            let service = service_name(rs.resource.as_ref());
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                if let Some(id) = trace_id(&span.trace_id) {
                    self.take(id, span, &service);
                }
            }
        }
    }

    /// As [`RecentTraces::offer`] for an encoded request: only the spans of kept traces
    /// (and their resources) are decoded. A request that does not read stops the walk (it
    /// is only a view: the data path reports malformed requests).
    pub fn offer_encoded(&mut self, request: &[u8], genai: &[TraceId]) {
        if !self.admit_offered(genai) {
            return;
        }
        let _ = self.take_encoded(request);
    }

    fn take_encoded(&mut self, request: &[u8]) -> Result<(), crate::wire::WireError> {
        use crate::wire::fields;
        use prost::Message;
        for rs in fields(request) {
            let rs = rs?;
            if (rs.number, rs.wire_type) != (1, 2) {
                continue;
            }
            let rs = &request[rs.value];
            let mut resource: Option<&[u8]> = None;
            let mut service: Option<String> = None;
            for f in fields(rs) {
                let f = f?;
                match (f.number, f.wire_type) {
                    (1, 2) => resource = Some(&rs[f.value]),
                    (2, 2) => {
                        let ss = &rs[f.value];
                        for g in fields(ss) {
                            let g = g?;
                            if (g.number, g.wire_type) != (2, 2) {
                                continue;
                            }
                            let span = &ss[g.value];
                            let Some(id) = span_trace_id(span)? else {
                                continue;
                            };
                            if !self.index.contains_key(&id) {
                                continue;
                            }
                            let span =
                                Span::decode(span).map_err(crate::wire::WireError::Decode)?;
                            let service = service.get_or_insert_with(|| {
                                let r = resource.and_then(|r| Resource::decode(r).ok());
                                service_name(r.as_ref())
                            });
                            self.take(id, &span, service);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Refills the budget and admits what it allows of `genai`; whether any trace is
    /// kept at all.
    fn admit_offered(&mut self, genai: &[TraceId]) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.budget = (self.budget + elapsed * ADMITTED_PER_SECOND).min(ADMITTED_PER_SECOND);
        for id in genai {
            if self.budget < 1.0 {
                break;
            }
            if !self.index.contains_key(id) {
                self.admit(*id);
                self.budget -= 1.0;
            }
        }
        !self.index.is_empty()
    }

    /// Adds `span` to its trace when that trace is kept.
    fn take(&mut self, id: TraceId, span: &Span, service: &str) {
        let Some(&seq) = self.index.get(&id) else {
            return;
        };
        let trace = &mut self.traces[(seq - self.first) as usize];
        let hex = crate::wire::hex(&span.span_id);
        if trace.spans.iter().any(|s| s.span_id == hex) {
            return; // a retried export
        }
        if trace.spans.len() < MAX_SPANS {
            trace.spans.push(live_span(span, service, hex));
        } else {
            trace.spans_left_out += 1;
        }
    }

    fn admit(&mut self, id: TraceId) {
        if self.traces.len() == MAX_TRACES {
            if let Some(old) = self.traces.pop_front() {
                self.index.remove(&old.id);
            }
            self.first += 1;
        }
        self.index.insert(id, self.first + self.traces.len() as u64);
        self.traces.push_back(Trace {
            id,
            spans: Vec::new(),
            spans_left_out: 0,
        });
    }

    /// The kept traces, newest first, as the list shows them (rendered at most once a
    /// second).
    pub fn list(&mut self) -> serde_json::Value {
        if let Some((at, list)) = &self.rendered {
            if at.elapsed() < std::time::Duration::from_secs(1) {
                return list.clone();
            }
        }
        let list: serde_json::Value = self
            .traces
            .iter()
            .rev()
            .filter(|t| !t.spans.is_empty())
            .map(summary)
            .collect();
        self.rendered = Some((Instant::now(), list.clone()));
        list
    }

    /// One kept trace with all its spans.
    pub fn get(&self, id_hex: &str) -> Option<serde_json::Value> {
        let trace = self
            .traces
            .iter()
            .find(|t| crate::wire::hex(&t.id) == id_hex)?;
        let mut out = summary(trace);
        out["spans"] = serde_json::to_value(&trace.spans).unwrap_or_default();
        out["spans_left_out"] = trace.spans_left_out.into();
        Some(out)
    }
}

fn summary(trace: &Trace) -> serde_json::Value {
    let start = trace
        .spans
        .iter()
        .map(|s| s.start_unix_nano)
        .min()
        .unwrap_or(0);
    let end = trace
        .spans
        .iter()
        .map(|s| s.end_unix_nano)
        .max()
        .unwrap_or(0);
    let ids: HashSet<&str> = trace.spans.iter().map(|s| s.span_id.as_str()).collect();
    let root = trace
        .spans
        .iter()
        .find(|s| s.parent_span_id.is_empty() || !ids.contains(s.parent_span_id.as_str()))
        .or(trace.spans.first());
    let status = if trace.spans.iter().any(|s| s.status == "ERROR") {
        "ERROR"
    } else if trace.spans.iter().all(|s| s.status == "OK") {
        "OK"
    } else {
        "UNSET"
    };
    let model = trace.spans.iter().find_map(|s| {
        s.attributes
            .iter()
            .find(|(k, _)| k == "gen_ai.request.model")
            .map(|(_, v)| v.clone())
    });
    serde_json::json!({
        "trace_id": crate::wire::hex(&trace.id),
        "name": root.map(|s| s.name.clone()).unwrap_or_default(),
        "service": root.map(|s| s.service.clone()).unwrap_or_default(),
        "model": model,
        "start_unix_nano": start,
        "duration_ms": end.saturating_sub(start) as f64 / 1e6,
        "spans": trace.spans.len() + trace.spans_left_out,
        "status": status,
    })
}

fn live_span(span: &Span, service: &str, span_id: String) -> LiveSpan {
    let mut attributes = Vec::new();
    let mut bytes = 0;
    let mut left_out = 0;
    for kv in &span.attributes {
        let value = text(kv.value.as_ref());
        bytes += kv.key.len() + value.len();
        if bytes > MAX_ATTRIBUTE_BYTES {
            left_out += 1;
        } else {
            attributes.push((kv.key.clone(), value));
        }
    }
    let (status, status_message) = match &span.status {
        Some(s) if s.code == 1 => ("OK", s.message.clone()),
        Some(s) if s.code == 2 => ("ERROR", s.message.clone()),
        _ => ("UNSET", String::new()),
    };
    LiveSpan {
        span_id,
        parent_span_id: crate::wire::hex(&span.parent_span_id),
        name: span.name.clone(),
        service: service.to_string(),
        start_unix_nano: span.start_time_unix_nano,
        end_unix_nano: span.end_time_unix_nano,
        status,
        status_message,
        attributes,
        attributes_left_out: left_out,
    }
}

/// An attribute value as text (arrays and maps as compact JSON-like text).
fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        // A string-table index only means something with the profile it came with.
        None | Some(Value::StringValueStrindex(_)) => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => crate::wire::hex(b),
        Some(Value::ArrayValue(a)) => format!(
            "[{}]",
            a.values
                .iter()
                .map(|v| text(Some(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Value::KvlistValue(l)) => format!(
            "{{{}}}",
            l.values
                .iter()
                .map(|KeyValue { key, value, .. }| format!("{key}: {}", text(value.as_ref())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::resource::v1::Resource;
    use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Status};

    fn span(trace: u8, id: u8, parent: Option<u8>, status: i32) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: format!("span {id}"),
            start_time_unix_nano: 1_000_000_000 + u64::from(id),
            end_time_unix_nano: 2_000_000_000,
            status: Some(Status {
                code: status,
                message: String::new(),
            }),
            attributes: vec![KeyValue {
                key: "gen_ai.request.model".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("tiny".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(Value::StringValue("chat-app".into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn keeps_genai_traces_with_all_their_spans_newest_first() {
        let mut recent = RecentTraces::default();
        let batch = request(vec![
            span(1, 1, None, 1),
            span(1, 2, Some(1), 2),
            span(2, 3, None, 0),
        ]);
        recent.offer(&batch, &[[1; 16]]);
        recent.offer(&request(vec![span(1, 4, Some(1), 1)]), &[]);
        recent.offer(&batch, &[]); // retried: no duplicates
        let list = recent.list();
        let list = list.as_array().expect("list");
        assert_eq!(list.len(), 1, "trace 2 has no GenAI span: {list:?}");
        assert_eq!(list[0]["spans"], 3);
        assert_eq!(list[0]["status"], "ERROR");
        assert_eq!(list[0]["name"], "span 1");
        assert_eq!(list[0]["service"], "chat-app");
        assert_eq!(list[0]["model"], "tiny");
        let trace = recent.get(&"01".repeat(16)).expect("kept");
        assert_eq!(trace["spans"][1]["parent_span_id"], "01".repeat(8));
        assert_eq!(trace["spans"][1]["status"], "ERROR");
    }

    #[test]
    fn bounded_in_traces_and_in_new_traces_per_second() {
        let mut recent = RecentTraces::default();
        let ids: Vec<TraceId> = (0..=255u8).map(|i| [i; 16]).collect();
        let spans = (0..=255u8).map(|i| span(i, 1, None, 0)).collect();
        recent.offer(&request(spans), &ids);
        assert_eq!(
            recent.list().as_array().map(Vec::len),
            Some(ADMITTED_PER_SECOND as usize),
            "the admission budget"
        );
        // Two seconds later, two more budgets' worth: past MAX_TRACES, the oldest go.
        for _ in 0..2 {
            recent.refilled -= std::time::Duration::from_secs(1);
            let spans = (0..=255u8).map(|i| span(i, 1, None, 0)).collect();
            recent.offer(&request(spans), &ids);
        }
        assert_eq!(recent.traces.len(), MAX_TRACES);
        assert_eq!(recent.index.len(), MAX_TRACES);
        assert!(recent.get(&"00".repeat(16)).is_none(), "oldest evicted");
    }
}
