use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::metrics::v1::{metric, number_data_point, Metric, NumberDataPoint, Sum};
use llamacol_api::{ComponentId, ErrorKind};
use llamacol_pipeline::testing::free_port;

use super::*;
use prost::Message;

#[derive(Default)]
struct Received {
    requests: Mutex<Vec<WriteRequest>>,
    headers: Mutex<Vec<(String, String, String)>>,
}

async fn receiver(status: u16) -> (String, Arc<Received>) {
    let got = Arc::new(Received::default());
    let g = got.clone();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                g.headers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((
                        h("content-encoding"),
                        h("content-type"),
                        h("x-prometheus-remote-write-version"),
                    ));
                let raw = snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .expect("snappy");
                g.requests
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(WriteRequest::decode(raw.as_slice()).expect("WriteRequest"));
                (
                    StatusCode::from_u16(status).expect("status"),
                    "told to answer this",
                )
            }
        }),
    );
    (serve(app).await, got)
}

/// Serves `app` on a free loopback port; its remote-write URL.
async fn serve(app: axum::Router) -> String {
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}/api/v1/write")
}

fn exporter(endpoint: &str) -> Arc<dyn Exporter> {
    let block: Value = llamacol_api::serde_yaml::from_str(&format!(
        "{{endpoint: \"{endpoint}\", external_labels: {{cluster: eu-1}}}}"
    ))
    .expect("yaml");
    build(
        &BuildContext::new(
            ComponentId::parse("prometheusremotewrite").expect("id"),
            vec![Signal::Metrics],
        ),
        &block,
    )
    .expect("build")
}

fn delta_sum(value: f64, start_s: u64, time_s: u64) -> Batch {
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![llamacol_api::otlp::metrics::v1::ResourceMetrics {
            resource: Some(llamacol_api::otlp::resource::v1::Resource {
                attributes: vec![
                    llamacol_pipeline::testing::string_attr("service.name", "llama-server"),
                    llamacol_pipeline::testing::string_attr("host.name", "gpu-7"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![llamacol_api::otlp::metrics::v1::ScopeMetrics {
                metrics: vec![Metric {
                    name: "llm.requests".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            start_time_unix_nano: start_s * 1_000_000_000,
                            time_unix_nano: time_s * 1_000_000_000,
                            value: Some(number_data_point::Value::AsInt(value as i64)),
                            ..Default::default()
                        }],
                        aggregation_temporality: 1,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    };
    Batch::from(request)
}

#[tokio::test]
async fn writes_snappy_protobuf_with_sorted_labels_and_accumulated_deltas() {
    let (url, got) = receiver(204).await;
    let e = exporter(&url);
    e.export(&mut delta_sum(5.0, 1_700_000_000, 1_700_000_010))
        .await
        .expect("write");
    e.export(&mut delta_sum(7.0, 1_700_000_010, 1_700_000_020))
        .await
        .expect("write");
    let requests = got
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(requests.len(), 2);
    let counter = |r: &WriteRequest| {
        r.timeseries
            .iter()
            .find(|t| {
                t.labels
                    .iter()
                    .any(|l| l.name == "__name__" && l.value == "llm_requests_total")
            })
            .cloned()
            .expect("series")
    };
    let second = counter(&requests[1]);
    assert_eq!(
        second.samples,
        vec![Sample {
            value: 12.0,
            timestamp: 1_700_000_020_000
        }],
        "delta accumulated"
    );
    let names: Vec<&str> = second.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["__name__", "cluster", "job"],
        "sorted, external label added"
    );
    assert!(
        requests[0]
            .timeseries
            .iter()
            .any(|t| t.labels.iter().any(|l| l.value == "target_info")),
        "target_info on by default"
    );
    let headers = got
        .headers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(
        headers[0],
        (
            "snappy".into(),
            "application/x-protobuf".into(),
            "0.1.0".into()
        )
    );
}

#[tokio::test]
async fn server_errors_retry_and_client_errors_do_not() {
    let (url, _) = receiver(500).await;
    let err = exporter(&url)
        .export(&mut delta_sum(1.0, 1, 2))
        .await
        .expect_err("500");
    assert_eq!(err.kind(), ErrorKind::Retryable);
    let (url, _) = receiver(429).await;
    assert!(exporter(&url)
        .export(&mut delta_sum(1.0, 1, 2))
        .await
        .expect_err("429")
        .is_retryable());
    let (url, _) = receiver(400).await;
    let err = exporter(&url)
        .export(&mut delta_sum(1.0, 1, 2))
        .await
        .expect_err("400");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.to_string().contains("told to answer this"), "{err}");
}

/// A remote-write endpoint that answers 413 to a request over `limit` bytes (uncompressed)
/// and keeps the others.
async fn limited_receiver(limit: usize) -> (String, Arc<Received>) {
    let got = Arc::new(Received::default());
    let g = got.clone();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |body: Bytes| {
            let g = g.clone();
            async move {
                let raw = snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .expect("snappy");
                if raw.len() > limit {
                    return (StatusCode::PAYLOAD_TOO_LARGE, "too large");
                }
                g.requests
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(WriteRequest::decode(raw.as_slice()).expect("WriteRequest"));
                (StatusCode::OK, "")
            }
        }),
    );
    (serve(app).await, got)
}

fn series_received(got: &Received) -> (usize, usize, usize) {
    let requests = got.requests.lock().unwrap_or_else(PoisonError::into_inner);
    let largest = requests.iter().map(Message::encoded_len).max().unwrap_or(0);
    let series = requests.iter().map(|r| r.timeseries.len()).sum();
    (requests.len(), largest, series)
}

fn many_series() -> Batch {
    Batch::from(llamacol_pipeline::testing::sample_metrics(60))
}

#[tokio::test]
async fn a_batch_goes_out_in_requests_of_at_most_max_batch_size_bytes() {
    let (endpoint, got) = limited_receiver(usize::MAX).await;
    let block: Value = llamacol_api::serde_yaml::from_str(&format!(
        "{{endpoint: \"{endpoint}\", max_batch_size_bytes: 2000}}"
    ))
    .expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse("prometheusremotewrite").expect("id"),
        vec![Signal::Metrics],
    );
    let e = build(&ctx, &block).expect("build");
    e.export(&mut many_series()).await.expect("exported");
    let (requests, largest, series) = series_received(&got);
    assert!(requests > 3, "{requests} requests");
    assert!(largest <= 2000, "{largest}");

    let (endpoint, whole) = limited_receiver(usize::MAX).await;
    exporter(&endpoint)
        .export(&mut many_series())
        .await
        .expect("exported");
    let (one, _, all) = series_received(&whole);
    assert_eq!((one, series), (1, all), "the same series, cut or not");
}

/// A 413 halves the request and the pieces are sent at once, not retried as they were:
/// every series arrives within the endpoint's limit.
#[tokio::test]
async fn a_413_halves_the_requests_until_they_pass() {
    let (endpoint, got) = limited_receiver(3000).await;
    let e = exporter(&endpoint);
    e.export(&mut many_series())
        .await
        .expect("delivered in halves");
    let (requests, largest, series) = series_received(&got);
    assert!(requests >= 2 && largest <= 3000, "{requests} {largest}");
    let (_, _, expected) = {
        let (endpoint, whole) = limited_receiver(usize::MAX).await;
        exporter(&endpoint)
            .export(&mut many_series())
            .await
            .expect("exported");
        series_received(&whole)
    };
    assert_eq!(series, expected);
}
