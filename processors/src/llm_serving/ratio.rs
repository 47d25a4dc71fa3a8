//! Hit ratios from two counters over the interval since the previous point of the same
//! series: what a gauge of "the current hit ratio" means, where a ratio of the totals
//! would be dominated by the engine's whole past.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A series not seen for this long is forgotten (its target went away).
const FORGET_AFTER: Duration = Duration::from_secs(600);

pub struct Ratios {
    state: Mutex<State>,
}

struct State {
    last: HashMap<String, (f64, f64, Instant)>,
    swept: Instant,
}

impl Default for Ratios {
    fn default() -> Self {
        Ratios {
            state: Mutex::new(State {
                last: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }
}

impl Ratios {
    /// The ratio Δhits / Δtotal since this series' previous point; on its first point,
    /// or after a counter reset, hits / total. `None` when nothing was queried in the
    /// interval (0/0 is no ratio).
    pub fn ratio(&self, series: String, hits: f64, total: f64) -> Option<f64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(state.swept) > FORGET_AFTER {
            state
                .last
                .retain(|_, (_, _, seen)| now.duration_since(*seen) < FORGET_AFTER);
            state.swept = now;
        }
        let previous = state.last.insert(series, (hits, total, now));
        let (dh, dt) = match previous {
            Some((h0, t0, _)) if hits >= h0 && total >= t0 => (hits - h0, total - t0),
            _ => (hits, total),
        };
        (dt > 0.0).then(|| (dh / dt).clamp(0.0, 1.0))
    }
}
