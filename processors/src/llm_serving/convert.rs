//! Points of an engine's metric as points of a uniform one.

use llamacol_api::attributes::string;
use llamacol_api::otlp::common::v1::{any_value, KeyValue};
use llamacol_api::otlp::metrics::v1::{
    exemplar, metric, number_data_point, HistogramDataPoint, Metric, NumberDataPoint,
};

use super::engines::{How, Source};
use super::ratio::Ratios;

/// What the uniform points of one source are made of.
pub enum Points {
    Number(Vec<NumberDataPoint>),
    Histogram(Vec<HistogramDataPoint>),
}

/// What a conversion needs besides the source metric.
pub struct Context<'a, 'm> {
    /// Metrics of the same resource by normalized name (for `Plus`, `Over`, ratios).
    pub other: &'a dyn Fn(&str) -> Option<&'m Metric>,
    /// Labels to drop from the output (the engine's model label; it is re-added as
    /// `gen_ai.request.model`).
    pub model_labels: &'static [&'static str],
    /// Added to every output point.
    pub added: &'a [KeyValue],
    /// The model from the resource, for engines that keep it there.
    pub resource_model: Option<&'a str>,
    pub ratios: &'a Ratios,
    /// Identifies the series of this rule and resource for delta ratios.
    pub series_key: &'a str,
}

pub fn value(p: &NumberDataPoint) -> Option<f64> {
    match p.value? {
        number_data_point::Value::AsDouble(v) => Some(v),
        number_data_point::Value::AsInt(v) => Some(v as f64),
    }
}

fn number_points(m: &Metric) -> &[NumberDataPoint] {
    match &m.data {
        Some(metric::Data::Gauge(g)) => &g.data_points,
        Some(metric::Data::Sum(s)) => &s.data_points,
        _ => &[],
    }
}

pub fn label<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// True when the source can feed this resource: its metric is there and, for a
/// selection, some point has the selected label value.
pub fn present(source: &Source, metric: &Metric) -> bool {
    match source.select {
        None => true,
        Some((k, v)) => {
            number_points(metric)
                .iter()
                .any(|p| label(&p.attributes, k) == Some(v))
                || histogram_points(metric)
                    .iter()
                    .any(|p| label(&p.attributes, k) == Some(v))
        }
    }
}

fn histogram_points(m: &Metric) -> &[HistogramDataPoint] {
    match &m.data {
        Some(metric::Data::Histogram(h)) => &h.data_points,
        _ => &[],
    }
}

fn selected(source: &Source, attrs: &[KeyValue]) -> bool {
    source
        .select
        .is_none_or(|(k, v)| label(attrs, k) == Some(v))
}

/// The output attributes: the source's minus the model and selection labels, then the
/// model as `gen_ai.request.model`, then `added`.
fn attributes(source: &Source, ctx: &Context<'_, '_>, attrs: &[KeyValue]) -> Vec<KeyValue> {
    let model = ctx
        .model_labels
        .iter()
        .find_map(|l| label(attrs, l))
        .or(ctx.resource_model);
    let mut out: Vec<KeyValue> = attrs
        .iter()
        .filter(|kv| {
            !ctx.model_labels.contains(&kv.key.as_str())
                && source.select.is_none_or(|(k, _)| kv.key != k)
        })
        .cloned()
        .collect();
    if let Some(m) = model {
        out.push(string("gen_ai.request.model", m));
    }
    out.extend(ctx.added.iter().cloned());
    out
}

fn with_value(p: &NumberDataPoint, v: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        value: Some(number_data_point::Value::AsDouble(v)),
        exemplars: Vec::new(),
        flags: p.flags,
    }
}

/// The same attributes (as a set) on both points.
fn same_series(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len() && a.iter().all(|kv| b.contains(kv))
}

fn partner<'a>(other: Option<&'a Metric>, p: &NumberDataPoint) -> Option<&'a NumberDataPoint> {
    number_points(other?)
        .iter()
        .find(|q| same_series(&q.attributes, &p.attributes))
}

pub fn convert(source: &Source, metric: &Metric, ctx: &Context<'_, '_>) -> Points {
    match source.how {
        How::Scale(f) => match &metric.data {
            Some(metric::Data::Histogram(h)) => Points::Histogram(
                h.data_points
                    .iter()
                    .filter(|p| selected(source, &p.attributes))
                    .map(|p| scaled_histogram(p, f, attributes(source, ctx, &p.attributes)))
                    .collect(),
            ),
            _ => Points::Number(numbers(source, metric, ctx, |p| value(p).map(|v| v * f))),
        },
        How::PercentWhenLabelled(l) => Points::Number(numbers(source, metric, ctx, |p| {
            let v = value(p)?;
            Some(if label(&p.attributes, l).is_some() {
                v / 100.0
            } else {
                v
            })
        })),
        How::HistogramSum => Points::Number(
            histogram_points(metric)
                .iter()
                .filter(|p| selected(source, &p.attributes))
                .filter_map(|p| {
                    Some(NumberDataPoint {
                        attributes: attributes(source, ctx, &p.attributes),
                        start_time_unix_nano: p.start_time_unix_nano,
                        time_unix_nano: p.time_unix_nano,
                        value: Some(number_data_point::Value::AsDouble(p.sum?)),
                        exemplars: Vec::new(),
                        flags: p.flags,
                    })
                })
                .collect(),
        ),
        How::Plus(name) => {
            let other = (ctx.other)(name);
            Points::Number(numbers(source, metric, ctx, |p| {
                Some(value(p)? + partner(other, p).and_then(value)?)
            }))
        }
        How::Over(key, value_of) => {
            let points = number_points(metric);
            Points::Number(numbers(source, metric, ctx, |p| {
                let den = points.iter().find(|q| {
                    label(&q.attributes, key) == Some(value_of)
                        && q.attributes
                            .iter()
                            .filter(|kv| kv.key != key)
                            .all(|kv| p.attributes.contains(kv))
                })?;
                let den = value(den)?;
                (den > 0.0).then(|| value(p).unwrap_or(0.0) / den)
            }))
        }
        How::DeltaRatio(total) | How::DeltaRatioWithMisses(total) => {
            let other = (ctx.other)(total);
            let with_misses = matches!(source.how, How::DeltaRatioWithMisses(_));
            Points::Number(numbers(source, metric, ctx, |p| {
                let hits = value(p)?;
                let rest = partner(other, p).and_then(value)?;
                let total = if with_misses { hits + rest } else { rest };
                let key = format!("{}{:?}", ctx.series_key, p.attributes);
                ctx.ratios.ratio(key, hits, total)
            }))
        }
    }
}

fn numbers(
    source: &Source,
    metric: &Metric,
    ctx: &Context<'_, '_>,
    f: impl Fn(&NumberDataPoint) -> Option<f64>,
) -> Vec<NumberDataPoint> {
    number_points(metric)
        .iter()
        .filter(|p| selected(source, &p.attributes))
        .filter_map(|p| {
            let v = f(p)?;
            Some(with_value(p, v, attributes(source, ctx, &p.attributes)))
        })
        .collect()
}

fn scaled_histogram(
    p: &HistogramDataPoint,
    f: f64,
    attributes: Vec<KeyValue>,
) -> HistogramDataPoint {
    let mut out = p.clone();
    out.attributes = attributes;
    if f != 1.0 {
        out.explicit_bounds.iter_mut().for_each(|b| *b *= f);
        out.sum = out.sum.map(|s| s * f);
        out.min = out.min.map(|s| s * f);
        out.max = out.max.map(|s| s * f);
        for e in &mut out.exemplars {
            if let Some(exemplar::Value::AsDouble(v)) = &mut e.value {
                *v *= f;
            }
        }
    }
    out
}
