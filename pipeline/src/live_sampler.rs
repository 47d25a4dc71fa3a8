//! Once a second: the pipeline's own rates (from the self-telemetry counters) and the
//! process's memory, into the board's pipeline panel. Components record their own
//! panels.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::component::Kind;
use crate::live::{number, Panel};
use crate::telemetry::{scope_json, Scope, Telemetry, OUTCOME_NAMES};

/// The columns of the pipeline chart: the process's resident memory, and items per
/// second received, sent, refused (to senders), failed (exports) and dropped.
pub const PIPELINE_COLUMNS: &[&str] = &[
    "memory_bytes",
    "received",
    "sent",
    "refused",
    "failed",
    "dropped",
];

/// Runs until `cancel`; the admin server starts it.
pub async fn sample_every_second(telemetry: Arc<Telemetry>, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sampler = Sampler::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = cancel.cancelled() => return,
        }
        sampler.sample(&telemetry, crate::clock::unix_seconds());
    }
}

struct Sampler {
    last: Option<(f64, BTreeMap<Scope, [u64; 9]>)>,
}

impl Sampler {
    fn new() -> Sampler {
        Sampler { last: None }
    }

    fn sample(&mut self, telemetry: &Telemetry, now: f64) {
        let live = telemetry.node().live();
        let snapshot = telemetry.snapshot();
        let (since, before) = match &self.last {
            Some((t, values)) => (now - t, Some(values)),
            None => (0.0, None),
        };
        // Per scope, each counter per second since the last sample.
        let mut totals = [0.0f64; 5];
        let components: Vec<serde_json::Value> = snapshot
            .iter()
            .map(|(scope, values)| {
                let rates: Vec<Option<f64>> = (0..values.len())
                    .map(|i| {
                        let earlier = before?.get(scope)?[i];
                        (since > 0.0).then(|| values[i].saturating_sub(earlier) as f64 / since)
                    })
                    .collect();
                let rate = |i: usize| rates[i].unwrap_or(0.0);
                match (scope.kind, &scope.pipeline) {
                    (Kind::Receiver, _) => {
                        totals[0] += rate(0);
                        totals[2] += rate(1);
                    }
                    (Kind::Exporter, None) => {
                        totals[1] += rate(2);
                        totals[3] += rate(3);
                    }
                    _ => {}
                }
                totals[4] += rate(4);
                let mut json = scope_json(scope, values);
                json["per_second"] = OUTCOME_NAMES
                    .iter()
                    .zip(&rates)
                    .map(|(name, r)| {
                        (
                            (*name).to_string(),
                            r.map_or(serde_json::Value::Null, number),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into();
                json
            })
            .collect();
        let info = serde_json::json!({
            "ready": telemetry.is_ready(),
            "pipelines": telemetry.pipelines(),
            "components": components,
            "queues": telemetry.queue_snapshot().iter().map(|q| q.json()).collect::<Vec<_>>(),
        });
        let memory = crate::memory::resident_bytes().map(|b| b as f64);
        let rates = totals.map(|v| before.map(|_| v));
        let row = [memory, rates[0], rates[1], rates[2], rates[3], rates[4]];
        live.record(
            Panel::PIPELINE,
            "process",
            info,
            PIPELINE_COLUMNS,
            now,
            &row,
        );
        self.last = Some((now, snapshot.into_iter().collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Signal;
    use crate::telemetry::Counters;

    #[test]
    fn rows_carry_per_second_rates_of_the_counters() {
        let telemetry = Telemetry::new();
        let receiver = telemetry.counters(Scope {
            kind: Kind::Receiver,
            component: "otlp".into(),
            signal: Signal::Traces,
            pipeline: None,
        });
        let exporter = telemetry.counters(Scope {
            kind: Kind::Exporter,
            component: "debug".into(),
            signal: Signal::Traces,
            pipeline: None,
        });
        let mut sampler = Sampler::new();
        sampler.sample(&telemetry, 100.0);
        Counters::add(&receiver.accepted, 200);
        Counters::add(&receiver.refused, 10);
        Counters::add(&exporter.sent, 150);
        Counters::add(&exporter.dropped, 4);
        sampler.sample(&telemetry, 102.0);
        let json = telemetry.node().live().json_since(100.0);
        let process = &json["pipeline"]["series"]["process"];
        assert_eq!(process["rows"]["received"], serde_json::json!([100.0]));
        assert_eq!(process["rows"]["sent"], serde_json::json!([75.0]));
        assert_eq!(process["rows"]["refused"], serde_json::json!([5.0]));
        assert_eq!(process["rows"]["dropped"], serde_json::json!([2.0]));
        let components = process["info"]["components"].as_array().expect("list");
        let otlp = components
            .iter()
            .find(|c| c["component"] == "otlp")
            .expect("otlp");
        assert_eq!(otlp["accepted"], 200);
        assert_eq!(otlp["per_second"]["accepted"], 100.0);
        assert!(
            json.get("genai").is_none(),
            "the engine records only its own panel"
        );
    }
}
