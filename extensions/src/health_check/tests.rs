use llamacol_api::serde_yaml;
use llamacol_api::{ComponentId, ExtensionContext};
use llamacol_pipeline::telemetry::Telemetry;
use llamacol_pipeline::testing::free_port;

async fn get(port: u16, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .expect("health endpoint answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn build(
    block: &str,
    telemetry: &std::sync::Arc<Telemetry>,
) -> std::sync::Arc<dyn llamacol_api::Extension> {
    let ctx = ExtensionContext {
        id: ComponentId::parse("health_check").expect("id"),
        status: telemetry.status(),
        node: telemetry.node().clone(),
    };
    let block: serde_yaml::Value = serde_yaml::from_str(block).expect("yaml");
    (super::factory().build)(&ctx, &block).expect("builds")
}

#[tokio::test]
async fn unavailable_until_the_pipelines_run_and_again_once_shutdown_begins() {
    let telemetry = Telemetry::new();
    let port = free_port();
    let health = build(
        &format!("{{endpoint: \"127.0.0.1:{port}\", path: /health/status}}"),
        &telemetry,
    );
    health.start().await.expect("starts");

    assert_eq!(
        get(port, "/health/status").await,
        (503, r#"{"status":"Server not available"}"#.to_string())
    );
    telemetry.set_ready(true);
    let (code, body) = get(port, "/health/status").await;
    assert_eq!(code, 200);
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], "Server available");
    assert!(
        body["upSince"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    assert!(
        body["uptime"].as_str().is_some_and(|t| t.ends_with('s')),
        "{body}"
    );
    assert_eq!(get(port, "/").await.0, 404, "only the configured path");
    telemetry.set_ready(false); // what the service does when shutdown begins
    assert_eq!(get(port, "/health/status").await.0, 503);
    health.shutdown().await.expect("stops");
}

#[tokio::test]
async fn custom_response_bodies() {
    let telemetry = Telemetry::new();
    let port = free_port();
    let health = build(
        &format!(
            "{{endpoint: \"127.0.0.1:{port}\", response_body: {{healthy: up, unhealthy: down}}}}"
        ),
        &telemetry,
    );
    health.start().await.expect("starts");
    assert_eq!(get(port, "/").await, (503, "down".to_string()));
    telemetry.set_ready(true);
    assert_eq!(get(port, "/").await, (200, "up".to_string()));
    health.shutdown().await.expect("stops");
}

#[tokio::test]
async fn a_port_in_use_is_a_start_error_naming_the_endpoint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let health = build(
        &format!("{{endpoint: \"127.0.0.1:{port}\"}}"),
        &Telemetry::new(),
    );
    let error = health.start().await.expect_err("port in use").to_string();
    assert!(
        error.contains(&format!("cannot listen on `127.0.0.1:{port}`")),
        "{error}"
    );
}

#[test]
fn uptime_is_written_as_go_writes_durations() {
    use std::time::Duration;
    let go = super::go_duration;
    assert_eq!(go(Duration::ZERO), "0s");
    assert_eq!(go(Duration::from_millis(250)), "250ms");
    assert_eq!(go(Duration::from_micros(1500)), "1.5ms");
    assert_eq!(go(Duration::from_nanos(984_476_004_000)), "16m24.476004s");
    assert_eq!(go(Duration::from_secs(3723)), "1h2m3s");
    assert_eq!(go(Duration::from_millis(3_723_500)), "1h2m3.5s");
}
