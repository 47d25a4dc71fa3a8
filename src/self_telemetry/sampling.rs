//! `service.telemetry.logs.sampling`: zap's sampler, the Collector's behaviour. Within
//! each `tick`, the first `initial` events from one place in the code are written, then
//! every `thereafter`th (0: none more). zap keys by level and message; the callsite is
//! that, for llamacol's constant messages.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use llamacol_pipeline::config::LogSampling;

pub struct SamplingLayer {
    tick: Duration,
    initial: u64,
    thereafter: u64,
    seen: Mutex<HashMap<Identifier, (Instant, u64)>>,
}

impl SamplingLayer {
    /// None when sampling is off.
    pub fn new(config: &LogSampling) -> Option<SamplingLayer> {
        config.enabled.then(|| SamplingLayer {
            tick: config.tick,
            initial: config.initial,
            thereafter: config.thereafter,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the `n`th event (from 1) of a callsite within its tick is written.
    fn keeps(&self, n: u64) -> bool {
        n <= self.initial
            || (self.thereafter > 0 && (n - self.initial).is_multiple_of(self.thereafter))
    }

    fn admit(&self, callsite: Identifier, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = seen.entry(callsite).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.tick {
            *entry = (now, 0);
        }
        entry.1 += 1;
        self.keeps(entry.1)
    }
}

impl<S: Subscriber> Layer<S> for SamplingLayer {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        self.admit(event.metadata().callsite(), Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// zap's rule with the Collector's defaults: 10 first, then every 100th, per tick.
    #[test]
    fn the_first_initial_then_every_thereafter_per_tick() {
        let layer = SamplingLayer::new(&LogSampling::default()).expect("on by default");
        let kept: Vec<u64> = (1..=250).filter(|n| layer.keeps(*n)).collect();
        let mut expected: Vec<u64> = (1..=10).collect();
        expected.extend([110, 210]);
        assert_eq!(kept, expected);
        let off = LogSampling {
            enabled: false,
            ..LogSampling::default()
        };
        assert!(SamplingLayer::new(&off).is_none());
    }
}
