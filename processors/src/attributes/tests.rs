use llamacol_api::attributes::string;
use llamacol_api::otlp::common::v1::any_value::Value as V;
use llamacol_api::ComponentId;
use llamacol_pipeline::testing::{sample_traces, Capture};

use super::*;

fn validate(yaml: &str) -> Vec<String> {
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    match llamacol_api::config::parse::<AttributesConfig>(&block) {
        Ok(c) => <AttributesConfig as llamacol_api::config::ComponentConfig>::validate(&c),
        Err(issues) => issues,
    }
    .into_iter()
    .map(|i| format!("{}: {}", i.path, i.message))
    .collect()
}

fn processor(yaml: &str) -> (Arc<dyn Processor>, Arc<Capture>) {
    assert!(validate(yaml).is_empty(), "{:?}", validate(yaml));
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let capture = Arc::new(Capture::default());
    let ctx = BuildContext::new(
        ComponentId::parse("attributes").expect("id"),
        vec![Signal::Traces],
    );
    (
        build(&ctx, &block, capture.clone()).expect("build"),
        capture,
    )
}

#[tokio::test]
async fn actions_apply_to_the_spans_include_selects() {
    let mut traces = sample_traces(1, 3);
    for (i, span) in traces.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        span.name = format!("chat {i}");
        span.attributes
            .push(string("gen_ai.prompt", "my key is sk-123"));
    }
    let (p, capture) = processor(
        r#"
include: {match_type: regexp, span_names: ['^chat [01]$']}
actions:
  - {key: gen_ai.prompt, action: hash}
  - {key: tenant, value: acme, action: insert}
"#,
    );
    p.consume(Batch::from(traces)).await.expect("taken");
    let Batch::Traces(t) = &capture.batches()[0] else {
        panic!("traces")
    };
    let spans = &t.decoded().expect("decoded").resource_spans[0].scope_spans[0].spans;
    let get = |i: usize, k: &str| {
        spans[i]
            .attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.clone()?.value)
    };
    assert!(matches!(get(0, "tenant"), Some(V::StringValue(s)) if s == "acme"));
    assert!(matches!(get(1, "gen_ai.prompt"), Some(V::StringValue(s)) if s.len() == 64));
    assert!(get(2, "tenant").is_none(), "not selected");
    assert!(matches!(get(2, "gen_ai.prompt"), Some(V::StringValue(s)) if s.starts_with("my key")));
}

#[test]
fn config_errors_name_the_action_and_the_property() {
    assert!(validate("{}")[0].contains("lists no action"));
    assert!(validate("actions: [{key: a, action: upsert}]")[0].starts_with("actions[0].value"));
    let e = validate(
        "actions: [{key: a, action: delete}]\ninclude: {match_type: regexp, span_names: ['(']}",
    );
    assert!(e[0].starts_with("include.span_names"), "{e:?}");
    let e = validate(
        "actions: [{key: a, action: delete}]\nexclude: {match_type: strict, span_kinds: [SERVER]}",
    );
    assert!(e[0].contains("SPAN_KIND_SERVER"), "{e:?}");
}

#[test]
fn span_properties_refuse_a_metrics_pipeline_as_the_collector() {
    let block: serde_yaml::Value = serde_yaml::from_str(
        "include: {match_type: strict, span_names: [chat]}\nactions: [{key: a, action: delete}]",
    )
    .expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse("attributes").expect("id"),
        vec![Signal::Metrics],
    );
    let err = build(&ctx, &block, Arc::new(Capture::default()))
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("are not valid for metrics"),
        "{err}"
    );
}
