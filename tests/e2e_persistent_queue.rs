//! The persistent exporter queue with the real binary: what llamacol acknowledged to its
//! client survives `kill -9` and a full disk, and arrives once the backend is up.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{lines, spans, Collector};
use llamacol_api::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_pipeline::testing::{external_program, free_port, sample_traces};

const AGENT: &str = "tests/testdata/e2e/persistent-agent.yaml";
const GATEWAY: [&str; 2] = [
    "configs/gateway.yaml",
    "tests/testdata/e2e/gateway-to-file.yaml",
];

/// Request `n` of a run: 1000 spans whose trace id is `n`, so arrivals can be told apart.
fn request(n: u32) -> ExportTraceServiceRequest {
    let mut request = sample_traces(4, 250);
    let spans = request
        .resource_spans
        .iter_mut()
        .flat_map(|r| r.scope_spans[0].spans.iter_mut());
    for (i, span) in spans.enumerate() {
        span.trace_id = u128::from(n).to_be_bytes().to_vec();
        span.span_id = (i as u64 + 1).to_be_bytes().to_vec();
    }
    request
}

/// Sends requests until `count` were acknowledged or one is refused; returns the spans
/// acknowledged and the refusal, if any.
fn send(grpc: u16, count: u32) -> (usize, Option<tonic::Status>) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
            .await
            .expect("connect");
        let mut acknowledged = 0;
        for n in 1..=count {
            match client.export(request(n)).await {
                Ok(_) => acknowledged += 1000,
                Err(status) => return (acknowledged, Some(status)),
            }
        }
        (acknowledged, None)
    })
}

/// (spans written, distinct spans) once at least `expected` distinct spans arrived.
fn wait_arrived(file: &Path, expected: usize) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let written = spans(&lines(file));
        let distinct: HashSet<(String, String)> = written
            .iter()
            .map(|s| (s["traceId"].to_string(), s["spanId"].to_string()))
            .collect();
        if distinct.len() >= expected || Instant::now() > deadline {
            return (written.len(), distinct.len());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn agent(queue: &Path, gateway_port: u16) -> Collector {
    Collector::launch(
        &[AGENT],
        &[
            ("LLAMACOL_QUEUE_DIR", queue.display().to_string()),
            (
                "LLAMACOL_GATEWAY_ENDPOINT",
                format!("127.0.0.1:{gateway_port}"),
            ),
        ],
    )
}

#[test]
fn spans_acknowledged_before_kill_9_arrive_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = dir.path().join("queue");
    let gateway_port = free_port();

    // The backend is down: every acknowledged span waits in the queue on disk.
    let mut first = agent(&queue, gateway_port);
    let (acknowledged, refused) = send(first.grpc, 60);
    assert!(refused.is_none(), "refused: {refused:?}");
    assert_eq!(acknowledged, 60_000);
    first.kill();

    let gateway = Collector::launch(
        &GATEWAY,
        &[(
            "LLAMACOL_OTLP_GRPC_ENDPOINT",
            format!("127.0.0.1:{gateway_port}"),
        )],
    );
    let mut second = agent(&queue, gateway_port);
    let (written, distinct) = wait_arrived(&gateway.file, acknowledged);
    assert_eq!(
        distinct,
        acknowledged,
        "every acknowledged span arrives\nagent: {}",
        second.stderr()
    );
    eprintln!(
        "kill -9: {acknowledged} acknowledged, {distinct} arrived, {} duplicates",
        written - distinct
    );
    assert!(
        second
            .stderr()
            .contains("batches from an earlier run will be sent again"),
        "{}",
        second.stderr()
    );
    let (status, _) = second.terminate();
    assert!(status.success());
}

#[test]
fn kill_9_while_delivering_resends_at_most_what_was_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = dir.path().join("queue");
    let gateway_port = free_port();
    let gateway_env = [(
        "LLAMACOL_OTLP_GRPC_ENDPOINT",
        format!("127.0.0.1:{gateway_port}"),
    )];
    let gateway = Collector::launch(&GATEWAY, &gateway_env);

    // The backend is up: batches are being delivered when the agent is killed.
    let mut first = agent(&queue, gateway_port);
    let (acknowledged, refused) = send(first.grpc, 60);
    assert!(refused.is_none(), "refused: {refused:?}");
    first.kill();

    let mut second = agent(&queue, gateway_port);
    let (written, distinct) = wait_arrived(&gateway.file, acknowledged);
    assert_eq!(distinct, acknowledged, "{}", second.stderr());
    let duplicates = written - distinct;
    eprintln!(
        "kill -9 while delivering: {acknowledged} acknowledged, {distinct} arrived, {duplicates} duplicates"
    );
    // Only what was handed to the backend and not yet acknowledged by it at the kill
    // comes again: at most one batch per worker (10 of 1000 spans).
    assert!(duplicates <= 10 * 1000, "{duplicates} duplicates");
    let (status, _) = second.terminate();
    assert!(status.success());
}

/// A tmpfs of 2 MiB mounted for the test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        let status = Command::new(external_program("mount"))
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(at)
            .status()
            .expect("mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): {status}"
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs root to mount a tmpfs: run scripts/test"]
fn a_full_disk_is_refused_retryably_said_once_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&dir.path().join("disk"));
    let gateway_port = free_port();
    let mut first = agent(&disk.0.join("queue"), gateway_port);

    let (acknowledged, refused) = send(first.grpc, 200);
    let refused = refused.expect("the 2 MiB disk fills before 200 requests");
    assert_eq!(
        refused.code(),
        tonic::Code::Unavailable,
        "retryable: {refused:?}"
    );
    assert!(acknowledged > 0, "some fit before the disk filled");
    // Refused again, and the log says it once.
    let (more, again) = send(first.grpc, 3);
    assert_eq!(more, 0);
    assert_eq!(again.map(|s| s.code()), Some(tonic::Code::Unavailable));
    let said = first
        .stderr()
        .matches("persistent queue cannot write")
        .count();
    assert_eq!(said, 1, "{}", first.stderr());

    let gateway = Collector::launch(
        &GATEWAY,
        &[(
            "LLAMACOL_OTLP_GRPC_ENDPOINT",
            format!("127.0.0.1:{gateway_port}"),
        )],
    );
    let (_, distinct) = wait_arrived(&gateway.file, acknowledged);
    assert_eq!(distinct, acknowledged, "{}", first.stderr());
    let (status, _) = first.terminate();
    assert!(status.success());
}
