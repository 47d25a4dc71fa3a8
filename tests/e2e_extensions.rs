//! Extensions in the real binary: `health_check` answers once the pipelines run, and
//! `service.telemetry.metrics` (the Collector's keys) says where and whether our own
//! metrics are served.

mod common;

use common::{http_get, Collector};
use llamacol_pipeline::testing::free_port;

#[test]
fn health_check_answers_and_metrics_level_none_turns_metrics_off() {
    let health = free_port();
    let mut collector = Collector::launch(
        &["tests/testdata/e2e/health-check.yaml"],
        &[("LLAMACOL_HEALTH_ENDPOINT", format!("127.0.0.1:{health}"))],
    );
    let (code, body) = http_get(health, "/");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.starts_with(r#"{"status":"Server available","upSince":""#),
        "{body}"
    );
    // `metrics.address` put the admin server where Collector::launch expects it.
    assert_eq!(http_get(collector.admin, "/readyz").0, 200);
    let (status, body) = http_get(collector.admin, "/metrics");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("level: none"), "{body}");
    let (exit, _) = collector.terminate();
    assert!(exit.success(), "{}", collector.stderr());
    assert_eq!(http_get(health, "/").0, 0, "stopped with the process");
}
