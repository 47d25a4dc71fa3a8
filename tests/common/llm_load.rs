//! LLM-sized traces for end-to-end tests: the load generator's GenAI trees (3-10 spans,
//! 10-20 attributes each, about 670 bytes a span) and spans of 2-20 KB carrying a
//! prompt and a completion, as instrumentation libraries that record content send them.
//! Sent over OTLP/gRPC in requests well under every receiver's 4 MiB default, so only
//! what a collector makes of them (its batches) can be too large.

use std::time::{Duration, Instant};

use llamacol_api::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_pipeline::testing::string_attr;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "../../bench/loadgen/src/data.rs"]
#[allow(dead_code)]
pub mod data;

/// Requests of GenAI trees (`trees` requests of 500 spans) and of large spans
/// (`large` requests of 50 spans of 2-20 KB each).
pub fn requests(trees: usize, large: usize) -> Vec<ExportTraceServiceRequest> {
    let mut rng = StdRng::seed_from_u64(29);
    let mut out: Vec<ExportTraceServiceRequest> =
        (0..trees).map(|_| data::traces(&mut rng, 500)).collect();
    for _ in 0..large {
        let mut request = data::traces(&mut rng, 50);
        for span in &mut request.resource_spans[0].scope_spans[0].spans {
            let prompt = rng.random_range(1_000..10_000);
            let completion = rng.random_range(1_000..10_000);
            span.attributes.push(string_attr(
                "gen_ai.prompt.0.content",
                &text(&mut rng, prompt),
            ));
            span.attributes.push(string_attr(
                "gen_ai.completion.0.content",
                &text(&mut rng, completion),
            ));
        }
        out.push(request);
    }
    out
}

/// `n` bytes of words, as a prompt reads.
fn text(rng: &mut StdRng, n: usize) -> String {
    let mut s = String::with_capacity(n + 8);
    while s.len() < n {
        let word = rng.random_range(2..9);
        for _ in 0..word {
            s.push(char::from(rng.random_range(b'a'..=b'z')));
        }
        s.push(' ');
    }
    s.truncate(n);
    s
}

/// Spans in `requests`.
pub fn spans(requests: &[ExportTraceServiceRequest]) -> usize {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// Sends every request over OTLP/gRPC to `127.0.0.1:port`; each must be accepted.
pub fn send(port: u16, requests: &[ExportTraceServiceRequest]) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .expect("connect");
        for request in requests {
            client
                .export(request.clone())
                .await
                .expect("the collector accepts the request");
        }
    });
}

/// The sum of every sample of `name` (with or without `_total`) whose labels contain all
/// of `labels`, in a Prometheus text page.
pub fn metric(page: &str, name: &str, labels: &[&str]) -> u64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let series = l.split(' ').next().unwrap_or_default();
            let bare = series.split('{').next().unwrap_or_default();
            (bare == name || bare == format!("{name}_total"))
                && labels.iter().all(|want| series.contains(want))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// `/metrics` of a server on `127.0.0.1:port`.
pub fn scrape(port: u16, path: &str) -> String {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}{path}"))
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// Waits until `count()` reaches `n` (or stops moving for 20 s, or 120 s pass); returns the
/// last value.
pub fn wait_for(n: u64, mut count: impl FnMut() -> u64) -> u64 {
    let started = Instant::now();
    let (mut last, mut moved) = (count(), Instant::now());
    while last < n
        && moved.elapsed() < Duration::from_secs(20)
        && started.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(200));
        let now = count();
        if now != last {
            moved = Instant::now();
        }
        last = now;
    }
    last
}
