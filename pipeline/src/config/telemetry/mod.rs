//! `service.telemetry`: llamacol's own logs and metrics, in the Collector's shape.

mod push;
mod resource;

use std::time::Duration;

use serde::Deserialize;

use push::default_export_timeout;
pub use push::{LogProcessor, OtlpPush, PushExporter, PushProtocol};
pub use resource::TelemetryResource;

/// `service.telemetry`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
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
    /// The Collector's `service.telemetry.traces` (spans of its own work). llamacol
    /// starts no spans of its own: the block is read (and checked) so the Collector's
    /// configs load, and a configured processor is told at start that it gets nothing.
    pub traces: TracesConfig,
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
            traces: TracesConfig::default(),
            shutdown_timeout: default_shutdown_timeout(),
        }
    }
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `service.telemetry.traces`, in the Collector's shape.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// `none`, `basic`, `normal` or `detailed` in the Collector.
    pub level: Option<String>,
    /// Context propagators (`tracecontext`, `b3`).
    pub propagators: Vec<String>,
    /// Where the spans would go: `batch` or `simple` processors, as `logs.processors`.
    pub processors: Vec<LogProcessor>,
}

/// `service.telemetry.logs`; the `--log-level`/`--log-format` flags override it.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
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
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where `/healthz`, `/readyz`, `/metrics` and `/debug/pipelines` are served. Default `127.0.0.1:8888`.
    pub endpoint: String,
    /// `auth: {authenticator: <extension>}`: every path but `/healthz` and `/readyz`
    /// (which probes read without credentials) needs what the extension accepts, e.g. a
    /// `bearertokenauth` token.
    pub auth: Option<llamacol_api::auth::AuthConfig>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            endpoint: "127.0.0.1:8888".to_string(),
            auth: None,
        }
    }
}

/// `service.telemetry.metrics`, in the Collector's shape. Our metrics are served by the
/// admin server; `address` or one `pull` reader moves that server.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
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
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricReader {
    pub pull: Option<PullReader>,
    /// Pushes our own metrics every `interval`.
    pub periodic: Option<PeriodicReader>,
}

/// `readers[].periodic`: OpenTelemetry's declarative periodic reader.
#[derive(Debug, Clone, Deserialize, PartialEq)]
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

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PullReader {
    pub exporter: PullExporter,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PullExporter {
    pub prometheus: PrometheusPull,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
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
            if let Err(message) = periodic.exporter.check() {
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
