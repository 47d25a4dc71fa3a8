//! `exporters.prometheusremotewrite` config: the Collector's keys.

use std::collections::BTreeMap;
use std::time::Duration;

use llamacol_api::config::{is_http_url, ComponentConfig, Issue};
use serde::Deserialize;

use crate::prometheus::model::observe::Options;
use crate::prometheus::model::translate::TranslationStrategy;
use crate::prometheus::model::ResourceToTelemetry;
use llamacol_api::http::{Headers, TlsConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteConfig {
    /// The remote-write URL, e.g. `http://prometheus:9090/api/v1/write`. Required.
    pub endpoint: String,
    /// Sent with every request (e.g. `authorization`); values never logged.
    pub headers: Headers,
    /// Labels added to every series that does not already have them.
    pub external_labels: BTreeMap<String, String>,
    /// Prefix for every metric name.
    pub namespace: Option<String>,
    pub tls: TlsConfig,
    /// Deadline of one request. Default 5s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub target_info: TargetInfo,
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    pub translation_strategy: TranslationStrategy,
    /// Send the credentials of an authenticator extension.
    pub auth: Option<llamacol_api::auth::AuthConfig>,
    /// Largest `WriteRequest` sent, uncompressed, in bytes (the Collector's key and
    /// default, 3000000); a batch's series are sent in as many requests as it takes. A
    /// 413 from the endpoint halves the requests from then on.
    pub max_batch_size_bytes: usize,
    /// The wire message: `prometheus.WriteRequest` (Remote Write 1.0, the default) or
    /// `io.prometheus.write.v2.Request` (2.0: metadata, start timestamps, native
    /// histograms, exemplars; Prometheus 3 receives it).
    pub protobuf_message: ProtobufMessage,
}

/// `protobuf_message`, by the protobuf message names the Collector and Prometheus use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ProtobufMessage {
    #[default]
    #[serde(rename = "prometheus.WriteRequest")]
    V1,
    #[serde(rename = "io.prometheus.write.v2.Request")]
    V2,
}

impl ProtobufMessage {
    pub fn content_type(self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "application/x-protobuf",
            ProtobufMessage::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// `X-Prometheus-Remote-Write-Version`: what 1.0 senders have always sent, and 2.0.
    pub fn version_header(self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "0.1.0",
            ProtobufMessage::V2 => "2.0.0",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetInfo {
    /// Send `target_info` with the resource attributes. Default true.
    pub enabled: bool,
}

impl Default for TargetInfo {
    fn default() -> Self {
        TargetInfo { enabled: true }
    }
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            endpoint: String::new(),
            headers: Headers::default(),
            external_labels: BTreeMap::new(),
            namespace: None,
            tls: TlsConfig::default(),
            timeout: Duration::from_secs(5),
            target_info: TargetInfo::default(),
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            translation_strategy: TranslationStrategy::default(),
            auth: None,
            max_batch_size_bytes: 3_000_000,
            protobuf_message: ProtobufMessage::default(),
        }
    }
}

impl RemoteWriteConfig {
    pub fn options(&self) -> Options {
        Options {
            namespace: self.namespace.clone(),
            const_labels: Vec::new(),
            strategy: self.translation_strategy,
            resource_to_telemetry: self.resource_to_telemetry_conversion.enabled,
            without_scope_info: false,
            target_info: self.target_info.enabled,
        }
    }
}

impl ComponentConfig for RemoteWriteConfig {
    fn authenticators(&self) -> Vec<llamacol_api::config::Listen> {
        crate::otlp::auth_claim(self.auth.as_ref(), "auth.authenticator")
    }

    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if !is_http_url(&self.endpoint) {
            issues.push(Issue::new("endpoint", "`endpoint` is required: the remote-write URL, e.g. `http://prometheus:9090/api/v1/write`"));
        }
        if self.timeout.is_zero() {
            issues.push(Issue::new("timeout", "must be more than 0"));
        }
        if self.max_batch_size_bytes == 0 {
            issues.push(Issue::new(
                "max_batch_size_bytes",
                "must be more than 0 (the Collector's default is 3000000)",
            ));
        }
        issues
    }
}
