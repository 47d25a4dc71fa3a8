//! The table as one OTLP metrics request: cumulative, one resource per set of resource
//! keys, the instruments of the GenAI conventions (model/gen-ai/metrics.yaml of the
//! pinned revision, see README) with the attributes each one has there, plus
//! `gen_ai.requests` and `gen_ai.usage.cost`.

use std::collections::BTreeMap;

use llamacol_api::attributes::{kv, string};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram as OtlpHistogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use llamacol_api::otlp::resource::v1::Resource;

use super::config::{Buckets, Dimension, FIXED_ATTRIBUTES, RESOURCE_KEYS};
use super::facts::{FIXED, OPERATION, SIDE};
use super::series::{Aggregates, Histogram, Table};

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

/// What a span is, for the instruments that read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// A model call seen by its client (CLIENT or INTERNAL span).
    ClientCall,
    /// A model call seen by the server (SERVER span).
    ServerCall,
    Agent,
    Tool,
    Workflow,
    /// Every GenAI span.
    Any,
    /// Every model call, either side.
    Call,
}

#[derive(Debug, Clone, Copy)]
enum Measure {
    Tokens,
    Duration,
    FirstChunk,
    PerOutput,
    Requests,
    Cost,
}

struct Instrument {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    reads: Reads,
    measure: Measure,
    /// Indexes into FIXED_ATTRIBUTES the conventions give this instrument.
    attributes: &'static [usize],
}

// FIXED_ATTRIBUTES: 0 operation, 1 provider, 2 request model, 3 response model,
// 4 server.address, 5 server.port, 6 error.type, 7 agent, 8 tool, 9 workflow.
const CALL: &[usize] = &[0, 1, 2, 3, 4, 5];
const CALL_ERROR: &[usize] = &[0, 1, 2, 3, 4, 5, 6];
const AGENT: &[usize] = &[0, 1, 2, 6, 7];
const TOOL: &[usize] = &[0, 6, 8];
const WORKFLOW: &[usize] = &[0, 6, 9];
const ALL: &[usize] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

#[rustfmt::skip]
const INSTRUMENTS: &[Instrument] = &[
    Instrument { name: "gen_ai.client.token.usage", unit: "{token}", description: "Number of input and output tokens used.", reads: Reads::ClientCall, measure: Measure::Tokens, attributes: CALL },
    Instrument { name: "gen_ai.client.operation.duration", unit: "s", description: "GenAI operation duration.", reads: Reads::ClientCall, measure: Measure::Duration, attributes: CALL_ERROR },
    Instrument { name: "gen_ai.client.operation.time_to_first_chunk", unit: "s", description: "Time to receive the first chunk of a streaming response.", reads: Reads::ClientCall, measure: Measure::FirstChunk, attributes: CALL },
    Instrument { name: "gen_ai.client.operation.time_per_output_chunk", unit: "s", description: "Time per output chunk after the first, from the end of the previous chunk.", reads: Reads::ClientCall, measure: Measure::PerOutput, attributes: CALL },
    Instrument { name: "gen_ai.server.request.duration", unit: "s", description: "Generative AI server request duration.", reads: Reads::ServerCall, measure: Measure::Duration, attributes: CALL_ERROR },
    Instrument { name: "gen_ai.server.time_to_first_token", unit: "s", description: "Time to generate first token for successful responses.", reads: Reads::ServerCall, measure: Measure::FirstChunk, attributes: CALL },
    Instrument { name: "gen_ai.server.time_per_output_token", unit: "s", description: "Time per output token generated after the first token for successful responses.", reads: Reads::ServerCall, measure: Measure::PerOutput, attributes: CALL },
    Instrument { name: "gen_ai.invoke_agent.duration", unit: "s", description: "The end-to-end duration of a single agent invocation.", reads: Reads::Agent, measure: Measure::Duration, attributes: AGENT },
    Instrument { name: "gen_ai.execute_tool.duration", unit: "s", description: "The duration of a single tool execution.", reads: Reads::Tool, measure: Measure::Duration, attributes: TOOL },
    Instrument { name: "gen_ai.workflow.duration", unit: "s", description: "GenAI workflow duration.", reads: Reads::Workflow, measure: Measure::Duration, attributes: WORKFLOW },
    Instrument { name: "gen_ai.requests", unit: "{request}", description: "GenAI operations (spans), with error.type when they failed.", reads: Reads::Any, measure: Measure::Requests, attributes: ALL },
    Instrument { name: "gen_ai.usage.cost", unit: "USD", description: "Cost of GenAI operations, from the genai processor's pricing.", reads: Reads::Call, measure: Measure::Cost, attributes: CALL },
];

/// What a series' key says its spans are.
fn kind_of(key: &[Option<String>]) -> Reads {
    match key[FIXED + OPERATION].as_deref() {
        Some("invoke_agent") => Reads::Agent,
        Some("execute_tool") => Reads::Tool,
        Some("invoke_workflow") => Reads::Workflow,
        _ if key[SIDE].is_some() => Reads::ServerCall,
        _ => Reads::ClientCall,
    }
}

fn reads(instrument: Reads, span: Reads) -> bool {
    instrument == span
        || instrument == Reads::Any
        || (instrument == Reads::Call && matches!(span, Reads::ClientCall | Reads::ServerCall))
}

/// One series as the instruments see it.
struct Row<'a> {
    kind: Reads,
    key: Option<&'a [Option<String>]>,
    values: &'a Aggregates,
}

pub fn request(
    table: &Table,
    dimensions: &[Dimension],
    buckets: &Buckets,
    now: u64,
) -> ExportMetricsServiceRequest {
    // The resource keys' values -> the rows under that resource.
    let mut by_resource: BTreeMap<Vec<Option<&str>>, Vec<Row<'_>>> = BTreeMap::new();
    for series in &table.series {
        let resource = series.key[..RESOURCE_KEYS.len()]
            .iter()
            .map(|v| v.as_deref())
            .collect();
        by_resource.entry(resource).or_default().push(Row {
            kind: kind_of(&series.key),
            key: Some(&series.key),
            values: &series.values,
        });
    }
    if let Some(values) = &table.overflow {
        by_resource.entry(Vec::new()).or_default().push(Row {
            kind: Reads::ClientCall,
            key: None,
            values,
        });
    }
    let resource_metrics = by_resource
        .into_iter()
        .map(|(resource, rows)| ResourceMetrics {
            resource: Some(Resource {
                attributes: RESOURCE_KEYS
                    .iter()
                    .zip(&resource)
                    .filter_map(|(k, v)| v.map(|v| string(k, v)))
                    .collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "llamacol/genai_metrics".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics: INSTRUMENTS
                    .iter()
                    .filter_map(|i| metric(i, &rows, dimensions, buckets, now))
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// A row's values of `instrument`'s attributes (its fixed ones, then the dimensions);
/// `None` for the overflow row.
fn projection<'a>(instrument: &Instrument, row: &Row<'a>) -> Option<Vec<Option<&'a str>>> {
    let fixed = &row.key?[FIXED..];
    let dims = &fixed[FIXED_ATTRIBUTES.len()..];
    Some(
        instrument
            .attributes
            .iter()
            .map(|&i| fixed[i].as_deref())
            .chain(dims.iter().map(|v| v.as_deref()))
            .collect(),
    )
}

/// The attributes of a projection (`None`: the overflow series').
fn attributes(
    instrument: &Instrument,
    values: Option<&[Option<&str>]>,
    dimensions: &[Dimension],
) -> Vec<KeyValue> {
    let Some(values) = values else {
        return vec![kv(
            "otel.metric.overflow",
            any_value::Value::BoolValue(true),
        )];
    };
    let names = instrument
        .attributes
        .iter()
        .map(|&i| FIXED_ATTRIBUTES[i])
        .chain(dimensions.iter().map(|d| d.name.as_str()));
    names
        .zip(values)
        .filter_map(|(name, v)| {
            let v = (*v)?;
            Some(match name {
                // An integer in the conventions.
                "server.port" => match v.parse::<i64>() {
                    Ok(port) => kv(name, any_value::Value::IntValue(port)),
                    Err(_) => string(name, v),
                },
                _ => string(name, v),
            })
        })
        .collect()
}

/// Rows with equal attributes for an instrument are one point (a series split by an
/// attribute the instrument does not carry, e.g. error.type for token usage).
#[derive(Default)]
struct Point {
    start: u64,
    histogram: Histogram,
    count: u64,
    sum: Option<f64>,
}

fn metric<'a>(
    instrument: &Instrument,
    rows: &[Row<'a>],
    dimensions: &[Dimension],
    buckets: &Buckets,
    now: u64,
) -> Option<Metric> {
    // (Attribute values, token type) -> the point.
    type Key<'k> = (Option<Vec<Option<&'k str>>>, &'static str);
    let mut points: BTreeMap<Key<'a>, Point> = BTreeMap::new();
    let mut add = |key: Key<'a>, start: u64, fill: &dyn Fn(&mut Point)| {
        let point = points.entry(key).or_insert_with(|| Point {
            start,
            ..Point::default()
        });
        point.start = point.start.min(start);
        fill(point);
    };
    for row in rows.iter().filter(|r| reads(instrument.reads, r.kind)) {
        let v = row.values;
        let values = projection(instrument, row);
        match instrument.measure {
            Measure::Tokens => {
                for (kind, h) in [("input", &v.input_tokens), ("output", &v.output_tokens)] {
                    if h.count > 0 {
                        add((values.clone(), kind), v.start, &|p| p.histogram.merge(h));
                    }
                }
            }
            Measure::Duration | Measure::FirstChunk | Measure::PerOutput => {
                let h = match instrument.measure {
                    Measure::Duration => &v.duration,
                    Measure::FirstChunk => &v.time_to_first_token,
                    _ => &v.time_per_output_token,
                };
                if h.count > 0 {
                    add((values, ""), v.start, &|p| p.histogram.merge(h));
                }
            }
            Measure::Requests => add((values, ""), v.start, &|p| p.count += v.requests),
            Measure::Cost => {
                if let Some(cost) = v.cost {
                    add((values, ""), v.start, &|p| {
                        *p.sum.get_or_insert(0.0) += cost
                    });
                }
            }
        }
    }
    if points.is_empty() {
        return None;
    }
    let bounds: &[f64] = match instrument.measure {
        Measure::Tokens => &buckets.token_usage,
        Measure::Duration => &buckets.operation_duration,
        Measure::FirstChunk => &buckets.time_to_first_token,
        _ => &buckets.time_per_output_token,
    };
    let points = points.into_iter().map(|((values, token_type), p)| {
        let mut attributes = attributes(instrument, values.as_deref(), dimensions);
        if !token_type.is_empty() {
            attributes.push(string("gen_ai.token.type", token_type));
        }
        (attributes, p)
    });
    let data = match instrument.measure {
        Measure::Requests | Measure::Cost => metric::Data::Sum(Sum {
            data_points: points
                .map(|(attributes, p)| NumberDataPoint {
                    attributes,
                    start_time_unix_nano: p.start,
                    time_unix_nano: now,
                    value: Some(match p.sum {
                        Some(sum) => number_data_point::Value::AsDouble(sum),
                        None => number_data_point::Value::AsInt(p.count as i64),
                    }),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: CUMULATIVE,
            is_monotonic: true,
        }),
        _ => metric::Data::Histogram(OtlpHistogram {
            data_points: points
                .map(|(attributes, p)| HistogramDataPoint {
                    attributes,
                    start_time_unix_nano: p.start,
                    time_unix_nano: now,
                    count: p.histogram.count,
                    sum: Some(p.histogram.sum),
                    bucket_counts: p.histogram.counts,
                    explicit_bounds: bounds.to_vec(),
                    min: Some(p.histogram.min),
                    max: Some(p.histogram.max),
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: CUMULATIVE,
        }),
    };
    Some(Metric {
        name: instrument.name.into(),
        unit: instrument.unit.into(),
        description: instrument.description.into(),
        data: Some(data),
        ..Default::default()
    })
}
