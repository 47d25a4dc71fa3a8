//! One window's spans as a graph, the way the llamatelemetry notebooks draw it: nodes are
//! spans, edges go parent -> child; with `edges: service`, also a node per service and
//! service -> service edges with call counts. Built as Arrow record batches and written
//! as Arrow IPC files, which Graphistry's upload API takes.

use llamacol_api::wire::hex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use llamacol_api::attributes::value_string;
use llamacol_api::otlp::common::v1::{any_value, KeyValue};
use llamacol_api::otlp::trace::v1::Span;

use super::config::EdgeMode;

/// Graphistry's categorical colors for the `status` column.
pub const STATUS_COLORS: [(&str, &str); 3] = [
    ("OK", "#4CAF50"),
    ("ERROR", "#F44336"),
    ("UNSET", "#9E9E9E"),
];

/// One span as a node.
struct SpanNode {
    span_id: String,
    trace_id: String,
    name: String,
    service: String,
    duration_ms: f64,
    status: &'static str,
    model: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    start_ns: i64,
    /// The parent's span id (hex), when the span has one.
    parent: Option<String>,
}

/// The spans of one window.
pub struct Graph {
    pub started: SystemTime,
    nodes: Vec<SpanNode>,
    traces: HashSet<String>,
    /// Bytes of service name the nodes repeat (one copy per span).
    service_bytes: usize,
}

/// A closed window, ready to upload or write.
pub struct Built {
    pub nodes: RecordBatch,
    pub edges: RecordBatch,
    pub spans: usize,
    pub traces: usize,
    pub started: SystemTime,
    pub ended: SystemTime,
}

impl Graph {
    pub fn new(started: SystemTime) -> Graph {
        Graph {
            started,
            nodes: Vec::new(),
            traces: HashSet::new(),
            service_bytes: 0,
        }
    }

    pub fn spans(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes of service name the nodes so far repeat.
    pub fn service_bytes(&self) -> usize {
        self.service_bytes
    }

    pub fn push(&mut self, service: &str, span: &Span) {
        let trace_id = hex(&span.trace_id);
        self.traces.insert(trace_id.clone());
        self.service_bytes += service.len();
        let duration_ns = span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano);
        let status = match span.status.as_ref().map(|s| s.code) {
            Some(1) => "OK",
            Some(2) => "ERROR",
            _ => "UNSET",
        };
        let attr = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| span.attributes.iter().find(|kv| kv.key == *k))
        };
        let parent = (!span.parent_span_id.is_empty()
            && span.parent_span_id.iter().any(|b| *b != 0))
        .then(|| hex(&span.parent_span_id));
        self.nodes.push(SpanNode {
            span_id: hex(&span.span_id),
            trace_id,
            name: span.name.clone(),
            service: service.to_string(),
            duration_ms: duration_ns as f64 / 1e6,
            status,
            model: attr(&["gen_ai.request.model", "llm.model"])
                .and_then(|kv| kv.value.as_ref())
                .map(value_string),
            input_tokens: attr(&["gen_ai.usage.input_tokens", "llm.usage.input_tokens"])
                .and_then(integer),
            output_tokens: attr(&["gen_ai.usage.output_tokens", "llm.usage.output_tokens"])
                .and_then(integer),
            start_ns: i64::try_from(span.start_time_unix_nano).unwrap_or(i64::MAX),
            parent,
        });
    }

    /// The node and edge tables.
    pub fn build(
        self,
        edges: EdgeMode,
        ended: SystemTime,
    ) -> Result<Built, arrow::error::ArrowError> {
        let mut n = NodeColumns::default();
        for node in &self.nodes {
            n.span(node);
        }
        let mut e = EdgeColumns::default();
        for node in &self.nodes {
            if let Some(parent) = &node.parent {
                e.push(parent, &node.span_id, Some(&node.trace_id), "child_of", 1);
            }
        }
        if edges == EdgeMode::Service {
            let service_of: HashMap<&str, &str> = self
                .nodes
                .iter()
                .map(|n| (n.span_id.as_str(), n.service.as_str()))
                .collect();
            let mut calls: BTreeMap<(&str, &str), i64> = BTreeMap::new();
            for node in &self.nodes {
                let caller = node.parent.as_deref().and_then(|p| service_of.get(p));
                if let Some(caller) = caller {
                    if *caller != node.service {
                        *calls.entry((caller, node.service.as_str())).or_default() += 1;
                    }
                }
            }
            let services: std::collections::BTreeSet<&str> =
                self.nodes.iter().map(|n| n.service.as_str()).collect();
            for service in services {
                n.service(service);
            }
            for ((from, to), count) in calls {
                e.push(&service_id(from), &service_id(to), None, "calls", count);
            }
        }
        Ok(Built {
            nodes: n.finish()?,
            edges: e.finish()?,
            spans: self.nodes.len(),
            traces: self.traces.len(),
            started: self.started,
            ended,
        })
    }
}

/// The node id of a service node.
pub fn service_id(service: &str) -> String {
    format!("service:{service}")
}

fn integer(kv: &KeyValue) -> Option<i64> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::IntValue(i) => Some(*i),
        any_value::Value::DoubleValue(d) if d.is_finite() => Some(*d as i64),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[derive(Default)]
struct NodeColumns {
    node_type: StringBuilder,
    span_id: StringBuilder,
    trace_id: StringBuilder,
    name: StringBuilder,
    service_name: StringBuilder,
    duration_ms: Float64Builder,
    status: StringBuilder,
    model: StringBuilder,
    input_tokens: Int64Builder,
    output_tokens: Int64Builder,
    start_time: TimestampNanosecondBuilder,
}

impl NodeColumns {
    fn span(&mut self, n: &SpanNode) {
        self.node_type.append_value("span");
        self.span_id.append_value(&n.span_id);
        self.trace_id.append_value(&n.trace_id);
        self.name.append_value(&n.name);
        self.service_name.append_value(&n.service);
        self.duration_ms.append_value(n.duration_ms);
        self.status.append_value(n.status);
        self.model.append_option(n.model.as_deref());
        self.input_tokens.append_option(n.input_tokens);
        self.output_tokens.append_option(n.output_tokens);
        self.start_time.append_value(n.start_ns);
    }

    fn service(&mut self, service: &str) {
        self.node_type.append_value("service");
        self.span_id.append_value(service_id(service));
        self.trace_id.append_null();
        self.name.append_value(service);
        self.service_name.append_value(service);
        self.duration_ms.append_null();
        self.status.append_value("UNSET");
        self.model.append_null();
        self.input_tokens.append_null();
        self.output_tokens.append_null();
        self.start_time.append_null();
    }

    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let utc = Some(Arc::<str>::from("UTC"));
        let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
        let schema = Schema::new(vec![
            text("node_type", false),
            text("span_id", false),
            text("trace_id", true),
            text("name", false),
            text("service_name", false),
            Field::new("duration_ms", DataType::Float64, true),
            text("status", false),
            text("model", true),
            Field::new("input_tokens", DataType::Int64, true),
            Field::new("output_tokens", DataType::Int64, true),
            Field::new(
                "start_time",
                DataType::Timestamp(TimeUnit::Nanosecond, utc.clone()),
                true,
            ),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.node_type.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.input_tokens.finish()),
            Arc::new(self.output_tokens.finish()),
            Arc::new(self.start_time.finish().with_timezone_opt(utc)),
        ];
        RecordBatch::try_new(Arc::new(schema), columns)
    }
}

#[derive(Default)]
struct EdgeColumns {
    source: StringBuilder,
    destination: StringBuilder,
    trace_id: StringBuilder,
    edge_type: StringBuilder,
    call_count: Int64Builder,
}

impl EdgeColumns {
    fn push(&mut self, source: &str, destination: &str, trace: Option<&str>, kind: &str, n: i64) {
        self.source.append_value(source);
        self.destination.append_value(destination);
        self.trace_id.append_option(trace);
        self.edge_type.append_value(kind);
        self.call_count.append_value(n);
    }

    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let schema = Schema::new(vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("destination", DataType::Utf8, false),
            Field::new("trace_id", DataType::Utf8, true),
            Field::new("edge_type", DataType::Utf8, false),
            Field::new("call_count", DataType::Int64, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.source.finish()),
            Arc::new(self.destination.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.edge_type.finish()),
            Arc::new(self.call_count.finish()),
        ];
        RecordBatch::try_new(Arc::new(schema), columns)
    }
}

/// A table as an Arrow IPC file (what `/nodes/arrow` and `/edges/arrow` take).
pub fn ipc_file(batch: &RecordBatch) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut writer = arrow::ipc::writer::FileWriter::try_new(Vec::new(), &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    writer.into_inner()
}

/// The dataset description Graphistry's `POST /api/v2/upload/datasets/` takes: the node
/// and edge bindings (pygraphistry's `point_title`/`point_size`/`point_color` as the REST
/// API names them) and the categorical color of `status`.
pub fn dataset_json(name: &str, org_name: Option<&str>) -> serde_json::Value {
    let fixed: serde_json::Map<String, serde_json::Value> = STATUS_COLORS
        .iter()
        .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
        .collect();
    let mut json = serde_json::json!({
        "node_encodings": {
            "bindings": {
                "node": "span_id",
                "node_title": "name",
                "node_size": "duration_ms",
                "node_color": "status",
            },
            "complex": {
                "default": {
                    "pointColorEncoding": {
                        "graphType": "point",
                        "encodingType": "color",
                        "attribute": "status",
                        "variation": "categorical",
                        "mapping": {"categorical": {"fixed": fixed, "other": "#9E9E9E"}},
                    }
                }
            }
        },
        "edge_encodings": {
            "bindings": {
                "source": "source",
                "destination": "destination",
                "edge_title": "trace_id",
            }
        },
        "metadata": {
            "agent": "llamacol",
            "agentversion": env!("CARGO_PKG_VERSION"),
            "apiversion": "3",
        },
        "name": name,
        "description": "Spans (nodes) and parent -> child edges, from llamacol",
    });
    if let Some(org) = org_name {
        json["org_name"] = serde_json::Value::from(org);
    }
    json
}

/// `time` as RFC 3339 UTC, seconds precision.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}
