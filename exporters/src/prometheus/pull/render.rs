//! Prometheus text exposition (0.0.4) and OpenMetrics 1.0 text, from a snapshot.

use std::fmt::Write as _;

use llamacol_api::exposition::{self, number, write_family};

use crate::prometheus::model::observe::{bucket_of, cumulative_buckets, Exemplar, Labels, Value};
use crate::prometheus::model::store::{FamilySnapshot, Point};
use crate::prometheus::model::translate::FamilyType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Prometheus,
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

pub fn render(families: &[FamilySnapshot], format: Format, timestamps: bool) -> String {
    let mut out = String::with_capacity(families.iter().map(|f| f.series.len() * 96).sum());
    for f in families {
        let om = format == Format::OpenMetrics;
        // OpenMetrics names a counter family without `_total`; its sample has it.
        let family_name = if om && f.family == FamilyType::Counter {
            f.name.strip_suffix("_total").unwrap_or(&f.name)
        } else {
            &f.name
        };
        write_family(&mut out, family_name, f.family.as_str(), &f.help);
        let mut series: Vec<&(std::sync::Arc<Labels>, std::sync::Arc<Point>)> =
            f.series.iter().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        for (labels, point) in series {
            let ts = if timestamps { point.time_ms } else { i64::MIN };
            let stamp = |out: &mut String| {
                if ts != i64::MIN {
                    if om {
                        let _ = write!(out, " {}", ts as f64 / 1000.0);
                    } else {
                        let _ = write!(out, " {ts}");
                    }
                }
            };
            // Native histograms as classic buckets: text has no native form.
            let Some(value) = point.value.classic() else {
                continue;
            };
            match value.as_ref() {
                Value::Number(v) => {
                    let sample = if om && f.family == FamilyType::Counter {
                        format!("{family_name}_total")
                    } else {
                        f.name.clone()
                    };
                    out.push_str(&sample);
                    write_labels(&mut out, labels, None);
                    let _ = write!(out, " {}", number(*v));
                    stamp(&mut out);
                    if let (true, Some(e)) =
                        (om && f.family == FamilyType::Counter, &point.exemplar)
                    {
                        write_exemplar(&mut out, e);
                    }
                    out.push('\n');
                }
                Value::Histogram {
                    count,
                    sum,
                    bounds,
                    counts,
                } => {
                    let exemplar_bucket =
                        point.exemplar.as_ref().map(|e| bucket_of(bounds, e.value));
                    for (i, (le, cumulative)) in
                        cumulative_buckets(bounds, counts).into_iter().enumerate()
                    {
                        let _ = write!(out, "{}_bucket", f.name);
                        write_labels(&mut out, labels, Some(("le", &le)));
                        let _ = write!(out, " {cumulative}");
                        stamp(&mut out);
                        if let (true, Some(e)) = (om && exemplar_bucket == Some(i), &point.exemplar)
                        {
                            write_exemplar(&mut out, e);
                        }
                        out.push('\n');
                    }
                    if let Some(s) = sum {
                        let _ = write!(out, "{}_sum", f.name);
                        write_labels(&mut out, labels, None);
                        let _ = write!(out, " {}", number(*s));
                        stamp(&mut out);
                        out.push('\n');
                    }
                    let _ = write!(out, "{}_count", f.name);
                    write_labels(&mut out, labels, None);
                    let _ = write!(out, " {count}");
                    stamp(&mut out);
                    out.push('\n');
                }
                Value::Summary {
                    count,
                    sum,
                    quantiles,
                } => {
                    for (q, v) in quantiles {
                        out.push_str(&f.name);
                        write_labels(&mut out, labels, Some(("quantile", &number(*q))));
                        let _ = write!(out, " {}", number(*v));
                        stamp(&mut out);
                        out.push('\n');
                    }
                    for (suffix, v) in [("_sum", number(*sum)), ("_count", count.to_string())] {
                        let _ = write!(out, "{}{suffix}", f.name);
                        write_labels(&mut out, labels, None);
                        let _ = write!(out, " {v}");
                        stamp(&mut out);
                        out.push('\n');
                    }
                }
                Value::Native(_) => {}
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn write_labels(out: &mut String, labels: &Labels, extra: Option<(&str, &str)>) {
    let labels = labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    exposition::write_labels(out, labels.chain(extra));
}

fn write_exemplar(out: &mut String, e: &Exemplar) {
    let _ = write!(
        out,
        " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {}",
        e.trace_id,
        e.span_id,
        number(e.value),
        e.time_ms as f64 / 1000.0
    );
}
