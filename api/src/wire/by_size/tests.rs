use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, Gauge, Metric, NumberDataPoint};
use prost::Message;

use super::split_by_size;
use crate::signal::Signal;
use crate::testing::{sample_logs, sample_metrics, sample_traces, string_attr};
use crate::wire::count_items;

/// Every (resource, scope, span) of a request, in order: what a split must keep.
fn spans_in(requests: &[ExportTraceServiceRequest]) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for request in requests {
        for rs in &request.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push((
                        format!("{:?}", rs.resource).into_bytes(),
                        format!("{:?}", ss.scope).into_bytes(),
                        span.encode_to_vec(),
                    ));
                }
            }
        }
    }
    out
}

/// Every (resource, scope, metric without points, point) of a request, in order.
fn points_in(requests: &[ExportMetricsServiceRequest]) -> Vec<[Vec<u8>; 4]> {
    let mut out = Vec::new();
    for request in requests {
        for rm in &request.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let mut bare = m.clone();
                    let points: Vec<Vec<u8>> = match &mut bare.data {
                        Some(metric::Data::Gauge(g)) => std::mem::take(&mut g.data_points)
                            .iter()
                            .map(Message::encode_to_vec)
                            .collect(),
                        Some(metric::Data::Sum(s)) => std::mem::take(&mut s.data_points)
                            .iter()
                            .map(Message::encode_to_vec)
                            .collect(),
                        Some(metric::Data::Histogram(h)) => std::mem::take(&mut h.data_points)
                            .iter()
                            .map(Message::encode_to_vec)
                            .collect(),
                        other => panic!("unexpected metric data {other:?}"),
                    };
                    for p in points {
                        out.push([
                            format!("{:?}", rm.resource).into_bytes(),
                            format!("{:?}", sm.scope).into_bytes(),
                            bare.encode_to_vec(),
                            p,
                        ]);
                    }
                }
            }
        }
    }
    out
}

fn decoded<M: Message + Default>(pieces: &[(Bytes, usize)]) -> Vec<M> {
    pieces
        .iter()
        .map(|(b, _)| M::decode(b.clone()).expect("each piece decodes"))
        .collect()
}

/// Each piece within the limit, its item count right, and together the same items in the
/// same order with the same resource and scope.
#[test]
fn traces_are_cut_within_the_limit_keeping_every_span_in_order() {
    let mut request = sample_traces(5, 40);
    let second_scope = request.resource_spans[2].scope_spans[0].clone();
    request.resource_spans[2].scope_spans.push(second_scope);
    request.resource_spans[2].scope_spans[1].scope = None;
    let bytes = Bytes::from(request.encode_to_vec());
    for limit in [300, 500, 1_000, 4_096, 10_000, bytes.len() - 1] {
        let split = split_by_size(Signal::Traces, &bytes, limit).expect("splits");
        assert_eq!(split.oversize_items, 0, "limit {limit}");
        assert!(
            split.pieces.len() >= 2,
            "limit {limit}: {} pieces",
            split.pieces.len()
        );
        for (piece, items) in &split.pieces {
            assert!(
                piece.len() <= limit,
                "limit {limit}: piece of {}",
                piece.len()
            );
            assert_eq!(count_items(Signal::Traces, piece).ok(), Some(*items));
        }
        let pieces: Vec<ExportTraceServiceRequest> = decoded(&split.pieces);
        assert_eq!(
            spans_in(&pieces),
            spans_in(std::slice::from_ref(&request)),
            "limit {limit}"
        );
    }
}

#[test]
fn a_request_within_the_limit_is_one_piece_as_it_was() {
    let bytes = Bytes::from(sample_traces(3, 7).encode_to_vec());
    let split = split_by_size(Signal::Traces, &bytes, bytes.len()).expect("splits");
    assert_eq!(split.pieces, vec![(bytes.clone(), 21)]);
}

#[test]
fn logs_are_cut_within_the_limit() {
    let request = sample_logs(500);
    let bytes = Bytes::from(request.encode_to_vec());
    let split = split_by_size(Signal::Logs, &bytes, 2_000).expect("splits");
    assert!(split.pieces.len() > 5);
    let pieces: Vec<ExportLogsServiceRequest> = decoded(&split.pieces);
    let records: Vec<_> = pieces
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .cloned()
        .collect();
    assert_eq!(records, request.resource_logs[0].scope_logs[0].log_records);
    assert!(split.pieces.iter().all(|(p, _)| p.len() <= 2_000));
    assert_eq!(split.pieces.iter().map(|(_, n)| n).sum::<usize>(), 500);
}

/// One metric of many points (a high-cardinality gauge) is cut between its points; each
/// piece repeats the metric's name, unit and type, and the sum's temporality.
#[test]
fn one_metric_larger_than_the_limit_is_cut_between_its_data_points() {
    let mut request = sample_metrics(3);
    let point = |i: u64| NumberDataPoint {
        attributes: vec![string_attr("pod", &format!("pod-{i:05}"))],
        time_unix_nano: 1_700_000_000_000_000_000 + i,
        value: Some(
            opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i as i64),
        ),
        ..Default::default()
    };
    request.resource_metrics[0].scope_metrics[0].metrics.insert(
        4,
        Metric {
            name: "kv_cache.usage".into(),
            description: "KV cache use per pod".into(),
            unit: "1".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: (0..2_000).map(point).collect(),
            })),
            ..Default::default()
        },
    );
    let bytes = Bytes::from(request.encode_to_vec());
    assert!(bytes.len() > 60_000);
    let split = split_by_size(Signal::Metrics, &bytes, 8_192).expect("splits");
    assert_eq!(split.oversize_items, 0);
    for (piece, items) in &split.pieces {
        assert!(piece.len() <= 8_192);
        assert_eq!(count_items(Signal::Metrics, piece).ok(), Some(*items));
    }
    let pieces: Vec<ExportMetricsServiceRequest> = decoded(&split.pieces);
    assert_eq!(
        points_in(&pieces),
        points_in(std::slice::from_ref(&request))
    );
}

/// A span that cannot fit even alone is left out and reported; the rest all arrive.
#[test]
fn a_span_larger_than_the_limit_alone_is_left_out_and_counted() {
    let mut request = sample_traces(2, 30);
    let huge = "x".repeat(50_000);
    request.resource_spans[1].scope_spans[0].spans[7]
        .attributes
        .push(string_attr("gen_ai.prompt", &huge));
    let bytes = Bytes::from(request.encode_to_vec());
    let split = split_by_size(Signal::Traces, &bytes, 20_000).expect("splits");
    assert_eq!(split.oversize_items, 1);
    assert!(split.largest_oversize > 50_000 && split.largest_oversize < 51_000);
    let mut expected = spans_in(std::slice::from_ref(&request));
    expected.remove(30 + 7);
    let pieces: Vec<ExportTraceServiceRequest> = decoded(&split.pieces);
    assert_eq!(spans_in(&pieces), expected);
    assert_eq!(split.pieces.iter().map(|(_, n)| n).sum::<usize>(), 59);
}

/// A limit below the resource's own size: every item is reported, nothing is sent.
#[test]
fn a_limit_below_the_resource_itself_sends_nothing_and_counts_every_item() {
    let mut request = sample_traces(1, 10);
    request.resource_spans[0]
        .resource
        .as_mut()
        .expect("resource")
        .attributes
        .push(string_attr("big", &"r".repeat(5_000)));
    let bytes = Bytes::from(request.encode_to_vec());
    let split = split_by_size(Signal::Traces, &bytes, 4_000).expect("splits");
    assert!(split.pieces.is_empty());
    assert_eq!(split.oversize_items, 10);
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let bytes = Bytes::from(sample_traces(2, 5).encode_to_vec());
    let cut = bytes.slice(..bytes.len() - 3);
    assert!(split_by_size(Signal::Traces, &cut, 100).is_err());
}
