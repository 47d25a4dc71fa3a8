//! The table as one OTLP metrics request: cumulative, one resource per `service.name`,
//! the conventions' instrument names and units.

use std::collections::BTreeMap;

use llamacol_api::attributes::{kv, string};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram as OtlpHistogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use llamacol_api::otlp::resource::v1::Resource;

use super::config::FIXED_ATTRIBUTES;
use super::config::{Buckets, Dimension};
use super::series::{Aggregates, Histogram, Table};

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

/// Data points of one series: its attributes and values.
struct Row<'a> {
    attributes: Vec<KeyValue>,
    values: &'a Aggregates,
}

pub fn request(
    table: &Table,
    dimensions: &[Dimension],
    buckets: &Buckets,
    now: u64,
) -> ExportMetricsServiceRequest {
    // service.name -> rows.
    let mut by_service: BTreeMap<Option<&str>, Vec<Row<'_>>> = BTreeMap::new();
    let names: Vec<&str> = FIXED_ATTRIBUTES
        .iter()
        .copied()
        .chain(dimensions.iter().map(|d| d.name.as_str()))
        .collect();
    for series in &table.series {
        let attributes = names
            .iter()
            .zip(&series.key[1..])
            .filter_map(|(name, v)| v.as_deref().map(|v| string(name, v)))
            .collect();
        by_service
            .entry(series.key[0].as_deref())
            .or_default()
            .push(Row {
                attributes,
                values: &series.values,
            });
    }
    if let Some(values) = &table.overflow {
        by_service.entry(None).or_default().push(Row {
            attributes: vec![kv(
                "otel.metric.overflow",
                any_value::Value::BoolValue(true),
            )],
            values,
        });
    }
    let resource_metrics = by_service
        .into_iter()
        .map(|(service, rows)| ResourceMetrics {
            resource: Some(Resource {
                attributes: service
                    .map(|s| vec![string("service.name", s)])
                    .unwrap_or_default(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "llamacol/genai_metrics".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics: metrics(&rows, buckets, now),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

fn metrics(rows: &[Row<'_>], buckets: &Buckets, now: u64) -> Vec<Metric> {
    let mut out = Vec::new();
    let mut token_points = Vec::new();
    for row in rows {
        for (kind, h) in [
            ("input", &row.values.input_tokens),
            ("output", &row.values.output_tokens),
        ] {
            let mut attributes = row.attributes.clone();
            attributes.push(string("gen_ai.token.type", kind));
            token_points.extend(point(
                attributes,
                row.values.start,
                now,
                &buckets.token_usage,
                h,
            ));
        }
    }
    push(
        &mut out,
        (
            "gen_ai.client.token.usage",
            "{token}",
            "Tokens used per GenAI operation, by type (input or output).",
        ),
        token_points,
        histogram,
    );
    type Pick = fn(&Aggregates) -> &Histogram;
    let histograms: [(&str, &str, &[f64], Pick); 3] = [
        ("gen_ai.client.operation.duration", "GenAI operation duration (span duration).", &buckets.operation_duration, |a| &a.duration),
        ("gen_ai.server.time_to_first_token", "Time to the first output token or chunk.", &buckets.time_to_first_token, |a| &a.time_to_first_token),
        ("gen_ai.server.time_per_output_token", "Time per output token after the first: (duration - time to first token) / (output tokens - 1).", &buckets.time_per_output_token, |a| &a.time_per_output_token),
    ];
    for (name, description, bounds, pick) in histograms {
        let points = rows
            .iter()
            .filter_map(|r| {
                point(
                    r.attributes.clone(),
                    r.values.start,
                    now,
                    bounds,
                    pick(r.values),
                )
            })
            .collect();
        push(&mut out, (name, "s", description), points, histogram);
    }
    let requests = rows
        .iter()
        .map(|r| {
            number(
                r,
                now,
                number_data_point::Value::AsInt(r.values.requests as i64),
            )
        })
        .collect();
    push(
        &mut out,
        (
            "gen_ai.requests",
            "{request}",
            "GenAI operations (spans), with error.type when they failed.",
        ),
        requests,
        counter,
    );
    let costs = rows
        .iter()
        .filter_map(|r| {
            r.values
                .cost
                .map(|c| number(r, now, number_data_point::Value::AsDouble(c)))
        })
        .collect();
    push(
        &mut out,
        (
            "gen_ai.usage.cost",
            "USD",
            "Cost of GenAI operations, from the genai processor's pricing.",
        ),
        costs,
        counter,
    );
    out
}

fn point(
    attributes: Vec<KeyValue>,
    start: u64,
    now: u64,
    bounds: &[f64],
    h: &Histogram,
) -> Option<HistogramDataPoint> {
    (h.count > 0).then(|| HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: h.count,
        sum: Some(h.sum),
        bucket_counts: h.counts.clone(),
        explicit_bounds: bounds.to_vec(),
        min: Some(h.min),
        max: Some(h.max),
        ..Default::default()
    })
}

fn number(row: &Row<'_>, now: u64, value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        attributes: row.attributes.clone(),
        start_time_unix_nano: row.values.start,
        time_unix_nano: now,
        value: Some(value),
        ..Default::default()
    }
}

/// Adds a metric holding `points` (none: no metric), wrapped by `data` as its type.
fn push<P>(
    out: &mut Vec<Metric>,
    (name, unit, description): (&str, &str, &str),
    points: Vec<P>,
    data: fn(Vec<P>) -> metric::Data,
) {
    if points.is_empty() {
        return;
    }
    out.push(Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(data(points)),
        ..Default::default()
    });
}

fn histogram(data_points: Vec<HistogramDataPoint>) -> metric::Data {
    metric::Data::Histogram(OtlpHistogram {
        data_points,
        aggregation_temporality: CUMULATIVE,
    })
}

fn counter(data_points: Vec<NumberDataPoint>) -> metric::Data {
    metric::Data::Sum(Sum {
        data_points,
        aggregation_temporality: CUMULATIVE,
        is_monotonic: true,
    })
}
