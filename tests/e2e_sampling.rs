//! `probabilistic_sampler` against the real OpenTelemetry Collector's (v0.161.0, built by
//! `scripts/test`): the same 20,000 traces (random ids; tracestates empty, with `ot`
//! thresholds and randomness, other vendors' entries, malformed; some spans with
//! `sampling.priority`) go through both with the same config, in each mode at several
//! percentages; the kept spans and the tracestates written on them must be identical.

mod common;

use std::collections::BTreeSet;

use common::otelcol::{Otelcol, QUIET_TELEMETRY};
use common::{lines, spans, Collector};
use llamacol_pipeline::attributes::int;
use llamacol_pipeline::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_pipeline::otlp::resource::v1::Resource;
use llamacol_pipeline::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

const TRACES: usize = 20_000;
const PER_REQUEST: usize = 1_000;

/// splitmix64: the same "random" ids on every run.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn all_spans() -> Vec<Span> {
    let mut ids = Ids(2026);
    let mut out = Vec::new();
    for t in 0..TRACES {
        let mut trace_id = ids.next().to_be_bytes().to_vec();
        trace_id.extend_from_slice(&ids.next().to_be_bytes());
        let rv = format!("{:014x}", ids.next() & ((1 << 56) - 1));
        let trace_state = match t % 10 {
            1 => "ot=th:8".to_string(),
            2 => format!("ot=rv:{rv}"),
            3 => "vendor=abc".to_string(),
            4 => "ot=th:c;x:y,congo=t61rcWkgMzE".to_string(),
            5 => format!("ot=rv:{rv};th:4"),
            6 => "ot=th:zz".to_string(),
            9 => "ot=th:fd70a".to_string(),
            _ => String::new(),
        };
        // One to three spans per trace, all with the trace's tracestate.
        for s in 0..(1 + t % 3) {
            let mut attributes = Vec::new();
            if t % 97 == 0 {
                attributes.push(int("sampling.priority", 1));
            } else if t % 101 == 0 {
                attributes.push(int("sampling.priority", 0));
            }
            out.push(Span {
                trace_id: trace_id.clone(),
                span_id: (((t as u64) << 8) | (s as u64 + 1)).to_be_bytes().to_vec(),
                trace_state: trace_state.clone(),
                name: "chat".into(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_001_000_000_000,
                attributes,
                ..Default::default()
            });
        }
    }
    out
}

fn send(http_port: u16, spans: &[Span]) {
    let client = reqwest::blocking::Client::new();
    for chunk in spans.chunks(PER_REQUEST) {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource::default()),
                scope_spans: vec![ScopeSpans {
                    spans: chunk.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let status = client
            .post(format!("http://127.0.0.1:{http_port}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .expect("post")
            .status();
        assert!(status.is_success(), "{status}");
    }
}

/// (trace id, span id, tracestate) of every span in an OTLP/JSON lines file.
fn kept(path: &std::path::Path) -> BTreeSet<(String, String, String)> {
    spans(&lines(path))
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (text("traceId"), text("spanId"), text("traceState"))
        })
        .collect()
}

fn through_the_collector(processor: &str, spans: &[Span]) -> BTreeSet<(String, String, String)> {
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: ${{env:OTELCOL_HTTP}}\n      grpc:\n        endpoint: ${{env:OTELCOL_GRPC}}\nprocessors:\n  probabilistic_sampler: {processor}\nexporters:\n  file:\n    path: ${{env:OTELCOL_FILE}}\nservice:\n{QUIET_TELEMETRY}  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [probabilistic_sampler]\n      exporters: [file]\n"
    );
    let mut otelcol = Otelcol::start(&config, &[]);
    send(otelcol.http, spans);
    otelcol.terminate();
    kept(&otelcol.file)
}

fn through_llamacol(processor: &str, spans: &[Span]) -> BTreeSet<(String, String, String)> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("sampling.yaml");
    std::fs::write(
        &path,
        format!("receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\nprocessors:\n  probabilistic_sampler: {processor}\nexporters:\n  file:\n    path: ${{env:LLAMACOL_FILE_PATH}}\nservice:\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [probabilistic_sampler]\n      exporters: [file]\n"),
    )
    .expect("write config");
    let mut collector = Collector::launch(&[&path.to_string_lossy()], &[]);
    send(collector.http, spans);
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
    kept(&collector.file)
}

#[test]
#[ignore = "needs otelcol: run scripts/test"]
fn kept_spans_and_written_tracestates_match_the_collectors_in_every_mode() {
    let spans = all_spans();
    let configs = [
        "{sampling_percentage: 10}",
        "{sampling_percentage: 33.3, hash_seed: 42}",
        "{sampling_percentage: 50, hash_seed: 7, fail_closed: false}",
        "{mode: proportional, sampling_percentage: 10}",
        "{mode: proportional, sampling_percentage: 33.3, sampling_precision: 6}",
        "{mode: proportional, sampling_percentage: 1, fail_closed: false}",
        "{mode: equalizing, sampling_percentage: 25}",
        "{mode: equalizing, sampling_percentage: 50, fail_closed: false, sampling_precision: 1}",
    ];
    for processor in configs {
        let theirs = through_the_collector(processor, &spans);
        let ours = through_llamacol(processor, &spans);
        eprintln!(
            "{processor}: the Collector kept {} of {} spans, llamacol {}",
            theirs.len(),
            spans.len(),
            ours.len()
        );
        assert!(
            !theirs.is_empty() && theirs.len() < spans.len(),
            "{processor}: a real sample"
        );
        let only_theirs: Vec<_> = theirs.difference(&ours).take(5).collect();
        let only_ours: Vec<_> = ours.difference(&theirs).take(5).collect();
        assert!(
            only_theirs.is_empty() && only_ours.is_empty(),
            "{processor}: kept only by the Collector {only_theirs:?}; only by llamacol {only_ours:?}"
        );
    }
}
