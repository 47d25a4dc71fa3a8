//! What `extract` asks for, compiled: the attributes of a pod (and of the container a
//! resource names), its namespace's and node's labels and annotations.

use std::collections::BTreeSet;

use llamacol_api::otlp::common::v1::any_value::Value;
use llamacol_api::otlp::common::v1::{AnyValue, ArrayValue};
use regex::Regex;

use super::cache::Cache;
use super::config::{Extract, FieldExtract};
use super::objects::{Map, Pod};

/// An attribute to add: its key and value.
pub type Attribute = (String, Value);

fn text(value: &str) -> Value {
    Value::StringValue(value.to_string())
}

/// Where a label or annotation is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    Pod,
    Namespace,
    Node,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Labels,
    Annotations,
}

#[derive(Debug)]
struct FieldRule {
    from: From,
    field: Field,
    key: Key,
    /// `None`: `k8s.<from>.<labels|annotations>.<key>`.
    tag_name: Option<String>,
}

#[derive(Debug)]
enum Key {
    Exact(String),
    Regex(Regex),
}

#[derive(Debug)]
pub struct Rules {
    metadata: BTreeSet<String>,
    fields: Vec<FieldRule>,
    otel_annotations: bool,
    pub deployment_name_from_replicaset: bool,
}

/// The prefix of annotations that name resource attributes (`otel_annotations`).
const OTEL_ANNOTATION: &str = "resource.opentelemetry.io/";

/// Kubernetes' well-known labels the semantic conventions take `service.*` from, in
/// order of precedence.
const WELL_KNOWN: [(&str, &str); 3] = [
    ("app.kubernetes.io/instance", "service.name"),
    ("app.kubernetes.io/name", "service.name"),
    ("app.kubernetes.io/version", "service.version"),
];

/// The workload names `service.name` falls back on, in order (the semantic conventions'
/// "how service.name should be calculated").
const SERVICE_NAME_FROM: [&str; 7] = [
    "k8s.deployment.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
    "k8s.pod.name",
];

impl Rules {
    pub fn new(extract: &Extract) -> Result<Rules, String> {
        let mut fields = Vec::new();
        for (field, rules) in [
            (Field::Labels, &extract.labels),
            (Field::Annotations, &extract.annotations),
        ] {
            for rule in rules {
                fields.push(field_rule(field, rule)?);
            }
        }
        Ok(Rules {
            metadata: extract.metadata.iter().cloned().collect(),
            fields,
            otel_annotations: extract.otel_annotations,
            deployment_name_from_replicaset: extract.deployment_name_from_replicaset,
        })
    }

    pub fn wants(&self, name: &str) -> bool {
        self.metadata.contains(name)
    }

    /// Whether ReplicaSets must be watched (the deployment behind a pod's ReplicaSet).
    pub fn needs_replicasets(&self) -> bool {
        self.wants("k8s.deployment.uid")
    }

    pub fn needs(&self, from: From) -> bool {
        self.fields.iter().any(|r| r.from == from)
    }

    /// Whether a pod's label (`annotation` false) or annotation is read by any rule, so
    /// that the cache keeps only those.
    pub fn keeps(&self, from: From, annotation: bool, key: &str) -> bool {
        let field = if annotation {
            Field::Annotations
        } else {
            Field::Labels
        };
        let well_known = !annotation
            && from == From::Pod
            && WELL_KNOWN
                .iter()
                .any(|(label, attribute)| *label == key && self.wants(attribute));
        // The Deployment's name comes from the ReplicaSet's with this label.
        let hash = !annotation && from == From::Pod && key == POD_TEMPLATE_HASH;
        well_known
            || hash
            || (annotation
                && from == From::Pod
                && self.otel_annotations
                && key.starts_with(OTEL_ANNOTATION))
            || self
                .fields
                .iter()
                .any(|r| r.from == from && r.field == field && r.key.matches(key))
    }

    /// The attributes of `pod`, in a fixed order, for a resource naming `container`
    /// (its `k8s.container.name`, `container.id`, `k8s.container.restart_count`).
    pub fn pod_attributes(
        &self,
        cache: &Cache,
        pod: &Pod,
        container: &ContainerHint,
    ) -> Vec<Attribute> {
        let mut out: Vec<Attribute> = Vec::new();
        let mut put = |name: &str, value: &str| {
            if !value.is_empty() && self.wants(name) {
                out.push((name.to_string(), text(value)));
            }
        };
        let meta = &pod.metadata;
        put("k8s.namespace.name", &meta.namespace);
        put("k8s.pod.name", &meta.name);
        put("k8s.pod.uid", &meta.uid);
        put("k8s.pod.hostname", &pod.spec.hostname);
        put("k8s.pod.ip", &pod.status.pod_ip);
        put(
            "k8s.pod.start_time",
            meta.creation_timestamp.as_deref().unwrap_or_default(),
        );
        put("k8s.node.name", &pod.spec.node_name);
        let owners = self.owners(cache, pod);
        for (name, value) in &owners {
            put(name, value);
        }
        put("k8s.cluster.uid", cache.cluster_uid());
        let container = self.container_attributes(pod, container, &mut put);
        // The semantic conventions' `container.image.tags` is a list; the older
        // `container.image.tag` is not emitted, as the Collector's default.
        if let Some((_, tag)) = container.as_ref().filter(|(_, tag)| !tag.is_empty()) {
            if self.wants("container.image.tags") {
                let tags = ArrayValue {
                    values: vec![AnyValue {
                        value: Some(text(tag)),
                    }],
                };
                out.push(("container.image.tags".into(), Value::ArrayValue(tags)));
            }
        }
        self.field_attributes(From::Pod, &meta.labels, &meta.annotations, &mut out);
        if self.otel_annotations {
            for (key, value) in &meta.annotations {
                if let Some(name) = key.strip_prefix(OTEL_ANNOTATION) {
                    out.push((name.to_string(), text(value)));
                }
            }
        }
        self.service_attributes(pod, &owners, container.as_ref(), &mut out);
        if let Some(ns) = cache.namespace(&meta.namespace) {
            self.field_attributes(
                From::Namespace,
                &ns.metadata.labels,
                &ns.metadata.annotations,
                &mut out,
            );
        }
        if let Some(node) = cache.node(&pod.spec.node_name) {
            self.field_attributes(
                From::Node,
                &node.metadata.labels,
                &node.metadata.annotations,
                &mut out,
            );
        }
        out
    }

    /// The pod's workload: its ReplicaSet and Deployment, DaemonSet, StatefulSet, Job and
    /// CronJob, names and uids, whether asked for or not (`service.name` falls back on
    /// them).
    fn owners(&self, cache: &Cache, pod: &Pod) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        if let Some(rs) = pod.owner("ReplicaSet") {
            out.push(("k8s.replicaset.name", rs.name.clone()));
            out.push(("k8s.replicaset.uid", rs.uid.clone()));
            if let Some(deployment) = cache.deployment_of(&rs.uid) {
                out.push(("k8s.deployment.name", deployment.name.clone()));
                out.push(("k8s.deployment.uid", deployment.uid.clone()));
            } else if let Some(name) =
                deployment_name(&rs.name, pod, self.deployment_name_from_replicaset)
            {
                out.push(("k8s.deployment.name", name.to_string()));
            }
        }
        for (kind, name_attr, uid_attr) in [
            ("DaemonSet", "k8s.daemonset.name", "k8s.daemonset.uid"),
            ("StatefulSet", "k8s.statefulset.name", "k8s.statefulset.uid"),
            ("Job", "k8s.job.name", "k8s.job.uid"),
        ] {
            if let Some(owner) = pod.owner(kind) {
                out.push((name_attr, owner.name.clone()));
                out.push((uid_attr, owner.uid.clone()));
            }
        }
        if let Some(job) = pod.owner("Job") {
            // A CronJob names its Jobs `<cronjob>-<scheduled minute>`.
            let cronjob = trim_suffix(&job.name, |s| {
                s.len() == 8 && s.chars().all(|c| c.is_ascii_digit())
            });
            if cronjob != job.name {
                out.push(("k8s.cronjob.name", cronjob.to_string()));
            }
        }
        out
    }

    /// `service.*` where the pod's annotations (already in `out`) did not give them: the
    /// semantic conventions' order (well-known labels, then workload names; the version
    /// from the image tag; the instance from namespace, pod and container names).
    fn service_attributes(
        &self,
        pod: &Pod,
        owners: &[(&'static str, String)],
        container: Option<&(String, String)>,
        out: &mut Vec<Attribute>,
    ) {
        let label = |name: &str| {
            pod.metadata
                .labels
                .get(name)
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let by_workload = SERVICE_NAME_FROM
            .iter()
            .find_map(|k| {
                owners
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| Some(pod.metadata.name.clone()).filter(|n| !n.is_empty()))
            .or_else(|| container.map(|(name, _)| name.clone()));
        let name = label("app.kubernetes.io/instance")
            .or_else(|| label("app.kubernetes.io/name"))
            .or(by_workload);
        let version = label("app.kubernetes.io/version").or_else(|| {
            container
                .map(|(_, tag)| tag.clone())
                .filter(|t| !t.is_empty())
        });
        let instance = container
            .map(|(name, _)| format!("{}.{}.{name}", pod.metadata.namespace, pod.metadata.name));
        let candidates = [
            ("service.namespace", Some(pod.metadata.namespace.clone())),
            ("service.name", name),
            ("service.version", version),
            ("service.instance.id", instance),
        ];
        for (key, value) in candidates {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                if self.wants(key) && !out.iter().any(|(k, _)| k == key) {
                    out.push((key.to_string(), Value::StringValue(value)));
                }
            }
        }
    }

    /// Adds the container's attributes; returns its name and image tag.
    fn container_attributes(
        &self,
        pod: &Pod,
        hint: &ContainerHint,
        put: &mut impl FnMut(&str, &str),
    ) -> Option<(String, String)> {
        // Which container: by its id, else by its name (the Collector's rule: no
        // container attributes without one of them).
        let (name, id) = if let Some(id) = &hint.id {
            match pod.container_ids().find(|(_, cid, _)| cid == id) {
                Some((name, _, _)) => (name.to_string(), None),
                None => return None,
            }
        } else if let Some(name) = &hint.name {
            let id = pod
                .container_ids()
                .filter(|(n, _, _)| n == name)
                .find(|(_, _, restarts)| hint.restart_count.is_none_or(|r| r == *restarts))
                .map(|(_, id, _)| id.to_string());
            (name.clone(), id)
        } else {
            // A pod of one container: that one (the Collector's fallback).
            let mut all = pod.spec.containers.iter().chain(&pod.spec.init_containers);
            match (all.next(), all.next()) {
                (Some(only), None) => {
                    let id = pod
                        .container_ids()
                        .find(|(n, _, _)| *n == only.name)
                        .map(|(_, id, _)| id.to_string());
                    (only.name.clone(), id)
                }
                _ => return None,
            }
        };
        let spec = pod
            .spec
            .containers
            .iter()
            .chain(&pod.spec.init_containers)
            .find(|c| c.name == name)?;
        put("k8s.container.name", &name);
        if let Some(id) = &id {
            put("container.id", id);
        }
        let (image, tag) = image_ref(&spec.image).unwrap_or_default();
        put("container.image.name", &image);
        Some((name, tag))
    }

    fn field_attributes(
        &self,
        from: From,
        labels: &Map,
        annotations: &Map,
        out: &mut Vec<Attribute>,
    ) {
        for rule in self.fields.iter().filter(|r| r.from == from) {
            let map = match rule.field {
                Field::Labels => labels,
                Field::Annotations => annotations,
            };
            match &rule.key {
                Key::Exact(key) => {
                    if let Some(value) = map.get(key) {
                        out.push((rule.tag(key, None), text(value)));
                    }
                }
                Key::Regex(re) => {
                    for (key, value) in map.iter().filter(|(_, v)| !v.is_empty()) {
                        if let Some(captures) = re.captures(key) {
                            // A `tag_name` applies only when the pattern has groups to
                            // fill it (the Collector's rule); else the default name.
                            let captures = (re.captures_len() > 1).then_some(&captures);
                            out.push((rule.tag(key, captures), text(value)));
                        }
                    }
                }
            }
        }
    }
}

impl Key {
    fn matches(&self, key: &str) -> bool {
        match self {
            Key::Exact(k) => k == key,
            Key::Regex(re) => re.is_match(key),
        }
    }
}

impl FieldRule {
    fn tag(&self, key: &str, captures: Option<&regex::Captures<'_>>) -> String {
        match (&self.tag_name, captures) {
            (Some(tag), Some(captures)) => {
                let mut out = String::new();
                captures.expand(tag, &mut out);
                out
            }
            (Some(tag), None) if matches!(self.key, Key::Exact(_)) => tag.clone(),
            _ => {
                let from = match self.from {
                    From::Pod => "pod",
                    From::Namespace => "namespace",
                    From::Node => "node",
                };
                // The semantic conventions' singular names (`k8s.pod.label.<key>`), the
                // Collector's default since its v1 conventions.
                let field = match self.field {
                    Field::Labels => "label",
                    Field::Annotations => "annotation",
                };
                format!("k8s.{from}.{field}.{key}")
            }
        }
    }
}

fn field_rule(field: Field, rule: &FieldExtract) -> Result<FieldRule, String> {
    let from = match rule.from.as_deref().unwrap_or("pod") {
        "pod" => From::Pod,
        "namespace" => From::Namespace,
        "node" => From::Node,
        other => return Err(format!("`from: {other}` is not supported")),
    };
    let key = match (&rule.key, &rule.key_regex) {
        (Some(key), None) => Key::Exact(key.clone()),
        // Anchored: the whole key must match (the Collector's rule).
        (None, Some(re)) => {
            Key::Regex(Regex::new(&format!("^(?:{re})$")).map_err(|e| e.to_string())?)
        }
        _ => return Err("set exactly one of `key` and `key_regex`".into()),
    };
    Ok(FieldRule {
        from,
        field,
        key,
        tag_name: rule.tag_name.clone().filter(|t| !t.is_empty()),
    })
}

/// What a resource says about its container.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct ContainerHint {
    pub name: Option<String>,
    pub id: Option<String>,
    pub restart_count: Option<i64>,
}

/// The Deployment behind a ReplicaSet, from its name: `<deployment>-<pod-template-hash>`
/// with the hash the pod's `pod-template-hash` label holds (the Collector's heuristic; no
/// label: not a Deployment's). With `from_name_alone`, any alphanumeric last part.
fn deployment_name<'a>(replicaset: &'a str, pod: &Pod, from_name_alone: bool) -> Option<&'a str> {
    let hash = pod
        .metadata
        .labels
        .get(POD_TEMPLATE_HASH)
        .filter(|h| !h.is_empty());
    match hash {
        Some(hash) => replicaset
            .strip_suffix(hash.as_str())
            .and_then(|head| head.strip_suffix('-'))
            .filter(|head| !head.is_empty()),
        None if from_name_alone => {
            let name = trim_suffix(replicaset, |s| s.chars().all(|c| c.is_ascii_alphanumeric()));
            (name != replicaset).then_some(name)
        }
        None => None,
    }
}

/// The label a Deployment's controller puts on its ReplicaSets' pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// `name-<suffix>` -> `name` when the suffix passes `is_suffix`; else the name as it is.
fn trim_suffix(name: &str, is_suffix: impl Fn(&str) -> bool) -> &str {
    match name.rsplit_once('-') {
        Some((head, tail)) if !head.is_empty() && !tail.is_empty() && is_suffix(tail) => head,
        _ => name,
    }
}

/// An image reference as the Collector reports it (Kubernetes' `ParseImageName`): the
/// normalized repository (`nginx` -> `docker.io/library/nginx`) and the tag, `latest`
/// when neither a tag nor a digest is given, none for a digest alone.
pub fn image_ref(image: &str) -> Option<(String, String)> {
    if image.is_empty() {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let first = repository.split('/').next().unwrap_or_default();
    let has_domain = repository.contains('/')
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    let repository = if has_domain {
        repository.to_string()
    } else if repository.contains('/') {
        format!("docker.io/{repository}")
    } else {
        format!("docker.io/library/{repository}")
    };
    let tag = match (tag, digest) {
        (Some(tag), _) => tag.to_string(),
        (None, None) => "latest".to_string(),
        (None, Some(_)) => String::new(),
    };
    Some((repository, tag))
}
