//! Where llamacol pushes its own logs and metrics: OpenTelemetry's declarative
//! processors and exporters (`logs.processors`, `metrics.readers[].periodic.exporter`).

use serde::Deserialize;
use serde_yaml::Value;

/// One of `service.telemetry.logs.processors` (OpenTelemetry's declarative config):
/// `batch` or `simple`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogProcessor {
    /// Records are sent in batches: `schedule_delay` (ms, default 1000) after the first,
    /// or at `max_export_batch_size` (512); `max_queue_size` (2048) records wait at most
    /// (more are counted as dropped).
    pub batch: Option<BatchLogProcessor>,
    /// Every record is sent on its own.
    pub simple: Option<SimpleLogProcessor>,
}

impl LogProcessor {
    /// The processor's exporter, or why the entry is not one processor.
    pub fn exporter(&self) -> Result<&PushExporter, String> {
        match (&self.batch, &self.simple) {
            (Some(b), None) => Ok(&b.exporter),
            (None, Some(s)) => Ok(&s.exporter),
            _ => Err(
                "each processor is one of `batch: {exporter: ...}` or `simple: {exporter: ...}`"
                    .into(),
            ),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchLogProcessor {
    pub exporter: PushExporter,
    #[serde(default = "default_schedule_delay")]
    pub schedule_delay: u64,
    #[serde(default = "default_export_timeout")]
    pub export_timeout: u64,
    #[serde(default = "default_max_queue_size")]
    pub max_queue_size: usize,
    #[serde(default = "default_max_export_batch_size")]
    pub max_export_batch_size: usize,
}

fn default_schedule_delay() -> u64 {
    1000
}
pub(super) fn default_export_timeout() -> u64 {
    30000
}
fn default_max_queue_size() -> usize {
    2048
}
fn default_max_export_batch_size() -> usize {
    512
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimpleLogProcessor {
    pub exporter: PushExporter,
}

/// Where llamacol pushes its own logs or metrics: OpenTelemetry's declarative exporter
/// block. `otlp` takes `protocol`; `otlp_http` and `otlp_grpc` are the schema's newer keys.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PushExporter {
    pub otlp: Option<OtlpPush>,
    pub otlp_http: Option<OtlpPush>,
    pub otlp_grpc: Option<OtlpPush>,
    /// Written to llamacol's log (logs) or stderr (metrics) instead.
    pub console: Option<Value>,
}

/// How an OTLP push is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushProtocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

/// `otlp` in a push exporter (the keys llamacol's `otlp` exporter has a twin for).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtlpPush {
    /// `grpc`, `http/protobuf` (default) or `http/json`.
    pub protocol: Option<String>,
    /// gRPC: `host:port` or a URL; HTTP: the full URL (`http://host:4318/v1/metrics`).
    pub endpoint: String,
    /// `[{name, value}]` (the schema's form) or a map.
    #[serde(default)]
    pub headers: Option<Value>,
    /// `gzip` or `none`.
    pub compression: Option<String>,
    /// Milliseconds per export. Default 10000.
    pub timeout: Option<u64>,
    /// gRPC without TLS (also implied by an `http://` endpoint).
    #[serde(default)]
    pub insecure: bool,
    /// A CA file to verify the server with.
    pub certificate: Option<String>,
    /// Metrics only: `cumulative` (default) is what llamacol's counters are.
    pub temporality_preference: Option<String>,
}

impl OtlpPush {
    pub fn protocol(&self, grpc_key: bool) -> Result<PushProtocol, String> {
        match (self.protocol.as_deref(), grpc_key) {
            (_, true) | (Some("grpc"), _) => Ok(PushProtocol::Grpc),
            (None | Some("http/protobuf"), false) => Ok(PushProtocol::HttpProtobuf),
            (Some("http/json"), false) => Ok(PushProtocol::HttpJson),
            (Some(other), false) => Err(format!(
                "unknown protocol `{other}`; use `grpc`, `http/protobuf` or `http/json`"
            )),
        }
    }

    /// `headers` as pairs, from the schema's `[{name, value}]` list or a map.
    pub fn header_pairs(&self) -> Result<Vec<(String, String)>, String> {
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match &self.headers {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Mapping(m)) => m
                .iter()
                .map(|(k, v)| match (text(k), text(v)) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => Err("a header is `name: value`".to_string()),
                })
                .collect(),
            Some(Value::Sequence(list)) => list
                .iter()
                .map(
                    |h| match (h.get("name").and_then(text), h.get("value").and_then(text)) {
                        (Some(k), Some(v)) => Ok((k, v)),
                        _ => Err("each header is `{name: ..., value: ...}`".to_string()),
                    },
                )
                .collect(),
            Some(_) => Err("`headers` is a list of `{name, value}` or a map".to_string()),
        }
    }
}

impl PushExporter {
    /// What is wrong with this block, if anything (its target and its headers).
    pub fn check(&self) -> Result<(), String> {
        match self.target()? {
            Some((_, otlp)) => otlp.header_pairs().map(drop),
            None => Ok(()),
        }
    }

    /// The one exporter this block names: OTLP (with its protocol) or the console.
    pub fn target(&self) -> Result<Option<(PushProtocol, &OtlpPush)>, String> {
        let given = [
            self.otlp.as_ref().map(|o| (o, false)),
            self.otlp_http.as_ref().map(|o| (o, false)),
            self.otlp_grpc.as_ref().map(|o| (o, true)),
        ];
        let mut otlp = given.into_iter().flatten();
        let first = otlp.next();
        let several = otlp.next().is_some() || (first.is_some() && self.console.is_some());
        if several {
            return Err("name one exporter: `otlp`, `otlp_http`, `otlp_grpc` or `console`".into());
        }
        match first {
            Some((o, grpc)) => Ok(Some((o.protocol(grpc)?, o))),
            None if self.console.is_some() => Ok(None),
            None => Err("name an exporter: `otlp: {protocol: http/protobuf, endpoint: http://host:4318/v1/logs}` or `console: {}`".into()),
        }
    }
}
