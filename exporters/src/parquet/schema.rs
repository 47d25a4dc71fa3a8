//! The fixed tables (README, "Parquet schema"): one row per span, per metric data point,
//! per log record, built with Arrow builders. Attribute maps are `map<string,string>`
//! (non-string values as JSON text, as our other exporters print them); ids are lowercase
//! hex; times are UTC nanosecond timestamps; a string that is not valid UTF-8 cannot
//! reach here (the OTLP decoder refuses it), and NaN is written as NaN.

use super::raw;
use llamacol_pipeline::wire::hex;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, MapBuilder, RecordBatch, StringBuilder, StructBuilder, TimestampNanosecondBuilder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use llamacol_pipeline::attributes::value_string;
use llamacol_pipeline::otlp::common::v1::{any_value::Value, InstrumentationScope, KeyValue};
use llamacol_pipeline::otlp::resource::v1::Resource;

/// Written into each file's key-value metadata.
pub const SCHEMA_VERSION: &str = "1";

type Attrs = MapBuilder<StringBuilder, StringBuilder>;

fn attrs_builder() -> Attrs {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

fn ts_builder() -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::new().with_timezone("UTC")
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn map_type() -> DataType {
    arrow::array::Array::data_type(&attrs_builder().finish()).clone()
}

/// A struct column's field builder (of the type it was created with).
fn field<T: ArrayBuilder>(st: &mut StructBuilder, i: usize) -> &mut T {
    st.field_builder::<T>(i)
        .unwrap_or_else(|| unreachable!("struct field {i} is built with its own builder type"))
}

fn put_attrs(b: &mut Attrs, attrs: &[KeyValue]) {
    for kv in attrs {
        b.keys().append_value(&kv.key);
        // Strings (nearly every value) are copied straight in; others printed first.
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => b.values().append_value(s),
            _ => b
                .values()
                .append_value(kv.value.as_ref().map(value_string).unwrap_or_default()),
        }
    }
    // A map entry list is always valid (possibly empty).
    let _ = b.append(true);
}

fn service_name(resource: Option<&Resource>) -> Option<String> {
    resource?
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .map(value_string)
}

/// Builds record batches of one table from named columns, in order.
struct Table {
    columns: Vec<(&'static str, bool, Box<dyn ArrayBuilder>)>,
}

impl Table {
    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (name, nullable, builder) in &mut self.columns {
            let array = builder.finish();
            fields.push(Field::new(
                *name,
                arrow::array::Array::data_type(&array).clone(),
                *nullable,
            ));
            arrays.push(array);
        }
        let schema = Arc::new(Schema::new(fields));
        RecordBatch::try_new(schema, arrays)
    }

    fn col<T: ArrayBuilder>(&mut self, i: usize) -> &mut T {
        self.columns[i]
            .2
            .as_any_mut()
            .downcast_mut::<T>()
            .unwrap_or_else(|| unreachable!("column {i} is built with its own builder type"))
    }
}

/// One span's row, with its resource and scope: the encoded messages' bodies, read in
/// place (`raw`).
pub struct SpanRow<'a> {
    pub resource: &'a [u8],
    /// The scope's name and version, read once per scope.
    pub scope_name: &'a [u8],
    pub scope_version: &'a [u8],
    pub span: &'a [u8],
}

/// Appends encoded `KeyValue`s as one map entry list, read in place, and hands each
/// (key, value) to `seen`.
fn put_raw_attrs<'a>(
    b: &mut Attrs,
    key_values: impl IntoIterator<Item = &'a [u8]>,
    mut seen: impl FnMut(&'a [u8], Option<&'a [u8]>),
) {
    for kv in key_values {
        let (key, value) = raw::key_value(kv);
        b.keys().append_value(raw::text(key));
        raw::append_value(b.values(), value);
        seen(key, value);
    }
    // A map entry list is always valid (possibly empty).
    let _ = b.append(true);
}

/// The span attributes promoted to their own columns, in column order.
const PROMOTED: [&str; 7] = [
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "error.type",
];

/// A promoted token count: integers as they are, doubles truncated, numeric strings parsed.
fn promoted_int(value: &[u8]) -> Option<i64> {
    match raw::scalar(value) {
        raw::Scalar::Int(i) => Some(i),
        raw::Scalar::Double(d) => Some(d as i64),
        raw::Scalar::Str(s) => std::str::from_utf8(s).ok()?.parse().ok(),
        _ => None,
    }
}

fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", ts_type(), true),
        Field::new("name", DataType::Utf8, true),
        Field::new("attributes", map_type(), true),
    ])
}

fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::Utf8, true),
        Field::new("span_id", DataType::Utf8, true),
        Field::new("trace_state", DataType::Utf8, true),
        Field::new("attributes", map_type(), true),
    ])
}

const SPAN_KINDS: [&str; 6] = [
    "UNSPECIFIED",
    "INTERNAL",
    "SERVER",
    "CLIENT",
    "PRODUCER",
    "CONSUMER",
];
const STATUS_CODES: [&str; 3] = ["UNSET", "OK", "ERROR"];

pub fn spans(rows: &[SpanRow]) -> Result<RecordBatch, arrow::error::ArrowError> {
    // Sized up front: the attribute map's text is most of a span, and growing its buffers
    // by doubling was a copy of everything appended so far each time.
    let span_bytes: usize = rows.iter().map(|r| r.span.len()).sum();
    let mut t = Table {
        columns: vec![
            ("trace_id", false, Box::new(StringBuilder::new())),
            ("span_id", false, Box::new(StringBuilder::new())),
            ("parent_span_id", true, Box::new(StringBuilder::new())),
            ("trace_state", false, Box::new(StringBuilder::new())),
            ("name", false, Box::new(StringBuilder::new())),
            ("kind", false, Box::new(StringBuilder::new())),
            ("start_time", false, Box::new(ts_builder())),
            ("end_time", false, Box::new(ts_builder())),
            ("duration_ns", false, Box::new(Int64Builder::new())),
            ("status_code", false, Box::new(StringBuilder::new())),
            ("status_message", false, Box::new(StringBuilder::new())),
            ("service_name", true, Box::new(StringBuilder::new())),
            ("resource_attributes", false, Box::new(attrs_builder())),
            ("scope_name", false, Box::new(StringBuilder::new())),
            ("scope_version", false, Box::new(StringBuilder::new())),
            (
                "attributes",
                false,
                Box::new(MapBuilder::with_capacity(
                    None,
                    StringBuilder::with_capacity(rows.len() * 8, span_bytes / 2),
                    StringBuilder::with_capacity(rows.len() * 8, span_bytes / 2),
                    rows.len(),
                )),
            ),
            (
                "events",
                false,
                Box::new(ListBuilder::new(StructBuilder::new(
                    event_fields(),
                    vec![
                        Box::new(ts_builder()),
                        Box::new(StringBuilder::new()),
                        Box::new(attrs_builder()),
                    ],
                ))),
            ),
            (
                "links",
                false,
                Box::new(ListBuilder::new(StructBuilder::new(
                    link_fields(),
                    vec![
                        Box::new(StringBuilder::new()),
                        Box::new(StringBuilder::new()),
                        Box::new(StringBuilder::new()),
                        Box::new(attrs_builder()),
                    ],
                ))),
            ),
            (
                "gen_ai_operation_name",
                true,
                Box::new(StringBuilder::new()),
            ),
            ("gen_ai_provider_name", true, Box::new(StringBuilder::new())),
            ("gen_ai_request_model", true, Box::new(StringBuilder::new())),
            (
                "gen_ai_response_model",
                true,
                Box::new(StringBuilder::new()),
            ),
            (
                "gen_ai_usage_input_tokens",
                true,
                Box::new(Int64Builder::new()),
            ),
            (
                "gen_ai_usage_output_tokens",
                true,
                Box::new(Int64Builder::new()),
            ),
            ("error_type", true, Box::new(StringBuilder::new())),
        ],
    };
    let mut lists = raw::SpanLists::default();
    for r in rows {
        let s = raw::Span::read(r.span, &mut lists);
        raw::append_hex(t.col::<StringBuilder>(0), s.trace_id);
        raw::append_hex(t.col::<StringBuilder>(1), s.span_id);
        if s.parent_span_id.is_empty() {
            t.col::<StringBuilder>(2).append_null();
        } else {
            raw::append_hex(t.col::<StringBuilder>(2), s.parent_span_id);
        }
        t.col::<StringBuilder>(3)
            .append_value(raw::text(s.trace_state));
        t.col::<StringBuilder>(4).append_value(raw::text(s.name));
        t.col::<StringBuilder>(5).append_value(
            SPAN_KINDS
                .get(s.kind as usize)
                .copied()
                .unwrap_or("UNSPECIFIED"),
        );
        t.col::<TimestampNanosecondBuilder>(6)
            .append_value(s.start as i64);
        t.col::<TimestampNanosecondBuilder>(7)
            .append_value(s.end as i64);
        t.col::<Int64Builder>(8)
            .append_value(s.end as i64 - s.start as i64);
        t.col::<StringBuilder>(9).append_value(
            STATUS_CODES
                .get(s.status_code as usize)
                .copied()
                .unwrap_or("UNSET"),
        );
        t.col::<StringBuilder>(10)
            .append_value(raw::text(s.status_message));
        let mut service = None;
        put_raw_attrs(t.col::<Attrs>(12), raw::repeated(r.resource, 1), |k, v| {
            if k == b"service.name" && service.is_none() {
                service = Some(v.map(raw::value_text).unwrap_or_default());
            }
        });
        t.col::<StringBuilder>(11).append_option(service);
        t.col::<StringBuilder>(13)
            .append_value(raw::text(r.scope_name));
        t.col::<StringBuilder>(14)
            .append_value(raw::text(r.scope_version));
        let mut promoted: [Option<&[u8]>; 7] = [None; 7];
        put_raw_attrs(
            t.col::<Attrs>(15),
            lists.attributes.iter().copied(),
            |k, v| {
                if let Some(i) = PROMOTED.iter().position(|p| p.as_bytes() == k) {
                    promoted[i] = promoted[i].or(Some(v.unwrap_or_default()));
                }
            },
        );
        {
            let events = t.col::<ListBuilder<StructBuilder>>(16);
            for e in &lists.events {
                let st = events.values();
                let time = raw::each(e)
                    .filter(|(n, w, _)| *n == 1 && *w == 1)
                    .map(|(_, _, b)| raw::fixed64(b))
                    .last()
                    .unwrap_or(0);
                field::<TimestampNanosecondBuilder>(st, 0).append_value(time as i64);
                field::<StringBuilder>(st, 1).append_value(raw::text(raw::single(e, 2)));
                put_raw_attrs(field::<Attrs>(st, 2), raw::repeated(e, 3), |_, _| {});
                st.append(true);
            }
            events.append(true);
        }
        {
            let links = t.col::<ListBuilder<StructBuilder>>(17);
            for l in &lists.links {
                let st = links.values();
                raw::append_hex(field::<StringBuilder>(st, 0), raw::single(l, 1));
                raw::append_hex(field::<StringBuilder>(st, 1), raw::single(l, 2));
                field::<StringBuilder>(st, 2).append_value(raw::text(raw::single(l, 3)));
                put_raw_attrs(field::<Attrs>(st, 3), raw::repeated(l, 4), |_, _| {});
                st.append(true);
            }
            links.append(true);
        }
        for (i, column) in [18, 19, 20, 21].into_iter().enumerate() {
            t.col::<StringBuilder>(column)
                .append_option(promoted[i].map(raw::value_text));
        }
        t.col::<Int64Builder>(22)
            .append_option(promoted[4].and_then(promoted_int));
        t.col::<Int64Builder>(23)
            .append_option(promoted[5].and_then(promoted_int));
        t.col::<StringBuilder>(24)
            .append_option(promoted[6].map(raw::value_text));
    }
    t.finish()
}

/// One log record's row.
pub struct LogRow<'a> {
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
    pub record: &'a llamacol_pipeline::otlp::logs::v1::LogRecord,
}

pub fn logs(rows: &[LogRow]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut t = Table {
        columns: vec![
            ("time", true, Box::new(ts_builder())),
            ("observed_time", true, Box::new(ts_builder())),
            ("severity_number", false, Box::new(Int32Builder::new())),
            ("severity_text", false, Box::new(StringBuilder::new())),
            ("body", true, Box::new(StringBuilder::new())),
            ("trace_id", true, Box::new(StringBuilder::new())),
            ("span_id", true, Box::new(StringBuilder::new())),
            ("attributes", false, Box::new(attrs_builder())),
            ("event_name", false, Box::new(StringBuilder::new())),
            ("service_name", true, Box::new(StringBuilder::new())),
            ("resource_attributes", false, Box::new(attrs_builder())),
            ("scope_name", false, Box::new(StringBuilder::new())),
        ],
    };
    let time = |ns: u64| (ns != 0).then_some(ns as i64);
    for r in rows {
        let l = r.record;
        t.col::<TimestampNanosecondBuilder>(0)
            .append_option(time(l.time_unix_nano));
        t.col::<TimestampNanosecondBuilder>(1)
            .append_option(time(l.observed_time_unix_nano));
        t.col::<Int32Builder>(2).append_value(l.severity_number);
        t.col::<StringBuilder>(3).append_value(&l.severity_text);
        t.col::<StringBuilder>(4)
            .append_option(l.body.as_ref().map(value_string));
        t.col::<StringBuilder>(5)
            .append_option((!l.trace_id.is_empty()).then(|| hex(&l.trace_id)));
        t.col::<StringBuilder>(6)
            .append_option((!l.span_id.is_empty()).then(|| hex(&l.span_id)));
        put_attrs(t.col::<Attrs>(7), &l.attributes);
        t.col::<StringBuilder>(8).append_value(&l.event_name);
        t.col::<StringBuilder>(9)
            .append_option(service_name(r.resource));
        put_attrs(
            t.col::<Attrs>(10),
            r.resource
                .map(|x| x.attributes.as_slice())
                .unwrap_or_default(),
        );
        t.col::<StringBuilder>(11)
            .append_value(r.scope.map(|x| x.name.as_str()).unwrap_or_default());
    }
    t.finish()
}

/// `value`, `count`, `sum`, `min`, `max` of a point (those its type has).
type Stats = (
    Option<f64>,
    Option<u64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

/// One metric data point's row (every point type in one table; the columns a type does
/// not have are null).
pub struct PointRow<'a> {
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
    pub metric: &'a llamacol_pipeline::otlp::metrics::v1::Metric,
    pub point: Point<'a>,
}

pub enum Point<'a> {
    Number(&'a llamacol_pipeline::otlp::metrics::v1::NumberDataPoint),
    Histogram(&'a llamacol_pipeline::otlp::metrics::v1::HistogramDataPoint),
    Exponential(&'a llamacol_pipeline::otlp::metrics::v1::ExponentialHistogramDataPoint),
    Summary(&'a llamacol_pipeline::otlp::metrics::v1::SummaryDataPoint),
}

fn quantile_fields() -> Fields {
    Fields::from(vec![
        Field::new("quantile", DataType::Float64, true),
        Field::new("value", DataType::Float64, true),
    ])
}

fn exemplar_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", ts_type(), true),
        Field::new("value", DataType::Float64, true),
        Field::new("trace_id", DataType::Utf8, true),
        Field::new("span_id", DataType::Utf8, true),
    ])
}

pub fn metrics(rows: &[PointRow]) -> Result<RecordBatch, arrow::error::ArrowError> {
    use llamacol_pipeline::otlp::metrics::v1::{
        exemplar, metric::Data, number_data_point, Exemplar,
    };
    let mut t = Table {
        columns: vec![
            ("time", false, Box::new(ts_builder())),
            ("start_time", true, Box::new(ts_builder())),
            ("metric_name", false, Box::new(StringBuilder::new())),
            ("metric_type", false, Box::new(StringBuilder::new())),
            ("unit", false, Box::new(StringBuilder::new())),
            ("description", false, Box::new(StringBuilder::new())),
            ("is_monotonic", true, Box::new(BooleanBuilder::new())),
            ("temporality", true, Box::new(StringBuilder::new())),
            ("value", true, Box::new(Float64Builder::new())),
            ("count", true, Box::new(UInt64Builder::new())),
            ("sum", true, Box::new(Float64Builder::new())),
            ("min", true, Box::new(Float64Builder::new())),
            ("max", true, Box::new(Float64Builder::new())),
            (
                "bucket_bounds",
                true,
                Box::new(ListBuilder::new(Float64Builder::new())),
            ),
            (
                "bucket_counts",
                true,
                Box::new(ListBuilder::new(UInt64Builder::new())),
            ),
            (
                "quantiles",
                true,
                Box::new(ListBuilder::new(StructBuilder::new(
                    quantile_fields(),
                    vec![
                        Box::new(Float64Builder::new()),
                        Box::new(Float64Builder::new()),
                    ],
                ))),
            ),
            ("attributes", false, Box::new(attrs_builder())),
            ("service_name", true, Box::new(StringBuilder::new())),
            ("resource_attributes", false, Box::new(attrs_builder())),
            ("scope_name", false, Box::new(StringBuilder::new())),
            (
                "exemplars",
                false,
                Box::new(ListBuilder::new(StructBuilder::new(
                    exemplar_fields(),
                    vec![
                        Box::new(ts_builder()),
                        Box::new(Float64Builder::new()),
                        Box::new(StringBuilder::new()),
                        Box::new(StringBuilder::new()),
                    ],
                ))),
            ),
        ],
    };
    let temporality = |t: i32| match t {
        1 => Some("delta"),
        2 => Some("cumulative"),
        _ => None,
    };
    for r in rows {
        let m = r.metric;
        let (kind, monotonic, temp) = match &m.data {
            Some(Data::Gauge(_)) => ("gauge", None, None),
            Some(Data::Sum(s)) => (
                "sum",
                Some(s.is_monotonic),
                temporality(s.aggregation_temporality),
            ),
            Some(Data::Histogram(h)) => ("histogram", None, temporality(h.aggregation_temporality)),
            Some(Data::ExponentialHistogram(h)) => (
                "exponential_histogram",
                None,
                temporality(h.aggregation_temporality),
            ),
            Some(Data::Summary(_)) => ("summary", None, None),
            None => ("empty", None, None),
        };
        let (time, start, attrs, exemplars): (u64, u64, &[KeyValue], &[Exemplar]) = match r.point {
            Point::Number(p) => (
                p.time_unix_nano,
                p.start_time_unix_nano,
                &p.attributes,
                &p.exemplars,
            ),
            Point::Histogram(p) => (
                p.time_unix_nano,
                p.start_time_unix_nano,
                &p.attributes,
                &p.exemplars,
            ),
            Point::Exponential(p) => (
                p.time_unix_nano,
                p.start_time_unix_nano,
                &p.attributes,
                &p.exemplars,
            ),
            Point::Summary(p) => (p.time_unix_nano, p.start_time_unix_nano, &p.attributes, &[]),
        };
        t.col::<TimestampNanosecondBuilder>(0)
            .append_value(time as i64);
        t.col::<TimestampNanosecondBuilder>(1)
            .append_option((start != 0).then_some(start as i64));
        t.col::<StringBuilder>(2).append_value(&m.name);
        t.col::<StringBuilder>(3).append_value(kind);
        t.col::<StringBuilder>(4).append_value(&m.unit);
        t.col::<StringBuilder>(5).append_value(&m.description);
        t.col::<BooleanBuilder>(6).append_option(monotonic);
        t.col::<StringBuilder>(7).append_option(temp);
        let (value, count, sum, min, max): Stats = match r.point {
            Point::Number(p) => (
                match p.value {
                    Some(number_data_point::Value::AsDouble(d)) => Some(d),
                    Some(number_data_point::Value::AsInt(i)) => Some(i as f64),
                    None => None,
                },
                None,
                None,
                None,
                None,
            ),
            Point::Histogram(p) => (None, Some(p.count), p.sum, p.min, p.max),
            Point::Exponential(p) => (None, Some(p.count), p.sum, p.min, p.max),
            Point::Summary(p) => (None, Some(p.count), Some(p.sum), None, None),
        };
        t.col::<Float64Builder>(8).append_option(value);
        t.col::<UInt64Builder>(9).append_option(count);
        t.col::<Float64Builder>(10).append_option(sum);
        t.col::<Float64Builder>(11).append_option(min);
        t.col::<Float64Builder>(12).append_option(max);
        match r.point {
            Point::Histogram(p) => {
                t.col::<ListBuilder<Float64Builder>>(13)
                    .append_value(p.explicit_bounds.iter().map(|b| Some(*b)));
                t.col::<ListBuilder<UInt64Builder>>(14)
                    .append_value(p.bucket_counts.iter().map(|c| Some(*c)));
            }
            Point::Exponential(p) => {
                // Bucket i covers (base^(offset+i), base^(offset+i+1)], base = 2^(2^-scale);
                // the lower bounds of the positive buckets, zero bucket first.
                let base = 2f64.powf(2f64.powi(-p.scale));
                let positive = p.positive.as_ref();
                let offset = positive.map_or(0, |b| b.offset);
                let counts = positive
                    .map(|b| b.bucket_counts.as_slice())
                    .unwrap_or_default();
                let bounds = (0..counts.len()).map(|i| Some(base.powi(offset + i as i32)));
                let mut all_bounds: Vec<Option<f64>> = vec![Some(0.0)];
                all_bounds.extend(bounds);
                t.col::<ListBuilder<Float64Builder>>(13)
                    .append_value(all_bounds);
                let mut all_counts = vec![Some(p.zero_count)];
                all_counts.extend(counts.iter().map(|c| Some(*c)));
                t.col::<ListBuilder<UInt64Builder>>(14)
                    .append_value(all_counts);
            }
            _ => {
                t.col::<ListBuilder<Float64Builder>>(13).append_null();
                t.col::<ListBuilder<UInt64Builder>>(14).append_null();
            }
        }
        {
            let q = t.col::<ListBuilder<StructBuilder>>(15);
            if let Point::Summary(p) = r.point {
                for v in &p.quantile_values {
                    let st = q.values();
                    field::<Float64Builder>(st, 0).append_value(v.quantile);
                    field::<Float64Builder>(st, 1).append_value(v.value);
                    st.append(true);
                }
                q.append(true);
            } else {
                q.append_null();
            }
        }
        put_attrs(t.col::<Attrs>(16), attrs);
        t.col::<StringBuilder>(17)
            .append_option(service_name(r.resource));
        put_attrs(
            t.col::<Attrs>(18),
            r.resource
                .map(|x| x.attributes.as_slice())
                .unwrap_or_default(),
        );
        t.col::<StringBuilder>(19)
            .append_value(r.scope.map(|x| x.name.as_str()).unwrap_or_default());
        {
            let ex = t.col::<ListBuilder<StructBuilder>>(20);
            for e in exemplars {
                let st = ex.values();
                field::<TimestampNanosecondBuilder>(st, 0).append_value(e.time_unix_nano as i64);
                let v = match e.value {
                    Some(exemplar::Value::AsDouble(d)) => Some(d),
                    Some(exemplar::Value::AsInt(i)) => Some(i as f64),
                    None => None,
                };
                field::<Float64Builder>(st, 1).append_option(v);
                field::<StringBuilder>(st, 2).append_value(hex(&e.trace_id));
                field::<StringBuilder>(st, 3).append_value(hex(&e.span_id));
                st.append(true);
            }
            ex.append(true);
        }
    }
    t.finish()
}
