//! `processors.k8s_attributes` config: the Collector's `k8sattributes` keys (contrib
//! `processor/k8sattributesprocessor`), for the attributes built here.

use std::path::PathBuf;
use std::time::Duration;

use llamacol_api::config::{suggestion, ComponentConfig, Issue};
use llamacol_api::kube::{ApiConfig, AuthType};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sAttributesConfig {
    /// `serviceAccount` (default, in a pod), `kubeConfig`, `none`.
    pub auth_type: AuthType,
    /// With `auth_type: kubeConfig`: the file (default `$KUBECONFIG`, `~/.kube/config`).
    pub kube_config_path: Option<PathBuf>,
    /// With `auth_type: kubeConfig`: the context (default: the file's current one).
    pub context: Option<String>,
    /// Only stamp `k8s.pod.ip` from the connection (an agent in front of a gateway that
    /// does the rest): no API server calls.
    pub passthrough: bool,
    /// Hold start until the first list of pods arrived (or fail after the timeout).
    pub wait_for_metadata: bool,
    #[serde(with = "humantime_serde")]
    pub wait_for_metadata_timeout: Duration,
    pub filter: Filter,
    pub extract: Extract,
    /// Rules, tried in order, that find the pod a resource came from; none: the
    /// connection's address.
    pub pod_association: Vec<Association>,
    pub exclude: Exclude,
}

impl Default for K8sAttributesConfig {
    fn default() -> Self {
        K8sAttributesConfig {
            auth_type: AuthType::ServiceAccount,
            kube_config_path: None,
            context: None,
            passthrough: false,
            wait_for_metadata: false,
            wait_for_metadata_timeout: Duration::from_secs(10),
            filter: Filter::default(),
            extract: Extract::default(),
            pod_association: Vec::new(),
            exclude: Exclude::default(),
        }
    }
}

impl K8sAttributesConfig {
    pub fn api(&self) -> ApiConfig {
        ApiConfig {
            auth_type: self.auth_type,
            kube_config_path: self.kube_config_path.clone(),
            context: self.context.clone(),
        }
    }
}

/// `filter:` which pods to watch (an agent watches only its node's).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filter {
    pub node: Option<String>,
    /// The environment variable holding the node name (the downward API's
    /// `spec.nodeName`).
    pub node_from_env_var: Option<String>,
    pub namespace: Option<String>,
    pub fields: Vec<FieldFilter>,
    pub labels: Vec<FieldFilter>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldFilter {
    pub key: String,
    pub value: String,
    /// `equals` (default), `not-equals`; for labels also `exists`, `does-not-exist`.
    pub op: Option<String>,
}

/// `extract:` what to add.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Extract {
    pub metadata: Vec<String>,
    pub labels: Vec<FieldExtract>,
    pub annotations: Vec<FieldExtract>,
    /// `resource.opentelemetry.io/<key>` pod annotations become `<key>`.
    pub otel_annotations: bool,
    /// `k8s.deployment.name` from the ReplicaSet's name (its hash cut off) instead of
    /// watching ReplicaSets.
    pub deployment_name_from_replicaset: bool,
}

/// The Collector's default `extract.metadata`.
pub const DEFAULT_METADATA: [&str; 6] = [
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.pod.start_time",
    "k8s.deployment.name",
    "k8s.node.name",
];

/// Every `extract.metadata` name built here.
pub const METADATA: [&str; 28] = [
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.pod.uid",
    "k8s.pod.hostname",
    "k8s.pod.ip",
    "k8s.pod.start_time",
    "k8s.deployment.name",
    "k8s.deployment.uid",
    "k8s.replicaset.name",
    "k8s.replicaset.uid",
    "k8s.daemonset.name",
    "k8s.daemonset.uid",
    "k8s.statefulset.name",
    "k8s.statefulset.uid",
    "k8s.job.name",
    "k8s.job.uid",
    "k8s.cronjob.name",
    "k8s.node.name",
    "k8s.container.name",
    "container.id",
    "container.image.name",
    "container.image.tag",
    "container.image.tags",
    "k8s.cluster.uid",
    "service.namespace",
    "service.name",
    "service.version",
    "service.instance.id",
];

impl Default for Extract {
    fn default() -> Self {
        Extract {
            metadata: DEFAULT_METADATA.iter().map(|s| s.to_string()).collect(),
            labels: Vec::new(),
            annotations: Vec::new(),
            otel_annotations: false,
            deployment_name_from_replicaset: false,
        }
    }
}

/// One `labels`/`annotations` rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldExtract {
    /// The attribute to set; with `key_regex`, `$1`... are its groups. Default
    /// `k8s.<from>.labels.<key>` (`annotations`).
    pub tag_name: Option<String>,
    pub key: Option<String>,
    /// Every key matching this (whole key) is extracted.
    pub key_regex: Option<String>,
    /// `pod` (default), `namespace`, `node`.
    pub from: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Association {
    pub sources: Vec<AssociationSource>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssociationSource {
    /// `connection` or `resource_attribute`.
    pub from: String,
    /// With `resource_attribute`: the attribute (`k8s.pod.ip`, `k8s.pod.uid`,
    /// `k8s.pod.name` with `k8s.namespace.name`, `container.id`).
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exclude {
    pub pods: Vec<ExcludePod>,
}

impl Default for Exclude {
    fn default() -> Self {
        Exclude {
            pods: ["jaeger-agent", "jaeger-collector"]
                .map(|name| ExcludePod {
                    name: name.to_string(),
                })
                .to_vec(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExcludePod {
    /// A regular expression the whole pod name must match.
    pub name: String,
}

/// Attributes a `resource_attribute` association can match on.
pub const ASSOCIATION_ATTRIBUTES: [&str; 5] = [
    "k8s.pod.ip",
    "k8s.pod.uid",
    "k8s.pod.name",
    "k8s.namespace.name",
    "container.id",
];

impl ComponentConfig for K8sAttributesConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = self.api().issues();
        for (i, name) in self.extract.metadata.iter().enumerate() {
            if !METADATA.contains(&name.as_str()) {
                let hint = suggestion(name, METADATA.iter().copied());
                issues.push(Issue::new(
                    format!("extract.metadata[{i}]"),
                    format!("`{name}` is not an attribute k8s_attributes extracts{hint}; it extracts: {}", METADATA.join(", ")),
                ));
            }
        }
        for (list, rules) in [
            ("labels", &self.extract.labels),
            ("annotations", &self.extract.annotations),
        ] {
            for (i, rule) in rules.iter().enumerate() {
                let at = format!("extract.{list}[{i}]");
                match (&rule.key, &rule.key_regex) {
                    (Some(_), Some(_)) | (None, None) => issues.push(Issue::new(
                        at.clone(),
                        "set exactly one of `key` and `key_regex`",
                    )),
                    (None, Some(re)) => {
                        if let Err(e) = regex::Regex::new(re) {
                            issues.push(Issue::new(
                                format!("{at}.key_regex"),
                                format!("not a regular expression: {e}"),
                            ));
                        }
                    }
                    _ => {}
                }
                if let Some(from) = &rule.from {
                    if !["pod", "namespace", "node"].contains(&from.as_str()) {
                        issues.push(Issue::new(
                            format!("{at}.from"),
                            format!("`{from}`: extracted here from `pod`, `namespace` or `node`"),
                        ));
                    }
                }
            }
        }
        for (i, association) in self.pod_association.iter().enumerate() {
            let at = format!("pod_association[{i}].sources");
            if association.sources.is_empty() || association.sources.len() > 4 {
                issues.push(Issue::new(at.clone(), "an association has 1 to 4 sources"));
            }
            for (j, source) in association.sources.iter().enumerate() {
                match (source.from.as_str(), source.name.as_deref()) {
                    ("connection", _) => {}
                    ("resource_attribute", Some(name))
                        if ASSOCIATION_ATTRIBUTES.contains(&name) => {}
                    ("resource_attribute", name) => issues.push(Issue::new(
                        format!("{at}[{j}].name"),
                        format!(
                            "`{}`: a pod is found by {}",
                            name.unwrap_or_default(),
                            ASSOCIATION_ATTRIBUTES.join(", ")
                        ),
                    )),
                    (other, _) => issues.push(Issue::new(
                        format!("{at}[{j}].from"),
                        format!("`{other}`: a source is `connection` or `resource_attribute`"),
                    )),
                }
            }
        }
        for (i, pod) in self.exclude.pods.iter().enumerate() {
            if let Err(e) = regex::Regex::new(&pod.name) {
                issues.push(Issue::new(
                    format!("exclude.pods[{i}].name"),
                    format!("not a regular expression: {e}"),
                ));
            }
        }
        for (list, filters, ops) in [
            ("fields", &self.filter.fields, &["equals", "not-equals"][..]),
            (
                "labels",
                &self.filter.labels,
                &["equals", "not-equals", "exists", "does-not-exist"][..],
            ),
        ] {
            for (i, filter) in filters.iter().enumerate() {
                let op = filter.op.as_deref().unwrap_or("equals");
                if !ops.contains(&op) {
                    issues.push(Issue::new(
                        format!("filter.{list}[{i}].op"),
                        format!("`{op}`: one of {}", ops.join(", ")),
                    ));
                }
                if filter.key.is_empty() {
                    issues.push(Issue::new(
                        format!("filter.{list}[{i}].key"),
                        "a filter needs a `key`",
                    ));
                }
            }
        }
        issues
    }
}
