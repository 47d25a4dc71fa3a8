use llamacol_api::attributes::string;
use llamacol_api::{ComponentId, Payload};
use llamacol_pipeline::testing::{sample_logs, sample_metrics, sample_traces, Capture};

use super::*;

fn processor(yaml: &str) -> (Arc<dyn Processor>, Arc<Capture>) {
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let issues = <ResourceConfig as llamacol_api::config::ComponentConfig>::validate(
        &llamacol_api::config::parse(&block).expect("parse"),
    );
    assert!(issues.is_empty(), "{issues:?}");
    let capture = Arc::new(Capture::default());
    let ctx = BuildContext::new(
        ComponentId::parse("resource").expect("id"),
        Signal::ALL.to_vec(),
    );
    (
        build(&ctx, &block, capture.clone()).expect("build"),
        capture,
    )
}

fn resource_of(batch: &Batch) -> Vec<(String, String)> {
    let attrs = match batch {
        Batch::Traces(p) => p.decoded().expect("decoded").resource_spans[0]
            .resource
            .clone(),
        Batch::Metrics(p) => p.decoded().expect("decoded").resource_metrics[0]
            .resource
            .clone(),
        Batch::Logs(p) => p.decoded().expect("decoded").resource_logs[0]
            .resource
            .clone(),
    };
    attrs
        .unwrap_or_default()
        .attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                llamacol_api::attributes::value_string(kv.value.as_ref().expect("value")),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_action_on_every_signal() {
    let (p, capture) = processor(
        "attributes:
  - {key: k8s.node.name, value: gpu-node-3, action: upsert}
  - {key: service.name, value: replaced, action: insert}
  - {key: deployment.environment.name, value: prod, action: update}
  - {key: host.name, from_attribute: k8s.node.name, action: upsert}
  - {key: gpu.count, value: 8, action: insert}
  - {key: service.name, action: delete}",
    );
    let mut traces = sample_traces(1, 1);
    traces.resource_spans[0]
        .resource
        .as_mut()
        .expect("resource")
        .attributes
        .push(string("k8s.node.name", "old"));
    p.consume(Batch::Traces(Payload::from_message(traces)))
        .await
        .expect("traces");
    p.consume(Batch::Metrics(Payload::from_message(sample_metrics(1))))
        .await
        .expect("metrics");
    p.consume(Batch::Logs(Payload::from_message(sample_logs(1))))
        .await
        .expect("logs");
    let batches = capture.batches();
    let expected = |node: &str| {
        vec![
            ("k8s.node.name".to_string(), node.to_string()),
            ("host.name".to_string(), node.to_string()),
            ("gpu.count".to_string(), "8".to_string()),
        ]
    };
    // service.name was there: insert left it, delete removed it; the environment was
    // absent, so update did nothing.
    assert_eq!(resource_of(&batches[0]), expected("gpu-node-3"));
    for b in &batches[1..] {
        let attrs = resource_of(b);
        assert!(
            attrs.contains(&("k8s.node.name".into(), "gpu-node-3".into())),
            "{attrs:?}"
        );
        assert!(!attrs.iter().any(|(k, _)| k == "service.name"), "{attrs:?}");
    }
}

#[test]
fn config_errors_name_the_action() {
    let issues = |yaml: &str| {
        let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
        <ResourceConfig as llamacol_api::config::ComponentConfig>::validate(
            &llamacol_api::config::parse(&block).expect("parse"),
        )
        .into_iter()
        .map(|i| format!("{i:?}"))
        .collect::<Vec<_>>()
    };
    assert!(issues("{}")[0].contains("lists no action"));
    assert!(issues("attributes: [{key: a, action: upsert}]")[0].contains("give one of `value`"));
    assert!(
        issues("attributes: [{key: a, action: extract, pattern: '(a)'}]")[0]
            .contains("no named groups")
    );
    assert!(issues("attributes: [{key: a, action: convert}]")[0].contains("converted_type"));
    assert!(issues("attributes: [{key: a, action: delete, value: x}]")[0].contains("takes no"));
    assert!(
        issues("attributes: [{key: a, action: insert, value: [1]}]")[0]
            .contains("string, number or boolean")
    );
}

/// The Collector's rules (its `attraction_test.go` v0.161.0 computes its expectations the
/// same way): SHA-256 of a string's bytes ("abc" is FIPS 180-2's test vector) and of an
/// int's 8 little-endian bytes; extract's named groups; convert; a default value.
#[test]
fn hash_extract_and_convert_act_as_the_collectors() {
    use llamacol_api::attraction::{ActionConfig, Actions};
    let configs: Vec<ActionConfig> = serde_yaml::from_str(
        r#"
- {key: user.email, action: hash}
- {key: count, action: hash}
- {key: http.url, action: extract, pattern: '^(?P<http_protocol>.*):\/\/(?P<http_domain>.*)\/(?P<http_path>.*)$'}
- {key: tokens, action: convert, converted_type: int}
- {key: ratio, action: convert, converted_type: string}
- {key: missing, from_attribute: nowhere, default_value: fallback, action: insert}
"#,
    )
    .expect("yaml");
    let actions = Actions::new("attributes", &configs).expect("valid");
    let mut attrs = vec![
        string("user.email", "abc"),
        llamacol_api::attributes::int("count", 1),
        string("http.url", "http://example.com/path/a"),
        string("tokens", "42"),
        llamacol_api::attributes::double("ratio", 0.5),
    ];
    actions.apply(&mut attrs, None);
    let get = |k: &str| {
        attrs
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.clone()?.value)
    };
    use llamacol_api::otlp::common::v1::any_value::Value as V;
    assert_eq!(
        get("user.email"),
        Some(V::StringValue(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
        ))
    );
    // sha256 of 01 00 00 00 00 00 00 00.
    assert_eq!(
        get("count"),
        Some(V::StringValue(
            "7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8".into()
        ))
    );
    assert_eq!(get("http_protocol"), Some(V::StringValue("http".into())));
    assert_eq!(
        get("http_domain"),
        Some(V::StringValue("example.com/path".into()))
    );
    assert_eq!(get("http_path"), Some(V::StringValue("a".into())));
    assert_eq!(get("tokens"), Some(V::IntValue(42)));
    assert_eq!(get("ratio"), Some(V::StringValue("0.5".into())));
    assert_eq!(get("missing"), Some(V::StringValue("fallback".into())));
}
