//! Zipkin's span model (v2: JSON and protobuf; v1: JSON and Thrift) and its translation
//! to and from OTLP as the Collector's `pkg/translator/zipkin` does it, so a Zipkin
//! client gives the same OTLP through llamacol's `zipkin` receiver as through the
//! Collector's, and the `zipkin` exporter writes what the Collector's writes.

pub mod from_otlp;
pub mod json;
pub mod proto;
pub mod to_otlp;
pub mod v1;

use std::net::IpAddr;

/// A Zipkin v2 span, as zipkin-go's `SpanModel` holds it after decoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    /// High 8 bytes then low 8 bytes (a 64-bit trace id has a zero high half).
    pub trace_id: [u8; 16],
    pub id: u64,
    pub parent_id: Option<u64>,
    pub debug: bool,
    pub name: String,
    /// `CLIENT`, `SERVER`, `PRODUCER`, `CONSUMER`, or what the sender wrote.
    pub kind: String,
    /// Start in Unix nanoseconds; `None` when the sender left it out (JSON only).
    pub timestamp: Option<u64>,
    /// Nanoseconds.
    pub duration: u64,
    pub shared: bool,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    pub annotations: Vec<Annotation>,
    /// In arrival order (the Collector reads them from a Go map: no order).
    pub tags: Tags,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub service_name: String,
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
    pub port: u16,
}

impl Endpoint {
    /// zipkin-go's `Empty`: such an endpoint is dropped.
    pub fn is_empty(&self) -> bool {
        self.service_name.is_empty() && self.port == 0 && self.ipv4.is_none() && self.ipv6.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotation {
    /// Unix nanoseconds.
    pub timestamp: u64,
    pub value: String,
}

/// Zipkin tags (string to string), in arrival order.
pub type Tags = Vec<(String, String)>;

/// Removes tag `key`, giving its value.
pub fn take_tag(tags: &mut Tags, key: &str) -> Option<String> {
    let i = tags.iter().position(|(k, _)| k == key)?;
    Some(tags.remove(i).1)
}

/// Sets tag `key`, in its place when it is there.
pub fn set_tag(tags: &mut Tags, key: &str, value: String) {
    match tags.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => tags.push((key.to_string(), value)),
    }
}

impl Span {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// How Go's `net.IP.String` prints an address: an IPv4-mapped IPv6 address in dotted form.
pub fn ip_string(ip: &IpAddr) -> String {
    ip.to_canonical().to_string()
}

/// The service name of spans whose local endpoint names none (the Collector's
/// `tracetranslator.ResourceNoServiceName`).
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
/// Resource attribute a service name came from when it was not `service.name`.
pub const SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";
/// Set on a span whose sender gave no start time.
pub const START_TIME_ABSENT: &str = "otel.zipkin.absentField.startTime";

/// Tags that are resource attributes, not span attributes (semantic conventions 1.15's
/// resource attributes and the few the Collector adds): the Collector's
/// `nonSpanAttributes`.
pub const RESOURCE_TAGS: &[&str] = &[
    "cloud.provider",
    "cloud.account.id",
    "cloud.region",
    "cloud.availability_zone",
    "cloud.platform",
    "aws.ecs.container.arn",
    "aws.ecs.cluster.arn",
    "aws.ecs.launchtype",
    "aws.ecs.task.arn",
    "aws.ecs.task.family",
    "aws.ecs.task.revision",
    "aws.eks.cluster.arn",
    "aws.log.group.names",
    "aws.log.group.arns",
    "aws.log.stream.names",
    "aws.log.stream.arns",
    "container.name",
    "container.id",
    "container.runtime",
    "container.image.name",
    "container.image.tag",
    "deployment.environment",
    "device.id",
    "device.model.identifier",
    "device.model.name",
    "device.manufacturer",
    "faas.name",
    "faas.id",
    "faas.version",
    "faas.instance",
    "faas.max_memory",
    "host.id",
    "host.name",
    "host.type",
    "host.arch",
    "host.image.name",
    "host.image.id",
    "host.image.version",
    "k8s.cluster.name",
    "k8s.node.name",
    "k8s.node.uid",
    "k8s.namespace.name",
    "k8s.pod.uid",
    "k8s.pod.name",
    "k8s.container.name",
    "k8s.container.restart_count",
    "k8s.replicaset.uid",
    "k8s.replicaset.name",
    "k8s.deployment.uid",
    "k8s.deployment.name",
    "k8s.statefulset.uid",
    "k8s.statefulset.name",
    "k8s.daemonset.uid",
    "k8s.daemonset.name",
    "k8s.job.uid",
    "k8s.job.name",
    "k8s.cronjob.uid",
    "k8s.cronjob.name",
    "os.type",
    "os.description",
    "os.name",
    "os.version",
    "process.pid",
    "process.executable.name",
    "process.executable.path",
    "process.command",
    "process.command_line",
    "process.command_args",
    "process.owner",
    "process.runtime.name",
    "process.runtime.version",
    "process.runtime.description",
    "service.name",
    "service.namespace",
    "service.instance.id",
    "service.version",
    "telemetry.sdk.name",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
    "telemetry.auto.version",
    "webengine.name",
    "webengine.version",
    "webengine.description",
    SERVICE_NAME_SOURCE,
    SCOPE_NAME,
    SCOPE_VERSION,
    "opencensus.starttime",
    "opencensus.exporterversion",
    "opencensus.resourcetype",
];

/// Whether a tag is one of [`RESOURCE_TAGS`] (looked up per tag of every span).
pub fn is_resource_tag(key: &str) -> bool {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| RESOURCE_TAGS.iter().copied().collect())
        .contains(key)
}

/// The scope's name and version as Zipkin tags (semantic conventions 1.15).
pub const SCOPE_NAME: &str = "otel.library.name";
pub const SCOPE_VERSION: &str = "otel.library.version";

#[cfg(test)]
mod tests;
