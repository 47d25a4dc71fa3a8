//! One item a statement runs on, with the wider items it sits in (a span with its scope
//! and resource), and the reading and writing of each path's field. Setters follow the
//! Collector's: a value of the wrong type for a field is ignored (no error), except
//! where the Collector reports one.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::Event, Span};

use super::error::{Eval, RuntimeError};
use super::keys::{self, Key};
use super::path::{ContextName, Field};
use super::value::Value;

/// A data point of any metric type.
pub enum Point<'a> {
    Number(&'a mut NumberDataPoint),
    Histogram(&'a mut HistogramDataPoint),
    Exponential(&'a mut ExponentialHistogramDataPoint),
    Summary(&'a mut SummaryDataPoint),
}

/// What a statement sees. Only the fields of its own context and the wider ones are set.
pub struct Item<'a> {
    pub resource: &'a mut Resource,
    pub resource_schema_url: &'a mut String,
    pub scope: &'a mut InstrumentationScope,
    pub scope_schema_url: &'a mut String,
    pub span: Option<&'a mut Span>,
    pub event: Option<(&'a mut Event, i64)>,
    pub log: Option<&'a mut LogRecord>,
    /// In the datapoint context, the metric's points are taken out while its points run.
    pub metric: Option<&'a mut Metric>,
    pub point: Option<Point<'a>>,
    pub cache: Vec<KeyValue>,
}

fn missing(field: Field) -> RuntimeError {
    RuntimeError::new(format!("path {field:?} is not available in this context"))
}

macro_rules! part {
    ($self:ident . $part:ident, $field:expr) => {
        $self.$part.as_deref().ok_or_else(|| missing($field))?
    };
}

macro_rules! part_mut {
    ($self:ident . $part:ident, $field:expr) => {
        $self.$part.as_deref_mut().ok_or_else(|| missing($field))?
    };
}

mod fields;
pub use fields::KIND_ENUMS as SPAN_KIND_ENUMS;

use fields::*;

impl Item<'_> {
    /// The attribute-like map a field holds, for keyed access and map editors.
    pub fn map(&self, field: Field) -> Eval<Option<&Vec<KeyValue>>> {
        Ok(Some(match field {
            Field::ResourceAttributes => &self.resource.attributes,
            Field::ScopeAttributes => &self.scope.attributes,
            Field::SpanAttributes => &part!(self.span, field).attributes,
            Field::EventAttributes => {
                &self
                    .event
                    .as_ref()
                    .ok_or_else(|| missing(field))?
                    .0
                    .attributes
            }
            Field::LogAttributes => &part!(self.log, field).attributes,
            Field::MetricMetadata => &part!(self.metric, field).metadata,
            Field::PointAttributes => match self.point.as_ref().ok_or_else(|| missing(field))? {
                Point::Number(p) => &p.attributes,
                Point::Histogram(p) => &p.attributes,
                Point::Exponential(p) => &p.attributes,
                Point::Summary(p) => &p.attributes,
            },
            Field::Cache => &self.cache,
            _ => return Ok(None),
        }))
    }

    pub fn map_mut(&mut self, field: Field) -> Eval<Option<&mut Vec<KeyValue>>> {
        Ok(Some(match field {
            Field::ResourceAttributes => &mut self.resource.attributes,
            Field::ScopeAttributes => &mut self.scope.attributes,
            Field::SpanAttributes => &mut part_mut!(self.span, field).attributes,
            Field::EventAttributes => {
                &mut self
                    .event
                    .as_mut()
                    .ok_or_else(|| missing(field))?
                    .0
                    .attributes
            }
            Field::LogAttributes => &mut part_mut!(self.log, field).attributes,
            Field::MetricMetadata => &mut part_mut!(self.metric, field).metadata,
            Field::PointAttributes => match self.point.as_mut().ok_or_else(|| missing(field))? {
                Point::Number(p) => &mut p.attributes,
                Point::Histogram(p) => &mut p.attributes,
                Point::Exponential(p) => &mut p.attributes,
                Point::Summary(p) => &mut p.attributes,
            },
            Field::Cache => &mut self.cache,
            _ => return Ok(None),
        }))
    }

    /// The value at a path with its keys.
    pub fn get(&self, field: Field, path_keys: &[Key]) -> Eval<Value> {
        if let Some(map) = self.map(field)? {
            return match path_keys.split_first() {
                None => Ok(Value::Map(map.clone())),
                Some((first, rest)) => keys::get_in_map(map, first, rest),
            };
        }
        if field == Field::LogBody {
            let body = part!(self.log, field).body.as_ref();
            let empty = AnyValue::default();
            return keys::get_in_value(body.unwrap_or(&empty), path_keys);
        }
        if field == Field::SpanTraceState {
            let state = &part!(self.span, field).trace_state;
            return match path_keys {
                [] => Ok(Value::Str(state.clone())),
                [Key::Str(k)] => Ok(crate::tracestate::member(state, k)
                    .map(|v| Value::Str(v.to_string()))
                    .unwrap_or(Value::Nil)),
                _ => Err(RuntimeError::new("trace_state takes one string key")),
            };
        }
        if !path_keys.is_empty() {
            return Err(RuntimeError::new(format!(
                "path {field:?} cannot be indexed"
            )));
        }
        self.get_plain(field)
    }

    fn get_plain(&self, field: Field) -> Eval<Value> {
        use Field::*;
        Ok(match field {
            ResourceDroppedAttributesCount => {
                Value::Int(self.resource.dropped_attributes_count.into())
            }
            ResourceSchemaUrl => Value::Str(self.resource_schema_url.clone()),
            ScopeName => Value::Str(self.scope.name.clone()),
            ScopeVersion => Value::Str(self.scope.version.clone()),
            ScopeDroppedAttributesCount => Value::Int(self.scope.dropped_attributes_count.into()),
            ScopeSchemaUrl => Value::Str(self.scope_schema_url.clone()),
            _ if field.owner() == ContextName::Span => span_field(part!(self.span, field), field),
            _ if field.owner() == ContextName::SpanEvent => {
                let (event, index) = self.event.as_ref().ok_or_else(|| missing(field))?;
                match field {
                    EventTimeUnixNano => Value::Int(event.time_unix_nano as i64),
                    EventTime => time(event.time_unix_nano),
                    EventName => Value::Str(event.name.clone()),
                    EventIndex => Value::Int(*index),
                    _ => Value::Int(event.dropped_attributes_count.into()),
                }
            }
            _ if field.owner() == ContextName::Log => log_field(part!(self.log, field), field),
            _ if field.owner() == ContextName::Metric => {
                metric_field(part!(self.metric, field), field)
            }
            _ => point_field(self.point.as_ref().ok_or_else(|| missing(field))?, field),
        })
    }

    /// Writes a value at a path with its keys (`set`).
    pub fn set(&mut self, field: Field, path_keys: &[Key], v: Value) -> Eval<()> {
        if let Some(map) = self.map_mut(field)? {
            return match path_keys.split_first() {
                None => {
                    set_map(map, v);
                    Ok(())
                }
                Some((first, rest)) => keys::set_in_map(map, first, rest, v),
            };
        }
        if field == Field::LogBody {
            let log = part_mut!(self.log, field);
            let body = log.body.get_or_insert_with(AnyValue::default);
            return keys::set_in_value(body, path_keys, v);
        }
        if field == Field::SpanTraceState {
            let span = part_mut!(self.span, field);
            return match (path_keys, v) {
                ([], Value::Str(s)) => {
                    span.trace_state = s;
                    Ok(())
                }
                ([Key::Str(k)], Value::Str(s)) => {
                    span.trace_state = crate::tracestate::with_member(&span.trace_state, k, &s);
                    Ok(())
                }
                _ => Ok(()),
            };
        }
        if !path_keys.is_empty() {
            return Err(RuntimeError::new(format!(
                "path {field:?} cannot be indexed"
            )));
        }
        self.set_plain(field, v)
    }

    fn set_plain(&mut self, field: Field, v: Value) -> Eval<()> {
        use Field::*;
        match field {
            ResourceDroppedAttributesCount => {
                set_u32(&mut self.resource.dropped_attributes_count, &v)
            }
            ResourceSchemaUrl => set_string(self.resource_schema_url, v),
            ScopeName => set_string(&mut self.scope.name, v),
            ScopeVersion => set_string(&mut self.scope.version, v),
            ScopeDroppedAttributesCount => set_u32(&mut self.scope.dropped_attributes_count, &v),
            ScopeSchemaUrl => set_string(self.scope_schema_url, v),
            _ if field.owner() == ContextName::SpanEvent => {
                let (event, _) = self.event.as_mut().ok_or_else(|| missing(field))?;
                match field {
                    EventTimeUnixNano => set_u64(&mut event.time_unix_nano, &v),
                    EventTime => set_time(&mut event.time_unix_nano, &v),
                    EventName => set_string(&mut event.name, v),
                    EventDroppedAttributesCount => set_u32(&mut event.dropped_attributes_count, &v),
                    _ => return Err(RuntimeError::new("event_index cannot be set")),
                }
            }
            _ if field.owner() == ContextName::Span => {
                set_span_field(part_mut!(self.span, field), field, v)?
            }
            _ if field.owner() == ContextName::Log => {
                set_log_field(part_mut!(self.log, field), field, v)?
            }
            _ if field.owner() == ContextName::Metric => {
                set_metric_field(part_mut!(self.metric, field), field, v)
            }
            _ => set_point_field(self.point.as_mut().ok_or_else(|| missing(field))?, field, v),
        }
        Ok(())
    }
}
