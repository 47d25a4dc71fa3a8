//! What the Prometheus exporters share (the `prometheus` pull exporter and
//! `prometheusremotewrite`): OTLP metrics translated into Prometheus series as the
//! OpenTelemetry spec and the Collector translate them (`translate.rs`, `observe.rs`), and
//! the store of current series they accumulate in (`store.rs`), behind [`Ingest`].

pub mod native;
pub mod observe;
pub mod store;
pub mod translate;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use llamacol_api::{Batch, ConsumeError, OutcomeCounter};
use serde::Deserialize;

use observe::Options;
use store::{Refused, Store};

/// `resource_to_telemetry_conversion`, as the Collector's Prometheus exporters take it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceToTelemetry {
    /// Copy every resource attribute onto every series (besides `target_info`).
    pub enabled: bool,
}

/// The accumulated series and the bookkeeping of what could not be translated.
pub struct Ingest {
    pub store: Mutex<Store>,
    dropped: OutcomeCounter,
    warned: Mutex<HashSet<String>>,
}

impl Ingest {
    pub fn new(dropped: OutcomeCounter) -> Ingest {
        Ingest {
            store: Mutex::new(Store::default()),
            dropped,
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Translates a metrics batch into the store; returns the resulting points (for
    /// remote write). What cannot be translated is counted as dropped and logged once
    /// per metric and reason.
    pub fn ingest(
        &self,
        id: &str,
        batch: &mut Batch,
        options: &Options,
    ) -> Result<Vec<(observe::Observation, Arc<store::Point>)>, ConsumeError> {
        let Batch::Metrics(payload) = batch else {
            return Ok(Vec::new());
        };
        let request = payload.message().map_err(ConsumeError::permanent)?;
        let (observations, dropped) =
            observe::observe(request, options, now_ms()).map_err(ConsumeError::permanent)?;
        for (metric, reason, points) in dropped {
            self.drop_points(id, &metric, reason, points);
        }
        let now = Instant::now();
        let mut applied = Vec::with_capacity(observations.len());
        let mut conflicts = Vec::new();
        {
            let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
            for obs in observations {
                let probe = obs.clone();
                match store.apply(obs, now) {
                    Ok(point) => applied.push((probe, point)),
                    Err(Refused::TypeConflict { existing }) => {
                        conflicts.push((probe.name, existing))
                    }
                }
            }
        }
        for (name, existing) in conflicts {
            self.drop_points(
                id,
                &name,
                if existing == translate::FamilyType::Counter {
                    "name already used by a counter"
                } else {
                    "name already used by a metric of another type"
                },
                1,
            );
        }
        Ok(applied)
    }

    fn drop_points(&self, id: &str, metric: &str, reason: &'static str, points: usize) {
        self.dropped.add(points);
        let key = format!("{metric}\u{0}{reason}");
        if self
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key)
        {
            tracing::warn!(component = %id, metric, reason, "metric points dropped (counted; logged once per metric)");
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
