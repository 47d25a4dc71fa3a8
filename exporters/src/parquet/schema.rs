//! The fixed tables (README, "Parquet schema"): one row per metric data point and per
//! log record, built with Arrow builders (spans: `spans`, the hot path). Attribute maps are `map<string,string>`
//! (non-string values as JSON text, as our other exporters print them); ids are lowercase
//! hex; times are UTC nanosecond timestamps; a string that is not valid UTF-8 cannot
//! reach here (the OTLP decoder refuses it), and NaN is written as NaN.

use llamacol_api::wire::hex;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, ListBuilder, MapBuilder,
    RecordBatch, StringBuilder, StructBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use llamacol_api::attributes::value_string;
use llamacol_api::otlp::common::v1::{any_value::Value, InstrumentationScope, KeyValue};
use llamacol_api::otlp::resource::v1::Resource;

/// Written into each file's key-value metadata.
pub const SCHEMA_VERSION: &str = "1";

pub(super) type Attrs = MapBuilder<StringBuilder, StringBuilder>;

pub(super) fn attrs_builder() -> Attrs {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

pub(super) fn ts_builder() -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::new().with_timezone("UTC")
}

pub(super) fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

pub(super) fn map_type() -> DataType {
    arrow::array::Array::data_type(&attrs_builder().finish()).clone()
}

/// A struct column's field builder (of the type it was created with).
pub(super) fn field<T: ArrayBuilder>(st: &mut StructBuilder, i: usize) -> &mut T {
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

/// A record batch of named columns, in order: (name, nullable, values).
pub(super) fn record_batch(
    columns: impl IntoIterator<Item = (&'static str, bool, ArrayRef)>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .into_iter()
        .map(|(name, nullable, array)| {
            let field = Field::new(name, array.data_type().clone(), nullable);
            (field, array)
        })
        .unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

impl Table {
    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        record_batch(
            self.columns
                .iter_mut()
                .map(|(name, nullable, builder)| (*name, *nullable, builder.finish())),
        )
    }

    fn col<T: ArrayBuilder>(&mut self, i: usize) -> &mut T {
        self.columns[i]
            .2
            .as_any_mut()
            .downcast_mut::<T>()
            .unwrap_or_else(|| unreachable!("column {i} is built with its own builder type"))
    }
}

/// One log record's row.
pub struct LogRow<'a> {
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
    pub record: &'a llamacol_api::otlp::logs::v1::LogRecord,
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
    pub metric: &'a llamacol_api::otlp::metrics::v1::Metric,
    pub point: Point<'a>,
}

pub enum Point<'a> {
    Number(&'a llamacol_api::otlp::metrics::v1::NumberDataPoint),
    Histogram(&'a llamacol_api::otlp::metrics::v1::HistogramDataPoint),
    Exponential(&'a llamacol_api::otlp::metrics::v1::ExponentialHistogramDataPoint),
    Summary(&'a llamacol_api::otlp::metrics::v1::SummaryDataPoint),
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
    use llamacol_api::otlp::metrics::v1::{exemplar, metric::Data, number_data_point, Exemplar};
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
