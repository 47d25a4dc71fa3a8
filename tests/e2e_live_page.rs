//! The admin server's live page in a real browser: Debian's headless chromium driven by
//! playwright-core (`tests/ui/live_page.mjs`). With GenAI spans from an app using the
//! OpenTelemetry Python SDK in front of the real llama-server, and the fake NVML library
//! (2 GPUs) read through the real NVML backend, every panel draws data, the trace list
//! shows the traces sent and one opens as a tree. In-process with 1 and 8 fake GPUs and
//! nothing else, the GPU panel has a row and a line per GPU and the other panels say why
//! they are empty. Screenshots go to target/test-artifacts/.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_nvml::build_fake_nvml;
use common::llama_server::LlamaServer;
use common::{http_get, Collector};
use llamacol_pipeline::testing::{external_program, free_port};
use serde_json::{json, Value};

const ALL_PANELS: [&str; 6] = ["pipeline", "gpus", "llamacpp", "genai", "alerts", "traces"];

/// Opens `http://127.0.0.1:{port}/` in chromium; returns what the page showed.
fn browse(port: u16, screenshot: &str, expect: Value) -> Value {
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let out = Command::new(external_program("playwright-node"))
        .arg("tests/ui/live_page.mjs")
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(artifacts.join(screenshot))
        .arg(expect.to_string())
        .env("CHROMIUM", external_program("chromium"))
        .output()
        .expect("node");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser script failed: {stderr}");
    let seen: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(seen["errors"], json!([]), "console errors: {seen:#}");
    assert_eq!(seen["requests_failed"], json!([]), "{seen:#}");
    assert!(
        artifacts
            .join(screenshot)
            .metadata()
            .expect("screenshot")
            .len()
            > 10_000,
        "no screenshot"
    );
    seen
}

/// Polls `/api/live` until `ready` holds (20 s at most).
fn wait_for_live(admin: u16, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http_get(admin, "/api/live");
        if status == 200 {
            let live: Value = serde_json::from_str(&body).expect("JSON");
            if ready(&live) {
                return live;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not there in 20 s: {live:#}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs chromium, playwright-core, llama-server, peers-python and cc: run scripts/test"]
fn every_panel_draws_live_data_and_a_trace_opens_as_a_tree() {
    let llama = LlamaServer::start();
    let lib = tempfile::tempdir().expect("tempdir");
    build_fake_nvml(lib.path());
    let collector = Collector::launch(
        &["tests/testdata/e2e/live-page.yaml"],
        &[
            ("LD_LIBRARY_PATH", lib.path().display().to_string()),
            (
                "LLAMACOL_LLAMACPP_ENDPOINT",
                format!("http://127.0.0.1:{}", llama.port),
            ),
            // The H100 raises XID 79 two seconds in, while the app sends its requests.
            ("FAKE_NVML_XIDS", "0:2000:79".into()),
        ],
    );
    let out = Command::new(external_program("peers-python"))
        .args(["tests/python/live_page_app.py"])
        .arg(format!("http://127.0.0.1:{}", collector.grpc))
        .arg(format!("http://127.0.0.1:{}", llama.port))
        .arg("6")
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<String> = serde_json::from_slice(&out.stdout).expect("trace ids");
    assert_eq!(sent.len(), 6);
    // The data is flowing once the failed request has made the alert fire.
    wait_for_live(collector.admin, "the firing alert", |live| {
        live["alerts"]["slo"]["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["state"] == "firing"))
    });

    let seen = browse(
        collector.admin,
        "live-page.png",
        json!({"panels": ALL_PANELS, "trace": sent[5]}),
    );
    let drawn = seen["all_drawn_ms"].as_f64();
    assert!(
        drawn.is_some_and(|ms| ms < 5000.0),
        "not every panel drew data within 5 s: {seen:#}"
    );
    let panel = |id: &str| &seen["panels"][id];
    for id in ALL_PANELS {
        assert_eq!(panel(id)["state"], "data", "{id}: {seen:#}");
    }
    for (id, charts) in [("pipeline", 2), ("gpus", 5), ("llamacpp", 2), ("genai", 3)] {
        assert!(
            panel(id)["charts"].as_u64() >= Some(charts),
            "{id} charts: {seen:#}"
        );
    }
    // The pipeline graph as configured, with connectors between pipelines.
    let graph = seen["graph"].to_string();
    for part in [
        "otlp",
        "genai",
        "genai_metrics",
        "llamacpp",
        "nvml",
        "slo",
        "batch",
        "file",
    ] {
        assert!(
            graph.contains(part),
            "{part} missing from the graph: {graph}"
        );
    }
    // Two GPUs from the fake library, with their names and readings.
    assert_eq!(panel("gpus")["rows"], 2, "{seen:#}");
    let gpus = panel("gpus")["text"].as_str().unwrap_or_default();
    assert!(
        gpus.contains("NVIDIA H100 80GB HBM3") && gpus.contains("NVIDIA L4"),
        "{gpus}"
    );
    assert!(gpus.contains("87%"), "H100 utilization: {gpus}");
    // The llama.cpp target: healthy, with its slots.
    let llamacpp = panel("llamacpp")["text"].as_str().unwrap_or_default();
    assert!(
        llamacpp.contains("tiny-llama") && llamacpp.contains("ok"),
        "{llamacpp}"
    );
    assert!(llamacpp.contains("/ 2"), "2 slots: {llamacpp}");
    // GenAI figures, priced.
    let genai = panel("genai")["text"].as_str().unwrap_or_default();
    assert!(
        genai.contains("TTFT p50 / p99") && genai.contains('$'),
        "{genai}"
    );
    // The XID, listed under the GenAI charts (and marked on the latency chart) with the
    // requests it overlapped, each a link to its trace.
    let events = seen["gpu_events"].as_array().cloned().unwrap_or_default();
    assert!(
        events.iter().any(|e| e["text"]
            .as_str()
            .is_some_and(|t| t.contains("GPU 0: XID 79: GPU has fallen off the bus"))),
        "{seen:#}"
    );
    for linked in events
        .iter()
        .flat_map(|e| e["traces"].as_array().cloned().unwrap_or_default())
    {
        assert!(
            sent.iter().any(|id| Some(id.as_str()) == linked.as_str()),
            "{linked} is one of the app's traces"
        );
    }
    // The alert the failed request fired, with its labels.
    let alerts = panel("alerts")["text"].as_str().unwrap_or_default();
    assert!(
        alerts.contains("firing")
            && alerts.contains("ChatRequestsFailing")
            && alerts.contains("gen_ai_request_model=tiny"),
        "{alerts}"
    );
    // Every trace sent is listed; the last (refused by llama-server) is red.
    let listed: Vec<&str> = seen["traces"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    for id in &sent {
        assert!(
            listed.contains(&id.as_str()),
            "trace {id} not listed: {listed:?}"
        );
    }
    let failed = seen["traces"]
        .as_array()
        .and_then(|l| l.iter().find(|t| t["id"] == sent[5].as_str()))
        .expect("listed");
    assert!(failed["status"]
        .as_str()
        .unwrap_or_default()
        .contains("ERROR"));
    // Opened: the server span with the GenAI span under it, both failed.
    let spans = seen["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2, "{seen:#}");
    assert!(spans[0]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("POST /v1/chat"));
    assert!(spans[1]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("chat tiny"));
    assert!(spans[1]["indent"].as_i64() > spans[0]["indent"].as_i64());
    assert_eq!(spans[1]["status"], "ERROR");
    let attributes = seen["attributes"].to_string();
    for kv in [
        r#"["gen_ai.request.model","tiny"]"#,
        r#"["gen_ai.provider.name","llama.cpp"]"#,
        r#"["error.type","400"]"#,
    ] {
        assert!(attributes.contains(kv), "{kv} not shown: {attributes}");
    }
}

#[test]
#[ignore = "needs chromium and playwright-core: run scripts/test"]
fn at_one_and_eight_gpus_without_llamacpp_or_genai_the_page_says_why() {
    use llamacol_api::live::Panel;
    use llamacol_api::{OutcomeCounter, Receiver};
    use llamacol_pipeline::telemetry::Telemetry;
    use llamacol_pipeline::testing::Capture;
    use llamacol_receivers::nvml::fake::FakeGpus;
    use llamacol_receivers::nvml::{NvmlConfig, NvmlReceiver};

    for gpus in [1u32, 8] {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let telemetry = Telemetry::new();
        let port = free_port();
        let cancel = tokio_util::sync::CancellationToken::new();
        let mut receiver = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind");
            tokio::spawn(llamacol::admin::serve(
                listener,
                telemetry.clone(),
                Default::default(),
                cancel.clone(),
            ));
            let config: NvmlConfig =
                llamacol_api::serde_yaml::from_str("collection_interval: 1s").expect("config");
            telemetry.node().live().feeds(Panel::new("gpus"), "nvml");
            // A panel the page has no layout for (a user's own component's): drawn
            // generically, a table row and a chart per subject.
            let custom = Panel::new("my_component");
            telemetry.node().live().feeds(custom, "my_component");
            let now = llamacol_api::clock::unix_nanos() as f64 / 1e9;
            for (i, t) in [now - 2.0, now - 1.0, now].into_iter().enumerate() {
                telemetry.node().live().record(
                    custom,
                    "queue-a",
                    json!(null),
                    &["depth", "rate_per_s"],
                    t,
                    &[Some(i as f64), Some(2.5)],
                );
            }
            let mut receiver = NvmlReceiver::new(
                "nvml".into(),
                config,
                Some(Arc::new(FakeGpus::new(gpus))),
                OutcomeCounter::default(),
            )
            .publishing_to(telemetry.node().clone());
            receiver
                .start(Arc::new(Capture::default()))
                .await
                .expect("start");
            telemetry.set_ready(true);
            receiver
        });
        wait_for_live(port, "the GPU rows", |live| {
            live["panels"]["gpus"]["series"]
                .as_object()
                .is_some_and(|s| s.len() == gpus as usize)
        });
        let seen = browse(
            port,
            &format!("live-page-{gpus}-gpus.png"),
            json!({"panels": ["pipeline", "gpus", "my_component"], "trace": null}),
        );
        let panel = |id: &str| &seen["panels"][id];
        assert!(seen["all_drawn_ms"].as_f64().is_some(), "{seen:#}");
        assert_eq!(panel("gpus")["rows"], gpus, "{seen:#}");
        assert_eq!(panel("my_component")["rows"], 1, "{seen:#}");
        assert_eq!(panel("my_component")["charts"], 1, "{seen:#}");
        let custom_text = panel("my_component")["text"].as_str().unwrap_or_default();
        assert!(
            custom_text.contains("queue-a") && custom_text.contains("2.50"),
            "{custom_text}"
        );
        let text = panel("gpus")["text"].as_str().unwrap_or_default();
        assert!(
            text.contains(&format!("GPU {}", gpus - 1)),
            "a line per GPU: {text}"
        );
        for (id, why) in [
            ("llamacpp", "no llamacpp receiver in this config"),
            ("genai", "no genai_metrics connector in this config"),
            ("alerts", "no slo processor in this config"),
            ("traces", "no genai processor in this config"),
        ] {
            assert_eq!(panel(id)["state"], "empty", "{id}: {seen:#}");
            assert_eq!(panel(id)["why"], why, "{id}: {seen:#}");
        }
        runtime.block_on(async {
            receiver.shutdown().await.expect("shutdown");
            cancel.cancel();
        });
    }
}
