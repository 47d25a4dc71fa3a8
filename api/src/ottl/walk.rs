//! Visiting every item of one context in a decoded request, with the wider items it
//! sits in, and removing the items a visitor refuses (the filter processor): a span
//! removed takes its events; a metric whose points are all removed goes; scopes and
//! resources left empty go.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::error::Eval;
use super::item::{Item, Point};
use super::path::ContextName;

/// Called for each item; `Ok(false)` removes it.
pub type Visit<'f> = dyn FnMut(&mut Item) -> Eval<bool> + 'f;

fn item<'a>(
    resource: &'a mut Resource,
    resource_schema_url: &'a mut String,
    scope: &'a mut InstrumentationScope,
    scope_schema_url: &'a mut String,
) -> Item<'a> {
    Item {
        resource,
        resource_schema_url,
        scope,
        scope_schema_url,
        span: None,
        event: None,
        log: None,
        metric: None,
        point: None,
        cache: Vec::new(),
    }
}

/// A resource-context item: the resource with an empty scope.
fn resource_item<'a>(
    resource: &'a mut Resource,
    schema_url: &'a mut String,
    scope: &'a mut InstrumentationScope,
    scope_url: &'a mut String,
) -> Item<'a> {
    item(resource, schema_url, scope, scope_url)
}

pub fn traces(
    request: &mut ExportTraceServiceRequest,
    context: ContextName,
    f: &mut Visit,
) -> Eval<()> {
    let mut failure = Ok(());
    request.resource_spans.retain_mut(|rs| {
        if failure.is_err() {
            return true;
        }
        let resource = rs.resource.get_or_insert_with(Resource::default);
        if context == ContextName::Resource {
            let (mut scope, mut url) = (InstrumentationScope::default(), String::new());
            match f(&mut resource_item(
                resource,
                &mut rs.schema_url,
                &mut scope,
                &mut url,
            )) {
                Ok(keep) => return keep,
                Err(e) => {
                    failure = Err(e);
                    return true;
                }
            }
        }
        rs.scope_spans.retain_mut(|ss| {
            if failure.is_err() {
                return true;
            }
            let scope = ss.scope.get_or_insert_with(InstrumentationScope::default);
            let result = match context {
                ContextName::Scope => f(&mut item(
                    resource,
                    &mut rs.schema_url,
                    scope,
                    &mut ss.schema_url,
                )),
                _ => {
                    let mut inner = Ok(());
                    ss.spans.retain_mut(|span| {
                        if inner.is_err() {
                            return true;
                        }
                        let mut it = item(resource, &mut rs.schema_url, scope, &mut ss.schema_url);
                        let keep = if context == ContextName::SpanEvent {
                            let mut events = std::mem::take(&mut span.events);
                            let mut index = 0;
                            events.retain_mut(|event| {
                                if inner.is_err() {
                                    return true;
                                }
                                let mut it =
                                    item(resource, &mut rs.schema_url, scope, &mut ss.schema_url);
                                it.span = Some(span);
                                it.event = Some((event, index));
                                index += 1;
                                f(&mut it).unwrap_or_else(|e| {
                                    inner = Err(e);
                                    true
                                })
                            });
                            span.events = events;
                            Ok(true)
                        } else {
                            it.span = Some(span);
                            f(&mut it)
                        };
                        keep.unwrap_or_else(|e| {
                            inner = Err(e);
                            true
                        })
                    });
                    inner.map(|()| !ss.spans.is_empty())
                }
            };
            result.unwrap_or_else(|e| {
                failure = Err(e);
                true
            })
        });
        !rs.scope_spans.is_empty()
    });
    failure
}

pub fn logs(
    request: &mut ExportLogsServiceRequest,
    context: ContextName,
    f: &mut Visit,
) -> Eval<()> {
    let mut failure = Ok(());
    request.resource_logs.retain_mut(|rl| {
        if failure.is_err() {
            return true;
        }
        let resource = rl.resource.get_or_insert_with(Resource::default);
        if context == ContextName::Resource {
            let (mut scope, mut url) = (InstrumentationScope::default(), String::new());
            match f(&mut resource_item(
                resource,
                &mut rl.schema_url,
                &mut scope,
                &mut url,
            )) {
                Ok(keep) => return keep,
                Err(e) => {
                    failure = Err(e);
                    return true;
                }
            }
        }
        rl.scope_logs.retain_mut(|sl| {
            if failure.is_err() {
                return true;
            }
            let scope = sl.scope.get_or_insert_with(InstrumentationScope::default);
            let result = match context {
                ContextName::Scope => f(&mut item(
                    resource,
                    &mut rl.schema_url,
                    scope,
                    &mut sl.schema_url,
                )),
                _ => {
                    let mut inner = Ok(());
                    sl.log_records.retain_mut(|log| {
                        if inner.is_err() {
                            return true;
                        }
                        let mut it = item(resource, &mut rl.schema_url, scope, &mut sl.schema_url);
                        it.log = Some(log);
                        f(&mut it).unwrap_or_else(|e| {
                            inner = Err(e);
                            true
                        })
                    });
                    inner.map(|()| !sl.log_records.is_empty())
                }
            };
            result.unwrap_or_else(|e| {
                failure = Err(e);
                true
            })
        });
        !rl.scope_logs.is_empty()
    });
    failure
}

pub fn metrics(
    request: &mut ExportMetricsServiceRequest,
    context: ContextName,
    f: &mut Visit,
) -> Eval<()> {
    let mut failure = Ok(());
    request.resource_metrics.retain_mut(|rm| {
        if failure.is_err() {
            return true;
        }
        let resource = rm.resource.get_or_insert_with(Resource::default);
        if context == ContextName::Resource {
            let (mut scope, mut url) = (InstrumentationScope::default(), String::new());
            match f(&mut resource_item(
                resource,
                &mut rm.schema_url,
                &mut scope,
                &mut url,
            )) {
                Ok(keep) => return keep,
                Err(e) => {
                    failure = Err(e);
                    return true;
                }
            }
        }
        rm.scope_metrics.retain_mut(|sm| {
            if failure.is_err() {
                return true;
            }
            let scope = sm.scope.get_or_insert_with(InstrumentationScope::default);
            let result = match context {
                ContextName::Scope => f(&mut item(
                    resource,
                    &mut rm.schema_url,
                    scope,
                    &mut sm.schema_url,
                )),
                _ => {
                    let mut inner = Ok(());
                    sm.metrics.retain_mut(|metric| {
                        if inner.is_err() {
                            return true;
                        }
                        let keep = if context == ContextName::DataPoint {
                            points(metric, &mut |metric, point| {
                                let mut it =
                                    item(resource, &mut rm.schema_url, scope, &mut sm.schema_url);
                                it.metric = Some(metric);
                                it.point = Some(point);
                                f(&mut it)
                            })
                        } else {
                            let mut it =
                                item(resource, &mut rm.schema_url, scope, &mut sm.schema_url);
                            it.metric = Some(metric);
                            f(&mut it)
                        };
                        keep.unwrap_or_else(|e| {
                            inner = Err(e);
                            true
                        })
                    });
                    inner.map(|()| !sm.metrics.is_empty())
                }
            };
            result.unwrap_or_else(|e| {
                failure = Err(e);
                true
            })
        });
        !rm.scope_metrics.is_empty()
    });
    failure
}

/// Visits a metric's points with the metric beside them; `Ok(false)` when every point
/// was removed (the metric goes too).
fn points(metric: &mut Metric, f: &mut dyn FnMut(&mut Metric, Point) -> Eval<bool>) -> Eval<bool> {
    // The points are moved out while they run, so each sees the metric beside it.
    macro_rules! each {
        ($variant:ident, $point:ident) => {{
            let Some(Data::$variant(d)) = &mut metric.data else {
                unreachable!()
            };
            let mut taken = std::mem::take(&mut d.data_points);
            let keep = visit_points(metric, &mut taken, |p| Point::$point(p), f);
            if let Some(Data::$variant(d)) = &mut metric.data {
                d.data_points = taken;
            }
            keep
        }};
    }
    match &metric.data {
        None => Ok(true),
        Some(Data::Gauge(_)) => each!(Gauge, Number),
        Some(Data::Sum(_)) => each!(Sum, Number),
        Some(Data::Histogram(_)) => each!(Histogram, Histogram),
        Some(Data::ExponentialHistogram(_)) => each!(ExponentialHistogram, Exponential),
        Some(Data::Summary(_)) => each!(Summary, Summary),
    }
}

fn visit_points<T>(
    metric: &mut Metric,
    points: &mut Vec<T>,
    wrap: impl for<'p> Fn(&'p mut T) -> Point<'p>,
    f: &mut dyn FnMut(&mut Metric, Point) -> Eval<bool>,
) -> Eval<bool> {
    let had = !points.is_empty();
    let mut failure = Ok(());
    points.retain_mut(|p| {
        if failure.is_err() {
            return true;
        }
        f(metric, wrap(p)).unwrap_or_else(|e| {
            failure = Err(e);
            true
        })
    });
    failure.map(|()| !(had && points.is_empty()))
}
