use std::time::SystemTime;

use llamacol_api::serde_yaml;
use llamacol_api::service_info::{PipelineDescription, ServiceDescription, ServiceInfo};
use llamacol_api::{ComponentId, ExtensionContext, NodeContext};
use llamacol_pipeline::testing::free_port;

async fn get(port: u16, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .expect("zpages answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn zpages(block: &str, node: &NodeContext) -> std::sync::Arc<dyn llamacol_api::Extension> {
    let ctx = ExtensionContext {
        id: ComponentId::parse("zpages").expect("id"),
        status: llamacol_api::ServiceStatus::default(),
        node: node.clone(),
    };
    let block: serde_yaml::Value = serde_yaml::from_str(block).expect("yaml");
    if let Err(issues) = (super::factory().config.check)(&block) {
        panic!("{issues:?}");
    }
    (super::factory().build)(&ctx, &block).expect("builds")
}

#[tokio::test]
async fn the_pages_show_what_the_service_runs() {
    let node = NodeContext::new();
    node.shared::<ServiceInfo>().set(ServiceDescription {
        version: "1.2.3".into(),
        started: SystemTime::now(),
        pipelines: vec![PipelineDescription {
            id: "traces/<llm>".into(),
            signal: "traces".into(),
            receivers: vec!["otlp".into()],
            processors: vec!["genai".into(), "batch".into()],
            exporters: vec!["otlp/backend".into()],
        }],
        extensions: vec!["health_check".into(), "zpages".into()],
    });
    let port = free_port();
    let pages = zpages(&format!("{{endpoint: \"127.0.0.1:{port}\"}}"), &node);
    pages.start().await.expect("starts");
    let (code, servicez) = get(port, "/debug/servicez").await;
    assert_eq!(code, 200);
    assert!(
        servicez.contains("1.2.3") && servicez.contains("Uptime"),
        "{servicez}"
    );
    let (_, pipelinez) = get(port, "/debug/pipelinez").await;
    assert!(
        pipelinez.contains("<td>traces/&lt;llm&gt;</td>"),
        "escaped: {pipelinez}"
    );
    assert!(pipelinez.contains("<td>genai, batch</td>"), "{pipelinez}");
    assert!(pipelinez.contains("<td>otlp/backend</td>"), "{pipelinez}");
    let (_, extensionz) = get(port, "/debug/extensionz").await;
    assert!(extensionz.contains("<td>health_check</td>"), "{extensionz}");
    let (code, featurez) = get(port, "/debug/featurez").await;
    assert_eq!(code, 200);
    assert!(featurez.contains("no feature gates"), "{featurez}");
    assert_eq!(get(port, "/debug/expvarz").await.0, 404, "off by default");
    pages.shutdown().await.expect("stops");

    let port = free_port();
    let with_expvar = zpages(
        &format!("{{endpoint: \"127.0.0.1:{port}\", expvar: {{enabled: true}}}}"),
        &node,
    );
    with_expvar.start().await.expect("starts");
    let (code, vars) = get(port, "/debug/expvarz").await;
    assert_eq!(code, 200);
    let vars: serde_json::Value = serde_json::from_str(&vars).expect("json");
    assert!(
        vars["memstats"]["rss_bytes"]
            .as_u64()
            .is_some_and(|b| b > 0),
        "{vars}"
    );
    with_expvar.shutdown().await.expect("stops");
}
