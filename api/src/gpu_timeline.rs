//! What the node's GPUs went through lately, so a component can tie it to the requests
//! running at the time: the `nvml` receiver records each GPU's readings every cycle and
//! every XID as it arrives; the `genai` processor (`node_context`) asks what happened
//! during a span. One per node context (`NodeContext::shared`), 15 minutes kept.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// How long readings and XIDs are kept: spans older than this on arrival get nothing.
pub const KEPT_NANOS: u64 = 15 * 60 * 1_000_000_000;
/// A bound on readings kept whatever the interval (8 GPUs at 1 s for 15 minutes fit).
const MAX_SAMPLES: usize = 16_384;
const MAX_XIDS: usize = 4_096;

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
    /// The readings' interval: how far a reading before or after a span still tells
    /// about it.
    interval_nanos: u64,
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
        let oldest = newest.saturating_sub(KEPT_NANOS);
        while inner
            .samples
            .front()
            .is_some_and(|s| s.time_unix_nano < oldest)
            || inner.samples.len() > MAX_SAMPLES
        {
            inner.samples.pop_front();
        }
    }

    pub fn record_xid(&self, xid: GpuXid) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = xid.time_unix_nano.saturating_sub(KEPT_NANOS);
        inner.xids.push_back(xid);
        while inner
            .xids
            .front()
            .is_some_and(|x| x.time_unix_nano < oldest)
            || inner.xids.len() > MAX_XIDS
        {
            inner.xids.pop_front();
        }
    }

    /// What the GPUs went through from `start` to `end` (Unix ns): the readings taken
    /// during it, or when none was (a span shorter than the interval), the last one
    /// before it and the first after it, each within one interval; the XIDs that arrived
    /// during it. `None` when no reading covers the span and no XID came during it.
    pub fn during(&self, start: u64, end: u64) -> Option<GpuDuring> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let end = end.max(start);
        let mut inside = inner
            .samples
            .iter()
            .filter(|s| (start..=end).contains(&s.time_unix_nano))
            .peekable();
        let covering: Vec<&GpuSample> = if inside.peek().is_some() {
            inside.collect()
        } else {
            let reach = inner.interval_nanos;
            let before = inner
                .samples
                .iter()
                .rev()
                .filter(|s| s.time_unix_nano < start && start - s.time_unix_nano <= reach)
                .map(|s| s.time_unix_nano)
                .next();
            let after = inner
                .samples
                .iter()
                .filter(|s| s.time_unix_nano > end && s.time_unix_nano - end <= reach)
                .map(|s| s.time_unix_nano)
                .next();
            // Every GPU's reading of those one or two cycles.
            inner
                .samples
                .iter()
                .filter(|s| Some(s.time_unix_nano) == before || Some(s.time_unix_nano) == after)
                .collect()
        };
        let mut during = GpuDuring::default();
        for s in covering {
            during.temperature_max_c = during.temperature_max_c.max(s.temperature_c);
            during.memory_used_max_bytes = during.memory_used_max_bytes.max(s.memory_used_bytes);
            during.throttle_reasons |= s.throttle_reasons.unwrap_or(0);
        }
        during.xids = inner
            .xids
            .iter()
            .filter(|x| (start..=end).contains(&x.time_unix_nano))
            .map(|x| x.xid)
            .collect();
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
        let d = timeline().during(105 * S, 125 * S).expect("covered");
        assert_eq!(d.temperature_max_c, Some(84));
        assert_eq!(
            throttle_reason_names(d.throttle_reasons),
            ["sw_power_cap", "sw_thermal_slowdown"]
        );
        assert_eq!(d.memory_used_max_bytes, Some(120));
        assert_eq!(d.xids, [79]);
    }

    #[test]
    fn a_short_span_gets_the_readings_around_it() {
        let d = timeline().during(111 * S, 112 * S).expect("covered");
        assert_eq!(
            d.temperature_max_c,
            Some(84),
            "the reading at 110 s and at 120 s"
        );
        assert!(d.xids.is_empty(), "the XID came after the span");
        assert_eq!(
            timeline().during(200 * S, 201 * S),
            None,
            "nothing within an interval"
        );
    }
}
