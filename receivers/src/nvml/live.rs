//! The GPU panel of the admin server's live page: one row per GPU per cycle, in the units
//! people read (percent, bytes, °C, W, MHz), and the throttle reasons active now.

use llamacol_api::gpu_timeline::GpuTimeline;
use llamacol_api::live::{Live, Panel};

use super::gpus::{DeviceInfo, Reading, THROTTLE_REASONS};

/// The live page's GPU panel (its key in `/api/live`).
pub const PANEL: Panel = Panel::new("gpus");

pub const COLUMNS: &[&str] = &[
    "utilization",
    "memory_used_bytes",
    "memory_total_bytes",
    "temperature",
    "power",
    "sm_clock",
    "memory_clock",
];

/// Records this cycle's readings of the physical GPUs (MIG instances have few readings of
/// their own; their GPU's row covers them).
pub fn record(live: &Live, devices: &[DeviceInfo], readings: &[Reading], now: f64) {
    for (d, r) in devices.iter().zip(readings) {
        if d.parent_uuid.is_some() {
            continue;
        }
        let throttled: Vec<&str> = match r.throttle_reasons {
            Ok(bits) => THROTTLE_REASONS
                .iter()
                .filter(|(bit, _)| bits & bit != 0)
                .map(|(_, name)| *name)
                .collect(),
            Err(_) => Vec::new(),
        };
        let info = serde_json::json!({
            "index": d.index,
            "uuid": d.uuid,
            "name": d.name,
            "pci_bus_id": d.pci_bus_id,
            "throttle_reasons": throttled,
        });
        let small = |v: &super::gpus::Read<u32>| v.as_ref().ok().map(|v| f64::from(*v));
        let large = |v: &super::gpus::Read<u64>| v.as_ref().ok().map(|v| *v as f64);
        let row = [
            small(&r.utilization_gpu),
            large(&r.memory_used_bytes),
            large(&r.memory_total_bytes),
            small(&r.temperature_c),
            small(&r.power_mw).map(|mw| mw / 1000.0),
            small(&r.clock_sm_mhz),
            small(&r.clock_memory_mhz),
        ];
        live.record(PANEL, &d.uuid, info, COLUMNS, now, &row);
    }
}

/// The live page's GPU events (XIDs, throttling starts), each with the GenAI requests it
/// overlapped: the page marks them on the GenAI latency chart.
pub const EVENTS: Panel = Panel::new("gpu_events");

/// Publishes the node's GPU events as they stand (their overlapped requests grow as the
/// spans arrive).
pub fn record_events(live: &Live, timeline: &GpuTimeline, devices: &[DeviceInfo], now: f64) {
    let events: Vec<serde_json::Value> = timeline
        .events()
        .into_iter()
        .map(|e| {
            let gpu = devices.iter().find(|d| d.uuid == e.uuid);
            serde_json::json!({
                "t": e.time_unix_nano as f64 / 1e9,
                "gpu": gpu.map(|d| d.index),
                "uuid": e.uuid,
                "what": e.what,
                "traces": e.traces,
            })
        })
        .collect();
    live.record(
        EVENTS,
        "events",
        serde_json::json!({ "events": events }),
        &[],
        now,
        &[],
    );
}
