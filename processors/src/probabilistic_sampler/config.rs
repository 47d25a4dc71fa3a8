//! `processors.probabilistic_sampler` config: the Collector's keys, with the defaults its
//! code (v0.161.0 `createDefaultConfig`) sets: `mode: hash_seed`, `fail_closed: true`,
//! `sampling_precision: 4`, `attribute_source: traceID`.

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

use llamacol_api::tracestate::threshold::{MIN_PROBABILITY, NUM_HEX_DIGITS};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticSamplerConfig {
    /// Percent of traces (log records) kept; 0 keeps none, 100 or more keeps all. A
    /// float32, as in the Collector, so both compute the same thresholds.
    pub sampling_percentage: f32,
    /// `hash_seed` mode's FNV seed.
    pub hash_seed: u32,
    pub mode: Mode,
    /// Drop items whose sampling inputs are unusable (bad tracestate, no randomness).
    pub fail_closed: bool,
    /// Hex digits of the written threshold, 1 to 14.
    pub sampling_precision: usize,
    /// Logs: where `hash_seed` mode takes its randomness: `traceID` or `record`.
    pub attribute_source: AttributeSource,
    /// Logs: the record attribute hashed when there is no trace id (or with
    /// `attribute_source: record`).
    pub from_attribute: String,
    /// Logs: a record attribute (number, percent) that overrides `sampling_percentage`.
    pub sampling_priority: String,
}

impl Default for ProbabilisticSamplerConfig {
    fn default() -> Self {
        ProbabilisticSamplerConfig {
            sampling_percentage: 0.0,
            hash_seed: 0,
            mode: Mode::HashSeed,
            fail_closed: true,
            sampling_precision: 4,
            attribute_source: AttributeSource::TraceId,
            from_attribute: String::new(),
            sampling_priority: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    HashSeed,
    Equalizing,
    Proportional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AttributeSource {
    #[serde(rename = "traceID")]
    TraceId,
    #[serde(rename = "record")]
    Record,
}

impl ComponentConfig for ProbabilisticSamplerConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let pct = f64::from(self.sampling_percentage);
        if !pct.is_finite() {
            issues.push(Issue::new(
                "sampling_percentage",
                "must be a number, e.g. 10",
            ));
        } else if pct < 0.0 {
            issues.push(Issue::new(
                "sampling_percentage",
                format!(
                    "{pct} is negative; give a percentage from 0 (keep none) to 100 (keep all)"
                ),
            ));
        } else if pct > 0.0 && pct / 100.0 < MIN_PROBABILITY {
            issues.push(Issue::new(
                "sampling_percentage",
                format!(
                    "{pct} is too small: the smallest is 2^-56 as a percentage (about 1.4e-15)"
                ),
            ));
        }
        if !(1..=NUM_HEX_DIGITS).contains(&self.sampling_precision) {
            issues.push(Issue::new(
                "sampling_precision",
                format!(
                    "{} is outside 1..14 (hex digits of the written threshold; default 4)",
                    self.sampling_precision
                ),
            ));
        }
        issues
    }
}
