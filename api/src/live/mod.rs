//! What the admin server's live page shows (`GET /`, data at `/api/live`): components
//! record into this board through their node context, each into the panels it declares
//! (GPU readings, llama.cpp scrapes, GenAI rows, recent traces), and the engine adds the
//! pipeline's own rates once a second. Every series is a [`Ring`] of 15 minutes, so the board's memory is fixed by the
//! number of GPUs and targets; publishers take a lock for a copy of a few numbers, and the
//! trace list is offered with `try_lock`, so no batch ever waits for a page.

mod ring;
pub mod traces;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

pub use ring::{number, Ring, WINDOW_SECONDS};
use traces::{RecentTraces, TraceId};

use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;

/// A panel of the page, named by its key in `/api/live`. A component that feeds one
/// declares it as a constant (`nvml`: `Panel::new("gpus")`); the board names only its
/// own two: the pipeline's rates (the engine's sampler) and the recent-trace list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Panel(&'static str);

impl Panel {
    /// The pipeline's own rates and memory, recorded by the engine once a second.
    pub const PIPELINE: Panel = Panel("pipeline");
    /// Recent traces ([`Live::offer_traces`]).
    pub const TRACES: Panel = Panel("traces");

    pub const fn new(key: &'static str) -> Panel {
        Panel(key)
    }

    pub fn key(self) -> &'static str {
        self.0
    }
}

/// One series table and what is known about its subject now (a GPU's name and throttle
/// reasons, a target's model and health).
#[derive(Debug)]
struct Entry {
    info: serde_json::Value,
    ring: Ring,
}

#[derive(Debug, Default)]
struct Feeders {
    /// Component ids per panel.
    components: BTreeMap<Panel, Vec<String>>,
    /// Why a feeder has no data (e.g. "NVML is not available: ..."), per panel.
    notes: BTreeMap<Panel, BTreeMap<String, String>>,
}

#[derive(Debug, Default)]
pub struct Live {
    entries: Mutex<BTreeMap<(Panel, String), Entry>>,
    feeders: Mutex<Feeders>,
    traces: Mutex<RecentTraces>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Live {
    /// Says that `component` feeds `panel` (at build time), so the page can tell "no such
    /// component in this config" from "no data yet".
    pub fn feeds(&self, panel: Panel, component: &str) {
        let mut f = lock(&self.feeders);
        let list = f.components.entry(panel).or_default();
        if !list.iter().any(|c| c == component) {
            list.push(component.to_string());
        }
    }

    /// Why `component` has nothing for `panel` (`None` clears it).
    pub fn note(&self, panel: Panel, component: &str, why: Option<String>) {
        let mut f = lock(&self.feeders);
        let notes = f.notes.entry(panel).or_default();
        match why {
            Some(why) => notes.insert(component.to_string(), why),
            None => notes.remove(component),
        };
    }

    /// Records a row of `key`'s series in `panel` at `time` (Unix seconds), and its
    /// current `info`. The first row fixes the columns.
    pub fn record(
        &self,
        panel: Panel,
        key: &str,
        info: serde_json::Value,
        columns: &'static [&'static str],
        time: f64,
        values: &[Option<f64>],
    ) {
        let mut entries = lock(&self.entries);
        let entry = entries
            .entry((panel, key.to_string()))
            .or_insert_with(|| Entry {
                info: serde_json::Value::Null,
                ring: Ring::new(columns),
            });
        entry.info = info;
        entry.ring.push(time, values);
    }

    /// Offers a batch of spans to the trace list; `genai` holds the trace ids of its GenAI
    /// spans. Skipped (never waited for) while a page reads the list.
    pub fn offer_traces(&self, request: &ExportTraceServiceRequest, genai: &[TraceId]) {
        if let Ok(mut traces) = self.traces.try_lock() {
            traces.offer(request, genai);
        }
    }

    /// As [`Live::offer_traces`] for an encoded request (only kept traces' spans
    /// are decoded).
    pub fn offer_encoded_traces(&self, request: &[u8], genai: &[TraceId]) {
        if let Ok(mut traces) = self.traces.try_lock() {
            traces.offer_encoded(request, genai);
        }
    }

    /// One kept trace with its spans.
    pub fn trace(&self, id_hex: &str) -> Option<serde_json::Value> {
        lock(&self.traces).get(id_hex)
    }

    /// Everything after `since` (Unix seconds): per panel (the board's own two, and every
    /// panel a component feeds or recorded into), who feeds it, why some have no data,
    /// and per subject its info and the new rows. The page shows a panel no component
    /// feeds as not in this config.
    pub fn json_since(&self, since: f64) -> serde_json::Value {
        let mut panels = serde_json::Map::new();
        {
            let f = lock(&self.feeders);
            let entries = lock(&self.entries);
            let mut all: Vec<Panel> = vec![Panel::PIPELINE, Panel::TRACES];
            all.extend(f.components.keys().copied());
            all.extend(entries.keys().map(|(panel, _)| *panel));
            all.sort();
            all.dedup();
            for panel in all {
                panels.insert(
                    panel.key().into(),
                    serde_json::json!({
                        "components": f.components.get(&panel).cloned().unwrap_or_default(),
                        "notes": f.notes.get(&panel).cloned().unwrap_or_default(),
                        "series": {},
                    }),
                );
            }
        }
        for ((panel, key), entry) in lock(&self.entries).iter() {
            panels[panel.key()]["series"][key] = serde_json::json!({
                "info": entry.info,
                "rows": entry.ring.json_since(since),
            });
        }
        panels["traces"]["list"] = lock(&self.traces).list();
        serde_json::Value::Object(panels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_feeders_notes_and_series_per_panel() {
        const GPUS: Panel = Panel::new("gpus");
        let live = Live::default();
        live.feeds(GPUS, "nvml");
        live.note(GPUS, "nvml", Some("NVML is not available".into()));
        live.record(
            Panel::new("llamacpp"),
            "http://127.0.0.1:8080",
            serde_json::json!({"model": "tiny"}),
            &["up"],
            100.0,
            &[Some(1.0)],
        );
        let json = live.json_since(0.0);
        assert_eq!(json["gpus"]["components"], serde_json::json!(["nvml"]));
        assert_eq!(json["gpus"]["notes"]["nvml"], "NVML is not available");
        assert!(
            json.get("genai").is_none(),
            "a panel no one feeds is left out"
        );
        assert_eq!(json["pipeline"]["components"], serde_json::json!([]));
        let target = &json["llamacpp"]["series"]["http://127.0.0.1:8080"];
        assert_eq!(target["info"]["model"], "tiny");
        assert_eq!(target["rows"]["up"], serde_json::json!([1.0]));
        assert_eq!(
            live.json_since(100.0)["llamacpp"]["series"]["http://127.0.0.1:8080"]["rows"]["t"],
            serde_json::json!([])
        );
        live.note(GPUS, "nvml", None);
        assert_eq!(live.json_since(0.0)["gpus"]["notes"], serde_json::json!({}));
    }
}
