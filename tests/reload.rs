//! SIGHUP reloads the configuration from the same `-c` sources, as the Collector does: a
//! valid new one replaces the running pipelines; an invalid one is refused with its
//! errors and the running pipelines go on; the process exits 0 at SIGTERM after either.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{lines, signal, spans, Collector};

fn config(file: &str) -> String {
    format!(
        "receivers: {{otlp: {{protocols: {{http: {{endpoint: \"${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\"}}}}}}}}\n\
         exporters: {{file: {{path: \"{file}\"}}}}\n\
         service:\n  telemetry: {{admin: {{endpoint: \"${{env:LLAMACOL_ADMIN_ENDPOINT}}\"}}}}\n  pipelines: {{traces: {{receivers: [otlp], exporters: [file]}}}}\n"
    )
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_applies_a_valid_config_and_keeps_the_running_one_over_an_invalid_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let (first, second) = (
        dir.path().join("first.jsonl"),
        dir.path().join("second.jsonl"),
    );
    let path = dir.path().join("llamacol.yaml");
    std::fs::write(&path, config(&first.to_string_lossy())).expect("write");
    let mut llamacol = Collector::start(&path.to_string_lossy());
    let spans_in = |file: &Path| spans(&lines(file)).len();

    common::post_example_trace(llamacol.http);
    wait_for(
        "delivery to the first file",
        || spans_in(&first) > 0,
        || llamacol.stderr(),
    );
    let per_trace = spans_in(&first);

    std::fs::write(&path, config(&second.to_string_lossy())).expect("write");
    signal(llamacol.pid(), "HUP");
    wait_for(
        "the reload",
        || llamacol.stderr().contains("configuration reloaded"),
        || llamacol.stderr(),
    );
    common::post_example_trace(llamacol.http);
    wait_for(
        "delivery to the second file",
        || spans_in(&second) == per_trace,
        || llamacol.stderr(),
    );
    assert_eq!(spans_in(&first), per_trace, "the old pipeline is gone");

    std::fs::write(&path, "exporters: {fiel: {}}\n").expect("write");
    signal(llamacol.pid(), "HUP");
    wait_for(
        "the refusal",
        || {
            llamacol
                .stderr()
                .contains("the configuration on disk is invalid; the running one stays")
        },
        || llamacol.stderr(),
    );
    assert!(
        llamacol.stderr().contains("unknown exporter type `fiel`"),
        "{}",
        llamacol.stderr()
    );
    common::post_example_trace(llamacol.http);
    wait_for(
        "delivery after the refusal",
        || spans_in(&second) == 2 * per_trace,
        || llamacol.stderr(),
    );

    let (status, _) = llamacol.terminate();
    assert!(status.success(), "{status}: {}", llamacol.stderr());
}
