//! `pod_association`: which pod a resource came from. The rules are tried in order; the
//! first whose sources are all present decides (the Collector's rule: a later rule is not
//! tried when that pod is unknown).

use std::net::IpAddr;

use std::borrow::Cow;

use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::wire::attrs::{get, get_str, Attrs};

use super::cache::{Cache, PodKey};
use super::config::Association;
use super::extract::ContainerHint;
use super::objects::Pod;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Connection,
    Attribute(String),
}

/// The compiled rules; none configured: the connection alone.
#[derive(Debug)]
pub struct Associations(Vec<Vec<Source>>);

/// What a resource says about where it came from.
pub struct Found<'a> {
    pub pod: Option<&'a Pod>,
    /// The connection's IP, when the deciding rule used it (stamped as `k8s.pod.ip`).
    pub connection_ip: Option<String>,
}

impl Associations {
    pub fn new(config: &[Association]) -> Associations {
        if config.is_empty() {
            return Associations(vec![vec![Source::Connection]]);
        }
        Associations(
            config
                .iter()
                .map(|a| {
                    a.sources
                        .iter()
                        .map(|s| match (s.from.as_str(), &s.name) {
                            ("resource_attribute", Some(name)) => Source::Attribute(name.clone()),
                            _ => Source::Connection,
                        })
                        .collect()
                })
                .collect(),
        )
    }

    /// The deciding rule's values (`None`: no rule had all its sources).
    pub fn values(
        &self,
        attributes: &impl Attrs,
        addr: Option<IpAddr>,
    ) -> Option<Vec<(Source, String)>> {
        self.0.iter().find_map(|rule| {
            rule.iter()
                .map(|source| {
                    let value = match source {
                        Source::Connection => addr.map(|a| a.to_string()),
                        Source::Attribute(name) => get_str(attributes, name).map(Cow::into_owned),
                    };
                    value.filter(|v| !v.is_empty()).map(|v| (source.clone(), v))
                })
                .collect::<Option<Vec<_>>>()
        })
    }

    /// The pod the rule's values name, if the cache has one that matches them all.
    pub fn find<'a>(values: &[(Source, String)], cache: &'a Cache) -> Option<&'a Pod> {
        let key = values
            .iter()
            .find_map(|(source, value)| key(source, value, values))?;
        let pod = cache.pod(&key)?;
        values
            .iter()
            .all(|(source, value)| matches(pod, source, value))
            .then_some(pod)
    }

    pub fn lookup<'a>(
        &self,
        attributes: &impl Attrs,
        addr: Option<IpAddr>,
        cache: &'a Cache,
    ) -> Found<'a> {
        let Some(values) = self.values(attributes, addr) else {
            return Found {
                pod: None,
                connection_ip: None,
            };
        };
        let connection_ip = match values.first() {
            Some((Source::Connection, ip)) => Some(ip.clone()),
            _ => None,
        };
        Found {
            pod: Associations::find(&values, cache),
            connection_ip,
        }
    }
}

/// The lookup key one source gives (a name needs its namespace beside it).
fn key(source: &Source, value: &str, all: &[(Source, String)]) -> Option<PodKey> {
    Some(match source {
        Source::Connection => PodKey::Ip(value.to_string()),
        Source::Attribute(name) => match name.as_str() {
            "k8s.pod.ip" => PodKey::Ip(value.to_string()),
            "k8s.pod.uid" => PodKey::Uid(value.to_string()),
            "container.id" => PodKey::ContainerId(value.to_string()),
            "k8s.pod.name" => PodKey::Name {
                namespace: all.iter().find_map(|(s, v)| {
                    (*s == Source::Attribute("k8s.namespace.name".into())).then(|| v.clone())
                })?,
                name: value.to_string(),
            },
            _ => return None,
        },
    })
}

fn matches(pod: &Pod, source: &Source, value: &str) -> bool {
    match source {
        Source::Connection => pod.ips().any(|ip| ip == value),
        Source::Attribute(name) => match name.as_str() {
            "k8s.pod.ip" => pod.ips().any(|ip| ip == value),
            "k8s.pod.uid" => pod.metadata.uid == value,
            "k8s.pod.name" => pod.metadata.name == value,
            "k8s.namespace.name" => pod.metadata.namespace == value,
            "container.id" => pod.container_ids().any(|(_, id, _)| id == value),
            _ => false,
        },
    }
}

/// What the resource says about its container.
pub fn container_hint(attributes: &impl Attrs) -> ContainerHint {
    let restart_count =
        get(attributes, "k8s.container.restart_count").and_then(|v| match v.as_ref() {
            any_value::Value::IntValue(i) => Some(*i),
            any_value::Value::StringValue(s) => s.parse().ok(),
            _ => None,
        });
    ContainerHint {
        name: get_str(attributes, "k8s.container.name").map(Cow::into_owned),
        id: get_str(attributes, "container.id").map(Cow::into_owned),
        restart_count,
    }
}
