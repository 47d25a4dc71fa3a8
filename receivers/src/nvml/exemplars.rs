//! Exemplars on the GPU counters (`exemplars: true`), linking them to the GenAI requests
//! that ran at the time (the `genai` processor records them on the node's GPU timeline
//! with `node_context: true`): on `nvml.xid.errors`, the request running when that XID
//! last came; on `nvml.throttle.duration`, one that ran during the last interval, for the
//! policies that held the GPU back at all. A request's span reaches llamacol after it
//! ends, so an exemplar may appear a cycle or two after its XID. Semconv naming only:
//! dcgm-exporter has no exemplars.

use std::time::Duration;

use llamacol_api::gpu_timeline::{GpuTimeline, SeenRequest};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::otlp::metrics::v1::number_data_point::Value as PointValue;
use llamacol_api::otlp::metrics::v1::{exemplar, metric, Exemplar, NumberDataPoint};
use llamacol_api::wire::attrs::{get, get_str};

use super::xid::XidCounts;

/// How far back a request may have run and still be an exemplar of this cycle: spans are
/// exported some seconds after they end (the SDKs batch them).
const LATE: Duration = Duration::from_secs(30);

fn value(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(PointValue::AsDouble(d)) => d,
        Some(PointValue::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

fn exemplar_of(r: &SeenRequest, p: &NumberDataPoint) -> Exemplar {
    Exemplar {
        filtered_attributes: Vec::new(),
        time_unix_nano: r.end,
        value: Some(exemplar::Value::AsDouble(value(p))),
        span_id: r.span_id.to_vec(),
        trace_id: r.trace_id.to_vec(),
    }
}

/// Adds the exemplars to this cycle's `request` (taken at `now`, every `interval`).
pub fn attach(
    request: &mut ExportMetricsServiceRequest,
    timeline: &GpuTimeline,
    xids: &XidCounts,
    now: u64,
    interval: Duration,
) {
    let since = now.saturating_sub(u64::try_from((interval + LATE).as_nanos()).unwrap_or(0));
    let recent = timeline.request_during(since, now);
    let metrics = request
        .resource_metrics
        .iter_mut()
        .flat_map(|r| &mut r.scope_metrics)
        .flat_map(|s| &mut s.metrics);
    for m in metrics {
        let Some(metric::Data::Sum(sum)) = &mut m.data else {
            continue;
        };
        for p in &mut sum.data_points {
            let seen = match m.name.as_str() {
                "nvml.xid.errors" => {
                    let uuid = get_str(&p.attributes, "hw.id")
                        .unwrap_or_default()
                        .to_string();
                    let code = match get(&p.attributes, "nvml.xid").as_deref() {
                        Some(any_value::Value::IntValue(c)) => u64::try_from(*c).unwrap_or(0),
                        _ => 0,
                    };
                    xids.last_time
                        .get(&(uuid, code))
                        .and_then(|at| timeline.request_during(*at, *at))
                }
                "nvml.throttle.duration" if value(p) > 0.0 => recent,
                _ => None,
            };
            if let Some(r) = seen {
                let e = exemplar_of(&r, p);
                p.exemplars = vec![e];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nvml::fake::FakeGpus;
    use crate::nvml::gpus::{Gpus, XidEvent};
    use crate::nvml::{collect, NvmlConfig};
    use llamacol_api::gpu_timeline::{GpuSample, GpuXid};

    const S: u64 = 1_000_000_000;

    #[test]
    fn the_xid_counter_points_at_the_request_running_when_it_came() {
        let gpus = FakeGpus::new(2);
        let devices = gpus.devices().expect("devices");
        let mut xids = XidCounts::default();
        let uuid = devices[1].uuid.clone();
        xids.record(&XidEvent {
            uuid: uuid.clone(),
            xid: 79,
            time_unix_nano: 1_000 * S,
        });
        // As the receiver fills it: the cycle's readings and the XID.
        let timeline = GpuTimeline::default();
        let sample = GpuSample {
            time_unix_nano: 1_000 * S,
            uuid: uuid.clone(),
            ..Default::default()
        };
        timeline.record(vec![sample], Duration::from_secs(10));
        timeline.record_xid(GpuXid {
            time_unix_nano: 1_000 * S,
            uuid: uuid.clone(),
            xid: 79,
        });
        timeline.during(990 * S, 1_005 * S, &[7; 16], &[8; 8]);
        timeline.during(1_010 * S, 1_012 * S, &[9; 16], &[10; 8]);
        let config = NvmlConfig::default();
        let mut request = collect(&gpus, &devices, &config, "560", "node", 1, &xids).request;
        attach(
            &mut request,
            &timeline,
            &xids,
            1_015 * S,
            Duration::from_secs(10),
        );
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let points = |name: &str| match &metrics.iter().find(|m| m.name == name).expect(name).data {
            Some(metric::Data::Sum(s)) => s.data_points.clone(),
            _ => panic!("{name} is a sum"),
        };
        let xid = &points("nvml.xid.errors")[0];
        assert_eq!(xid.exemplars.len(), 1);
        assert_eq!(
            xid.exemplars[0].trace_id, [7; 16],
            "the request running at the XID"
        );
        assert_eq!(xid.exemplars[0].span_id, [8; 8]);
        let throttled: Vec<_> = points("nvml.throttle.duration")
            .into_iter()
            .map(|p| {
                (
                    value(&p) > 0.0,
                    p.exemplars.first().map(|e| e.trace_id.clone()),
                )
            })
            .collect();
        assert!(
            throttled.iter().all(|(held, e)| *held == e.is_some()),
            "{throttled:?}"
        );
        assert!(
            throttled
                .iter()
                .any(|(_, e)| e.as_deref() == Some(&[9; 16][..])),
            "the latest request"
        );
    }
}
