//! Reading and writing each context's plain fields (everything but attribute maps, the
//! log body and `trace_state`, which the item handles with keys).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use super::Point;
use crate::ottl::error::{Eval, RuntimeError};
use crate::ottl::path::Field;
use crate::ottl::value::Value;

pub(super) fn time(nanos: u64) -> Value {
    Value::Time(nanos as i64)
}

pub(super) fn set_u64(target: &mut u64, v: &Value) {
    if let Value::Int(i) = v {
        *target = *i as u64;
    }
}

pub(super) fn set_time(target: &mut u64, v: &Value) {
    if let Value::Time(t) = v {
        *target = *t as u64;
    }
}

pub(super) fn set_string(target: &mut String, v: Value) {
    if let Value::Str(s) = v {
        *target = s;
    }
}

pub(super) fn set_u32(target: &mut u32, v: &Value) {
    if let Value::Int(i) = v {
        *target = *i as u32;
    }
}

pub(super) fn set_map(target: &mut Vec<KeyValue>, v: Value) {
    if let Value::Map(m) = v {
        *target = m;
    }
}

/// An all-zero id is the empty id (pdata's `IsEmpty`), written as no bytes.
pub(super) fn set_id(target: &mut Vec<u8>, v: Value, len: usize) {
    if let Value::Bytes(b) = v {
        if b.len() == len {
            *target = if b.iter().all(|x| *x == 0) {
                Vec::new()
            } else {
                b
            };
        }
    }
}

pub(super) fn set_id_string(target: &mut Vec<u8>, v: Value, len: usize) -> Eval<()> {
    let Value::Str(s) = v else { return Ok(()) };
    let bytes = crate::wire::unhex(&s)
        .filter(|b| b.len() == len)
        .ok_or_else(|| {
            RuntimeError::new(format!("invalid id {s:?}: expected {} hex digits", len * 2))
        })?;
    *target = bytes;
    Ok(())
}

pub(super) fn id(bytes: &[u8], len: usize) -> Value {
    if bytes.len() == len {
        Value::Bytes(bytes.to_vec())
    } else {
        Value::Bytes(vec![0; len])
    }
}

pub(super) fn id_string(bytes: &[u8]) -> Value {
    if bytes.iter().all(|b| *b == 0) {
        return Value::Str(String::new());
    }
    Value::Str(crate::wire::hex(bytes))
}

const KIND_NAMES: [&str; 6] = [
    "Unspecified",
    "Internal",
    "Server",
    "Client",
    "Producer",
    "Consumer",
];
/// The span kinds' enum names, by kind number (OTTL's enums, the `attributes` processor's
/// `span_kinds`).
pub const KIND_ENUMS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

pub(super) fn span_field(span: &Span, field: Field) -> Value {
    use Field::*;
    let status = span.status.clone().unwrap_or_default();
    match field {
        SpanTraceId => id(&span.trace_id, 16),
        SpanTraceIdString => id_string(&span.trace_id),
        SpanSpanId => id(&span.span_id, 8),
        SpanSpanIdString => id_string(&span.span_id),
        SpanParentSpanId => id(&span.parent_span_id, 8),
        SpanParentSpanIdString => id_string(&span.parent_span_id),
        SpanName => Value::Str(span.name.clone()),
        SpanKind => Value::Int(span.kind.into()),
        SpanKindString => Value::Str(
            KIND_NAMES
                .get(span.kind as usize)
                .unwrap_or(&"")
                .to_string(),
        ),
        SpanKindDeprecatedString => Value::Str(
            KIND_ENUMS
                .get(span.kind as usize)
                .unwrap_or(&"")
                .to_string(),
        ),
        SpanStartTimeUnixNano => Value::Int(span.start_time_unix_nano as i64),
        SpanEndTimeUnixNano => Value::Int(span.end_time_unix_nano as i64),
        SpanStartTime => time(span.start_time_unix_nano),
        SpanEndTime => time(span.end_time_unix_nano),
        SpanDroppedAttributesCount => Value::Int(span.dropped_attributes_count.into()),
        SpanDroppedEventsCount => Value::Int(span.dropped_events_count.into()),
        SpanDroppedLinksCount => Value::Int(span.dropped_links_count.into()),
        SpanStatusCode => Value::Int(status.code.into()),
        SpanStatusMessage => Value::Str(status.message),
        _ => Value::Int(span.flags.into()),
    }
}

pub(super) fn set_span_field(span: &mut Span, field: Field, v: Value) -> Eval<()> {
    use Field::*;
    match field {
        SpanTraceId => set_id(&mut span.trace_id, v, 16),
        SpanTraceIdString => set_id_string(&mut span.trace_id, v, 16)?,
        SpanSpanId => set_id(&mut span.span_id, v, 8),
        SpanSpanIdString => set_id_string(&mut span.span_id, v, 8)?,
        SpanParentSpanId => set_id(&mut span.parent_span_id, v, 8),
        SpanParentSpanIdString => set_id_string(&mut span.parent_span_id, v, 8)?,
        SpanName => set_string(&mut span.name, v),
        SpanKind => {
            if let Value::Int(i) = v {
                span.kind = i as i32;
            }
        }
        SpanKindString | SpanKindDeprecatedString => {
            if let Value::Str(s) = v {
                let names = if field == SpanKindString {
                    KIND_NAMES
                } else {
                    KIND_ENUMS
                };
                if let Some(i) = names.iter().position(|n| *n == s) {
                    span.kind = i as i32;
                }
            }
        }
        SpanStartTimeUnixNano => set_u64(&mut span.start_time_unix_nano, &v),
        SpanEndTimeUnixNano => set_u64(&mut span.end_time_unix_nano, &v),
        SpanStartTime => set_time(&mut span.start_time_unix_nano, &v),
        SpanEndTime => set_time(&mut span.end_time_unix_nano, &v),
        SpanDroppedAttributesCount => set_u32(&mut span.dropped_attributes_count, &v),
        SpanDroppedEventsCount => set_u32(&mut span.dropped_events_count, &v),
        SpanDroppedLinksCount => set_u32(&mut span.dropped_links_count, &v),
        SpanStatusCode => {
            if let Value::Int(i) = v {
                span.status.get_or_insert_with(Status::default).code = i as i32;
            }
        }
        SpanStatusMessage => {
            if let Value::Str(s) = v {
                span.status.get_or_insert_with(Status::default).message = s;
            }
        }
        _ => set_u32(&mut span.flags, &v),
    }
    Ok(())
}

pub(super) fn log_field(log: &LogRecord, field: Field) -> Value {
    use Field::*;
    match field {
        LogTimeUnixNano => Value::Int(log.time_unix_nano as i64),
        LogObservedTimeUnixNano => Value::Int(log.observed_time_unix_nano as i64),
        LogTime => time(log.time_unix_nano),
        LogObservedTime => time(log.observed_time_unix_nano),
        LogSeverityNumber => Value::Int(log.severity_number.into()),
        LogSeverityText => Value::Str(log.severity_text.clone()),
        LogBodyString => Value::Str(
            log.body
                .as_ref()
                .map(crate::ottl::functions::types::as_go_string)
                .unwrap_or_default(),
        ),
        LogDroppedAttributesCount => Value::Int(log.dropped_attributes_count.into()),
        LogFlags => Value::Int(log.flags.into()),
        LogTraceId => id(&log.trace_id, 16),
        LogTraceIdString => id_string(&log.trace_id),
        LogSpanId => id(&log.span_id, 8),
        LogSpanIdString => id_string(&log.span_id),
        _ => Value::Str(log.event_name.clone()),
    }
}

pub(super) fn set_log_field(log: &mut LogRecord, field: Field, v: Value) -> Eval<()> {
    use Field::*;
    match field {
        LogTimeUnixNano => set_u64(&mut log.time_unix_nano, &v),
        LogObservedTimeUnixNano => set_u64(&mut log.observed_time_unix_nano, &v),
        LogTime => set_time(&mut log.time_unix_nano, &v),
        LogObservedTime => set_time(&mut log.observed_time_unix_nano, &v),
        LogSeverityNumber => {
            if let Value::Int(i) = v {
                log.severity_number = i as i32;
            }
        }
        LogSeverityText => set_string(&mut log.severity_text, v),
        LogBodyString => {
            if let Value::Str(s) = v {
                log.body = Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s)),
                });
            }
        }
        LogDroppedAttributesCount => set_u32(&mut log.dropped_attributes_count, &v),
        LogFlags => set_u32(&mut log.flags, &v),
        LogTraceId => set_id(&mut log.trace_id, v, 16),
        LogTraceIdString => set_id_string(&mut log.trace_id, v, 16)?,
        LogSpanId => set_id(&mut log.span_id, v, 8),
        LogSpanIdString => set_id_string(&mut log.span_id, v, 8)?,
        _ => set_string(&mut log.event_name, v),
    }
    Ok(())
}

/// The metric's type as the Collector's `pmetric.MetricType` numbers it.
pub(super) fn metric_type(metric: &Metric) -> i64 {
    match &metric.data {
        None => 0,
        Some(Data::Gauge(_)) => 1,
        Some(Data::Sum(_)) => 2,
        Some(Data::Histogram(_)) => 3,
        Some(Data::ExponentialHistogram(_)) => 4,
        Some(Data::Summary(_)) => 5,
    }
}

pub(super) fn metric_field(metric: &Metric, field: Field) -> Value {
    use Field::*;
    match field {
        MetricName => Value::Str(metric.name.clone()),
        MetricDescription => Value::Str(metric.description.clone()),
        MetricUnit => Value::Str(metric.unit.clone()),
        MetricType => Value::Int(metric_type(metric)),
        MetricAggregationTemporality => Value::Int(match &metric.data {
            Some(Data::Sum(s)) => s.aggregation_temporality.into(),
            Some(Data::Histogram(h)) => h.aggregation_temporality.into(),
            Some(Data::ExponentialHistogram(h)) => h.aggregation_temporality.into(),
            _ => 0,
        }),
        _ => Value::Bool(matches!(&metric.data, Some(Data::Sum(s)) if s.is_monotonic)),
    }
}

pub(super) fn set_metric_field(metric: &mut Metric, field: Field, v: Value) {
    use Field::*;
    match field {
        MetricName => set_string(&mut metric.name, v),
        MetricDescription => set_string(&mut metric.description, v),
        MetricUnit => set_string(&mut metric.unit, v),
        MetricAggregationTemporality => {
            if let Value::Int(i) = v {
                match &mut metric.data {
                    Some(Data::Sum(s)) => s.aggregation_temporality = i as i32,
                    Some(Data::Histogram(h)) => h.aggregation_temporality = i as i32,
                    Some(Data::ExponentialHistogram(h)) => h.aggregation_temporality = i as i32,
                    _ => {}
                }
            }
        }
        MetricIsMonotonic => {
            if let (Value::Bool(b), Some(Data::Sum(s))) = (v, &mut metric.data) {
                s.is_monotonic = b;
            }
        }
        // The type changes only through the metric-conversion functions.
        _ => {}
    }
}

pub(super) fn point_field(point: &Point, field: Field) -> Value {
    use Field::*;
    let (start, time_ns, flags) = match point {
        Point::Number(p) => (p.start_time_unix_nano, p.time_unix_nano, p.flags),
        Point::Histogram(p) => (p.start_time_unix_nano, p.time_unix_nano, p.flags),
        Point::Exponential(p) => (p.start_time_unix_nano, p.time_unix_nano, p.flags),
        Point::Summary(p) => (p.start_time_unix_nano, p.time_unix_nano, p.flags),
    };
    match (field, point) {
        (PointStartTimeUnixNano, _) => Value::Int(start as i64),
        (PointTimeUnixNano, _) => Value::Int(time_ns as i64),
        (PointStartTime, _) => time(start),
        (PointTime, _) => time(time_ns),
        (PointFlags, _) => Value::Int(flags.into()),
        (PointValueDouble, Point::Number(p)) => match p.value {
            Some(number_data_point::Value::AsDouble(d)) => Value::Double(d),
            _ => Value::Double(0.0),
        },
        (PointValueInt, Point::Number(p)) => match p.value {
            Some(number_data_point::Value::AsInt(i)) => Value::Int(i),
            _ => Value::Int(0),
        },
        (PointCount, Point::Histogram(p)) => Value::Int(p.count as i64),
        (PointCount, Point::Exponential(p)) => Value::Int(p.count as i64),
        (PointCount, Point::Summary(p)) => Value::Int(p.count as i64),
        (PointSum, Point::Histogram(p)) => Value::Double(p.sum.unwrap_or(0.0)),
        (PointSum, Point::Exponential(p)) => Value::Double(p.sum.unwrap_or(0.0)),
        (PointSum, Point::Summary(p)) => Value::Double(p.sum),
        (PointBucketCounts, Point::Histogram(p)) => Value::List(
            p.bucket_counts
                .iter()
                .map(|c| Value::Int(*c as i64).into_any())
                .collect(),
        ),
        (PointExplicitBounds, Point::Histogram(p)) => Value::List(
            p.explicit_bounds
                .iter()
                .map(|b| Value::Double(*b).into_any())
                .collect(),
        ),
        (PointScale, Point::Exponential(p)) => Value::Int(p.scale.into()),
        (PointZeroCount, Point::Exponential(p)) => Value::Int(p.zero_count as i64),
        _ => Value::Nil,
    }
}

pub(super) fn set_point_field(point: &mut Point, field: Field, v: Value) {
    use Field::*;
    let (start, time_ns, flags) = match point {
        Point::Number(p) => (
            &mut p.start_time_unix_nano,
            &mut p.time_unix_nano,
            &mut p.flags,
        ),
        Point::Histogram(p) => (
            &mut p.start_time_unix_nano,
            &mut p.time_unix_nano,
            &mut p.flags,
        ),
        Point::Exponential(p) => (
            &mut p.start_time_unix_nano,
            &mut p.time_unix_nano,
            &mut p.flags,
        ),
        Point::Summary(p) => (
            &mut p.start_time_unix_nano,
            &mut p.time_unix_nano,
            &mut p.flags,
        ),
    };
    match field {
        PointStartTimeUnixNano => return set_u64(start, &v),
        PointTimeUnixNano => return set_u64(time_ns, &v),
        PointStartTime => return set_time(start, &v),
        PointTime => return set_time(time_ns, &v),
        PointFlags => return set_u32(flags, &v),
        _ => {}
    }
    match (field, point, v) {
        (PointValueDouble, Point::Number(p), Value::Double(d)) => {
            p.value = Some(number_data_point::Value::AsDouble(d))
        }
        (PointValueInt, Point::Number(p), Value::Int(i)) => {
            p.value = Some(number_data_point::Value::AsInt(i))
        }
        (PointCount, Point::Histogram(p), Value::Int(i)) => p.count = i as u64,
        (PointCount, Point::Exponential(p), Value::Int(i)) => p.count = i as u64,
        (PointCount, Point::Summary(p), Value::Int(i)) => p.count = i as u64,
        (PointSum, Point::Histogram(p), Value::Double(d)) => p.sum = Some(d),
        (PointSum, Point::Exponential(p), Value::Double(d)) => p.sum = Some(d),
        (PointSum, Point::Summary(p), Value::Double(d)) => p.sum = d,
        (PointBucketCounts, Point::Histogram(p), Value::List(l)) => {
            p.bucket_counts = l
                .iter()
                .filter_map(|v| match v.value {
                    Some(any_value::Value::IntValue(i)) => Some(i as u64),
                    _ => None,
                })
                .collect()
        }
        (PointExplicitBounds, Point::Histogram(p), Value::List(l)) => {
            p.explicit_bounds = l
                .iter()
                .filter_map(|v| match v.value {
                    Some(any_value::Value::DoubleValue(d)) => Some(d),
                    _ => None,
                })
                .collect()
        }
        (PointScale, Point::Exponential(p), Value::Int(i)) => p.scale = i as i32,
        (PointZeroCount, Point::Exponential(p), Value::Int(i)) => p.zero_count = i as u64,
        _ => {}
    }
}
