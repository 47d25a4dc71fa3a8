//! What the node's GPUs went through lately, so a component can tie it to the requests
//! running at the time: the `nvml` receiver records each GPU's readings every cycle,
//! every XID as it arrives, and events worth marking (an XID, the start of throttling);
//! the `genai` processor (`node_context`) asks what happened during a span, which marks
//! the events the span overlapped with its trace id (the live page lists them). One per
//! node context (`NodeContext::shared`), 15 minutes kept.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// How long readings and XIDs are kept: spans older than this on arrival get nothing.
pub const KEPT_NANOS: u64 = 15 * 60 * 1_000_000_000;
/// A bound on readings kept whatever the interval (8 GPUs at 1 s for 15 minutes fit).
const MAX_SAMPLES: usize = 16_384;
const MAX_XIDS: usize = 4_096;
const MAX_EVENTS: usize = 256;
/// GenAI requests kept for exemplars (the latest ones are what a cycle asks for).
const MAX_REQUESTS: usize = 4_096;
/// Trace ids kept per event: enough to open the requests an event hit.
const MAX_TRACES_PER_EVENT: usize = 16;

/// Reasons that mean the GPU was held back (not idle, not a clock setting).
pub const HELD_BACK: u64 = 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80;

/// NVML's clock throttle-reason bits (nvml.h `nvmlClocksThrottleReason*`), named as
/// series attributes and span attributes show them.
pub const THROTTLE_REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

/// The names of the reasons set in `bits`, in table order.
pub fn throttle_reason_names(bits: u64) -> Vec<&'static str> {
    THROTTLE_REASONS
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// One GPU's readings at one cycle (what was readable).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GpuSample {
    pub time_unix_nano: u64,
    pub uuid: String,
    pub temperature_c: Option<u32>,
    pub throttle_reasons: Option<u64>,
    pub memory_used_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GpuXid {
    pub time_unix_nano: u64,
    pub uuid: String,
    pub xid: u64,
}

/// Something worth marking on a timeline: an XID, a GPU starting to throttle.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuEvent {
    pub time_unix_nano: u64,
    pub uuid: String,
    /// What happened, as people read it ("XID 79: GPU has fallen off the bus").
    pub what: String,
    /// The GenAI requests (trace ids, hex) running when it happened, as their spans arrive.
    pub traces: Vec<String>,
}

/// A GenAI request seen by the `genai` processor: when it ran, and its span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeenRequest {
    pub start: u64,
    pub end: u64,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

/// The node's GPUs over one span: the worst of their readings and every XID.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GpuDuring {
    pub temperature_max_c: Option<u32>,
    /// Every throttle reason any GPU reported (bits).
    pub throttle_reasons: u64,
    pub memory_used_max_bytes: Option<u64>,
    /// XIDs during the span, in arrival order.
    pub xids: Vec<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    samples: VecDeque<GpuSample>,
    xids: VecDeque<GpuXid>,
    events: VecDeque<GpuEvent>,
    /// In arrival order.
    requests: VecDeque<SeenRequest>,
    /// The readings' interval: how far a reading before or after a span still tells
    /// about it.
    interval_nanos: u64,
}

/// Drops what is older than 15 minutes before `newest`, and the oldest beyond `max`.
fn trim<T>(q: &mut VecDeque<T>, newest: u64, max: usize, time: impl Fn(&T) -> u64) {
    let oldest = newest.saturating_sub(KEPT_NANOS);
    while q.front().is_some_and(|x| time(x) < oldest) || q.len() > max {
        q.pop_front();
    }
}

#[derive(Debug, Default)]
pub struct GpuTimeline {
    inner: Mutex<Inner>,
}

impl GpuTimeline {
    /// One cycle's readings, taken every `interval`.
    pub fn record(&self, samples: Vec<GpuSample>, interval: std::time::Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.interval_nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        let newest = samples.iter().map(|s| s.time_unix_nano).max().unwrap_or(0);
        inner.samples.extend(samples);
        trim(&mut inner.samples, newest, MAX_SAMPLES, |s| {
            s.time_unix_nano
        });
    }

    pub fn record_xid(&self, xid: GpuXid) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let newest = xid.time_unix_nano;
        inner.xids.push_back(xid);
        trim(&mut inner.xids, newest, MAX_XIDS, |x| x.time_unix_nano);
    }

    pub fn record_event(&self, event: GpuEvent) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let newest = event.time_unix_nano;
        inner.events.push_back(event);
        trim(&mut inner.events, newest, MAX_EVENTS, |e| e.time_unix_nano);
    }

    /// The request seen last that ran at some time from `from` to `to`.
    pub fn request_during(&self, from: u64, to: u64) -> Option<SeenRequest> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .requests
            .iter()
            .rev()
            .find(|r| r.start <= to && r.end >= from)
            .copied()
    }

    /// The events kept, oldest first.
    pub fn events(&self) -> Vec<GpuEvent> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.events.iter().cloned().collect()
    }

    /// What the GPUs went through from `start` to `end` (Unix ns): the readings taken
    /// during it, or when none was (a span shorter than the interval), the last one
    /// before it and the first after it, each within one interval; the XIDs that arrived
    /// during it. `None` when no reading covers the span and no XID came during it. The
    /// events during it are marked with `trace_id` (the span's, 16 bytes), and the span
    /// is kept as a request that ran then (exemplars).
    pub fn during(
        &self,
        start: u64,
        end: u64,
        trace_id: &[u8],
        span_id: &[u8],
    ) -> Option<GpuDuring> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        // No GPU read on this node (no nvml receiver): nothing to add, nothing to keep.
        if inner.samples.is_empty() && inner.xids.is_empty() {
            return None;
        }
        let end = end.max(start);
        if let (Ok(trace_id), Ok(span_id)) = (trace_id.try_into(), span_id.try_into()) {
            inner.requests.push_back(SeenRequest {
                start,
                end,
                trace_id,
                span_id,
            });
            if inner.requests.len() > MAX_REQUESTS {
                inner.requests.pop_front();
            }
        }
        // Readings arrive in time order: the span's are one range.
        let from = inner.samples.partition_point(|s| s.time_unix_nano < start);
        let to = inner.samples.partition_point(|s| s.time_unix_nano <= end);
        let covering: Vec<&GpuSample> = if from < to {
            inner.samples.range(from..to).collect()
        } else {
            // None during it: the cycle before it and the one after, within one interval
            // (every GPU's reading of those cycles).
            let reach = inner.interval_nanos;
            let before = from
                .checked_sub(1)
                .map(|i| inner.samples[i].time_unix_nano)
                .filter(|t| start - t <= reach);
            let after = inner
                .samples
                .get(to)
                .map(|s| s.time_unix_nano)
                .filter(|t| t - end <= reach);
            let cycle = |t: Option<u64>| {
                t.map_or(0..0, |t| {
                    inner.samples.partition_point(|s| s.time_unix_nano < t)
                        ..inner.samples.partition_point(|s| s.time_unix_nano <= t)
                })
            };
            let (b, a) = (cycle(before), cycle(after));
            inner
                .samples
                .range(b)
                .chain(inner.samples.range(a))
                .collect()
        };
        let mut during = GpuDuring::default();
        for s in covering {
            during.temperature_max_c = during.temperature_max_c.max(s.temperature_c);
            during.memory_used_max_bytes = during.memory_used_max_bytes.max(s.memory_used_bytes);
            during.throttle_reasons |= s.throttle_reasons.unwrap_or(0);
        }
        let from = inner.xids.partition_point(|x| x.time_unix_nano < start);
        let to = inner.xids.partition_point(|x| x.time_unix_nano <= end);
        during.xids = inner.xids.range(from..to).map(|x| x.xid).collect();
        let from = inner.events.partition_point(|e| e.time_unix_nano < start);
        let to = inner.events.partition_point(|e| e.time_unix_nano <= end);
        if from < to && !trace_id.is_empty() {
            let hex: String = trace_id.iter().map(|b| format!("{b:02x}")).collect();
            for e in inner.events.range_mut(from..to) {
                if e.traces.len() < MAX_TRACES_PER_EVENT && !e.traces.contains(&hex) {
                    e.traces.push(hex.clone());
                }
            }
        }
        (during != GpuDuring::default()).then_some(during)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: u64 = 1_000_000_000;

    fn sample(t: u64, uuid: &str, temp: u32, reasons: u64, used: u64) -> GpuSample {
        GpuSample {
            time_unix_nano: t * S,
            uuid: uuid.into(),
            temperature_c: Some(temp),
            throttle_reasons: Some(reasons),
            memory_used_bytes: Some(used),
        }
    }

    fn timeline() -> GpuTimeline {
        let t = GpuTimeline::default();
        for (at, temp, reasons) in [(100, 60, 0), (110, 84, 0x20), (120, 70, 0x4), (130, 65, 0)] {
            t.record(
                vec![
                    sample(at, "GPU-a", temp, reasons, at),
                    sample(at, "GPU-b", 50, 0, 1),
                ],
                Duration::from_secs(10),
            );
        }
        t.record_xid(GpuXid {
            time_unix_nano: 115 * S,
            uuid: "GPU-a".into(),
            xid: 79,
        });
        t
    }

    #[test]
    fn a_span_gets_the_worst_of_the_readings_during_it_and_its_xids() {
        let d = timeline()
            .during(105 * S, 125 * S, &[1; 16], &[1; 8])
            .expect("covered");
        assert_eq!(d.temperature_max_c, Some(84));
        assert_eq!(
            throttle_reason_names(d.throttle_reasons),
            ["sw_power_cap", "sw_thermal_slowdown"]
        );
        assert_eq!(d.memory_used_max_bytes, Some(120));
        assert_eq!(d.xids, [79]);
    }

    #[test]
    fn the_events_a_span_overlapped_are_marked_with_its_trace() {
        let t = timeline();
        let event = |at: u64| GpuEvent {
            time_unix_nano: at * S,
            uuid: "GPU-a".into(),
            what: "XID 79: GPU has fallen off the bus".into(),
            traces: Vec::new(),
        };
        t.record_event(event(115));
        t.record_event(event(140));
        t.during(110 * S, 120 * S, &[0xab; 16], &[1; 8]);
        t.during(112 * S, 118 * S, &[0xab; 16], &[2; 8]);
        t.during(100 * S, 101 * S, &[0xcd; 16], &[3; 8]);
        let events = t.events();
        assert_eq!(events[0].traces, ["ab".repeat(16)], "once per trace");
        assert!(events[1].traces.is_empty());
        let at = |s: u64| t.request_during(s * S, s * S).map(|r| r.span_id[0]);
        assert_eq!(at(115), Some(2), "the latest request running then");
        assert_eq!(at(100), Some(3));
        assert_eq!(at(130), None);
    }

    #[test]
    fn a_short_span_gets_the_readings_around_it() {
        let d = timeline()
            .during(111 * S, 112 * S, &[1; 16], &[1; 8])
            .expect("covered");
        assert_eq!(
            d.temperature_max_c,
            Some(84),
            "the reading at 110 s and at 120 s"
        );
        assert!(d.xids.is_empty(), "the XID came after the span");
        assert_eq!(
            timeline().during(200 * S, 201 * S, &[1; 16], &[1; 8]),
            None,
            "nothing within an interval"
        );
    }
}
