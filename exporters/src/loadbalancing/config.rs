//! `exporters.loadbalancing` config: the Collector's keys (`routing_key`,
//! `protocol.otlp`, `resolver.static` / `resolver.dns`).

use std::time::Duration;

use llamacol_api::config::{parse, ComponentConfig, Issue};
use llamacol_api::serde_yaml;
use serde::Deserialize;

use crate::otlp::OtlpExporterConfig;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadBalancingConfig {
    /// Unset: `traceID` for traces and logs, `service` for metrics (the Collector's).
    pub routing_key: Option<RoutingKey>,
    pub protocol: ProtocolConfig,
    pub resolver: ResolverConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RoutingKey {
    /// All spans (log records) of a trace to one backend.
    #[serde(rename = "traceID")]
    TraceId,
    /// All data of a `service.name` to one backend.
    #[serde(rename = "service")]
    Service,
    /// Metrics: a resource block (by all its attributes) to one backend.
    #[serde(rename = "resource")]
    Resource,
    /// Metrics: each metric (by name) to one backend.
    #[serde(rename = "metric")]
    Metric,
    /// Metrics: each stream (resource, scope, metric, point attributes) to one backend.
    #[serde(rename = "streamID")]
    StreamId,
}

impl LoadBalancingConfig {
    /// The routing key for `signal`, or why the configured one does not apply to it.
    pub fn routing_for(&self, signal: llamacol_api::Signal) -> Result<RoutingKey, String> {
        use llamacol_api::Signal;
        match (signal, self.routing_key) {
            (Signal::Metrics, None) => Ok(RoutingKey::Service),
            (_, None) => Ok(RoutingKey::TraceId),
            (Signal::Metrics, Some(RoutingKey::TraceId)) => Err("`routing_key: traceID` does not route metrics (nor in the Collector); use `service` (the default), `resource`, `metric` or `streamID`".into()),
            (Signal::Metrics, Some(key)) | (_, Some(key @ (RoutingKey::TraceId | RoutingKey::Service))) => Ok(key),
            (other, Some(_)) => Err(format!("`resource`, `metric` and `streamID` route metrics; {other} go by `traceID` (the default) or `service`")),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolConfig {
    /// The `otlp` exporter's settings, used for every backend (its `endpoint` is each
    /// backend's).
    pub otlp: serde_yaml::Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    #[serde(rename = "static")]
    pub static_: Option<StaticResolver>,
    pub dns: Option<DnsResolver>,
    pub k8s: Option<K8sResolver>,
}

/// `resolver.k8s`: a Service's ready endpoints, watched through the Kubernetes API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sResolver {
    /// `name.namespace` (namespace `default` when absent).
    pub service: String,
    /// Each endpoint is a backend on each of these ports. Default `[4317]`.
    pub ports: Vec<u16>,
    /// `hostname.service.namespace:port` instead of the address, for endpoints with a
    /// hostname (a StatefulSet behind a headless Service).
    pub return_hostnames: bool,
    /// Accepted for the Collector's configs (its API client timeout); the watch has its own.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// llamacol's: how to reach the API server (as `k8s_attributes`): `serviceAccount`
    /// (default, in a pod), `kubeConfig`, `none`.
    pub auth_type: llamacol_api::kube::AuthType,
    pub kube_config_path: Option<std::path::PathBuf>,
    pub context: Option<String>,
}

impl Default for K8sResolver {
    fn default() -> Self {
        K8sResolver {
            service: String::new(),
            ports: vec![4317],
            return_hostnames: false,
            timeout: Duration::from_secs(1),
            auth_type: Default::default(),
            kube_config_path: None,
            context: None,
        }
    }
}

impl K8sResolver {
    pub fn api(&self) -> llamacol_api::kube::ApiConfig {
        llamacol_api::kube::ApiConfig {
            auth_type: self.auth_type,
            kube_config_path: self.kube_config_path.clone(),
            context: self.context.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticResolver {
    /// Backends as `host:port` (the otlp exporter's endpoint form).
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsResolver {
    /// Resolved every `interval`; every address is a backend.
    pub hostname: String,
    /// Default 4317.
    pub port: u16,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for DnsResolver {
    fn default() -> Self {
        DnsResolver {
            hostname: String::new(),
            port: 4317,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        }
    }
}

impl LoadBalancingConfig {
    /// The otlp exporter's config for one backend.
    pub fn otlp_for(&self, endpoint: &str) -> Result<OtlpExporterConfig, Vec<Issue>> {
        let mut block = match &self.protocol.otlp {
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            serde_yaml::Value::Mapping(m) => m.clone(),
            _ => {
                return Err(vec![Issue::new(
                    "protocol.otlp",
                    "must be a map of the otlp exporter's settings",
                )])
            }
        };
        block.insert("endpoint".into(), endpoint.into());
        let config =
            parse::<OtlpExporterConfig>(&serde_yaml::Value::Mapping(block)).map_err(|issues| {
                issues
                    .into_iter()
                    .map(|i| Issue::new(format!("protocol.otlp.{}", i.path), i.message))
                    .collect::<Vec<_>>()
            })?;
        let issues: Vec<Issue> = config
            .validate()
            .into_iter()
            .map(|i| Issue::new(format!("protocol.otlp.{}", i.path), i.message))
            .collect();
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(issues)
        }
    }
}

impl ComponentConfig for LoadBalancingConfig {
    fn authenticators(&self) -> Vec<llamacol_api::config::Listen> {
        self.otlp_for("backend:4317")
            .map(|o| crate::otlp::auth_claim(o.auth.as_ref(), "protocol.otlp.auth.authenticator"))
            .unwrap_or_default()
    }

    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if let serde_yaml::Value::Mapping(m) = &self.protocol.otlp {
            if m.contains_key("endpoint") {
                issues.push(Issue::new(
                    "protocol.otlp.endpoint",
                    "each backend's endpoint comes from the resolver; remove `endpoint` here",
                ));
            }
        }
        if let Err(e) = self.otlp_for("backend:4317") {
            issues.extend(e.into_iter().filter(|i| !i.path.ends_with("endpoint")));
        }
        let r = &self.resolver;
        let given = [r.static_.is_some(), r.dns.is_some(), r.k8s.is_some()]
            .iter()
            .filter(|g| **g)
            .count();
        match given {
            0 => issues.push(Issue::new(
                "resolver",
                "give `static: {hostnames: [gateway-1:4317, ...]}`, `dns: {hostname: gateways.example}` or `k8s: {service: gateway.observability}`",
            )),
            1 => {}
            _ => issues.push(Issue::new("resolver", "give one of `static`, `dns` and `k8s`")),
        }
        if let Some(s) = &r.static_ {
            if s.hostnames.is_empty() {
                issues.push(Issue::new(
                    "resolver.static.hostnames",
                    "give at least one backend, e.g. gateway-1:4317",
                ));
            }
        }
        if let Some(d) = &r.dns {
            if d.hostname.trim().is_empty() {
                issues.push(Issue::new(
                    "resolver.dns.hostname",
                    "give the name to resolve, e.g. a headless Service",
                ));
            }
        }
        if let Some(k) = &r.k8s {
            if k.service.trim().is_empty() {
                issues.push(Issue::new(
                    "resolver.k8s.service",
                    "give the Service as `name.namespace`, e.g. llamacol-gateway.observability",
                ));
            }
            if k.ports.is_empty() {
                issues.push(Issue::new(
                    "resolver.k8s.ports",
                    "give at least one port, e.g. [4317]",
                ));
            }
            issues.extend(
                k.api()
                    .issues()
                    .into_iter()
                    .map(|i| Issue::new(format!("resolver.k8s.{}", i.path), i.message)),
            );
        }
        issues
    }
}
