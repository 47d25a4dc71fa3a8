//! What the debug exporter prints for each verbosity.

use llamacol_api::wire::hex;
use std::fmt::Write as _;

use llamacol_api::otlp::common::v1::{any_value, AnyValue, KeyValue};
use llamacol_api::otlp::metrics::v1::{metric, number_data_point};
use llamacol_api::Batch;

use super::config::Verbosity;
use llamacol_api::json::{to_json_pretty, JsonError};

/// The text printed for one batch; every line ends with a newline.
pub fn render(id: &str, batch: &mut Batch, verbosity: Verbosity) -> Result<String, JsonError> {
    let signal = batch.signal();
    let mut out = format!("{id}: {signal}: {} {}\n", batch.items(), signal.item_name());
    match verbosity {
        Verbosity::Basic => {}
        Verbosity::Normal => normal(batch, &mut out)?,
        Verbosity::Detailed => {
            out.push_str(&to_json_pretty(batch)?);
            out.push('\n');
        }
    }
    Ok(out)
}

fn normal(batch: &mut Batch, out: &mut String) -> Result<(), JsonError> {
    match batch {
        Batch::Traces(p) => {
            for rs in &p.message()?.resource_spans {
                for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                    let ms = span
                        .end_time_unix_nano
                        .saturating_sub(span.start_time_unix_nano)
                        as f64
                        / 1e6;
                    let status = span.status.as_ref().map_or(0, |s| s.code);
                    let _ = writeln!(
                        out,
                        "  span {} trace_id={} span_id={} duration={ms:.3}ms status={status} {}",
                        span.name,
                        hex(&span.trace_id),
                        hex(&span.span_id),
                        attrs(&span.attributes)
                    );
                }
            }
        }
        Batch::Metrics(p) => {
            for rm in &p.message()?.resource_metrics {
                for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                    match &m.data {
                        Some(metric::Data::Gauge(g)) => {
                            for dp in &g.data_points {
                                let _ = writeln!(
                                    out,
                                    "  gauge {}{{{}}} {}",
                                    m.name,
                                    attrs(&dp.attributes),
                                    number(&dp.value)
                                );
                            }
                        }
                        Some(metric::Data::Sum(s)) => {
                            for dp in &s.data_points {
                                let _ = writeln!(
                                    out,
                                    "  sum {}{{{}}} {}",
                                    m.name,
                                    attrs(&dp.attributes),
                                    number(&dp.value)
                                );
                            }
                        }
                        Some(metric::Data::Histogram(h)) => {
                            for dp in &h.data_points {
                                let _ = writeln!(
                                    out,
                                    "  histogram {}{{{}}} count={} sum={}",
                                    m.name,
                                    attrs(&dp.attributes),
                                    dp.count,
                                    dp.sum.unwrap_or(0.0)
                                );
                            }
                        }
                        Some(metric::Data::ExponentialHistogram(h)) => {
                            for dp in &h.data_points {
                                let _ = writeln!(
                                    out,
                                    "  exponential_histogram {}{{{}}} count={} sum={}",
                                    m.name,
                                    attrs(&dp.attributes),
                                    dp.count,
                                    dp.sum.unwrap_or(0.0)
                                );
                            }
                        }
                        Some(metric::Data::Summary(s)) => {
                            for dp in &s.data_points {
                                let _ = writeln!(
                                    out,
                                    "  summary {}{{{}}} count={} sum={}",
                                    m.name,
                                    attrs(&dp.attributes),
                                    dp.count,
                                    dp.sum
                                );
                            }
                        }
                        None => {}
                    }
                }
            }
        }
        Batch::Logs(p) => {
            for rl in &p.message()?.resource_logs {
                for r in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    let body = r.body.as_ref().map(value).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  log {} {} {}",
                        r.severity_text,
                        body,
                        attrs(&r.attributes)
                    );
                }
            }
        }
    }
    Ok(())
}

fn number(v: &Option<number_data_point::Value>) -> String {
    match v {
        Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
        Some(number_data_point::Value::AsInt(i)) => i.to_string(),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> String {
    kvs.iter()
        .map(|kv| {
            format!(
                "{}={}",
                kv.key,
                kv.value.as_ref().map(value).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn value(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => hex(b),
        Some(any_value::Value::ArrayValue(a)) => format!(
            "[{}]",
            a.values.iter().map(value).collect::<Vec<_>>().join(",")
        ),
        Some(any_value::Value::KvlistValue(l)) => format!("{{{}}}", attrs(&l.values)),
        Some(any_value::Value::StringValueStrindex(i)) => format!("strindex:{i}"),
        None => String::new(),
    }
}
