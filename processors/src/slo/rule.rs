//! A threshold rule at run time: its selectors and stores, and the value of each group
//! at an evaluation.

use std::collections::HashMap;

use super::config::{Aggregate, RuleSpec};
use super::select::Selector;
use super::series::{Keep, Limits, Origin, Store};

/// One selector of a rule (`metric`, or each side of a `ratio`) and what it keeps.
#[derive(Debug)]
pub struct Part {
    pub selector: Selector,
    pub store: Store,
}

#[derive(Debug)]
pub struct Rule {
    pub spec: RuleSpec,
    pub parts: Vec<Part>,
    pub keep: Keep,
}

/// A group's value, and where its series came from.
pub type Values = HashMap<Vec<String>, (f64, Origin)>;

impl Rule {
    pub fn new(spec: RuleSpec, limits: Limits) -> Rule {
        let parts = match (&spec.metric, &spec.ratio) {
            (Some(metric), _) => vec![Part {
                selector: Selector::new(metric, &spec.matchers),
                store: Store::bounded(limits),
            }],
            (None, Some(r)) => [&r.numerator, &r.denominator]
                .into_iter()
                .map(|s| Part {
                    selector: Selector::new(&s.metric, &s.matchers),
                    store: Store::bounded(limits),
                })
                .collect(),
            (None, None) => Vec::new(),
        };
        let keep = match spec.aggregate {
            Aggregate::Rate | Aggregate::Increase => Keep::Counter,
            Aggregate::Quantile => Keep::Histogram,
            _ => Keep::Value,
        };
        Rule { spec, parts, keep }
    }

    /// The window in seconds.
    pub fn window(&self) -> f64 {
        self.spec.window.as_secs_f64()
    }

    /// Each present group's value at `now` (a ratio: where both sides have the group and
    /// the denominator is not 0).
    pub fn evaluate(&mut self, now: f64) -> Values {
        let window = self.window();
        for part in &mut self.parts {
            part.store.prune(now, window, 2.0 * window);
        }
        let mut values: Vec<Values> = self
            .parts
            .iter()
            .map(|p| {
                part_values(
                    &p.store,
                    self.spec.aggregate,
                    self.spec.quantile,
                    window,
                    now,
                )
            })
            .collect();
        match values.len() {
            1 => values.pop().unwrap_or_default(),
            2 => {
                let denominator = values.pop().unwrap_or_default();
                let numerator = values.pop().unwrap_or_default();
                numerator
                    .into_iter()
                    .filter_map(|(key, (n, source))| {
                        let (d, _) = denominator.get(&key)?;
                        (*d != 0.0).then(|| (key, (n / d, source)))
                    })
                    .collect()
            }
            _ => Values::new(),
        }
    }
}

fn part_values(
    store: &Store,
    aggregate: Aggregate,
    quantile: Option<f64>,
    window: f64,
    now: f64,
) -> Values {
    let start = now - window;
    let mut out = Values::new();
    for group in store.groups.values() {
        let series = group.series.values();
        let value = match aggregate {
            Aggregate::Last => series
                .filter_map(|s| s.latest())
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|s| s.1),
            Aggregate::Sum => Some(series.filter_map(|s| s.latest()).map(|s| s.1).sum()),
            Aggregate::Min => series
                .flat_map(|s| s.in_window(start))
                .min_by(f64::total_cmp),
            Aggregate::Max => series
                .flat_map(|s| s.in_window(start))
                .max_by(f64::total_cmp),
            Aggregate::Avg => {
                let (sum, n) = series
                    .flat_map(|s| s.in_window(start))
                    .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                (n > 0).then(|| sum / n as f64)
            }
            Aggregate::Increase | Aggregate::Rate => {
                let increase: f64 = series
                    .filter_map(|s| Some(s.latest()?.1 - s.at(start)))
                    .sum();
                Some(if aggregate == Aggregate::Rate {
                    increase / window
                } else {
                    increase
                })
            }
            Aggregate::Quantile => {
                let mut bounds: Option<&[f64]> = None;
                let mut counts: Vec<f64> = Vec::new();
                for s in series {
                    if s.samples.is_empty() {
                        continue;
                    }
                    match bounds {
                        None => {
                            bounds = Some(s.bounds());
                            counts = vec![0.0; s.bounds().len() + 1];
                        }
                        // Series with other buckets cannot be merged; they are left out.
                        Some(b) if b != s.bounds() => continue,
                        _ => {}
                    }
                    let now_counts = s.buckets_at(now);
                    let then = s.buckets_at(start);
                    for (i, c) in counts.iter_mut().enumerate() {
                        *c += now_counts.get(i).unwrap_or(&0.0) - then.get(i).unwrap_or(&0.0);
                    }
                }
                bounds.and_then(|b| histogram_quantile(quantile.unwrap_or(0.5), b, &counts))
            }
        };
        if let Some(v) = value.filter(|v| !v.is_nan()) {
            out.insert(group.key.clone(), (v, group.source.clone()));
        }
    }
    out
}

/// Prometheus's `histogram_quantile` over explicit buckets (`counts` per bucket, the
/// last one above the highest bound): linear interpolation inside the bucket holding the
/// rank; the highest finite bound when the rank falls in the overflow bucket; `None` with
/// no observations.
pub fn histogram_quantile(q: f64, bounds: &[f64], counts: &[f64]) -> Option<f64> {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 || bounds.is_empty() {
        return None;
    }
    let rank = q * total;
    let mut below = 0.0;
    for (i, count) in counts.iter().enumerate() {
        if below + count >= rank && *count > 0.0 {
            let Some(&upper) = bounds.get(i) else {
                return bounds.last().copied();
            };
            let lower = if i == 0 {
                if upper <= 0.0 {
                    return Some(upper);
                }
                0.0
            } else {
                bounds[i - 1]
            };
            return Some(lower + (upper - lower) * ((rank - below) / count));
        }
        below += count;
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::histogram_quantile;

    #[test]
    fn quantiles_interpolate_as_prometheus_does() {
        let bounds = [0.1, 0.5, 1.0];
        // 10 observations: 5 in (0, 0.1], 4 in (0.1, 0.5], 1 in (0.5, 1].
        let counts = [5.0, 4.0, 1.0, 0.0];
        assert_eq!(histogram_quantile(0.5, &bounds, &counts), Some(0.1));
        let p90 = histogram_quantile(0.9, &bounds, &counts).expect("a value");
        assert!((p90 - 0.5).abs() < 1e-12, "{p90}");
        let p99 = histogram_quantile(0.99, &bounds, &counts).expect("a value");
        assert!((p99 - 0.95).abs() < 1e-12, "{p99}");
        assert_eq!(
            histogram_quantile(0.99, &bounds, &[0.0, 0.0, 0.0, 3.0]),
            Some(1.0)
        );
        assert_eq!(histogram_quantile(0.5, &bounds, &[0.0; 4]), None);
    }
}
