use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llamacol_api::attributes::{int, string};
use llamacol_api::client_metadata::ClientMetadata;
use llamacol_api::config::ComponentConfig;
use llamacol_api::kube::watch::Event;
use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::testing::{sample_traces, Capture};
use llamacol_api::{Batch, Consumer};

use super::associate::{container_hint, Associations};
use super::cache::{Cache, DELETE_GRACE};
use super::config::K8sAttributesConfig;
use super::extract::{image_ref, From, Rules};
use super::objects::{Named, Pod, ReplicaSet};
use super::K8sAttributesProcessor;

/// A pod as the API server writes it (the fields a Deployment's pod has).
fn pod(name: &str, uid: &str, ip: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": "inference",
            "uid": uid,
            "resourceVersion": "100",
            "creationTimestamp": "2026-12-07T10:00:00Z",
            "labels": {"app": "llama", "team": "ml", "pod-template-hash": "7d9f8b6c5"},
            "annotations": {
                "resource.opentelemetry.io/service.name": "chat-api",
                "git-commit": "abc123",
                "kubectl.kubernetes.io/restartedAt": "2026-12-07T09:00:00Z"
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "llama-7d9f8b6c5",
                "uid": "rs-uid", "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": {
            "nodeName": "gpu-node-1",
            "containers": [
                {"name": "server", "image": "ghcr.io/ggml-org/llama.cpp:server-cuda"},
                {"name": "sidecar", "image": "busybox"}
            ]
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": "2026-12-07T10:00:01Z",
            "containerStatuses": [
                {"name": "server", "containerID": "containerd://c0ffee", "restartCount": 1,
                 "lastState": {"terminated": {"containerID": "containerd://dead01", "exitCode": 137}}},
                {"name": "sidecar", "containerID": "containerd://5eed", "restartCount": 0}
            ]
        }
    }))
    .expect("a pod")
}

fn config(yaml: &str) -> K8sAttributesConfig {
    let config: K8sAttributesConfig = llamacol_api::serde_yaml::from_str(yaml).expect("config");
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    config
}

fn filled(rules: &Rules) -> Cache {
    let mut cache = Cache::default();
    let now = Instant::now();
    cache.pods_event(
        Event::Listed(vec![pod("llama-7d9f8b6c5-abcde", "pod-1", "10.1.0.7")]),
        rules,
        &[],
        now,
    );
    cache.replicasets_event(Event::Listed(vec![serde_json::from_value::<ReplicaSet>(serde_json::json!({
        "metadata": {"name": "llama-7d9f8b6c5", "uid": "rs-uid",
            "ownerReferences": [{"kind": "Deployment", "name": "llama", "uid": "deploy-uid", "controller": true}]}
    })).expect("rs")]));
    cache.named_event(
        From::Namespace,
        Event::Listed(vec![serde_json::from_value::<Named>(serde_json::json!({
            "metadata": {"name": "inference", "labels": {"env": "prod"}}
        }))
        .expect("ns")]),
        rules,
    );
    cache
}

fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            llamacol_api::otlp::common::v1::any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| string(k, v)).collect()
}

/// The attributes as text (a one-element list as its element).
fn map(
    pairs: Vec<(String, llamacol_api::otlp::common::v1::any_value::Value)>,
) -> BTreeMap<String, String> {
    use llamacol_api::otlp::common::v1::any_value::Value;
    pairs
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::ArrayValue(a) if a.values.len() == 1 => a.values[0]
                    .value
                    .clone()
                    .unwrap_or(Value::StringValue(String::new())),
                other => other,
            };
            let text = match v {
                Value::StringValue(s) => s,
                other => format!("{other:?}"),
            };
            (k, text)
        })
        .collect()
}

#[test]
fn the_default_metadata_of_a_deployments_pod() {
    let rules = Rules::new(&config("{}").extract).expect("rules");
    let cache = filled(&rules);
    let pod = cache
        .pod(&super::cache::PodKey::Ip("10.1.0.7".into()))
        .expect("by ip");
    let got = map(rules.pod_attributes(&cache, pod, &Default::default()));
    let want: BTreeMap<String, String> = [
        ("k8s.namespace.name", "inference"),
        ("k8s.pod.name", "llama-7d9f8b6c5-abcde"),
        ("k8s.pod.uid", "pod-1"),
        ("k8s.pod.start_time", "2026-12-07T10:00:00Z"),
        ("k8s.deployment.name", "llama"),
        ("k8s.node.name", "gpu-node-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn owners_containers_labels_annotations_and_otel_annotations() {
    let rules = Rules::new(
        &config(
            r#"
extract:
  metadata: [k8s.pod.name, k8s.replicaset.name, k8s.replicaset.uid, k8s.deployment.name, k8s.deployment.uid,
             k8s.container.name, container.id, container.image.name, container.image.tags, k8s.pod.ip]
  labels:
    - {tag_name: app.team, key: team}
    - {key_regex: "pod-template-(.*)"}
    - {tag_name: "k8s.ns.$1", key_regex: "(env)", from: namespace}
  annotations:
    - {tag_name: commit, key: git-commit}
  otel_annotations: true
"#,
        )
        .extract,
    )
    .expect("rules");
    let cache = filled(&rules);
    let pod = cache
        .pod(&super::cache::PodKey::Uid("pod-1".into()))
        .expect("by uid");
    // The cache kept only what a rule reads.
    assert_eq!(
        pod.metadata.labels.keys().collect::<Vec<_>>(),
        ["pod-template-hash", "team"]
    );
    assert!(!pod
        .metadata
        .annotations
        .contains_key("kubectl.kubernetes.io/restartedAt"));

    let hint = container_hint(&attrs(&[("k8s.container.name", "server")]));
    let got = map(rules.pod_attributes(&cache, pod, &hint));
    for (k, v) in [
        ("k8s.replicaset.name", "llama-7d9f8b6c5"),
        ("k8s.replicaset.uid", "rs-uid"),
        ("k8s.deployment.name", "llama"),
        ("k8s.deployment.uid", "deploy-uid"),
        ("k8s.container.name", "server"),
        ("container.id", "c0ffee"),
        ("container.image.name", "ghcr.io/ggml-org/llama.cpp"),
        ("container.image.tags", "server-cuda"),
        ("k8s.pod.ip", "10.1.0.7"),
        ("app.team", "ml"),
        ("k8s.pod.label.pod-template-hash", "7d9f8b6c5"),
        ("k8s.ns.env", "prod"),
        ("commit", "abc123"),
        ("service.name", "chat-api"),
    ] {
        assert_eq!(got.get(k).map(String::as_str), Some(v), "{k} in {got:?}");
    }
    assert!(!got.contains_key("k8s.pod.uid"), "not asked for");

    // The container before its restart, by the restart count the resource gives.
    let mut before = attrs(&[("k8s.container.name", "server")]);
    before.push(int("k8s.container.restart_count", 0));
    let got = map(rules.pod_attributes(&cache, pod, &container_hint(&before)));
    assert_eq!(got.get("container.id").map(String::as_str), Some("dead01"));

    // By container id: the name and image come with it.
    let got = map(rules.pod_attributes(
        &cache,
        pod,
        &container_hint(&attrs(&[("container.id", "5eed")])),
    ));
    assert_eq!(
        got.get("k8s.container.name").map(String::as_str),
        Some("sidecar")
    );
    assert_eq!(
        got.get("container.image.name").map(String::as_str),
        Some("docker.io/library/busybox")
    );
    assert_eq!(
        got.get("container.image.tags").map(String::as_str),
        Some("latest")
    );
}

#[test]
fn deployment_from_the_replicaset_name_and_cronjob_from_the_job_name() {
    let rules = Rules::new(&config("extract: {deployment_name_from_replicaset: true, metadata: [k8s.deployment.name, k8s.job.name, k8s.cronjob.name]}").extract)
        .expect("rules");
    assert!(!rules.needs_replicasets());
    let mut cache = Cache::default();
    let mut job_pod = pod("nightly-eval-29412360-x7k2p", "pod-2", "10.1.0.9");
    job_pod.metadata.owner_references[0].kind = "Job".into();
    job_pod.metadata.owner_references[0].name = "nightly-eval-29412360".into();
    cache.pods_event(
        Event::Listed(vec![
            pod("llama-7d9f8b6c5-abcde", "pod-1", "10.1.0.7"),
            job_pod,
        ]),
        &rules,
        &[],
        Instant::now(),
    );
    let deployment = cache
        .pod(&super::cache::PodKey::Uid("pod-1".into()))
        .expect("pod");
    let got = map(rules.pod_attributes(&cache, deployment, &Default::default()));
    assert_eq!(
        got.get("k8s.deployment.name").map(String::as_str),
        Some("llama")
    );
    let job = cache
        .pod(&super::cache::PodKey::Uid("pod-2".into()))
        .expect("pod");
    let got = map(rules.pod_attributes(&cache, job, &Default::default()));
    assert_eq!(
        got.get("k8s.job.name").map(String::as_str),
        Some("nightly-eval-29412360")
    );
    assert_eq!(
        got.get("k8s.cronjob.name").map(String::as_str),
        Some("nightly-eval")
    );
}

#[test]
fn association_rules_in_order_first_complete_rule_decides() {
    let rules = Rules::new(&config("{}").extract).expect("rules");
    let cache = filled(&rules);
    let from = |ip: &str| ip.parse::<IpAddr>().ok();

    let by_connection = Associations::new(&[]);
    assert!(by_connection
        .lookup(&Vec::<KeyValue>::new(), from("10.1.0.7"), &cache)
        .pod
        .is_some());
    let found = by_connection.lookup(&Vec::<KeyValue>::new(), from("10.9.9.9"), &cache);
    assert!(found.pod.is_none());
    assert_eq!(found.connection_ip.as_deref(), Some("10.9.9.9"));
    assert!(
        by_connection
            .lookup(&Vec::<KeyValue>::new(), None, &cache)
            .pod
            .is_none(),
        "a unix socket has no address"
    );

    let configured = config(
        r#"
pod_association:
  - sources: [{from: resource_attribute, name: k8s.pod.ip}]
  - sources: [{from: resource_attribute, name: k8s.pod.name}, {from: resource_attribute, name: k8s.namespace.name}]
  - sources: [{from: resource_attribute, name: container.id}]
  - sources: [{from: connection}]
"#,
    );
    let rules_in_order = Associations::new(&configured.pod_association);
    let agent = from("10.200.0.1");
    let found = rules_in_order.lookup(&attrs(&[("k8s.pod.ip", "10.1.0.7")]), agent, &cache);
    assert_eq!(found.pod.map(|p| p.metadata.uid.as_str()), Some("pod-1"));
    assert!(
        found.connection_ip.is_none(),
        "the attribute decided, not the connection"
    );
    let by_name = attrs(&[
        ("k8s.pod.name", "llama-7d9f8b6c5-abcde"),
        ("k8s.namespace.name", "inference"),
    ]);
    assert!(rules_in_order.lookup(&by_name, agent, &cache).pod.is_some());
    let wrong_namespace = attrs(&[
        ("k8s.pod.name", "llama-7d9f8b6c5-abcde"),
        ("k8s.namespace.name", "default"),
    ]);
    assert!(rules_in_order
        .lookup(&wrong_namespace, agent, &cache)
        .pod
        .is_none());
    assert!(rules_in_order
        .lookup(&attrs(&[("container.id", "c0ffee")]), agent, &cache)
        .pod
        .is_some());
    // An attribute naming an unknown pod decides (no pod); the connection is not tried.
    let unknown = attrs(&[("k8s.pod.ip", "10.1.0.99")]);
    assert!(rules_in_order
        .lookup(&unknown, from("10.1.0.7"), &cache)
        .pod
        .is_none());
}

#[test]
fn deleted_pods_stay_for_the_grace_period_and_a_relist_drops_the_missing() {
    let rules = Rules::new(&config("{}").extract).expect("rules");
    let mut cache = filled(&rules);
    let t0 = Instant::now();
    let ip = super::cache::PodKey::Ip("10.1.0.7".into());
    cache.pods_event(
        Event::Deleted(pod("llama-7d9f8b6c5-abcde", "pod-1", "10.1.0.7")),
        &rules,
        &[],
        t0,
    );
    assert!(cache.pod(&ip).is_some(), "late telemetry still finds it");
    // The IP goes to a new pod while the old one is in its grace period.
    cache.pods_event(
        Event::Applied(pod("llama-7d9f8b6c5-fghij", "pod-3", "10.1.0.7")),
        &rules,
        &[],
        t0,
    );
    assert_eq!(
        cache.pod(&ip).map(|p| p.metadata.uid.as_str()),
        Some("pod-3")
    );
    cache.purge(t0 + DELETE_GRACE + Duration::from_secs(1));
    assert_eq!(
        cache.pod(&ip).map(|p| p.metadata.uid.as_str()),
        Some("pod-3"),
        "the purge left the new pod's IP"
    );
    assert!(cache
        .pod(&super::cache::PodKey::Uid("pod-1".into()))
        .is_none());

    // A relist (after a broken watch) that no longer has pod-3: gone after the grace.
    cache.pods_event(Event::Listed(vec![]), &rules, &[], t0);
    assert!(cache.pod(&ip).is_some());
    cache.purge(t0 + DELETE_GRACE);
    assert!(cache.pod(&ip).is_none());
    assert_eq!(cache.counts.deleted, 2);
}

#[test]
fn host_network_pods_and_excluded_pods_are_not_found_by_ip() {
    let rules = Rules::new(&config("{}").extract).expect("rules");
    let mut cache = Cache::default();
    let mut host = pod("node-exporter-x", "pod-h", "192.168.1.10");
    host.spec.host_network = true;
    let excluded = pod("jaeger-agent", "pod-j", "10.1.0.8");
    let exclude = vec![regex::Regex::new("^(?:jaeger-agent)$").expect("re")];
    cache.pods_event(
        Event::Listed(vec![host, excluded]),
        &rules,
        &exclude,
        Instant::now(),
    );
    assert!(cache
        .pod(&super::cache::PodKey::Ip("192.168.1.10".into()))
        .is_none());
    assert!(cache
        .pod(&super::cache::PodKey::Uid("pod-h".into()))
        .is_some());
    assert!(cache
        .pod(&super::cache::PodKey::Uid("pod-j".into()))
        .is_none());
}

#[test]
fn image_references_as_kubernetes_parses_them() {
    for (image, name, tag) in [
        ("nginx", "docker.io/library/nginx", "latest"),
        ("nginx:1.27", "docker.io/library/nginx", "1.27"),
        ("bitnami/redis:7", "docker.io/bitnami/redis", "7"),
        ("example.com:5000/alpine/alpine:test", "example.com:5000/alpine/alpine", "test"),
        ("localhost/img", "localhost/img", "latest"),
        ("ghcr.io/x/y@sha256:b248ef911f93ae27cbbc85056d1ffacc87fd941bbdc2ffd951b6df8df72b8096", "ghcr.io/x/y", ""),
        ("ghcr.io/x/y:0.112.0@sha256:b248ef911f93ae27cbbc85056d1ffacc87fd941bbdc2ffd951b6df8df72b8096", "ghcr.io/x/y", "0.112.0"),
    ] {
        assert_eq!(image_ref(image), Some((name.to_string(), tag.to_string())), "{image}");
    }
    assert_eq!(image_ref(""), None);
}

/// A full-mode processor whose cache is [`filled`]: built in passthrough (no API server
/// needed), then switched.
fn with_filled_cache(yaml: &str, next: Arc<Capture>) -> K8sAttributesProcessor {
    let mut config = config(yaml);
    config.passthrough = true;
    let processor =
        K8sAttributesProcessor::new("k8s_attributes".into(), &config, next).expect("built");
    let processor = K8sAttributesProcessor {
        passthrough: false,
        ..processor
    };
    *processor.cache.write().expect("lock") = filled(&processor.rules);
    processor
}

/// `batch` sent from 10.1.0.7 through `processor`; the traces request it passed on.
async fn through(
    processor: &K8sAttributesProcessor,
    capture: &Capture,
    mut batch: Batch,
) -> llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest {
    batch.set_metadata(Some(Arc::new(ClientMetadata::from_addr(
        "10.1.0.7".parse().expect("ip"),
    ))));
    processor.consume(batch).await.expect("passes");
    let mut out = capture.batches().remove(0);
    let Batch::Traces(p) = &mut out else {
        panic!("traces")
    };
    p.message().expect("decodes").clone()
}

#[tokio::test]
async fn the_processor_adds_what_is_missing_and_passthrough_only_the_ip() {
    let capture = Arc::new(Capture::default());
    let processor = K8sAttributesProcessor::new(
        "k8s_attributes".into(),
        &config("passthrough: true"),
        capture.clone(),
    )
    .expect("passthrough needs no API server");
    let request = through(&processor, &capture, Batch::from(sample_traces(1, 2))).await;
    let resource = request.resource_spans[0]
        .resource
        .clone()
        .expect("resource");
    assert_eq!(
        string_attr(&resource.attributes, "k8s.pod.ip"),
        Some("10.1.0.7")
    );
    assert!(string_attr(&resource.attributes, "k8s.pod.name").is_none());

    // Full mode with a filled cache: added, but what the app said itself is kept.
    let capture = Arc::new(Capture::default());
    let full = with_filled_cache("{}", capture.clone());
    let mut request = sample_traces(1, 1);
    request.resource_spans[0]
        .resource
        .get_or_insert_with(Default::default)
        .attributes
        .push(string("k8s.node.name", "said-by-app"));
    let out = through(&full, &capture, Batch::from(request)).await;
    let attributes = out.resource_spans[0]
        .resource
        .clone()
        .expect("resource")
        .attributes;
    assert_eq!(
        string_attr(&attributes, "k8s.pod.name"),
        Some("llama-7d9f8b6c5-abcde")
    );
    assert_eq!(
        string_attr(&attributes, "k8s.deployment.name"),
        Some("llama")
    );
    assert_eq!(
        string_attr(&attributes, "k8s.node.name"),
        Some("said-by-app")
    );
    assert_eq!(
        string_attr(&attributes, "k8s.pod.ip"),
        None,
        "stamped only in passthrough or when asked for (the Collector's rule)"
    );
}

#[test]
fn config_mistakes_name_the_key_and_the_fix() {
    let bad: K8sAttributesConfig = llamacol_api::serde_yaml::from_str(
        r#"
extract:
  metadata: [k8s.pod.nam]
  labels: [{key: a, key_regex: b}, {key: c, from: deployment}]
pod_association:
  - sources: [{from: resource_attribute, name: host.name}]
  - sources: [{from: ip}]
filter:
  labels: [{key: app, op: like}]
kube_config_path: /root/.kube/config
"#,
    )
    .expect("parses");
    let issues: Vec<String> = bad
        .validate()
        .iter()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect();
    let all = issues.join("\n");
    for expected in [
        "extract.metadata[0]: `k8s.pod.nam` is not an attribute k8s_attributes extracts (did you mean `k8s.pod.name`?)",
        "extract.labels[0]: set exactly one of `key` and `key_regex`",
        "extract.labels[1].from: `deployment`",
        "pod_association[0].sources[0].name: `host.name`",
        "pod_association[1].sources[0].from: `ip`",
        "filter.labels[0].op: `like`",
        "kube_config_path: `kube_config_path` and `context` are read only with `auth_type: kubeConfig`",
    ] {
        assert!(all.contains(expected), "missing `{expected}` in\n{all}");
    }
}

#[test]
fn service_attributes_follow_the_semantic_conventions_order() {
    let rules = Rules::new(
        &config(
            "extract: {otel_annotations: true, metadata: [service.namespace, service.name, service.version, service.instance.id, k8s.cluster.uid]}",
        )
        .extract,
    )
    .expect("rules");
    let mut cache = filled(&rules);
    cache.cluster_uid = "kube-system-uid".into();
    let pod = cache
        .pod(&super::cache::PodKey::Uid("pod-1".into()))
        .expect("pod");
    let server = container_hint(&attrs(&[("k8s.container.name", "server")]));
    let got = map(rules.pod_attributes(&cache, pod, &server));
    // The annotation wins over everything; the rest from the workload and the container.
    assert_eq!(
        got.get("service.name").map(String::as_str),
        Some("chat-api")
    );
    assert_eq!(
        got.get("service.namespace").map(String::as_str),
        Some("inference")
    );
    assert_eq!(
        got.get("service.version").map(String::as_str),
        Some("server-cuda"),
        "the image tag"
    );
    assert_eq!(
        got.get("service.instance.id").map(String::as_str),
        Some("inference.llama-7d9f8b6c5-abcde.server")
    );
    assert_eq!(
        got.get("k8s.cluster.uid").map(String::as_str),
        Some("kube-system-uid")
    );

    // Without the annotation: the well-known labels, then the deployment's name.
    let mut labelled = pod.clone();
    labelled.metadata.annotations.clear();
    labelled
        .metadata
        .labels
        .insert("app.kubernetes.io/name".into(), "llama-server".into());
    labelled
        .metadata
        .labels
        .insert("app.kubernetes.io/version".into(), "b4719".into());
    let mut cache = filled(&rules);
    cache.pods_event(Event::Applied(labelled), &rules, &[], Instant::now());
    let pod = cache
        .pod(&super::cache::PodKey::Uid("pod-1".into()))
        .expect("pod");
    let got = map(rules.pod_attributes(&cache, pod, &Default::default()));
    assert_eq!(
        got.get("service.name").map(String::as_str),
        Some("llama-server")
    );
    assert_eq!(
        got.get("service.version").map(String::as_str),
        Some("b4719")
    );
    assert!(
        !got.contains_key("service.instance.id"),
        "no container named"
    );
    // Neither: the deployment behind the ReplicaSet.
    let mut bare = pod.clone();
    bare.metadata.labels.clear();
    let got = map(rules.pod_attributes(&cache, &bare, &Default::default()));
    assert_eq!(got.get("service.name").map(String::as_str), Some("llama"));
}

/// A batch as receivers hand it over (encoded) gets the same resources as a decoded one,
/// with only the changed resource blocks written anew.
#[tokio::test]
async fn the_wire_path_gives_what_the_decoded_path_gives() {
    use prost::Message;
    let run = |encoded: bool| async move {
        let capture = Arc::new(Capture::default());
        let processor = with_filled_cache(
            "{extract: {metadata: [k8s.pod.name, k8s.deployment.name, service.name, k8s.container.name, container.image.name]},
              pod_association: [{sources: [{from: resource_attribute, name: k8s.pod.ip}]},
                                {sources: [{from: resource_attribute, name: k8s.pod.uid}]},
                                {sources: [{from: connection}]}]}",
            capture.clone(),
        );
        let mut request = sample_traces(3, 2);
        // Block 0 names its pod by uid and container; block 1 by nothing (the
        // connection); block 2 names an unknown pod.
        for (i, key, value) in [
            (0, "k8s.pod.uid", "pod-1"),
            (0, "k8s.container.name", "server"),
            (2, "k8s.pod.ip", "10.9.9.9"),
        ] {
            let resource = request.resource_spans[i]
                .resource
                .get_or_insert_with(Default::default);
            resource.attributes.push(string(key, value));
        }
        let batch = if encoded {
            Batch::from_bytes(llamacol_api::Signal::Traces, request.encode_to_vec().into())
                .expect("valid")
        } else {
            Batch::from(request)
        };
        through(&processor, &capture, batch).await
    };
    let wire = run(true).await;
    let decoded = run(false).await;
    assert_eq!(wire, decoded);
    let names: Vec<Option<&str>> = wire
        .resource_spans
        .iter()
        .map(|rs| {
            string_attr(
                &rs.resource.as_ref().expect("resource").attributes,
                "k8s.pod.name",
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            Some("llama-7d9f8b6c5-abcde"),
            Some("llama-7d9f8b6c5-abcde"),
            None
        ]
    );
}

/// What the real Collector's k8sattributes (v0.161) does, seen against it in
/// tests/e2e_k8s.rs: a one-container pod's container is the one, a pattern without groups
/// keeps the default name, the Deployment comes from the ReplicaSet's name and the
/// `pod-template-hash` label without a ReplicaSet watch.
#[test]
fn the_collectors_defaults() {
    let rules = Rules::new(
        &config(
            r#"
extract:
  metadata: [k8s.deployment.name, k8s.container.name, container.image.name, container.image.tags]
  labels: [{tag_name: ignored, key_regex: "te.m"}]
"#,
        )
        .extract,
    )
    .expect("rules");
    assert!(
        !rules.needs_replicasets(),
        "the name needs no ReplicaSet watch"
    );
    let mut cache = Cache::default();
    let mut one = pod("llama-7d9f8b6c5-abcde", "pod-1", "10.1.0.7");
    one.spec.containers.truncate(1);
    one.status.container_statuses.truncate(1);
    cache.pods_event(Event::Listed(vec![one]), &rules, &[], Instant::now());
    let pod = cache
        .pod(&super::cache::PodKey::Uid("pod-1".into()))
        .expect("pod");
    let got = map(rules.pod_attributes(&cache, pod, &Default::default()));
    assert_eq!(
        got.get("k8s.deployment.name").map(String::as_str),
        Some("llama")
    );
    assert_eq!(
        got.get("k8s.container.name").map(String::as_str),
        Some("server"),
        "the only container"
    );
    assert_eq!(
        got.get("container.image.tags").map(String::as_str),
        Some("server-cuda")
    );
    assert_eq!(
        got.get("k8s.pod.label.team").map(String::as_str),
        Some("ml"),
        "no groups: the default name"
    );
    assert!(!got.contains_key("ignored"));

    // Without the hash label the ReplicaSet is not taken for a Deployment's.
    let mut unlabelled = pod.clone();
    unlabelled.metadata.labels.remove("pod-template-hash");
    let got = map(rules.pod_attributes(&cache, &unlabelled, &Default::default()));
    assert!(!got.contains_key("k8s.deployment.name"));
}
