//! An SLO at run time: its SLI counters summed over series at every evaluation, a history
//! of those sums (every evaluation for the longest alert window, hourly-ish for the
//! period), and burn rates and the remaining error budget from it.

use std::collections::VecDeque;

use super::config::SloSpec;
use super::rule::Part;
use super::select::Selector;
use super::series::{Keep, Limits, Store};

#[derive(Debug)]
pub struct Slo {
    pub spec: SloSpec,
    /// Ratio SLI: `[errors, total]`; latency SLI: `[histogram]`.
    pub parts: Vec<Part>,
    pub keep: Keep,
    fine: VecDeque<Point>,
    coarse: VecDeque<Point>,
}

/// Bad and all events counted up to `t`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Point {
    t: f64,
    bad: f64,
    total: f64,
}

/// What one evaluation of an SLO gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Burn {
    /// `(window seconds, burn rate)` for every window its alerts use.
    pub rates: Vec<(f64, f64)>,
    /// Fraction of the period's error budget left (negative when overspent).
    pub budget_remaining: f64,
    /// Per severity (`page`, `ticket`): the first window pair burning.
    pub burning: Vec<(&'static str, Option<Burning>)>,
}

/// A window pair whose both windows burn faster than its threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burning {
    pub long: f64,
    pub short: f64,
    pub long_rate: f64,
    pub short_rate: f64,
    pub threshold: f64,
}

impl Slo {
    pub fn new(spec: SloSpec, limits: Limits) -> Slo {
        let (parts, keep) = match (&spec.sli.ratio, &spec.sli.latency) {
            (Some(r), _) => (
                [&r.errors, &r.total]
                    .into_iter()
                    .map(|s| Part {
                        selector: Selector::new(&s.metric, &s.matchers),
                        store: Store::bounded(limits),
                    })
                    .collect(),
                Keep::Counter,
            ),
            (None, Some(l)) => (
                vec![Part {
                    selector: Selector::new(&l.metric, &l.matchers),
                    store: Store::bounded(limits),
                }],
                Keep::Histogram,
            ),
            (None, None) => (Vec::new(), Keep::Counter),
        };
        Slo {
            spec,
            parts,
            keep,
            fine: VecDeque::new(),
            coarse: VecDeque::new(),
        }
    }

    fn budget(&self) -> f64 {
        1.0 - self.spec.objective / 100.0
    }

    fn longest_window(&self) -> f64 {
        self.spec
            .alerting
            .severities()
            .iter()
            .flat_map(|(_, pairs)| pairs.iter().map(|p| p.long.as_secs_f64()))
            .fold(0.0, f64::max)
    }

    /// Sums the SLI now, records it, and computes the burn rates. Series are never
    /// dropped as stale (their counts are part of every later sum); their number is what
    /// the SLI's producer makes (`genai_metrics` bounds it with `max_series`).
    pub fn evaluate(&mut self, now: f64) -> Burn {
        for part in &mut self.parts {
            part.store.prune(now, 0.0, f64::INFINITY);
        }
        let point = self.current(now);
        self.record(point);
        let rates: Vec<(f64, f64)> = {
            let mut windows: Vec<f64> = self
                .spec
                .alerting
                .severities()
                .iter()
                .flat_map(|(_, pairs)| {
                    pairs
                        .iter()
                        .flat_map(|p| [p.long.as_secs_f64(), p.short.as_secs_f64()])
                })
                .collect();
            windows.sort_by(f64::total_cmp);
            windows.dedup();
            windows
                .into_iter()
                .map(|w| (w, self.burn_rate(now, w)))
                .collect()
        };
        let rate_of = |w: f64| rates.iter().find(|(x, _)| *x == w).map_or(0.0, |r| r.1);
        let burning = self
            .spec
            .alerting
            .severities()
            .iter()
            .map(|(severity, pairs)| {
                let hit = pairs.iter().find_map(|p| {
                    let (long, short) = (p.long.as_secs_f64(), p.short.as_secs_f64());
                    let (l, s) = (rate_of(long), rate_of(short));
                    (l > p.burn_rate && s > p.burn_rate).then_some(Burning {
                        long,
                        short,
                        long_rate: l,
                        short_rate: s,
                        threshold: p.burn_rate,
                    })
                });
                (*severity, hit)
            })
            .collect();
        let period = self.spec.period.as_secs_f64();
        let budget_remaining = 1.0 - self.error_ratio(now, period) / self.budget();
        Burn {
            rates,
            budget_remaining,
            burning,
        }
    }

    /// The error ratio over `window` divided by the error budget (1 = spending exactly the
    /// budget over the period). 0 with no events in the window.
    pub fn burn_rate(&self, now: f64, window: f64) -> f64 {
        self.error_ratio(now, window) / self.budget()
    }

    fn error_ratio(&self, now: f64, window: f64) -> f64 {
        let (Some(latest), then) = (self.fine.back(), self.at(now - window)) else {
            return 0.0;
        };
        let total = latest.total - then.total;
        if total <= 0.0 {
            return 0.0;
        }
        ((latest.bad - then.bad) / total).clamp(0.0, 1.0)
    }

    /// The recorded sums at or before `t` (zero before the first: counted since watching).
    fn at(&self, t: f64) -> Point {
        let find = |d: &VecDeque<Point>| d.iter().rev().find(|p| p.t <= t).copied();
        match self.fine.front() {
            Some(first) if first.t <= t => find(&self.fine),
            _ => find(&self.coarse),
        }
        .unwrap_or_default()
    }

    fn record(&mut self, point: Point) {
        let keep_fine = self.longest_window();
        self.fine.push_back(point);
        while self.fine.len() >= 2 && self.fine[1].t <= point.t - keep_fine {
            self.fine.pop_front();
        }
        let period = self.spec.period.as_secs_f64();
        let step = period / 720.0;
        if self
            .coarse
            .back()
            .is_none_or(|last| point.t - last.t >= step)
        {
            self.coarse.push_back(point);
        }
        while self.coarse.len() >= 2 && self.coarse[1].t <= point.t - period {
            self.coarse.pop_front();
        }
    }

    /// Bad and all events counted so far, over every series.
    fn current(&self, now: f64) -> Point {
        let sum = |store: &Store| -> f64 {
            store
                .groups
                .values()
                .flat_map(|g| g.series.values())
                .filter_map(|s| s.latest())
                .map(|s| s.1)
                .sum::<f64>()
        };
        match (&self.spec.sli.latency, self.parts.as_slice()) {
            (Some(latency), [histogram]) => {
                let store = &histogram.store;
                let good_of = |bounds: &[f64], counts: &[f64]| -> f64 {
                    counts
                        .iter()
                        .zip(bounds)
                        .filter(|(_, b)| **b <= latency.threshold)
                        .map(|(c, _)| c)
                        .sum()
                };
                let total = sum(store);
                let mut good = 0.0;
                for s in store.groups.values().flat_map(|g| g.series.values()) {
                    if let Some(b) = s.latest_buckets() {
                        good += good_of(s.bounds(), b);
                    }
                }
                Point {
                    t: now,
                    bad: total - good,
                    total,
                }
            }
            (_, [errors, total]) => Point {
                t: now,
                bad: sum(&errors.store),
                total: sum(&total.store),
            },
            _ => Point {
                t: now,
                ..Point::default()
            },
        }
    }
}
