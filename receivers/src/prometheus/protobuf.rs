//! The protobuf exposition (`io.prometheus.client.MetricFamily`, length-delimited), which
//! a job asks for first with `scrape_native_histograms`: families as the text parser
//! gives them (so translation, relabeling and limits are the same), native histograms
//! beside them. A histogram is native as Prometheus' `protobufparse` decides
//! (`isNativeHistogram`: a span, a zero threshold or a zero count); its classic buckets
//! are kept too only with `always_scrape_classic_histograms`.

use llamacol_api::client_model::{
    self as pb, Histogram, LabelPair, MetricFamily, MetricType, Timestamp,
};
use prost::Message;

use super::parse::{Exemplar, Family, Kind, Labels, Native, NativeSample, Sample};

/// The families of a delimited body.
pub fn parse(mut body: &[u8], classic_too: bool) -> Result<Vec<Family>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let family = MetricFamily::decode_length_delimited(&mut body)
            .map_err(|e| format!("protobuf family {} cannot be decoded: {e}", out.len() + 1))?;
        out.push(family_of(family, classic_too)?);
    }
    Ok(out)
}

fn labels(pairs: &[LabelPair]) -> Labels {
    pairs
        .iter()
        .map(|l| {
            (
                l.name.clone().unwrap_or_default(),
                l.value.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn with(mut labels: Labels, key: &str, value: String) -> Labels {
    labels.push((key.to_string(), value));
    labels
}

fn exemplar(e: &pb::Exemplar) -> Exemplar {
    Exemplar {
        labels: labels(&e.label),
        value: e.value.unwrap_or(0.0),
        timestamp_s: e
            .timestamp
            .as_ref()
            .map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9),
    }
}

fn created(t: Option<&Timestamp>) -> Option<u64> {
    t.map(Timestamp::unix_nanos).filter(|ns| *ns > 0)
}

/// A bound as Prometheus writes `le` and `quantile` (`+Inf`, shortest round-trip digits).
fn float_label(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn family_of(f: MetricFamily, classic_too: bool) -> Result<Family, String> {
    let name = f.name.clone().unwrap_or_default();
    let kind = match f.r#type.and_then(|t| MetricType::try_from(t).ok()) {
        Some(MetricType::Counter) => Kind::Counter,
        Some(MetricType::Gauge) => Kind::Gauge,
        Some(MetricType::Summary) => Kind::Summary,
        Some(MetricType::Histogram) => Kind::Histogram,
        Some(MetricType::GaugeHistogram) => Kind::GaugeHistogram,
        Some(MetricType::Untyped) | None => Kind::Unknown,
    };
    let mut out = Family {
        name: name.clone(),
        kind,
        help: f.help.unwrap_or_default(),
        unit: f.unit.unwrap_or_default(),
        samples: Vec::new(),
        native: Vec::new(),
    };
    for m in f.metric {
        let labels = labels(&m.label);
        let sample = |suffix: &str, labels: Labels, value: f64| Sample {
            name: format!("{name}{suffix}"),
            labels,
            value,
            timestamp_ms: m.timestamp_ms,
            exemplar: None,
            created_ns: None,
        };
        match kind {
            Kind::Counter => {
                let c = m.counter.unwrap_or_default();
                out.samples.push(Sample {
                    exemplar: c.exemplar.as_ref().map(exemplar),
                    created_ns: created(c.created_timestamp.as_ref()),
                    ..sample("", labels, c.value.unwrap_or(0.0))
                });
            }
            Kind::Gauge => {
                let v = m.gauge.and_then(|g| g.value).unwrap_or(0.0);
                out.samples.push(sample("", labels, v));
            }
            Kind::Unknown => {
                let v = m.untyped.and_then(|u| u.value).unwrap_or(0.0);
                out.samples.push(sample("", labels, v));
            }
            Kind::Summary => {
                let s = m.summary.unwrap_or_default();
                let created_ns = created(s.created_timestamp.as_ref());
                for q in &s.quantile {
                    let l = with(
                        labels.clone(),
                        "quantile",
                        float_label(q.quantile.unwrap_or(0.0)),
                    );
                    out.samples.push(Sample {
                        created_ns,
                        ..sample("", l, q.value.unwrap_or(0.0))
                    });
                }
                out.samples.push(Sample {
                    created_ns,
                    ..sample("_sum", labels.clone(), s.sample_sum.unwrap_or(0.0))
                });
                out.samples.push(Sample {
                    created_ns,
                    ..sample("_count", labels, s.sample_count.unwrap_or(0) as f64)
                });
            }
            Kind::Histogram | Kind::GaugeHistogram => {
                let h = m.histogram.unwrap_or_default();
                let native = is_native(&h);
                if native {
                    out.native.push(NativeSample {
                        labels: labels.clone(),
                        timestamp_ms: m.timestamp_ms,
                        histogram: native_of(&h, kind == Kind::GaugeHistogram)?,
                        created_ns: created(h.created_timestamp.as_ref()),
                        exemplars: h.exemplars.iter().map(exemplar).collect(),
                    });
                }
                if !native || classic_too {
                    classic(&h, kind, &labels, &sample, &mut out.samples);
                }
            }
            Kind::Info | Kind::StateSet => {}
        }
    }
    Ok(out)
}

/// `protobufparse`'s `isNativeHistogram`.
fn is_native(h: &Histogram) -> bool {
    !h.positive_span.is_empty()
        || !h.negative_span.is_empty()
        || h.zero_threshold.unwrap_or(0.0) > 0.0
        || h.zero_count.unwrap_or(0) > 0
        || h.zero_count_float.unwrap_or(0.0) > 0.0
}

/// The classic buckets as `_bucket`/`_sum`/`_count` samples (`_gsum`/`_gcount` for a
/// gauge histogram); the `+Inf` bucket, which client libraries leave implied by the
/// count, added.
fn classic(
    h: &Histogram,
    kind: Kind,
    labels: &Labels,
    sample: &dyn Fn(&str, Labels, f64) -> Sample,
    out: &mut Vec<Sample>,
) {
    let created_ns = created(h.created_timestamp.as_ref());
    let count = h
        .sample_count_float
        .filter(|c| *c > 0.0)
        .unwrap_or(h.sample_count.unwrap_or(0) as f64);
    let mut saw_inf = false;
    for b in &h.bucket {
        let bound = b.upper_bound.unwrap_or(f64::INFINITY);
        saw_inf |= bound == f64::INFINITY;
        let value = b
            .cumulative_count_float
            .filter(|c| *c > 0.0)
            .unwrap_or(b.cumulative_count.unwrap_or(0) as f64);
        out.push(Sample {
            exemplar: b.exemplar.as_ref().map(exemplar),
            created_ns,
            ..sample(
                "_bucket",
                with(labels.clone(), "le", float_label(bound)),
                value,
            )
        });
    }
    if !saw_inf {
        out.push(Sample {
            created_ns,
            ..sample("_bucket", with(labels.clone(), "le", "+Inf".into()), count)
        });
    }
    let (sum, cnt) = if kind == Kind::GaugeHistogram {
        ("_gsum", "_gcount")
    } else {
        ("_sum", "_count")
    };
    out.push(Sample {
        created_ns,
        ..sample(sum, labels.clone(), h.sample_sum.unwrap_or(0.0))
    });
    out.push(Sample {
        created_ns,
        ..sample(cnt, labels.clone(), count)
    });
}

/// Spans and deltas (or float counts) as one run of buckets from the first index.
fn buckets(
    spans: &[pb::BucketSpan],
    deltas: &[i64],
    counts: &[f64],
) -> Result<(i32, Vec<f64>), String> {
    let values: Vec<f64> = if counts.is_empty() {
        let mut running = 0i64;
        deltas
            .iter()
            .map(|d| {
                running += d;
                running as f64
            })
            .collect()
    } else {
        counts.to_vec()
    };
    let mut first = None;
    let mut dense = Vec::new();
    let mut index = 0i32;
    let mut next = values.iter();
    for (i, span) in spans.iter().enumerate() {
        let offset = span.offset.unwrap_or(0);
        index = if i == 0 { offset } else { index + offset };
        let length = span.length.unwrap_or(0);
        if length == 0 {
            continue;
        }
        let start = *first.get_or_insert(index);
        let at = (index - start) as usize;
        if dense.len() < at {
            dense.resize(at, 0.0);
        }
        for _ in 0..length {
            dense.push(
                *next
                    .next()
                    .ok_or("native histogram spans longer than its counts")?,
            );
        }
        index += length as i32;
    }
    if next.next().is_some() {
        return Err("native histogram counts beyond its spans".into());
    }
    Ok((first.unwrap_or(0), dense))
}

fn native_of(h: &Histogram, gauge: bool) -> Result<Native, String> {
    let float = h.sample_count_float.unwrap_or(0.0) > 0.0
        || !h.positive_count.is_empty()
        || !h.negative_count.is_empty();
    Ok(Native {
        schema: h.schema.unwrap_or(0),
        zero_threshold: h.zero_threshold.unwrap_or(0.0),
        zero_count: if float {
            h.zero_count_float.unwrap_or(0.0)
        } else {
            h.zero_count.unwrap_or(0) as f64
        },
        count: if float {
            h.sample_count_float.unwrap_or(0.0)
        } else {
            h.sample_count.unwrap_or(0) as f64
        },
        sum: h.sample_sum.unwrap_or(0.0),
        positive: buckets(&h.positive_span, &h.positive_delta, &h.positive_count)?,
        negative: buckets(&h.negative_span, &h.negative_delta, &h.negative_count)?,
        gauge,
    })
}

#[cfg(test)]
mod tests;
