//! `service.telemetry.metrics.readers[].periodic`: llamacol's own metrics (what
//! `/metrics` serves) pushed over OTLP every `interval`, and once more at shutdown.
//! Counters (`_total`) become cumulative monotonic sums named without the suffix, as
//! OpenTelemetry names them; the rest gauges.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use llamacol_api::log_once::LogOnce;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use llamacol_api::{Batch, BoxError, Exporter, Signal};
use llamacol_pipeline::config::PeriodicReader;
use llamacol_pipeline::telemetry::Telemetry;
use llamacol_receivers::llamacpp::parse::{prometheus_text, Sample};
use tokio_util::sync::CancellationToken;

use super::otlp;

pub struct MetricsPush {
    place: String,
    reader: PeriodicReader,
}

impl MetricsPush {
    /// `place`: where the reader is in the config, for messages.
    pub fn new(place: String, reader: PeriodicReader) -> MetricsPush {
        MetricsPush { place, reader }
    }

    pub fn exporter(&self) -> Result<Option<Arc<dyn Exporter>>, BoxError> {
        let Some((protocol, push)) = self
            .reader
            .exporter
            .target()
            .map_err(|e| format!("{}: {e}", self.place))?
        else {
            return Ok(None);
        };
        otlp::exporter("telemetry/metrics", protocol, push, Signal::Metrics)
            .map(Some)
            .map_err(|e| format!("{}.exporter: {e}", self.place).into())
    }

    /// Pushes every `interval` until `cancel`, then once more.
    pub async fn run(
        self,
        exporter: Option<Arc<dyn Exporter>>,
        telemetry: Arc<Telemetry>,
        resource: Vec<(String, String)>,
        cancel: CancellationToken,
    ) {
        if let Some(e) = &exporter {
            if let Err(error) = e.start().await {
                tracing::warn!(target: super::TARGET, %error, place = %self.place, "cannot start the OTLP exporter for llamacol's own metrics; they are not pushed");
                return;
            }
        }
        let start = otlp::now_nanos();
        let resource = otlp::resource(&resource);
        let failures = LogOnce::new();
        let timeout = Duration::from_millis(self.reader.timeout);
        let mut ticks = tokio::time::interval(Duration::from_millis(self.reader.interval));
        ticks.tick().await;
        loop {
            let last = tokio::select! {
                _ = ticks.tick() => false,
                () = cancel.cancelled() => true,
            };
            let request = ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: Some(resource.clone()),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(otlp::scope()),
                        metrics: metrics(&telemetry.render(), start, otlp::now_nanos()),
                        ..ScopeMetrics::default()
                    }],
                    ..ResourceMetrics::default()
                }],
            };
            match &exporter {
                Some(exporter) => {
                    let mut batch = Batch::from(request);
                    let error =
                        match tokio::time::timeout(timeout, exporter.export(&mut batch)).await {
                            Ok(Ok(())) => None,
                            Ok(Err(e)) => Some(e.to_string()),
                            Err(_) => Some(format!(
                                "no answer within the reader's timeout ({timeout:?})"
                            )),
                        };
                    if let Some(error) = error.filter(|e| failures.is_new(e)) {
                        tracing::warn!(target: super::TARGET, %error, place = %self.place, "pushing llamacol's own metrics failed; the next push sends the current values");
                    }
                }
                None => print_console(&request),
            }
            if last {
                break;
            }
        }
        if let Some(e) = exporter {
            let _ = e.shutdown().await;
        }
    }
}

/// The `console` exporter: one JSON line per push on stdout.
#[allow(clippy::print_stdout)]
fn print_console(request: &ExportMetricsServiceRequest) {
    if let Ok(line) = serde_json::to_string(request) {
        println!("{line}");
    }
}

/// `/metrics` text as OTLP metrics.
pub fn metrics(text: &str, start: u64, now: u64) -> Vec<Metric> {
    let Ok(samples) = prometheus_text(text) else {
        return Vec::new();
    };
    let mut families: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for sample in &samples {
        families
            .entry(sample.name.as_str())
            .or_default()
            .push(sample);
    }
    families
        .into_iter()
        .map(|(name, samples)| {
            let points = |start: u64| -> Vec<NumberDataPoint> {
                samples
                    .iter()
                    .map(|s| NumberDataPoint {
                        attributes: s
                            .labels
                            .iter()
                            .map(|(k, v)| otlp::string_attribute(k, v))
                            .collect::<Vec<KeyValue>>(),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        value: Some(if s.value.fract() == 0.0 && s.value.abs() < 9e15 {
                            number_data_point::Value::AsInt(s.value as i64)
                        } else {
                            number_data_point::Value::AsDouble(s.value)
                        }),
                        ..NumberDataPoint::default()
                    })
                    .collect()
            };
            match name.strip_suffix("_total") {
                Some(base) => Metric {
                    name: base.to_string(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: points(start),
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })),
                    ..Metric::default()
                },
                None => Metric {
                    name: name.to_string(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points(0),
                    })),
                    ..Metric::default()
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_cumulative_sums_without_total_and_the_rest_gauges() {
        let text = "# TYPE llamacol_exporter_sent_items_total counter\nllamacol_exporter_sent_items_total{component=\"otlp\",signal=\"traces\"} 42\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.5e7\n";
        let out = metrics(text, 1, 2);
        assert_eq!(out.len(), 2);
        let sent = out
            .iter()
            .find(|m| m.name == "llamacol_exporter_sent_items")
            .expect("sum");
        let Some(metric::Data::Sum(sum)) = &sent.data else {
            panic!("a sum: {sent:?}");
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(42))
        );
        assert_eq!(sum.data_points[0].attributes.len(), 2);
        let rss = out
            .iter()
            .find(|m| m.name == "process_resident_memory_bytes")
            .expect("gauge");
        assert!(matches!(rss.data, Some(metric::Data::Gauge(_))));
    }
}
