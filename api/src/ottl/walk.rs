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

/// An error inside a `retain_mut` callback: remembered, and the item kept.
fn keep_or(failure: &mut Eval<()>, result: Eval<bool>) -> bool {
    result.unwrap_or_else(|e| {
        *failure = Err(e);
        true
    })
}

/// The resource and scope levels every signal shares: `$visit` handles one item of a
/// scope (a span, log record or metric) with the resource and scope beside it. Items
/// `f` refuses are removed; a scope or resource left empty by that goes too (one that
/// arrived empty stays).
macro_rules! walk_request {
    ($request:expr, $resources:ident, $scopes:ident, $items:ident, $context:ident, $f:ident,
     |$res:ident, $rurl:ident, $sc:ident, $surl:ident, $one:ident| $visit:expr) => {{
        let mut failure: Eval<()> = Ok(());
        $request.$resources.retain_mut(|rb| {
            if failure.is_err() {
                return true;
            }
            let $res = rb.resource.get_or_insert_with(Resource::default);
            let $rurl = &mut rb.schema_url;
            if $context == ContextName::Resource {
                let (mut scope, mut url) = (InstrumentationScope::default(), String::new());
                return keep_or(
                    &mut failure,
                    $f(&mut item($res, $rurl, &mut scope, &mut url)),
                );
            }
            let had_scopes = !rb.$scopes.is_empty();
            rb.$scopes.retain_mut(|sb| {
                if failure.is_err() {
                    return true;
                }
                let $sc = sb.scope.get_or_insert_with(InstrumentationScope::default);
                let $surl = &mut sb.schema_url;
                if $context == ContextName::Scope {
                    return keep_or(&mut failure, $f(&mut item($res, $rurl, $sc, $surl)));
                }
                let had_items = !sb.$items.is_empty();
                sb.$items.retain_mut(|$one| {
                    if failure.is_err() {
                        return true;
                    }
                    keep_or(&mut failure, $visit)
                });
                !had_items || !sb.$items.is_empty()
            });
            !had_scopes || !rb.$scopes.is_empty()
        });
        failure
    }};
}

pub fn traces(
    request: &mut ExportTraceServiceRequest,
    context: ContextName,
    f: &mut Visit,
) -> Eval<()> {
    walk_request!(
        request,
        resource_spans,
        scope_spans,
        spans,
        context,
        f,
        |res, rurl, sc, surl, span| {
            if context == ContextName::SpanEvent {
                // The events are moved out while they run, so each sees its span.
                let mut events = std::mem::take(&mut span.events);
                let mut failure = Ok(());
                let mut index = 0;
                events.retain_mut(|event| {
                    if failure.is_err() {
                        return true;
                    }
                    let mut it = item(res, rurl, sc, surl);
                    it.span = Some(span);
                    it.event = Some((event, index));
                    index += 1;
                    keep_or(&mut failure, f(&mut it))
                });
                span.events = events;
                failure.map(|()| true)
            } else {
                let mut it = item(res, rurl, sc, surl);
                it.span = Some(span);
                f(&mut it)
            }
        }
    )
}

pub fn logs(
    request: &mut ExportLogsServiceRequest,
    context: ContextName,
    f: &mut Visit,
) -> Eval<()> {
    walk_request!(
        request,
        resource_logs,
        scope_logs,
        log_records,
        context,
        f,
        |res, rurl, sc, surl, log| {
            let mut it = item(res, rurl, sc, surl);
            it.log = Some(log);
            f(&mut it)
        }
    )
}

pub fn metrics(
    request: &mut ExportMetricsServiceRequest,
    context: ContextName,
    f: &mut Visit,
) -> Eval<()> {
    walk_request!(
        request,
        resource_metrics,
        scope_metrics,
        metrics,
        context,
        f,
        |res, rurl, sc, surl, metric| {
            if context == ContextName::DataPoint {
                points(metric, &mut |metric, point| {
                    let mut it = item(res, rurl, sc, surl);
                    it.metric = Some(metric);
                    it.point = Some(point);
                    f(&mut it)
                })
            } else {
                let mut it = item(res, rurl, sc, surl);
                it.metric = Some(metric);
                f(&mut it)
            }
        }
    )
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
