//! The live page's GenAI panel: cumulative totals every `genai_metrics` connector of the
//! service adds to once per batch (one [`Board`], shared through the node context), and
//! the once-a-second row derived from them (rates over the last 10 seconds, percentiles
//! and tokens per request over the last minute).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use llamacol_api::live::{Live, Panel};

/// The panel's key in `/api/live`.
pub const PANEL: Panel = Panel::new("genai");

/// What the service's `genai_metrics` connectors add up to, and the rows made of it.
#[derive(Debug, Default)]
pub struct Board {
    totals: Mutex<GenAiTotals>,
    /// Made at the first connector's start; `None` before.
    window: Mutex<Option<Window>>,
}

impl Board {
    /// Adds what a batch of GenAI spans added up to.
    pub fn add(&self, batch: &GenAiTotals) {
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(batch);
    }

    pub fn totals(&self) -> GenAiTotals {
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Counting starts at `now` (Unix seconds); later calls change nothing.
    pub fn start(&self, now: f64) {
        self.window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| Window::new(now));
    }

    /// Records the row for `now` into `live`: once a second however many connectors ask
    /// (each runs its own ticker; a second call within the second is skipped).
    pub fn record_row(&self, live: &Live, now: f64) {
        let totals = self.totals();
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(window) = window.as_mut() else {
            return;
        };
        if window.latest().is_some_and(|t| now - t < 0.5) {
            return;
        }
        let row = window.row(now, totals);
        live.record(PANEL, "all", serde_json::Value::Null, COLUMNS, now, &row);
    }
}

/// Bucket bounds grow by this factor from [`FIRST_BOUND`] seconds: 64 buckets reach
/// about 21 minutes, and a percentile read from them is within one bucket (a factor of
/// 1.25) of the true value.
const GROWTH: f64 = 1.25;
const FIRST_BOUND: f64 = 0.001;
const BUCKETS: usize = 64;

/// Durations in seconds, counted in exponential buckets (the last one open-ended).
#[derive(Debug, Clone, PartialEq)]
pub struct LogHistogram {
    counts: [u64; BUCKETS + 1],
}

impl Default for LogHistogram {
    fn default() -> Self {
        LogHistogram {
            counts: [0; BUCKETS + 1],
        }
    }
}

impl LogHistogram {
    pub fn record(&mut self, seconds: f64) {
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        let i = if seconds <= FIRST_BOUND {
            0
        } else {
            ((seconds / FIRST_BOUND).ln() / GROWTH.ln()).ceil() as usize
        };
        self.counts[i.min(BUCKETS)] += 1;
    }

    fn add(&mut self, other: &LogHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
    }

    /// The `q` quantile of what `self` counted beyond `earlier`, interpolated within its
    /// bucket on a log scale; `None` when nothing was counted in between.
    pub fn quantile_since(&self, earlier: &LogHistogram, q: f64) -> Option<f64> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .zip(earlier.counts)
            .map(|(a, b)| a.saturating_sub(b))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0.0;
        for (i, n) in counts.iter().enumerate() {
            let n = *n as f64;
            if n > 0.0 && below + n >= rank {
                let upper = FIRST_BOUND * GROWTH.powi(i as i32);
                if i == 0 {
                    return Some(upper);
                }
                let lower = upper / GROWTH;
                let within = ((rank - below) / n).clamp(0.0, 1.0);
                return Some(lower * GROWTH.powf(within));
            }
            below += n;
        }
        Some(FIRST_BOUND * GROWTH.powi(BUCKETS as i32))
    }
}

/// Everything GenAI spans added up to since the start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenAiTotals {
    pub requests: u64,
    pub errors: u64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    /// USD, from spans' `gen_ai.usage.cost`.
    pub cost: f64,
    /// Whether any span carried a cost (else cost per hour is shown as not priced).
    pub priced: bool,
    pub duration: LogHistogram,
    pub time_to_first_token: LogHistogram,
}

/// One GenAI span's measurements, as the connector reads them.
#[derive(Debug, Clone, Default)]
pub struct GenAiCall {
    pub failed: bool,
    pub input_tokens: Option<f64>,
    pub output_tokens: Option<f64>,
    pub cost: Option<f64>,
    /// Seconds.
    pub duration: Option<f64>,
    /// Seconds: to the first chunk of a streaming call.
    pub time_to_first_token: Option<f64>,
    /// Seconds: each chunk's time after the one before it (or the mean per token).
    pub per_output: Vec<f64>,
}

impl GenAiTotals {
    pub fn record(&mut self, call: &GenAiCall) {
        self.requests += 1;
        self.errors += u64::from(call.failed);
        self.input_tokens += call.input_tokens.unwrap_or(0.0);
        self.output_tokens += call.output_tokens.unwrap_or(0.0);
        if let Some(cost) = call.cost {
            self.cost += cost;
            self.priced = true;
        }
        if let Some(d) = call.duration {
            self.duration.record(d);
        }
        if let Some(t) = call.time_to_first_token {
            self.time_to_first_token.record(t);
        }
    }

    pub fn add(&mut self, other: &GenAiTotals) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost += other.cost;
        self.priced |= other.priced;
        self.duration.add(&other.duration);
        self.time_to_first_token.add(&other.time_to_first_token);
    }
}

/// The columns of the GenAI chart rows.
pub const COLUMNS: &[&str] = &[
    "requests_per_s",
    "errors_per_s",
    "ttft_p50",
    "ttft_p99",
    "duration_p50",
    "duration_p99",
    "input_tokens_per_request",
    "output_tokens_per_request",
    "cost_per_hour",
];

const RATE_WINDOW: usize = 10;
const DISTRIBUTION_WINDOW: usize = 60;

/// The totals of the last minute, one per second, to derive a row from.
#[derive(Debug)]
pub struct Window {
    samples: VecDeque<(f64, GenAiTotals)>,
}

impl Window {
    /// Counting from `start` (Unix seconds), when the totals were all zero: spans counted
    /// before the first row still make a rate.
    pub fn new(start: f64) -> Window {
        Window {
            samples: VecDeque::from([(start, GenAiTotals::default())]),
        }
    }

    /// When the last row was taken (or counting began).
    fn latest(&self) -> Option<f64> {
        self.samples.back().map(|(t, _)| *t)
    }

    /// Takes this second's totals and returns the row for it (in [`COLUMNS`] order).
    pub fn row(&mut self, now: f64, totals: GenAiTotals) -> Vec<Option<f64>> {
        if self.samples.len() > DISTRIBUTION_WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back((now, totals));
        let (_, latest) = self.samples.back().expect("just pushed");
        let back = |n: usize| &self.samples[self.samples.len().saturating_sub(n + 1)];
        let (t_rate, rate_base) = back(RATE_WINDOW);
        let (t_dist, dist_base) = back(DISTRIBUTION_WINDOW);
        let per_second = |a: f64, b: f64, dt: f64| (dt > 0.0).then(|| (a - b) / dt);
        let dt = now - t_rate;
        let requests = (latest.requests - dist_base.requests) as f64;
        let per_request = |a: f64, b: f64| (requests > 0.0).then(|| (a - b) / requests);
        let hours = (now - t_dist) / 3600.0;
        vec![
            per_second(latest.requests as f64, rate_base.requests as f64, dt),
            per_second(latest.errors as f64, rate_base.errors as f64, dt),
            latest
                .time_to_first_token
                .quantile_since(&dist_base.time_to_first_token, 0.5),
            latest
                .time_to_first_token
                .quantile_since(&dist_base.time_to_first_token, 0.99),
            latest.duration.quantile_since(&dist_base.duration, 0.5),
            latest.duration.quantile_since(&dist_base.duration, 0.99),
            per_request(latest.input_tokens, dist_base.input_tokens),
            per_request(latest.output_tokens, dist_base.output_tokens),
            (latest.priced && hours > 0.0).then(|| (latest.cost - dist_base.cost) / hours),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_within_a_bucket_of_the_truth() {
        let mut h = LogHistogram::default();
        for ms in 1..=1000 {
            h.record(f64::from(ms) / 1000.0);
        }
        let empty = LogHistogram::default();
        let p50 = h.quantile_since(&empty, 0.5).expect("p50");
        let p99 = h.quantile_since(&empty, 0.99).expect("p99");
        let within = |estimate: f64, truth: f64| estimate / truth < 1.25 && truth / estimate < 1.25;
        assert!(within(p50, 0.5), "p50 {p50}");
        assert!(within(p99, 0.99), "p99 {p99}");
        assert_eq!(h.quantile_since(&h, 0.5), None, "nothing in between");
    }

    #[test]
    fn a_row_has_rates_percentiles_tokens_and_cost() {
        let mut window = Window::new(100.0);
        let mut totals = GenAiTotals::default();
        for _ in 0..10 {
            totals.record(&GenAiCall {
                failed: false,
                input_tokens: Some(100.0),
                output_tokens: Some(20.0),
                cost: Some(0.01),
                duration: Some(2.0),
                time_to_first_token: Some(0.2),
                per_output: Vec::new(),
            });
        }
        totals.record(&GenAiCall {
            failed: true,
            ..Default::default()
        });
        let row = window.row(101.0, totals);
        assert_eq!(row[0], Some(11.0));
        assert_eq!(row[1], Some(1.0));
        let within = |estimate: Option<f64>, truth: f64| {
            estimate.is_some_and(|e| e / truth < 1.25 && truth / e < 1.25)
        };
        assert!(within(row[2], 0.2), "ttft p50 {:?}", row[2]);
        assert!(within(row[5], 2.0), "duration p99 {:?}", row[5]);
        assert_eq!(row[6], Some(1000.0 / 11.0));
        assert_eq!(row[7], Some(200.0 / 11.0));
        assert!((row[8].expect("cost") - 0.1 * 3600.0).abs() < 1e-6);
    }
}
