//! The llamacpp receiver against the real llama.cpp `llama-server` (built by
//! `scripts/peers.sh`, CPU only) serving a tiny random-weight llama model written at test
//! time by `tests/peers/python/tiny_llama.py`. Asserts what an operator relies on: `up` while
//! it serves, token counters that move by exactly what the responses' `timings` report,
//! the configured slots, and `up` = 0 within two intervals of the server being killed.

mod common;

use std::time::{Duration, Instant};

use common::llama_server::LlamaServer;
use common::{lines, metrics, Collector};

/// The newest point of metric `name` whose attributes contain `with` (key, value):
/// (time in ns, value).
fn latest(file: &std::path::Path, name: &str, with: Option<(&str, &str)>) -> Option<(u64, f64)> {
    let written = lines(file);
    metrics(&written)
        .iter()
        .filter(|m| m["name"] == name)
        .flat_map(|m| {
            let body = if m["sum"].is_object() {
                &m["sum"]
            } else {
                &m["gauge"]
            };
            body["dataPoints"].as_array().cloned().unwrap_or_default()
        })
        .filter(|p| {
            with.is_none_or(|(k, v)| {
                p["attributes"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|kv| kv["key"] == k && kv["value"]["stringValue"] == v)
                })
            })
        })
        .filter_map(|p| {
            let time = p["timeUnixNano"].as_str()?.parse().ok()?;
            let value = p["asDouble"]
                .as_f64()
                .or_else(|| p["asInt"].as_str()?.parse().ok())?;
            Some((time, value))
        })
        .max_by_key(|(t, _)| *t)
}

/// Waits up to `within` for `check` to hold on the newest point of `name`.
fn wait_for(
    file: &std::path::Path,
    name: &str,
    within: Duration,
    check: impl Fn(u64, f64) -> bool,
) -> (u64, f64) {
    let deadline = Instant::now() + within;
    loop {
        if let Some((t, v)) = latest(file, name, None) {
            if check(t, v) {
                return (t, v);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name}: condition not met within {within:?}; newest {:?}",
            latest(file, name, None)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

use llamacol_api::clock::unix_nanos as now_ns;

#[test]
#[ignore = "needs llama-server and peers-python: run scripts/test"]
fn the_real_llama_server_is_scraped_and_its_death_seen() {
    let server = LlamaServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("llamacpp-to-file.yaml");
    // Only the interval is set: the default timeout must follow it (a 1s interval
    // with the 2s default timeout was once refused).
    std::fs::write(
        &config,
        "receivers:\n  llamacpp:\n    collection_interval: 1s\n    targets:\n      - endpoint: ${env:LLAMA_SERVER}\n\
         exporters:\n  file:\n    path: ${env:LLAMACOL_FILE_PATH}\n\
         service:\n  telemetry:\n    admin:\n      endpoint: ${env:LLAMACOL_ADMIN_ENDPOINT}\n\
         \x20 pipelines:\n    metrics:\n      receivers: [llamacpp]\n      exporters: [file]\n",
    )
    .expect("config");
    let collector = Collector::launch(
        &[config.to_str().expect("utf-8 path")],
        &[("LLAMA_SERVER", format!("http://127.0.0.1:{}", server.port))],
    );
    let file = collector.file.clone();

    wait_for(&file, "llamacpp.up", Duration::from_secs(10), |_, v| {
        v == 1.0
    });
    let slots = latest(&file, "llamacpp.slots.total", None).map(|(_, v)| v);
    assert_eq!(slots, Some(2.0), "-np 2");
    let (_, prompt0) = wait_for(
        &file,
        "llamacpp.prompt_tokens",
        Duration::from_secs(5),
        |_, _| true,
    );
    let (_, predicted0) =
        latest(&file, "llamacpp.tokens_predicted", None).expect("tokens_predicted");

    let mut expected = (0.0, 0.0);
    for (path, body) in [
        (
            "/completion",
            serde_json::json!({"prompt": "tell me about the gpu", "n_predict": 16}),
        ),
        (
            "/completion",
            serde_json::json!({"prompt": "hello world", "n_predict": 7}),
        ),
        (
            "/v1/chat/completions",
            serde_json::json!({"messages": [{"role": "user", "content": "the slot cache"}], "max_tokens": 5}),
        ),
    ] {
        let (p, g) = server.complete(path, body);
        expected.0 += p;
        expected.1 += g;
    }
    assert!(expected.0 > 0.0 && expected.1 > 0.0, "{expected:?}");
    wait_for(
        &file,
        "llamacpp.prompt_tokens",
        Duration::from_secs(5),
        |_, v| v == prompt0 + expected.0,
    );
    wait_for(
        &file,
        "llamacpp.tokens_predicted",
        Duration::from_secs(5),
        |_, v| v == predicted0 + expected.1,
    );

    let mut server = server;
    let killed = now_ns();
    server.process.kill();
    let (t, _) = wait_for(&file, "llamacpp.up", Duration::from_secs(10), |t, v| {
        t > killed && v == 0.0
    });
    let after = Duration::from_nanos(t - killed);
    assert!(
        after <= Duration::from_millis(2_000 + 500),
        "up = 0 only {after:?} after the kill (two intervals are 2 s)"
    );
    let health = latest(
        &file,
        "llamacpp.health.status",
        Some(("llamacpp.health.state", "unreachable")),
    );
    assert_eq!(health.map(|(_, v)| v), Some(1.0), "state unreachable");
}
