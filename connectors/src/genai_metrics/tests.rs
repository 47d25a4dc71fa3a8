use std::sync::{Arc, PoisonError};

use llamacol_api::attributes::{int, string};
use llamacol_api::config::parse_block;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value::Value, KeyValue};
use llamacol_api::otlp::metrics::v1::{metric, HistogramDataPoint, Metric, NumberDataPoint};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::otlp::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span, Status};
use llamacol_api::serde_yaml;
use llamacol_pipeline::testing::Capture;

use super::*;

/// The last metrics request `capture` was given.
fn last(capture: &Capture) -> ExportMetricsServiceRequest {
    match capture.last() {
        Some(Batch::Metrics(p)) => p.into_message().expect("decoded"),
        other => panic!("no metrics flushed: {other:?}"),
    }
}

fn connector(yaml: &str) -> (GenaiMetrics, Arc<Capture>) {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let config = parse_block::<GenaiMetricsConfig>(&value).expect("config");
    let capture = Arc::new(Capture::default());
    (
        GenaiMetrics::new(
            "genai_metrics".into(),
            config,
            capture.clone(),
            OutcomeCounter::default(),
        ),
        capture,
    )
}

const START: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn chat(model: &str, millis: u64, input: i64, output: i64) -> Span {
    Span {
        name: format!("chat {model}"),
        start_time_unix_nano: START,
        end_time_unix_nano: START + millis * MS,
        attributes: vec![
            string("gen_ai.operation.name", "chat"),
            string("gen_ai.provider.name", "llama.cpp"),
            string("gen_ai.request.model", model),
            int("gen_ai.usage.input_tokens", input),
            int("gen_ai.usage.output_tokens", output),
        ],
        ..Default::default()
    }
}

fn traces(spans: Vec<Span>) -> Batch {
    Batch::from(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "rag"), string("host.name", "n1")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn metric<'a>(r: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn histogram<'a>(r: &'a ExportMetricsServiceRequest, name: &str) -> &'a [HistogramDataPoint] {
    match &metric(r, name).data {
        Some(metric::Data::Histogram(h)) => &h.data_points,
        other => panic!("{name}: {other:?}"),
    }
}

/// Every point of a sum, across resources (the overflow series has its own).
fn sum(r: &ExportMetricsServiceRequest, name: &str) -> Vec<NumberDataPoint> {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
        .flat_map(|m| match &m.data {
            Some(metric::Data::Sum(s)) => {
                assert!(s.is_monotonic && s.aggregation_temporality == 2);
                s.data_points.clone()
            }
            other => panic!("{name}: {other:?}"),
        })
        .collect()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

#[tokio::test]
async fn token_usage_duration_ttft_and_time_per_token_follow_the_conventions() {
    let (c, out) = connector("{}");
    let mut streamed = chat("qwen", 2000, 100, 11);
    streamed.events.push(Event {
        name: "gen_ai.first_chunk".into(),
        time_unix_nano: START + 500 * MS,
        ..Default::default()
    });
    let mut told = chat("qwen", 1000, 50, 1);
    told.attributes.push(KeyValue {
        key: "gen_ai.response.time_to_first_chunk".into(),
        value: Some(llamacol_api::otlp::common::v1::AnyValue {
            value: Some(Value::DoubleValue(0.25)),
        }),
        ..Default::default()
    });
    let plain = Span {
        name: "GET /".into(),
        ..Default::default()
    };
    c.consume(traces(vec![streamed, told, plain]))
        .await
        .expect("taken");
    c.flush().await.expect("flushed");
    let r = last(&out);
    assert_eq!(r.resource_metrics.len(), 1);
    let resource = &r.resource_metrics[0]
        .resource
        .as_ref()
        .expect("resource")
        .attributes;
    assert_eq!(resource.len(), 2, "the resource keys present");
    assert_eq!(attr(resource, "service.name"), Some("rag"));
    assert_eq!(attr(resource, "host.name"), Some("n1"));

    let usage = metric(&r, "gen_ai.client.token.usage");
    assert_eq!(usage.unit, "{token}");
    let tokens = histogram(&r, "gen_ai.client.token.usage");
    let by_type = |t: &str| {
        tokens
            .iter()
            .find(|p| attr(&p.attributes, "gen_ai.token.type") == Some(t))
            .expect(t)
    };
    assert_eq!(
        (by_type("input").count, by_type("input").sum),
        (2, Some(150.0))
    );
    assert_eq!(
        (by_type("output").count, by_type("output").sum),
        (2, Some(12.0))
    );
    assert_eq!(by_type("input").explicit_bounds[..3], [1.0, 4.0, 16.0]);
    assert_eq!(
        attr(&by_type("input").attributes, "gen_ai.request.model"),
        Some("qwen")
    );

    let duration = histogram(&r, "gen_ai.client.operation.duration");
    assert_eq!(metric(&r, "gen_ai.client.operation.duration").unit, "s");
    assert_eq!((duration[0].count, duration[0].sum), (2, Some(3.0)));
    // 1.0s falls in (0.64, 1.28], 2.0s in (1.28, 2.56].
    assert_eq!(duration[0].bucket_counts[7], 1);
    assert_eq!(duration[0].bucket_counts[8], 1);

    // Client spans: the client instruments.
    let ttft = histogram(&r, "gen_ai.client.operation.time_to_first_chunk");
    assert_eq!((ttft[0].count, ttft[0].sum), (2, Some(0.75)));
    // No chunk events: the mean, (2.0 - 0.5) / (11 - 1); the one-token response has none.
    let tpot = histogram(&r, "gen_ai.client.operation.time_per_output_chunk");
    assert_eq!(tpot[0].count, 1);
    assert!((tpot[0].sum.unwrap_or_default() - 0.15).abs() < 1e-9);

    let requests = sum(&r, "gen_ai.requests");
    assert_eq!(requests[0].value, Some(number_data_point::Value::AsInt(2)));
    assert_eq!(metric(&r, "gen_ai.requests").unit, "{request}");
    assert!(
        r.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .all(|m| m.name != "gen_ai.usage.cost"),
        "no cost on the spans, no cost metric"
    );
}

use llamacol_api::otlp::metrics::v1::number_data_point;

#[tokio::test]
async fn failures_are_split_by_error_type_and_totals_are_cumulative() {
    let (c, out) = connector("{}");
    let mut failed = chat("m", 100, 1, 1);
    failed.status = Some(Status {
        code: 2,
        message: "x".into(),
    });
    c.consume(traces(vec![chat("m", 100, 1, 1), failed.clone()]))
        .await
        .expect("taken");
    c.flush().await.expect("flushed");
    c.consume(traces(vec![failed])).await.expect("taken");
    c.flush().await.expect("flushed");
    let r = last(&out);
    let requests = sum(&r, "gen_ai.requests");
    let of = |e: Option<&str>| {
        requests
            .iter()
            .find(|p| attr(&p.attributes, "error.type") == e)
            .and_then(|p| p.value)
    };
    assert_eq!(of(None), Some(number_data_point::Value::AsInt(1)));
    assert_eq!(
        of(Some("_OTHER")),
        Some(number_data_point::Value::AsInt(2)),
        "cumulative over flushes"
    );
    assert!(requests
        .iter()
        .all(|p| p.start_time_unix_nano > 0 && p.start_time_unix_nano <= p.time_unix_nano));
}

#[tokio::test]
async fn series_beyond_max_series_share_one_overflow_series() {
    let (c, out) = connector("{max_series: 2}");
    let spans = (0..5)
        .map(|i| chat(&format!("model-{i}"), 10, 1, 1))
        .collect();
    c.consume(traces(spans)).await.expect("taken");
    c.flush().await.expect("flushed");
    let r = last(&out);
    let requests = sum(&r, "gen_ai.requests");
    assert_eq!(requests.len(), 3, "two series and the overflow");
    let overflow = requests
        .iter()
        .find(|p| {
            p.attributes
                .iter()
                .any(|kv| kv.key == "otel.metric.overflow")
        })
        .expect("overflow series");
    assert_eq!(overflow.value, Some(number_data_point::Value::AsInt(3)));
}

#[tokio::test]
async fn a_hundred_thousand_series_offered_keep_the_table_at_max_series() {
    let (c, _) = connector("{max_series: 10000}");
    for chunk in 0..100 {
        let spans = (0..1000)
            .map(|i| chat(&format!("m-{chunk}-{i}"), 10, 1, 1))
            .collect();
        c.consume(traces(spans)).await.expect("taken");
    }
    let table = c.inner.table.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(table.series.len(), 10_000);
    assert_eq!(table.overflowed_spans, 90_000);
}

/// Every series key copies its resource's `service.name`: 100 series of a 1 MiB service
/// name would hold 100 MiB; the keys stop at `MAX_KEY_BYTES` (64 MiB) and the rest go to
/// the overflow series, as past `max_series`.
#[tokio::test]
async fn series_keys_stop_at_their_byte_bound_and_the_rest_overflow() {
    let (c, _) = connector("{max_series: 10000}");
    let spans = (0..100)
        .map(|i| chat(&format!("m-{i}"), 10, 1, 1))
        .collect();
    let Batch::Traces(mut payload) = traces(spans) else {
        unreachable!("traces")
    };
    let mut request = payload.into_message().expect("decoded");
    request.resource_spans[0]
        .resource
        .get_or_insert_with(Default::default)
        .attributes[0] = string("service.name", &"s".repeat(1 << 20));
    payload = llamacol_api::Payload::from_message(request);
    c.consume(Batch::Traces(payload)).await.expect("taken");
    let table = c.inner.table.lock().unwrap_or_else(PoisonError::into_inner);
    let held = table.series.len();
    assert_eq!(held, 63, "64 MiB of keys of just over 1 MiB each");
    assert_eq!(table.overflowed_spans, 100 - held as u64);
}

#[tokio::test]
async fn dimensions_and_cost_are_added_and_shutdown_flushes() {
    let (c, out) = connector("{dimensions: [{name: host.name}, {name: tenant, default: none}], metrics_flush_interval: 1h}");
    let mut priced = chat("m", 10, 1, 1);
    priced.attributes.push(KeyValue {
        key: "gen_ai.usage.cost".into(),
        value: Some(llamacol_api::otlp::common::v1::AnyValue {
            value: Some(Value::DoubleValue(0.5)),
        }),
        ..Default::default()
    });
    c.start().await.expect("start");
    c.consume(traces(vec![priced.clone(), priced]))
        .await
        .expect("taken");
    c.shutdown().await.expect("final flush");
    let r = last(&out);
    let requests = sum(&r, "gen_ai.requests");
    assert_eq!(
        attr(&requests[0].attributes, "host.name"),
        Some("n1"),
        "from the resource"
    );
    assert_eq!(
        attr(&requests[0].attributes, "tenant"),
        Some("none"),
        "the default"
    );
    let cost = sum(&r, "gen_ai.usage.cost");
    assert_eq!(cost[0].value, Some(number_data_point::Value::AsDouble(1.0)));
    assert_eq!(metric(&r, "gen_ai.usage.cost").unit, "USD");
}

#[test]
fn bad_configs_name_the_key() {
    let check = |yaml: &str| {
        let v: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
        format!("{:?}", (ConfigSpec::of::<GenaiMetricsConfig>().check)(&v))
    };
    assert!(
        check("{buckets: {time_to_first_token: [1, 0.5]}}").contains("buckets.time_to_first_token")
    );
    assert!(check("{dimensions: [{name: gen_ai.request.model}]}").contains("always an attribute"));
    assert!(check("{max_series: 0}").contains("max_series"));
}

/// The same spans, once decoded and once as the encoded bytes a batch processor hands
/// on, give the same metrics.
#[tokio::test]
async fn encoded_and_decoded_batches_give_the_same_metrics() {
    use llamacol_api::Signal;
    use prost::Message;
    let yaml = "{dimensions: [{name: host.name}, {name: tenant, default: none}, {name: gen_ai.request.temperature}]}";
    let (decoded, from_decoded) = connector(yaml);
    let (encoded, from_encoded) = connector(yaml);
    let mut streamed = chat("qwen", 2000, 100, 11);
    streamed.events.push(Event {
        name: "gen_ai.first_chunk".into(),
        time_unix_nano: START + 500 * MS,
        ..Default::default()
    });
    streamed.attributes.push(KeyValue {
        key: "gen_ai.request.temperature".into(),
        value: Some(llamacol_api::otlp::common::v1::AnyValue {
            value: Some(Value::DoubleValue(0.7)),
        }),
        ..Default::default()
    });
    let mut failed = chat("llama", 300, 7, 0);
    failed.status = Some(Status {
        code: 2,
        message: "x".into(),
    });
    failed.attributes.push(KeyValue {
        key: "gen_ai.usage.cost".into(),
        value: Some(llamacol_api::otlp::common::v1::AnyValue {
            value: Some(Value::StringValue("0.25".into())),
        }),
        ..Default::default()
    });
    let plain = Span {
        name: "GET /".into(),
        ..Default::default()
    };
    let Batch::Traces(p) = traces(vec![streamed, failed, plain, chat("qwen", 10, 1, 1)]) else {
        panic!("traces")
    };
    let request = p.into_message().expect("decoded");
    decoded
        .consume(Batch::from(request.clone()))
        .await
        .expect("taken");
    let bytes = bytes::Bytes::from(request.encode_to_vec());
    encoded
        .consume(Batch::from_bytes(Signal::Traces, bytes).expect("valid"))
        .await
        .expect("taken");
    decoded.flush().await.expect("flushed");
    encoded.flush().await.expect("flushed");
    let without_times = |mut r: ExportMetricsServiceRequest| {
        for m in r
            .resource_metrics
            .iter_mut()
            .flat_map(|rm| &mut rm.scope_metrics)
            .flat_map(|s| &mut s.metrics)
        {
            match &mut m.data {
                Some(metric::Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| {
                    p.time_unix_nano = 0;
                    p.start_time_unix_nano = 0;
                }),
                Some(metric::Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| {
                    p.time_unix_nano = 0;
                    p.start_time_unix_nano = 0;
                }),
                _ => {}
            }
        }
        r
    };
    let (a, b) = (
        without_times(last(&from_decoded)),
        without_times(last(&from_encoded)),
    );
    assert_eq!(a, b);
    let requests = sum(&b, "gen_ai.requests");
    assert_eq!(
        requests.len(),
        3,
        "qwen with and without temperature, failed llama"
    );
    assert!(requests
        .iter()
        .any(|p| attr(&p.attributes, "error.type") == Some("_OTHER")));
    assert!(requests
        .iter()
        .all(|p| attr(&p.attributes, "host.name") == Some("n1")));
    assert_eq!(
        sum(&b, "gen_ai.usage.cost")[0].value,
        Some(number_data_point::Value::AsDouble(0.25))
    );
}

struct Refuses;

#[async_trait]
impl Consumer for Refuses {
    async fn consume(&self, _: Batch) -> Result<(), ConsumeError> {
        Err(ConsumeError::permanent("no"))
    }
}

#[tokio::test]
async fn a_refused_final_flush_counts_its_points_as_dropped() {
    use llamacol_api::outcome::Counters;
    use llamacol_api::Outcome;
    let counters = Arc::new(Counters::default());
    let c = GenaiMetrics::new(
        "genai_metrics".into(),
        GenaiMetricsConfig::default(),
        Arc::new(Refuses),
        OutcomeCounter::new(counters.clone(), Outcome::Dropped),
    );
    c.start().await.expect("start");
    c.consume(traces(vec![chat("m", 10, 1, 1)]))
        .await
        .expect("taken");
    assert!(
        c.shutdown().await.is_err(),
        "says the final flush was refused"
    );
    // One series: token usage (input, output), duration, requests.
    assert_eq!(
        counters.dropped.load(std::sync::atomic::Ordering::SeqCst),
        4
    );
}

#[tokio::test]
async fn the_live_page_totals_count_requests_errors_tokens_and_latency_from_both_forms() {
    let node = llamacol_api::NodeContext::new();
    let (c, _) = connector("{}");
    let c = c.publishing_to(node.clone());
    let mut failed = chat("m", 2000, 5, 0);
    failed.status = Some(Status {
        code: 2,
        message: "x".into(),
    });
    c.consume(traces(vec![chat("m", 100, 10, 3), failed]))
        .await
        .expect("taken");
    // The same span again, as encoded bytes (what a connector behind `batch` gets).
    let encoded = match traces(vec![chat("m", 100, 10, 3)]) {
        Batch::Traces(mut p) => {
            let bytes = prost::Message::encode_to_vec(p.message_mut().expect("decoded"));
            Batch::from_encoded_parts(Signal::Traces, bytes::Bytes::from(bytes), 1)
        }
        _ => unreachable!("traces"),
    };
    c.consume(encoded).await.expect("taken");
    let totals = node.shared::<super::live::Board>().totals();
    assert_eq!(totals.requests, 3);
    assert_eq!(totals.errors, 1);
    assert_eq!(totals.input_tokens, 25.0);
    assert_eq!(totals.output_tokens, 6.0);
    let nothing = super::live::LogHistogram::default();
    let p99 = totals.duration.quantile_since(&nothing, 0.99).expect("p99");
    assert!(
        p99 / 2.0 < 1.25 && 2.0 / p99 < 1.25,
        "within a bucket: {p99}"
    );
}

fn event(name: &str, after_ms: u64) -> Event {
    Event {
        name: name.into(),
        time_unix_nano: START + after_ms * MS,
        ..Default::default()
    }
}

fn names(r: &ExportMetricsServiceRequest) -> Vec<&str> {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.as_str())
        .collect()
}

/// The cases: an end-of-response event of a non-streaming call is no first chunk;
/// a first chunk outside its span is no observation; per-chunk events give one gap each.
#[tokio::test]
async fn a_first_chunk_only_for_streaming_calls_and_only_within_the_span() {
    let (c, out) = connector("{}");
    // Non-streaming: the completion event comes at the end.
    let mut whole = chat("m", 1000, 10, 20);
    whole.events.push(event("gen_ai.choice", 1000));
    whole.events.push(event("gen_ai.content.completion", 999));
    // Streaming, but the first chunk lies after the span's end (clock skew).
    let mut skewed = chat("m", 100, 10, 20);
    skewed.attributes.push(llamacol_api::attributes::kv(
        "gen_ai.request.stream",
        Value::BoolValue(true),
    ));
    skewed.events.push(event("First Token Stream Event", 400));
    // Streaming with OpenLLMetry's per-chunk events at 200, 250, 350 ms.
    let mut chunked = chat("m", 400, 10, 3);
    for at in [250, 200, 350] {
        chunked
            .events
            .push(event("gen_ai.content.completion.chunk", at));
    }
    c.consume(traces(vec![whole, skewed, chunked]))
        .await
        .expect("taken");
    c.flush().await.expect("flushed");
    let r = last(&out);
    let ttfc = histogram(&r, "gen_ai.client.operation.time_to_first_chunk");
    assert_eq!(ttfc[0].count, 1, "only the chunked call");
    assert!((ttfc[0].sum.unwrap_or_default() - 0.2).abs() < 1e-9);
    let per_chunk = histogram(&r, "gen_ai.client.operation.time_per_output_chunk");
    assert_eq!(per_chunk[0].count, 2, "one per chunk after the first");
    assert!((per_chunk[0].sum.unwrap_or_default() - 0.15).abs() < 1e-9);
    assert!((per_chunk[0].min.unwrap_or_default() - 0.05).abs() < 1e-9);
    assert_eq!(
        histogram(&r, "gen_ai.client.operation.duration")[0].count,
        3
    );
}

#[tokio::test]
async fn server_spans_feed_the_server_instruments_with_the_port_as_an_integer() {
    let (c, out) = connector("{}");
    let server = |failed: bool| {
        let mut s = chat("m", 1000, 10, 11);
        s.kind = 2;
        s.attributes.push(string("server.address", "10.0.0.1"));
        s.attributes.push(int("server.port", 8080));
        s.attributes.push(llamacol_api::attributes::kv(
            "gen_ai.request.stream",
            Value::BoolValue(true),
        ));
        s.events.push(event("gen_ai.first_chunk", 100));
        if failed {
            s.status = Some(Status {
                code: 2,
                ..Default::default()
            });
        }
        s
    };
    c.consume(traces(vec![server(false), server(true)]))
        .await
        .expect("taken");
    c.flush().await.expect("flushed");
    let r = last(&out);
    let all = names(&r);
    assert!(
        all.iter().all(|n| !n.starts_with("gen_ai.client.")),
        "no client instrument from SERVER spans: {all:?}"
    );
    let duration = histogram(&r, "gen_ai.server.request.duration");
    assert_eq!(duration.len(), 2, "split by error.type");
    // Time to first token and per token: the successful response only.
    let ttft = histogram(&r, "gen_ai.server.time_to_first_token");
    assert_eq!((ttft.len(), ttft[0].count), (1, 1));
    assert!(ttft[0].attributes.iter().all(|a| a.key != "error.type"));
    let port = ttft[0]
        .attributes
        .iter()
        .find(|a| a.key == "server.port")
        .and_then(|a| a.value.as_ref()?.value.clone());
    assert_eq!(port, Some(Value::IntValue(8080)));
    let tpot = histogram(&r, "gen_ai.server.time_per_output_token");
    assert!((tpot[0].sum.unwrap_or_default() - 0.09).abs() < 1e-9);
}

#[tokio::test]
async fn token_usage_merges_what_error_type_splits() {
    let (c, out) = connector("{}");
    let mut failed = chat("m", 100, 5, 0);
    failed.status = Some(Status {
        code: 2,
        ..Default::default()
    });
    c.consume(traces(vec![chat("m", 100, 10, 1), failed]))
        .await
        .expect("taken");
    c.flush().await.expect("flushed");
    let r = last(&out);
    let tokens = histogram(&r, "gen_ai.client.token.usage");
    let input: Vec<_> = tokens
        .iter()
        .filter(|p| attr(&p.attributes, "gen_ai.token.type") == Some("input"))
        .collect();
    assert_eq!(input.len(), 1, "token usage has no error.type: one point");
    assert_eq!((input[0].count, input[0].sum), (2, Some(15.0)));
    assert_eq!(histogram(&r, "gen_ai.client.operation.duration").len(), 2);
    assert_eq!(sum(&r, "gen_ai.requests").len(), 2);
}

#[tokio::test]
async fn agents_tools_and_workflows_get_their_own_durations() {
    let (c, out) = connector("{}");
    let op = |operation: &str, name: (&str, &str), millis: u64| Span {
        start_time_unix_nano: START,
        end_time_unix_nano: START + millis * MS,
        attributes: vec![
            string("gen_ai.operation.name", operation),
            string(name.0, name.1),
            int("gen_ai.usage.input_tokens", 100),
        ],
        ..Default::default()
    };
    c.consume(traces(vec![
        op("invoke_agent", ("gen_ai.agent.name", "planner"), 3000),
        op("execute_tool", ("gen_ai.tool.name", "lookup_order"), 20),
        op("invoke_workflow", ("gen_ai.workflow.name", "support"), 4000),
    ]))
    .await
    .expect("taken");
    c.flush().await.expect("flushed");
    let r = last(&out);
    let agent = histogram(&r, "gen_ai.invoke_agent.duration");
    assert_eq!(
        attr(&agent[0].attributes, "gen_ai.agent.name"),
        Some("planner")
    );
    let tool = histogram(&r, "gen_ai.execute_tool.duration");
    assert_eq!(
        attr(&tool[0].attributes, "gen_ai.tool.name"),
        Some("lookup_order")
    );
    let workflow = histogram(&r, "gen_ai.workflow.duration");
    assert_eq!(workflow[0].sum, Some(4.0));
    let all = names(&r);
    assert!(
        !all.contains(&"gen_ai.client.token.usage"),
        "their token counts are the model calls' inside them: {all:?}"
    );
    assert_eq!(sum(&r, "gen_ai.requests").len(), 3);
}
