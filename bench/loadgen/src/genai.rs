//! `loadgen genai`: CPU per span of the `genai` processor plus the `genai_metrics`
//! connector on 500-span requests where every span is a GenAI span in a legacy naming
//! scheme (llamatelemetry `llm.*`, OpenLLMetry, OpenInference, in turn), next to the
//! prost decode + re-encode floor of the same requests, one thread, same run; then the
//! connector's memory as 100k distinct series are offered to `max_series: 10000`.

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::attributes::{int, string};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value::Value, KeyValue};
use llamacol_api::{Batch, ConsumeError, Consumer, NodeContext, OutcomeCounter};
use llamacol_connectors::genai_metrics::{GenaiMetrics, GenaiMetricsConfig};
use llamacol_processors::genai::{GenaiConfig, GenaiProcessor};
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

/// The load generator's spans with their GenAI attributes renamed to scheme `which`.
fn legacy(attributes: Vec<KeyValue>, which: usize) -> Vec<KeyValue> {
    let renames: &[(&str, &str)] = match which {
        0 => &[
            ("gen_ai.system", "llm.system"),
            ("gen_ai.request.model", "llm.model"),
            ("gen_ai.usage.input_tokens", "llm.usage.input_tokens"),
            ("gen_ai.usage.output_tokens", "llm.usage.output_tokens"),
            ("gen_ai.request.temperature", "llm.request.temperature"),
            ("gen_ai.request.max_tokens", "llm.request.max_tokens"),
        ],
        1 => &[
            ("gen_ai.request.model", "llm.request.model"),
            ("gen_ai.response.model", "llm.response.model"),
            ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
            (
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
            ),
        ],
        _ => &[
            ("gen_ai.system", "llm.provider"),
            ("gen_ai.request.model", "llm.model_name"),
            ("gen_ai.usage.input_tokens", "llm.token_count.prompt"),
            ("gen_ai.usage.output_tokens", "llm.token_count.completion"),
        ],
    };
    let mut out = Vec::with_capacity(attributes.len() + 2);
    let (mut temperature, mut max_tokens) = (String::new(), String::new());
    for mut kv in attributes {
        if kv.key == "gen_ai.operation.name" {
            continue;
        }
        if which == 2 && kv.key == "gen_ai.request.temperature" {
            temperature = text(&kv);
            continue;
        }
        if which == 2 && kv.key == "gen_ai.request.max_tokens" {
            max_tokens = text(&kv);
            continue;
        }
        if let Some((_, to)) = renames.iter().find(|(from, _)| *from == kv.key) {
            kv.key = (*to).to_string();
        }
        out.push(kv);
    }
    match which {
        1 => {
            out.push(string("llm.request.type", "chat"));
            out.push(int("llm.usage.total_tokens", 1000));
        }
        2 => {
            out.push(string("openinference.span.kind", "LLM"));
            out.push(string(
                "llm.invocation_parameters",
                &format!("{{\"temperature\": {temperature}, \"max_tokens\": {max_tokens}}}"),
            ));
        }
        _ => {}
    }
    out
}

/// `count` encoded requests of `items` legacy GenAI spans.
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
                span.attributes = legacy(std::mem::take(&mut span.attributes), n % 3);
                n += 1;
            }
            (bytes::Bytes::from(request.encode_to_vec()), n)
        })
        .collect()
}

pub struct Report {
    pub floor: f64,
    pub genai: f64,
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
    let before = cpu::thread_seconds().unwrap_or(0.0);
    let (mut items, mut k, mut sink) = (0, 0, 0usize);
    while items < total {
        let (bytes, n) = &requests[k % requests.len()];
        k += 1;
        let Ok(mut request) = ExportTraceServiceRequest::decode(bytes.clone()) else {
            continue;
        };
        work(&mut request);
        sink = sink.wrapping_add(request.encode_to_vec().len());
        items += n;
    }
    std::hint::black_box(sink);
    (cpu::thread_seconds().unwrap_or(0.0) - before) / items as f64 * 1e6
}

pub fn run(batch_size: usize, total: usize) -> Report {
    let requests = pool(batch_size, 64);
    let processor = GenaiProcessor::new(GenaiConfig::default(), NodeContext::new());
    let connector = metrics_connector(10_000);
    // Alternate the two measurements so that machine noise falls on both alike.
    let (mut floor, mut genai) = (0.0, 0.0);
    for _ in 0..3 {
        floor += per_million(&requests, total / 3, |_| {});
        genai += per_million(&requests, total / 3, |r| {
            processor.traces(r);
            connector.record(r);
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
        rss_after_10k_mib,
        rss_after_100k_mib,
        series_held: bounded.series(),
    }
}
