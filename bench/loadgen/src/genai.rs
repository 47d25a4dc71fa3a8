//! `loadgen genai`: CPU per span of the `genai` processor plus the `genai_metrics`
//! connector on 500-span requests where every span is a GenAI span in the shape one of
//! the instrumentation schemes sends (llamatelemetry `llm.*`, OpenLLMetry, OpenInference,
//! OpenLIT, the official one, in turn; half of them streaming), next to the
//! prost decode + re-encode floor of the same requests, one thread, same run; then the
//! connector's memory as 100k distinct series are offered to `max_series: 10000`.

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::attributes::{int, string};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value::Value, KeyValue};
use llamacol_api::otlp::trace::v1::span::Event;
use llamacol_api::{Batch, ConsumeError, Consumer, NodeContext, OutcomeCounter};
use llamacol_connectors::genai_metrics::{GenaiMetrics, GenaiMetricsConfig};
use llamacol_processors::genai::{wire, GenaiConfig, GenaiProcessor};
use prost::Message;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::{cpu, data};

struct Nowhere;

#[async_trait]
impl Consumer for Nowhere {
    async fn consume(&self, _: Batch) -> Result<(), ConsumeError> {
        Ok(())
    }
}

fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// Instrumentation libraries whose shapes the spans take, in turn.
const SCHEMES: usize = 5;

/// The load generator's span attributes in the shape scheme `which` sends them, as
/// captured from the real libraries against the real llama-server
/// (tests/e2e_genai_libraries.rs): 0 the llamatelemetry notebooks' `llm.*`, 1 OpenLLMetry
/// 0.62 (current keys plus its legacy duplicates and base URL), 2 OpenInference (`llm.*`,
/// JSON invocation parameters, span kind), 3 OpenLIT 1.45 (current keys plus its timings,
/// totals and labels), 4 the official instrumentation (current keys). `streaming`: the
/// call streamed (OpenLLMetry adds per-chunk events, OpenInference a first-token event).
fn shaped(attributes: Vec<KeyValue>, which: usize, streaming: bool) -> (Vec<KeyValue>, Vec<Event>) {
    let renames: &[(&str, &str)] = match which {
        0 => &[
            ("gen_ai.system", "llm.system"),
            ("gen_ai.request.model", "llm.model"),
            ("gen_ai.usage.input_tokens", "llm.usage.input_tokens"),
            ("gen_ai.usage.output_tokens", "llm.usage.output_tokens"),
            ("gen_ai.request.temperature", "llm.request.temperature"),
            ("gen_ai.request.max_tokens", "llm.request.max_tokens"),
        ],
        2 => &[
            ("gen_ai.system", "llm.provider"),
            ("gen_ai.response.model", "llm.model_name"),
            ("gen_ai.usage.input_tokens", "llm.token_count.prompt"),
            ("gen_ai.usage.output_tokens", "llm.token_count.completion"),
        ],
        _ => &[("gen_ai.system", "gen_ai.provider.name")],
    };
    let mut out = Vec::with_capacity(attributes.len() + 8);
    let (mut temperature, mut max_tokens, mut model) =
        (String::new(), String::new(), String::new());
    for mut kv in attributes {
        if kv.key == "gen_ai.operation.name" && which != 4 && which != 3 {
            continue;
        }
        if which == 2 {
            match kv.key.as_str() {
                "gen_ai.request.temperature" => {
                    temperature = text(&kv);
                    continue;
                }
                "gen_ai.request.max_tokens" => {
                    max_tokens = text(&kv);
                    continue;
                }
                "gen_ai.request.model" => {
                    model = text(&kv);
                    continue;
                }
                _ => {}
            }
        }
        if let Some((_, to)) = renames.iter().find(|(from, _)| *from == kv.key) {
            kv.key = (*to).to_string();
        }
        out.push(kv);
    }
    let mut events = Vec::new();
    let event = |name: &str, at: u64| Event {
        name: name.into(),
        time_unix_nano: at,
        ..Default::default()
    };
    match which {
        1 => {
            out.push(KeyValue {
                key: "gen_ai.is_streaming".into(),
                value: Some(llamacol_api::otlp::common::v1::AnyValue {
                    value: Some(Value::BoolValue(streaming)),
                }),
                ..Default::default()
            });
            out.push(int("gen_ai.usage.total_tokens", 1000));
            out.push(string(
                "gen_ai.openai.api_base",
                "http://127.0.0.1:8080/v1/",
            ));
            out.push(string("gen_ai.user", "alice@example.com"));
            if streaming {
                events.extend((0..8).map(|i| event("gen_ai.content.completion.chunk", i)));
            }
        }
        2 => {
            out.push(string("openinference.span.kind", "LLM"));
            out.push(string("llm.finish_reason", "stop"));
            out.push(int("llm.token_count.total", 1000));
            out.push(string("session.id", "session-1"));
            out.push(string(
                "llm.invocation_parameters",
                &format!("{{\"model\": \"{model}\", \"stream\": {streaming}, \"temperature\": {temperature}, \"max_tokens\": {max_tokens}}}"),
            ));
            if streaming {
                events.push(event("First Token Stream Event", 0));
            }
        }
        3 => {
            out.push(KeyValue {
                key: "gen_ai.request.stream".into(),
                value: Some(llamacol_api::otlp::common::v1::AnyValue {
                    value: Some(Value::BoolValue(streaming)),
                }),
                ..Default::default()
            });
            out.push(KeyValue {
                key: "gen_ai.server.time_to_first_token".into(),
                value: Some(llamacol_api::otlp::common::v1::AnyValue {
                    value: Some(Value::DoubleValue(0.05)),
                }),
                ..Default::default()
            });
            out.push(int("gen_ai.server.time_per_output_token", 0));
            out.push(int("gen_ai.client.token.usage", 1000));
            out.push(string("gen_ai.sdk.version", "2.54.0"));
            out.push(string("telemetry.sdk.name", "openlit"));
            out.push(string("deployment.environment", "default"));
            out.push(string("gen_ai.request.user", ""));
        }
        _ => {}
    }
    (out, events)
}

/// `count` encoded requests of `items` GenAI spans in the schemes' shapes.
fn pool(items: usize, count: usize) -> Vec<(bytes::Bytes, usize)> {
    let mut rng = StdRng::seed_from_u64(42);
    (0..count)
        .map(|_| {
            let mut request = data::traces(&mut rng, items);
            let mut n = 0;
            for span in request
                .resource_spans
                .iter_mut()
                .flat_map(|r| &mut r.scope_spans)
                .flat_map(|s| &mut s.spans)
            {
                let streaming = (n / SCHEMES) % 2 == 1;
                let (attributes, mut events) =
                    shaped(std::mem::take(&mut span.attributes), n % SCHEMES, streaming);
                // Chunk events within the span.
                for (i, e) in events.iter_mut().enumerate() {
                    e.time_unix_nano = span.start_time_unix_nano + 1_000 * (i as u64 + 1);
                }
                span.attributes = attributes;
                span.events = events;
                n += 1;
            }
            (bytes::Bytes::from(request.encode_to_vec()), n)
        })
        .collect()
}

pub struct Report {
    pub floor: f64,
    pub genai: f64,
    /// `genai` on the wire and `genai_metrics` reading the result in place: no decode.
    pub wire: f64,
    pub rss_after_10k_mib: f64,
    pub rss_after_100k_mib: f64,
    pub series_held: usize,
}

fn metrics_connector(max_series: usize) -> GenaiMetrics {
    let config = GenaiMetricsConfig {
        max_series,
        ..Default::default()
    };
    GenaiMetrics::new(
        "genai_metrics".into(),
        config,
        Arc::new(Nowhere),
        OutcomeCounter::default(),
    )
}

/// CPU-seconds per million spans: decode, then `work`, then encode.
fn per_million(
    requests: &[(bytes::Bytes, usize)],
    total: usize,
    mut work: impl FnMut(&mut ExportTraceServiceRequest),
) -> f64 {
    per_million_encoded(requests, total, |bytes| {
        let Ok(mut request) = ExportTraceServiceRequest::decode(bytes) else {
            return 0;
        };
        work(&mut request);
        request.encode_to_vec().len()
    })
}

/// CPU-seconds per million spans of `work` on the encoded requests.
fn per_million_encoded(
    requests: &[(bytes::Bytes, usize)],
    total: usize,
    mut work: impl FnMut(&[u8]) -> usize,
) -> f64 {
    let before = cpu::thread_seconds().unwrap_or(0.0);
    let (mut items, mut k, mut sink) = (0, 0, 0usize);
    while items < total {
        let (bytes, n) = &requests[k % requests.len()];
        k += 1;
        sink = sink.wrapping_add(work(bytes));
        items += n;
    }
    std::hint::black_box(sink);
    (cpu::thread_seconds().unwrap_or(0.0) - before) / items as f64 * 1e6
}

pub fn run(batch_size: usize, total: usize) -> Report {
    let requests = pool(batch_size, 64);
    let processor = GenaiProcessor::new(GenaiConfig::default(), NodeContext::new());
    let connector = metrics_connector(10_000);
    // Alternate the measurements so that machine noise falls on all alike.
    let (mut floor, mut genai, mut wire) = (0.0, 0.0, 0.0);
    for _ in 0..3 {
        floor += per_million(&requests, total / 3, |_| {});
        genai += per_million(&requests, total / 3, |r| {
            processor.traces(r);
            connector.record(r);
        });
        wire += per_million_encoded(&requests, total / 3, |bytes| {
            let mut found = wire::Found::default();
            match wire::traces(&processor, bytes, &mut found) {
                Ok(Some(out)) => {
                    connector.record_encoded(&out);
                    out.len()
                }
                Ok(None) => {
                    connector.record_encoded(bytes);
                    bytes.len()
                }
                Err(_) => 0,
            }
        });
    }
    // Memory: 10k distinct series, then 90k more offered to the same connector.
    let bounded = metrics_connector(10_000);
    let mut rng = StdRng::seed_from_u64(7);
    let mut offer = |from: usize, to: usize| {
        for chunk in (from..to).step_by(500) {
            let mut request = data::traces(&mut rng, 500);
            for (i, span) in request
                .resource_spans
                .iter_mut()
                .flat_map(|r| &mut r.scope_spans)
                .flat_map(|s| &mut s.spans)
                .enumerate()
            {
                for kv in &mut span.attributes {
                    if kv.key == "gen_ai.request.model" {
                        *kv = string("gen_ai.request.model", &format!("model-{}", chunk + i));
                    }
                }
            }
            bounded.record(&request);
        }
    };
    let me = std::process::id();
    offer(0, 10_000);
    let rss_after_10k_mib = cpu::status_mib(me, "VmRSS:").unwrap_or(f64::NAN);
    offer(10_000, 100_000);
    let rss_after_100k_mib = cpu::status_mib(me, "VmRSS:").unwrap_or(f64::NAN);
    Report {
        floor: floor / 3.0,
        genai: genai / 3.0,
        wire: wire / 3.0,
        rss_after_10k_mib,
        rss_after_100k_mib,
        series_held: bounded.series(),
    }
}
