use std::sync::Arc;

use llamacol_api::attributes::string;
use llamacol_api::client_metadata::ClientMetadata;
use llamacol_api::component::Routes;
use llamacol_api::testing::Capture;
use llamacol_api::{ComponentId, Signal};
use llamacol_pipeline::testing::sample_traces;

use super::*;

fn validate(yaml: &str) -> Vec<String> {
    let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    match llamacol_api::config::parse::<RoutingConfig>(&block) {
        Ok(c) => <RoutingConfig as llamacol_api::config::ComponentConfig>::validate(&c),
        Err(issues) => issues,
    }
    .into_iter()
    .map(|i| format!("{}: {}", i.path, i.message))
    .collect()
}

fn connector(yaml: &str, pipelines: &[&str]) -> (Arc<dyn Connector>, Vec<Arc<Capture>>) {
    assert!(validate(yaml).is_empty(), "{:?}", validate(yaml));
    let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    let captures: Vec<Arc<Capture>> = pipelines
        .iter()
        .map(|_| Arc::new(Capture::default()))
        .collect();
    let mut ctx = BuildContext::new(
        ComponentId::parse("routing").expect("id"),
        vec![Signal::Traces],
    );
    ctx.routes = Routes(
        pipelines
            .iter()
            .zip(&captures)
            .map(|(p, c)| (p.to_string(), c.clone() as Arc<dyn Consumer>))
            .collect(),
    );
    let pair = SignalPair::new(Signal::Traces, Signal::Traces);
    let next = captures[0].clone();
    (build(&ctx, &block, pair, next).expect("build"), captures)
}

fn tenants(tenants: &[&str]) -> Batch {
    let mut traces = sample_traces(tenants.len(), 2);
    for (rs, t) in traces.resource_spans.iter_mut().zip(tenants) {
        rs.resource
            .get_or_insert_with(Default::default)
            .attributes
            .push(string("tenant", t));
    }
    Batch::from(traces)
}

const TABLE: &str = r#"
default_pipelines: [traces/default]
table:
  - condition: resource.attributes["tenant"] == "acme"
    pipelines: [traces/acme]
  - statement: route() where attributes["tenant"] == "ecorp"
    pipelines: [traces/ecorp]
  - context: span
    condition: IsMatch(resource.attributes["tenant"], "^e") and kind == SPAN_KIND_SERVER
    pipelines: [traces/acme]
"#;

#[tokio::test]
async fn resources_go_to_their_first_matching_route_and_the_rest_to_the_default() {
    let (c, captured) = connector(TABLE, &["traces/acme", "traces/ecorp", "traces/default"]);
    c.consume(tenants(&["acme", "ecorp", "other", "acme"]))
        .await
        .expect("routed");
    let items = |i: usize| {
        captured[i]
            .batches()
            .iter()
            .map(Batch::items)
            .sum::<usize>()
    };
    assert_eq!(items(0), 4, "two acme resources of 2 spans");
    assert_eq!(items(1), 2);
    assert_eq!(items(2), 2);
}

#[tokio::test]
async fn request_routes_read_client_metadata_and_copy_keeps_the_data_for_later_routes() {
    let yaml = r#"
default_pipelines: [traces/default]
table:
  - context: request
    condition: request["X-Tenant"] == "acme"
    action: copy
    pipelines: [traces/audit]
  - context: request
    condition: request["X-Tenant"] != "nobody"
    pipelines: [traces/acme]
"#;
    let (c, captured) = connector(yaml, &["traces/audit", "traces/acme", "traces/default"]);
    let Batch::Traces(mut p) = tenants(&["a"]) else {
        panic!("traces")
    };
    p.set_metadata(Some(Arc::new(ClientMetadata::from_pairs([(
        "x-tenant", "acme",
    )]))));
    c.consume(Batch::Traces(p)).await.expect("routed");
    let items = |i: usize| {
        captured[i]
            .batches()
            .iter()
            .map(Batch::items)
            .sum::<usize>()
    };
    assert_eq!((items(0), items(1), items(2)), (2, 2, 0));
}

#[test]
fn config_errors_name_the_route() {
    assert!(validate("{}")[0].contains("lists no route"));
    let e = validate(
        "table: [{context: request, condition: 'request[\"a\"] = 1', pipelines: [traces/a]}]",
    );
    assert!(
        e[0].contains("request[\\\"<name>\\\"]") || e[0].contains("must have format"),
        "{e:?}"
    );
    let e = validate("table: [{context: spam, condition: 'true', pipelines: [traces/a]}]");
    assert!(e[0].starts_with("table[0].context"), "{e:?}");
    let e = validate("table: [{condition: 'attributes[\"a\"] ==', pipelines: [traces/a]}]");
    assert!(
        e[0].starts_with("table[0].condition") && e[0].contains("column"),
        "{e:?}"
    );
}

#[test]
fn a_pipeline_the_connector_does_not_feed_is_refused_at_build() {
    let block: Value = llamacol_api::serde_yaml::from_str(TABLE).expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse("routing").expect("id"),
        vec![Signal::Traces],
    );
    let pair = SignalPair::new(Signal::Traces, Signal::Traces);
    let err = build(&ctx, &block, pair, Arc::new(Capture::default()))
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("does not list this connector"),
        "{err}"
    );
}

/// The Collector's own routing blocks (`connector/routingconnector/testdata/config/`,
/// contrib v0.149.0, in `testdata/routing/`) are valid here as they are.
#[test]
fn the_collectors_test_configs_validate() {
    for signal in ["traces", "metrics", "logs"] {
        let path = format!(
            "{}/../testdata/routing/{signal}.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("testdata");
        let root: Value = llamacol_api::serde_yaml::from_str(&text).expect("yaml");
        let block = llamacol_api::serde_yaml::to_string(&root["routing"]).expect("block");
        assert!(
            validate(&block).is_empty(),
            "{signal}: {:?}",
            validate(&block)
        );
    }
}
