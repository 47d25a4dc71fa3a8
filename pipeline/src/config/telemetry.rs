//! `service.telemetry`: llamacol's own logs and metrics, in the Collector's shape.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

/// `service.telemetry`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Attributes of llamacol's own telemetry: the resource of the logs and metrics it
    /// pushes (`logs.processors`, `metrics.readers.periodic`) and of `target_info` on
    /// `/metrics`.
    pub resource: TelemetryResource,
    pub logs: LogsConfig,
    pub admin: AdminConfig,
    /// The Collector's `service.telemetry.metrics`: how much of our own metrics to serve
    /// and where (the admin server's `/metrics`).
    pub metrics: MetricsConfig,
    /// Deadline for each shutdown stage (receivers, processors, exporter queues). Default 10s.
    #[serde(with = "humantime_serde", default = "default_shutdown_timeout")]
    pub shutdown_timeout: Duration,
}

// Written out: a derived Default would give a 0s shutdown deadline when the whole
// `service.telemetry` block is absent.
impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            resource: TelemetryResource::default(),
            logs: LogsConfig::default(),
            admin: AdminConfig::default(),
            metrics: MetricsConfig::default(),
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `service.telemetry.logs`; the `--log-level`/`--log-format` flags override it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// `trace`, `debug`, `info` (default), `warn`, `error`, or a tracing filter directive.
    pub level: Option<String>,
    pub format: Option<LogFormat>,
    /// The Collector's name for it: `console` (text) or `json`; `format` wins when both
    /// are given.
    pub encoding: Option<LogEncoding>,
    /// The Collector's (zap's) log sampling: per `tick`, the first `initial` lines from one
    /// place in the code are written, then every `thereafter`th.
    pub sampling: Option<LogSampling>,
    /// Where lines go: `stderr` (default), `stdout`, or file paths (appended to).
    pub output_paths: Vec<String>,
    /// Where lines at `error` also go (the Collector's zap errors); default: nowhere more.
    pub error_output_paths: Vec<String>,
    /// `false` adds the source file and line to each line (the Collector's default);
    /// unset: llamacol's default, without them.
    pub disable_caller: Option<bool>,
    /// llamacol writes no stack traces; accepted for the Collector's configs.
    pub disable_stacktrace: bool,
    /// zap's development mode; llamacol has none, accepted for the Collector's configs.
    pub development: bool,
    /// Pushes llamacol's own logs: `batch` or `simple` processors with an `otlp`
    /// (OTLP/gRPC or OTLP/HTTP) or `console` exporter.
    pub processors: Vec<LogProcessor>,
}

/// `service.telemetry.logs.sampling`; the Collector's defaults.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSampling {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub tick: Duration,
    pub initial: u64,
    pub thereafter: u64,
}

impl Default for LogSampling {
    fn default() -> Self {
        LogSampling {
            enabled: true,
            tick: Duration::from_secs(10),
            initial: 10,
            thereafter: 100,
        }
    }
}

/// One of `service.telemetry.logs.processors` (OpenTelemetry's declarative config):
/// `batch` or `simple`.
#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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
fn default_export_timeout() -> u64 {
    30000
}
fn default_max_queue_size() -> usize {
    2048
}
fn default_max_export_batch_size() -> usize {
    512
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleLogProcessor {
    pub exporter: PushExporter,
}

/// Where llamacol pushes its own logs or metrics: OpenTelemetry's declarative exporter
/// block. `otlp` takes `protocol`; `otlp_http` and `otlp_grpc` are the schema's newer keys.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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

/// `service.telemetry.resource`: the Collector's map form (`service.name: x`; a null
/// value removes a default attribute) and the declarative form (`attributes:
/// [{name, value}]`).
#[derive(Debug, Clone, Default)]
pub struct TelemetryResource {
    /// In order; `None` removes the attribute.
    pub attributes: Vec<(String, Option<String>)>,
    pub schema_url: Option<String>,
}

impl<'de> Deserialize<'de> for TelemetryResource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = BTreeMap::<String, Value>::deserialize(d)?;
        let text = |key: &str, v: &Value| -> Result<Option<String>, D::Error> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                Value::Number(n) => Ok(Some(n.to_string())),
                Value::Bool(b) => Ok(Some(b.to_string())),
                _ => Err(D::Error::custom(format!(
                    "resource attribute `{key}` must be a string, number or boolean"
                ))),
            }
        };
        let mut out = TelemetryResource::default();
        for (key, value) in &map {
            match key.as_str() {
                "attributes" => {
                    let Value::Sequence(list) = value else {
                        return Err(D::Error::custom(
                            "`attributes` is a list of `{name: ..., value: ...}`",
                        ));
                    };
                    for a in list {
                        let name = a.get("name").and_then(Value::as_str).ok_or_else(|| {
                            D::Error::custom("each of `attributes` needs a `name`")
                        })?;
                        let value = text(name, a.get("value").unwrap_or(&Value::Null))?;
                        out.attributes.push((name.to_string(), value));
                    }
                }
                "schema_url" => out.schema_url = text(key, value)?,
                "attributes_list" | "detectors" | "detection/development" => {
                    return Err(D::Error::custom(format!(
                        "`{key}` is not supported here; list the attributes under `attributes` (or as `name: value`)"
                    )))
                }
                _ => out.attributes.push((key.clone(), text(key, value)?)),
            }
        }
        Ok(out)
    }
}

impl TelemetryResource {
    /// llamacol's own resource: `service.name` `llamacol`, `service.version`, a
    /// `service.instance.id` (given), then this block's attributes over them.
    pub fn resolve(&self, instance_id: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, Option<String>)> = vec![
            ("service.name".into(), Some("llamacol".into())),
            (
                "service.version".into(),
                Some(env!("CARGO_PKG_VERSION").into()),
            ),
            ("service.instance.id".into(), Some(instance_id.into())),
        ];
        for (key, value) in &self.attributes {
            match out.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => out.push((key.clone(), value.clone())),
            }
        }
        out.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }
}

/// `service.telemetry.logs.encoding`, as the Collector spells it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    Console,
    Json,
}

impl LogsConfig {
    /// The log format: `format`, else `encoding`.
    pub fn format(&self) -> Option<LogFormat> {
        self.format.or(self.encoding.map(|e| match e {
            LogEncoding::Console => LogFormat::Text,
            LogEncoding::Json => LogFormat::Json,
        }))
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `service.telemetry.admin`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where `/healthz`, `/readyz`, `/metrics` and `/debug/pipelines` are served. Default `127.0.0.1:8888`.
    pub endpoint: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            endpoint: "127.0.0.1:8888".to_string(),
        }
    }
}

/// `service.telemetry.metrics`, in the Collector's shape. Our metrics are served by the
/// admin server; `address` or one `pull` reader moves that server.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub level: MetricsLevel,
    /// `host:port` (the Collector's older key).
    pub address: Option<String>,
    pub readers: Vec<MetricReader>,
}

/// `none` turns `/metrics` off; `basic`, `normal` (default) and `detailed` all serve
/// every llamacol metric (there are few enough that we have no finer cut).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MetricsLevel {
    None,
    Basic,
    #[default]
    Normal,
    Detailed,
}

/// One of `service.telemetry.metrics.readers`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricReader {
    pub pull: Option<PullReader>,
    /// Pushes our own metrics every `interval`.
    pub periodic: Option<PeriodicReader>,
}

/// `readers[].periodic`: OpenTelemetry's declarative periodic reader.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicReader {
    /// Milliseconds between pushes. Default 60000.
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// Milliseconds one push may take. Default 30000.
    #[serde(default = "default_export_timeout")]
    pub timeout: u64,
    pub exporter: PushExporter,
}

fn default_interval() -> u64 {
    60000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullReader {
    pub exporter: PullExporter,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullExporter {
    pub prometheus: PrometheusPull,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusPull {
    #[serde(default = "default_pull_host")]
    pub host: String,
    #[serde(default = "default_pull_port")]
    pub port: u16,
    /// llamacol's `/metrics` has no `otel_scope_*` labels: always without scope info.
    #[serde(default)]
    pub without_scope_info: bool,
    /// Its names already carry their units where they have one.
    #[serde(default)]
    pub without_units: bool,
    /// Counters keep their `_total` suffix (Prometheus' convention).
    #[serde(default)]
    pub without_type_suffix: bool,
}

fn default_pull_host() -> String {
    "localhost".to_string()
}

fn default_pull_port() -> u16 {
    8888
}

impl MetricsConfig {
    /// The `periodic` readers, with their place (below `metrics`).
    pub fn periodic(&self) -> impl Iterator<Item = (String, &PeriodicReader)> {
        self.readers.iter().enumerate().filter_map(|(i, r)| {
            r.periodic
                .as_ref()
                .map(|p| (format!("readers[{i}].periodic"), p))
        })
    }

    /// What is wrong with the readers: (path below `metrics`, message), all of them.
    pub fn reader_problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, reader) in self.readers.iter().enumerate() {
            match (&reader.pull, &reader.periodic) {
                (None, None) => out.push((format!("readers[{i}]"), "a reader is `pull: {exporter: {prometheus: {host, port}}}` or `periodic: {exporter: {otlp: {...}}}`".to_string())),
                (Some(_), Some(_)) => out.push((format!("readers[{i}]"), "a reader is either `pull` or `periodic`; write two readers".to_string())),
                _ => {}
            }
        }
        for (path, periodic) in self.periodic() {
            if periodic.interval == 0 {
                out.push((
                    format!("{path}.interval"),
                    "must be above 0 (milliseconds)".to_string(),
                ));
            }
            if let Err(message) = periodic.exporter.target().and_then(|t| match t {
                Some((_, otlp)) => otlp.header_pairs().map(drop),
                None => Ok(()),
            }) {
                out.push((format!("{path}.exporter"), message));
            }
        }
        out
    }

    /// Where `address` or the `pull` reader asks `/metrics` to be served, if anywhere;
    /// or the option that cannot be honoured (path below `metrics`, message).
    pub fn endpoint(&self) -> Result<Option<String>, (String, String)> {
        let mut found = self.address.clone().map(|a| ("address".to_string(), a));
        for (i, reader) in self.readers.iter().enumerate() {
            let path = format!("readers[{i}]");
            let Some(pull) = &reader.pull else {
                continue;
            };
            let p = &pull.exporter.prometheus;
            let host = if p.host.contains(':') && !p.host.starts_with('[') {
                format!("[{}]", p.host)
            } else {
                p.host.clone()
            };
            let address = format!("{host}:{}", p.port);
            if let Some((other, earlier)) = &found {
                if *earlier != address {
                    return Err((
                        path,
                        format!("llamacol serves its metrics at one address, and `{other}` already says `{earlier}`; keep one"),
                    ));
                }
            }
            found = Some((path, address));
        }
        Ok(found.map(|(_, a)| a))
    }
}

#[cfg(test)]
mod logs_tests {
    use super::*;

    /// The Collector's `encoding` (its docs: `service::telemetry::logs::encoding: json`).
    #[test]
    fn encoding_is_the_collectors_name_for_the_format() {
        let parse = |yaml: &str| serde_yaml::from_str::<LogsConfig>(yaml).expect("yaml");
        assert_eq!(parse("encoding: json").format(), Some(LogFormat::Json));
        assert_eq!(parse("encoding: console").format(), Some(LogFormat::Text));
        assert_eq!(
            parse("{encoding: json, format: text}").format(),
            Some(LogFormat::Text)
        );
        assert_eq!(parse("level: info").format(), None);
    }
}
