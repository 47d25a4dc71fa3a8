use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use llamacol_api::attributes::{string, value_string};
use llamacol_api::config::{parse, ComponentConfig, Issue};
use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::testing::{sample_traces, Capture};
use llamacol_api::{Batch, BoxError, Consumer, Processor};

use super::config::Enabled;
use super::env::{parse as parse_env, EnvDetector, EnvFormatError};
use super::gcp::{managed_instance_group, zone_and_region};
use super::system::{hosts_line, SystemDetector};
use super::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/resource_detection/root")
}

fn config(yaml: &str) -> ResourceDetectionConfig {
    parse::<ResourceDetectionConfig>(&serde_yaml::from_str(yaml).expect("yaml")).expect("valid")
}

/// Parse errors, else what `validate` finds.
fn issues(yaml: &str) -> Vec<Issue> {
    match parse::<ResourceDetectionConfig>(&serde_yaml::from_str(yaml).expect("yaml")) {
        Ok(c) => c.validate(),
        Err(issues) => issues,
    }
}

fn map(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(value_string).unwrap_or_default(),
            )
        })
        .collect()
}

/// The Collector's own cases for `OTEL_RESOURCE_ATTRIBUTES`
/// (`internal/env/env_test.go` `TestInitializeAttributeMap`, contrib v0.160.0).
#[test]
fn env_format_follows_the_collectors_cases() {
    let ok = parse_env(r#" example.org/test-1 =  test $ %3A \" ,  Abc=Def  "#).expect("valid");
    assert_eq!(
        map(&ok),
        [
            (
                "example.org/test-1".to_string(),
                r#"test $ : \""#.to_string()
            ),
            ("Abc".to_string(), "Def".to_string())
        ]
    );
    assert_eq!(
        map(&parse_env("single=key").expect("valid")),
        [("single".into(), "key".into())]
    );
    let cases = [
        (
            "invalid=url-%3-encoding",
            r#"invalid resource format in attribute: "invalid=url-%3-encoding", err: invalid URL escape "%3-""#,
        ),
        (
            "invalid-char-ü=test",
            r#"invalid resource format: "invalid-char-ü=test""#,
        ),
        (
            "invalid-char=ü-test",
            r#"invalid resource format: "invalid-char=ü-test""#,
        ),
        (
            "extra=chars, a",
            r#"invalid resource format, invalid text: " a""#,
        ),
        (
            "invalid=char,übetween=attributes",
            r#"invalid resource format, invalid text: "ü""#,
        ),
    ];
    for (input, message) in cases {
        let e: EnvFormatError = parse_env(input).expect_err(input);
        assert_eq!(e.to_string(), message, "{input}");
    }
}

#[tokio::test]
async fn env_detector_reads_the_variable_and_falls_back_to_the_old_name() {
    let d = EnvDetector {
        lookup: |name| {
            (name == "OTEL_RESOURCE").then(|| "service.name=llama,k8s.node.name=gpu-7".to_string())
        },
    };
    let found = d.detect().await.expect("detects");
    assert_eq!(found.schema_url, "");
    assert_eq!(
        map(&found.attributes),
        [
            ("service.name".into(), "llama".into()),
            ("k8s.node.name".into(), "gpu-7".into())
        ]
    );
    let broken = EnvDetector {
        lookup: |_| Some("a=b, c".to_string()),
    };
    let e = broken.detect().await.expect_err("malformed");
    assert!(e.to_string().contains("OTEL_RESOURCE_ATTRIBUTES"), "{e}");
}

/// go-fqdn v1.0.0's `parseHostLine` cases (`fqdn_test.go`), the hosts-file step of the
/// `dns` hostname source.
#[test]
fn hosts_lines_follow_go_fqdn_cases() {
    let cases = [
        ("foo", "::1 foo bar", Some("foo")),
        ("foo", "127.0.0.1 foo bar", Some("foo")),
        ("bar", "::1 foo bar", Some("foo")),
        ("bar", "::1 \t foo  \t\t\t  bar  \t\t", Some("foo")),
        ("bar", "127.0.0.1 foo bar", Some("foo")),
        ("bar", "127.0.0.1 foo.full bar", Some("foo.full")),
        ("foo", "::1 foo", Some("foo")),
        ("foo", "::1 bar", None),
        ("::1", "::1", None),
        ("127.0.0.1", "127.0.0.1", None),
        ("bar", "127.0.0.1 foo # bar", None),
        ("bar", "127.0.0.1 foo#bar", None),
        ("bar", "127.0.0.1\tfoo#bar  asdawdf a#", None),
        ("b", "127.0.0.1 a b", Some("a")),
        ("a", "127.0.0.1 a b", Some("a")),
        ("c", "127.0.0.1 a b", None),
        ("b", "127.0.0.1 _invalid_ b", None),
        ("b", "127.0.0.1 今日は b", Some("今日は")),
    ];
    for (host, line, want) in cases {
        assert_eq!(
            hosts_line(line, host).as_deref(),
            want,
            "{host} in {line:?}"
        );
    }
}

#[tokio::test]
async fn system_reads_names_os_and_cpu_from_the_root() {
    let mut c = config("detectors: [system]").system;
    c.hostname_sources = vec![HostnameSource::Dns];
    for key in [
        "host.id",
        "os.name",
        "os.version",
        "os.description",
        "host.arch",
        "host.cpu.vendor.id",
        "host.cpu.family",
        "host.cpu.model.id",
        "host.cpu.model.name",
        "host.cpu.stepping",
        "host.cpu.cache.l2.size",
    ] {
        c.resource_attributes
            .insert(key.to_string(), Enabled { enabled: true });
    }
    let found = SystemDetector::new(c, root())
        .detect()
        .await
        .expect("detects");
    let got: std::collections::BTreeMap<_, _> = map(&found.attributes).into_iter().collect();
    // The pod's name maps to the node's FQDN line in the kubelet-managed hosts file.
    assert_eq!(got["host.name"], "gpu-node-7.cluster.example");
    assert_eq!(got["os.type"], "linux");
    assert_eq!(got["host.id"], "4f1c2e7a9b0d4c3e8f5a6b7c8d9e0f1a");
    assert_eq!(got["os.name"], "debian");
    assert_eq!(got["os.version"], "12.11");
    assert!(
        got["os.description"].starts_with("Debian GNU/Linux 12 (bookworm) (Linux "),
        "{}",
        got["os.description"]
    );
    assert_eq!(got["host.cpu.vendor.id"], "AuthenticAMD");
    assert_eq!(got["host.cpu.family"], "25");
    assert_eq!(got["host.cpu.model.id"], "17");
    assert_eq!(got["host.cpu.model.name"], "AMD EPYC");
    assert_eq!(got["host.cpu.stepping"], "1");
    assert_eq!(got["host.cpu.cache.l2.size"], "1024");
    assert_eq!(found.schema_url, "https://opentelemetry.io/schemas/1.40.0");
    assert!(!got.contains_key("host.ip"), "off by default");
}

#[tokio::test]
async fn system_defaults_set_host_name_and_os_type_only() {
    let mut c = config("detectors: [system]").system;
    c.hostname_sources = vec![HostnameSource::Os];
    let found = SystemDetector::new(c, root())
        .detect()
        .await
        .expect("detects");
    assert_eq!(
        map(&found.attributes),
        [
            ("host.name".into(), "gpu-node-7".into()),
            ("os.type".into(), "linux".into())
        ]
    );
}

#[tokio::test]
async fn system_lists_this_hosts_interfaces_when_asked() {
    let mut c = config("detectors: [system]").system;
    c.hostname_sources = vec![HostnameSource::Os];
    for key in ["host.interface", "host.mac", "host.ip"] {
        c.resource_attributes
            .insert(key.to_string(), Enabled { enabled: true });
    }
    let found = SystemDetector::new(c, PathBuf::from("/"))
        .detect()
        .await
        .expect("detects");
    let interfaces = found
        .attributes
        .iter()
        .find(|kv| kv.key == "host.interface")
        .expect("listed");
    assert!(value_string(interfaces.value.as_ref().expect("value")).contains("lo"));
    assert!(found.attributes.iter().any(|kv| kv.key == "host.mac"));
}

#[test]
fn gcp_zones_and_instance_groups_parse_as_googles_detector() {
    assert_eq!(
        zone_and_region("projects/123456/zones/us-central1-a"),
        Some(("us-central1-a".into(), "us-central1".into()))
    );
    assert_eq!(zone_and_region("us"), None);
    assert_eq!(
        managed_instance_group(
            "projects/123456/regions/europe-west4/instanceGroupManagers/gpu-pool"
        ),
        Some(("region", "europe-west4".into(), "gpu-pool".into()))
    );
    assert_eq!(
        managed_instance_group("projects/p/zones/us-east1-b/instanceGroupManagers/g"),
        Some(("zone", "us-east1-b".into(), "g".into()))
    );
    assert_eq!(
        managed_instance_group("projects/p/zones/us-east1-b/instances/g"),
        None
    );
}

/// A detector with fixed answers: fails `failures` times, then finds `attributes`.
struct Scripted {
    name: &'static str,
    attributes: Vec<KeyValue>,
    failures: usize,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(name: &'static str, attributes: Vec<KeyValue>, failures: usize) -> Arc<Scripted> {
        Arc::new(Scripted {
            name,
            attributes,
            failures,
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Detector for Scripted {
    fn name(&self) -> &'static str {
        self.name
    }
    async fn detect(&self) -> Result<Detected, BoxError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err("metadata service not up yet".into());
        }
        Ok(Detected {
            attributes: self.attributes.clone(),
            schema_url: String::new(),
        })
    }
}

fn processor(
    yaml: &str,
    detectors: Vec<Arc<dyn Detector>>,
) -> (ResourceDetectionProcessor, Arc<Capture>) {
    let capture = Arc::new(Capture::default());
    let p = ResourceDetectionProcessor::new(
        "resource_detection".into(),
        &config(yaml),
        detectors,
        capture.clone(),
    );
    (p, capture)
}

fn resource_of(capture: &Capture) -> Vec<(String, String)> {
    let mut batch = capture.batches().pop().expect("a batch");
    let mut out = Vec::new();
    batch
        .for_each_resource_mut(|r, _| out = map(&r.attributes))
        .expect("decodes");
    out
}

#[tokio::test(start_paused = true)]
async fn first_detector_wins_and_override_decides_against_the_data() {
    let a = Scripted::new(
        "a",
        vec![
            string("host.name", "from-a"),
            string("cloud.provider", "aws"),
        ],
        0,
    );
    let b = Scripted::new(
        "b",
        vec![string("host.name", "from-b"), string("os.type", "linux")],
        0,
    );
    let (p, capture) = processor("detectors: [env]", vec![a.clone(), b.clone()]);
    p.start().await.expect("starts");
    let mut traces = sample_traces(1, 1);
    traces.resource_spans[0]
        .resource
        .get_or_insert_default()
        .attributes = vec![string("host.name", "app")];
    p.consume(Batch::from(traces.clone()))
        .await
        .expect("passes");
    let got = resource_of(&capture);
    assert!(
        got.contains(&("host.name".into(), "from-a".into())),
        "{got:?}"
    );
    assert!(got.contains(&("os.type".into(), "linux".into())));

    let (kept, capture) = processor("detectors: [env]\noverride: false", vec![a, b]);
    kept.start().await.expect("starts");
    kept.consume(Batch::from(traces)).await.expect("passes");
    assert!(resource_of(&capture).contains(&("host.name".into(), "app".into())));
}

#[tokio::test(start_paused = true)]
async fn a_detector_is_retried_until_it_answers() {
    let slow = Scripted::new("slow", vec![string("cloud.provider", "gcp")], 2);
    let (p, _) = processor("detectors: [env]\ntimeout: 10s", vec![slow.clone()]);
    p.start().await.expect("starts after two retries (1s, 2s)");
    assert_eq!(slow.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        map(&p.detected().attributes),
        [("cloud.provider".into(), "gcp".into())]
    );
}

#[tokio::test(start_paused = true)]
async fn a_detector_that_never_answers_stops_the_start_with_its_reason() {
    let down = Scripted::new("down", vec![], usize::MAX);
    let (p, _) = processor("detectors: [env]\ntimeout: 3s", vec![down]);
    let e = p.start().await.expect_err("fails");
    let text = e.to_string();
    assert!(
        text.contains(
            "detector `down`: metadata service not up yet (still failing after retries within 3s"
        ),
        "{text}"
    );
    let once = Scripted::new("once", vec![], usize::MAX);
    let (p, _) = processor(
        "detectors: [env]\nretry: {enabled: false}",
        vec![once.clone()],
    );
    let e = p.start().await.expect_err("fails");
    assert!(e.to_string().contains("metadata service not up yet"), "{e}");
    assert_eq!(
        once.calls.load(Ordering::SeqCst),
        1,
        "no retry when disabled"
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_applies_changes_and_keeps_the_last_good_result_on_failure() {
    /// Found `n` on the n-th call; fails on the third.
    struct Counting(AtomicUsize);
    #[async_trait::async_trait]
    impl Detector for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        async fn detect(&self) -> Result<Detected, BoxError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= 3 {
                return Err("gone".into());
            }
            Ok(Detected {
                attributes: vec![string("n", &n.to_string())],
                schema_url: String::new(),
            })
        }
    }
    let d = Arc::new(Counting(AtomicUsize::new(0)));
    let (p, _) = processor(
        "detectors: [env]\nrefresh_interval: 1m\nretry: {enabled: false}",
        vec![d],
    );
    p.start().await.expect("starts");
    assert_eq!(map(&p.detected().attributes), [("n".into(), "1".into())]);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(map(&p.detected().attributes), [("n".into(), "2".into())]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        map(&p.detected().attributes),
        [("n".into(), "2".into())],
        "kept"
    );
    p.shutdown().await.expect("stops");
}

#[test]
fn config_defaults_and_errors_name_the_place() {
    let c = config("{}");
    assert_eq!(c.detectors, ["env"]);
    assert!(c.override_existing);
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert!(c.retry.enabled);
    assert_eq!(c.retry.initial_interval, Duration::from_secs(1));

    let text = |yaml: &str| {
        issues(yaml)
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(text("detectors: [sytem]")
        .contains("detectors[0]: unknown detector `sytem` (did you mean `system`?)"));
    assert!(text("detectors: [k8snode]").contains("not built in llamacol"));
    assert!(text("detectors: [system]\nsystem: {resource_attributes: {host.nme: {enabled: true}}}")
        .contains("system.resource_attributes.host.nme: `system` sets no attribute `host.nme` (did you mean `host.name`?)"));
    assert!(
        text("detectors: [system]\nsystem: {hostname_sources: [fqdn]}")
            .contains("hostname_sources")
    );
    assert!(text("detectors: [ec2]\nec2: {tags: ['^team$']}").contains("tags_from_imds: true"));
    assert!(text("timeout: 0s").contains("block the start forever"));
    assert!(text("detectors: [env]\ndetector: [system]").contains("detector"));
}
