//! The custom collector's binary, as its users run it: `components` lists the two new
//! types, `validate` points at a misspelt key of theirs like at any built-in's, and `run`
//! takes OTLP, masks what `redact` is told to, and delivers to the webhook and a file.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use llamacol_api::attributes::string;
use llamacol_pipeline::testing::{free_port, sample_traces};
use prost::Message;

const BIN: &str = env!("CARGO_BIN_EXE_custom-collector");

#[test]
fn components_lists_the_two_new_types_beside_the_built_ins() {
    let out = Command::new(BIN).arg("components").output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for line in [
        "processor  redact",
        "exporter   jsonl_webhook",
        "receiver   otlp",
        "connector  forward",
    ] {
        assert!(stdout.contains(line), "missing `{line}`:\n{stdout}");
    }
}

#[test]
fn validate_points_at_a_typo_in_a_custom_components_keys() {
    let out = Command::new(BIN)
        .args(["validate", "-c", "configs/typo.yaml"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("configs/typo.yaml:6:5: processors.redact.paterns: unknown key `paterns` (did you mean `patterns`?)"),
        "{stderr}"
    );
    let ok = Command::new(BIN)
        .args(["validate", "-c", "configs/example.yaml"])
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn otlp_in_redacted_out_to_the_webhook_and_the_file() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook_port = free_port();
    let bodies = received.clone();
    runtime.spawn(async move {
        let app = axum::Router::new().route(
            "/otlp",
            axum::routing::post(move |body: String| {
                let bodies = bodies.clone();
                async move {
                    bodies
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(body);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", hook_port))
            .await
            .expect("bind");
        axum::serve(listener, app).await.ok();
    });
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("out.jsonl");
    let (http, admin) = (free_port(), free_port());
    let mut child = Command::new(BIN)
        .args(["run", "-c", "configs/example.yaml"])
        .env("OTLP_HTTP_ENDPOINT", format!("127.0.0.1:{http}"))
        .env("WEBHOOK_URL", format!("http://127.0.0.1:{hook_port}/otlp"))
        .env("FILE_PATH", &file)
        .env("ADMIN_ENDPOINT", format!("127.0.0.1:{admin}"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("http://127.0.0.1:{admin}/readyz"))
        .send()
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "not ready in 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut request = sample_traces(1, 2);
    request.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(string(
            "gen_ai.prompt",
            "write to ada@example.com with sk-abcdef123456",
        ));
    let status = client
        .post(format!("http://127.0.0.1:{http}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .expect("post")
        .status();
    assert_eq!(status.as_u16(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Some(b) = received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .first()
            .cloned()
        {
            break b;
        }
        assert!(Instant::now() < deadline, "the webhook got nothing in 20 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("write to **** with ****"), "{body}");
    assert!(
        !body.contains("ada@example.com") && !body.contains("sk-abcdef"),
        "{body}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = child.wait().expect("exit");
    assert!(exit.success(), "{exit}");
    let written = std::fs::read_to_string(&file).expect("file");
    assert!(
        written.contains("write to **** with ****") && !written.contains("ada@example.com"),
        "{written}"
    );
}
