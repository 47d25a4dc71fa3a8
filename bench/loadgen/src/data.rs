//! Synthetic but realistic OTLP requests: LLM-serving trace trees (3-10 spans, 10-20
//! attributes each, GenAI-style names), GPU/LLM metrics (gauges, sums, histograms) and logs.

use llamacol_api::attributes::{double, int as i, string as s};
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, InstrumentationScope};
use llamacol_api::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::otlp::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use llamacol_api::Signal;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MODELS: [&str; 4] = [
    "llama-3.1-8b-instruct",
    "llama-3.1-70b-instruct",
    "qwen2.5-7b",
    "mistral-7b-v0.3",
];
const STEPS: [&str; 6] = [
    "tokenize",
    "queue",
    "prefill",
    "decode",
    "detokenize",
    "kv_cache.evict",
];
const NOW: u64 = 1_732_400_000_000_000_000;

fn resource(rng: &mut StdRng) -> Option<Resource> {
    let node = rng.random_range(0..8);
    Some(Resource {
        attributes: vec![
            s("service.name", "llm-gateway"),
            s("service.version", "1.4.2"),
            s("host.name", &format!("gpu-node-{node}")),
            s(
                "k8s.pod.name",
                &format!("llama-server-{node}-{}", rng.random_range(0..4)),
            ),
            s("deployment.environment.name", "production"),
        ],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "llamacol.loadgen".into(),
        version: "0.1.0".into(),
        ..Default::default()
    })
}

/// One request of about `items` spans, in trace trees of 3-10 spans.
pub fn traces(rng: &mut StdRng, items: usize) -> ExportTraceServiceRequest {
    let mut spans = Vec::with_capacity(items);
    while spans.len() < items {
        let size = rng.random_range(3..=10).min(items - spans.len());
        let trace_id: [u8; 16] = rng.random();
        let root_id: [u8; 8] = rng.random();
        let model = MODELS[rng.random_range(0..MODELS.len())];
        let start = NOW + rng.random_range(0..1_000_000_000);
        let input = rng.random_range(20..4000);
        let output = rng.random_range(1..1000);
        let error = rng.random_ratio(1, 50);
        for n in 0..size {
            let root = n == 0;
            let mut attributes = vec![
                s("gen_ai.system", "llama.cpp"),
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.request.model", model),
                s("gen_ai.response.model", model),
                i("gen_ai.usage.input_tokens", input),
                i("gen_ai.usage.output_tokens", output),
                double("gen_ai.request.temperature", 0.7),
                i("gen_ai.request.max_tokens", 1024),
                s("server.address", "127.0.0.1"),
                i("server.port", 8080),
            ];
            let extra = rng.random_range(0..=10);
            for e in 0..extra {
                attributes.push(s(
                    &format!("llamacol.bench.attr_{e}"),
                    "some attribute value",
                ));
            }
            if root {
                attributes.push(s("http.request.method", "POST"));
                attributes.push(s("url.path", "/v1/chat/completions"));
            }
            let name = if root {
                format!("chat {model}")
            } else {
                STEPS[(n - 1) % STEPS.len()].to_string()
            };
            let span_id = if root { root_id } else { rng.random() };
            spans.push(Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: if root { Vec::new() } else { root_id.to_vec() },
                name,
                kind: if root {
                    span::SpanKind::Server as i32
                } else {
                    span::SpanKind::Internal as i32
                },
                start_time_unix_nano: start + n as u64 * 1_000_000,
                end_time_unix_nano: start
                    + n as u64 * 1_000_000
                    + rng.random_range(100_000..500_000_000),
                attributes,
                status: Some(Status {
                    code: if error && root {
                        status::StatusCode::Error as i32
                    } else {
                        status::StatusCode::Unset as i32
                    },
                    message: if error && root {
                        "CUDA error: out of memory".into()
                    } else {
                        String::new()
                    },
                }),
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(rng),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn point(value: number_data_point::Value, gpu: usize) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![s("hw.id", &format!("GPU-{gpu}")), s("hw.type", "gpu")],
        time_unix_nano: NOW,
        start_time_unix_nano: NOW - 60_000_000_000,
        value: Some(value),
        ..Default::default()
    }
}

/// About `items` data points: GPU gauges, token counters and latency histograms.
pub fn metrics(rng: &mut StdRng, items: usize) -> ExportMetricsServiceRequest {
    let mut metrics = Vec::new();
    let mut points = 0;
    let mut k = 0;
    while points < items {
        let gpus = rng.random_range(1..=8).min(items - points);
        let data = match k % 3 {
            0 => metric::Data::Gauge(Gauge {
                data_points: (0..gpus)
                    .map(|g| point(number_data_point::Value::AsDouble(rng.random()), g))
                    .collect(),
            }),
            1 => metric::Data::Sum(Sum {
                data_points: (0..gpus)
                    .map(|g| {
                        point(
                            number_data_point::Value::AsInt(rng.random_range(0..1_000_000)),
                            g,
                        )
                    })
                    .collect(),
                aggregation_temporality: 2,
                is_monotonic: true,
            }),
            _ => metric::Data::Histogram(Histogram {
                data_points: (0..gpus)
                    .map(|g| HistogramDataPoint {
                        attributes: vec![s("hw.id", &format!("GPU-{g}"))],
                        time_unix_nano: NOW,
                        count: 100,
                        sum: Some(12.5),
                        bucket_counts: vec![10, 20, 30, 20, 10, 10],
                        explicit_bounds: vec![0.01, 0.05, 0.1, 0.5, 1.0],
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: 2,
            }),
        };
        let (name, unit) = [
            ("hw.gpu.utilization", "1"),
            ("gen_ai.client.token.usage", "{token}"),
            ("gen_ai.server.request.duration", "s"),
        ][k % 3];
        metrics.push(Metric {
            name: format!("{name}.{}", k / 3),
            unit: unit.into(),
            data: Some(data),
            ..Default::default()
        });
        points += gpus;
        k += 1;
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(rng),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub fn logs(rng: &mut StdRng, items: usize) -> ExportLogsServiceRequest {
    let records = (0..items)
        .map(|n| LogRecord {
            time_unix_nano: NOW + n as u64,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!(
                    "slot {} released after {} tokens",
                    rng.random_range(0..4),
                    rng.random_range(1..2000)
                ))),
            }),
            attributes: vec![
                s("gen_ai.request.model", MODELS[n % MODELS.len()]),
                i("llamacpp.slot.id", (n % 4) as i64),
            ],
            trace_id: rng.random::<[u8; 16]>().to_vec(),
            span_id: rng.random::<[u8; 8]>().to_vec(),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(rng),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// `count` distinct encoded requests of `items` items each, with their exact item counts.
pub fn pool(signal: Signal, items: usize, count: usize, seed: u64) -> Vec<(bytes::Bytes, usize)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let bytes = match signal {
                Signal::Traces => traces(&mut rng, items).encode_to_vec(),
                Signal::Metrics => metrics(&mut rng, items).encode_to_vec(),
                Signal::Logs => logs(&mut rng, items).encode_to_vec(),
            };
            let n = llamacol_api::wire::count_items(signal, &bytes).unwrap_or(0);
            (bytes::Bytes::from(bytes), n)
        })
        .collect()
}
