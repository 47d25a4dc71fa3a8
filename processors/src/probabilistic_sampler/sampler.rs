//! The three modes and the per-item decision, step for step as the Collector's
//! `probabilisticsamplerprocessor` (v0.161.0) takes it: find the randomness (and the
//! carrier: a span's tracestate or a log record's `sampling.*` attributes), check it,
//! let the mode pick a threshold (or `fail_closed` on an error), apply the priority
//! attribute, compare, and on a keep write the threshold back.

use super::config::{Mode, ProbabilisticSamplerConfig};
use llamacol_api::tracestate::threshold::{
    Randomness, Threshold, TraceStateError, MIN_PROBABILITY,
};

const HASH_BUCKETS_LG2: u32 = 14;
const HASH_BUCKETS: u32 = 1 << HASH_BUCKETS_LG2;
const HASH_BUCKET_MASK: u32 = HASH_BUCKETS - 1;

/// Where the randomness came from (`None`: there was none, which samples at every
/// probability but is an error).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rnd(pub Option<Randomness>);

impl Rnd {
    pub fn value(self) -> Randomness {
        self.0.unwrap_or(Randomness::ALL_PROBABILITIES)
    }
}

/// Why an item's sampling inputs are unusable (then `fail_closed` decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("{0}")]
    TraceState(#[from] TraceStateError),
    #[error("missing randomness")]
    MissingRandomness,
    #[error("inconsistent arriving threshold: item should not have been sampled")]
    InconsistentArrivingThreshold,
    #[error("item has sampling randomness, equalizing or proportional mode recommended")]
    RandomnessInUse,
    #[error("item has sampling threshold, equalizing or proportional mode recommended")]
    ThresholdInUse,
}

/// What holds an item's sampling state.
pub trait Carrier {
    fn threshold(&self) -> Option<Threshold>;
    fn explicit_randomness(&self) -> Option<Randomness>;
    fn set_randomness(&mut self, r: Randomness);
    fn clear_threshold(&mut self);
    fn update_threshold(&mut self, t: Threshold) -> Result<(), TraceStateError>;
}

#[derive(Debug, Clone)]
pub enum Sampler {
    Never,
    Hashing {
        threshold: Threshold,
        seed: u32,
        logs_trace_id: bool,
        logs_attribute: String,
    },
    Equalizing {
        threshold: Threshold,
    },
    Proportional {
        ratio: f64,
        precision: usize,
    },
}

impl Sampler {
    pub fn new(c: &ProbabilisticSamplerConfig) -> Sampler {
        // The Collector's field is a float32; its arithmetic is reproduced in f32.
        let pct = c.sampling_percentage.min(100.0);
        if pct == 0.0 {
            return Sampler::Never;
        }
        let ratio = (f64::from(pct) / 100.0).max(MIN_PROBABILITY);
        let precision = c.sampling_precision;
        match c.mode {
            Mode::Equalizing => Sampler::Equalizing {
                threshold: Threshold::from_probability(ratio, precision)
                    .unwrap_or(Threshold::ALWAYS),
            },
            Mode::Proportional => Sampler::Proportional { ratio, precision },
            Mode::HashSeed => {
                let scaled = (pct * (HASH_BUCKETS as f32 / 100.0)) as u32;
                if scaled == 0 {
                    return Sampler::Never;
                }
                let reject = u64::from(HASH_BUCKETS - scaled);
                Sampler::Hashing {
                    threshold: Threshold(reject << 42),
                    seed: c.hash_seed,
                    logs_trace_id: c.attribute_source == super::config::AttributeSource::TraceId,
                    logs_attribute: c.from_attribute.clone(),
                }
            }
        }
    }

    /// The threshold the mode applies, given what the carrier already says.
    pub fn decide(&self, arriving: Option<Threshold>) -> Threshold {
        match self {
            Sampler::Never => Threshold::NEVER,
            Sampler::Hashing { threshold, .. } => *threshold,
            Sampler::Equalizing { threshold } => match arriving {
                Some(t) if *threshold < t => t,
                _ => *threshold,
            },
            Sampler::Proportional { ratio, precision } => {
                let incoming = arriving.map_or(1.0, Threshold::probability);
                Threshold::from_probability(incoming * ratio, *precision)
                    .unwrap_or(Threshold::NEVER)
            }
        }
    }

    /// Randomness and carrier for an item with `trace_id` and carrier `parsed` (with its
    /// parse error); `attribute` is the logs' `from_attribute` value as bytes, if any.
    pub fn randomness<C: Carrier>(
        &self,
        trace_id: &[u8],
        attribute: Option<&[u8]>,
        parsed: (C, Option<TraceStateError>),
        logs: bool,
    ) -> (Rnd, Option<C>, Option<SampleError>) {
        let (mut carrier, error) = parsed;
        let error = error.map(SampleError::from);
        let has_trace_id = trace_id.len() == 16 && trace_id.iter().any(|&b| b != 0);
        match self {
            Sampler::Never => (
                Rnd(Some(Randomness::ALL_PROBABILITIES)),
                Some(carrier),
                error,
            ),
            Sampler::Hashing {
                seed,
                logs_trace_id,
                logs_attribute,
                ..
            } => {
                let mut rnd = Rnd(None);
                if has_trace_id && (!logs || *logs_trace_id) {
                    rnd = Rnd(Some(hash_randomness(trace_id, *seed)));
                }
                if logs && rnd.0.is_none() && !logs_attribute.is_empty() {
                    if let Some(bytes) = attribute.filter(|b| !b.is_empty()) {
                        rnd = Rnd(Some(hash_randomness(bytes, *seed)));
                    }
                }
                if error.is_some() {
                    (rnd, None, error)
                } else if carrier.explicit_randomness().is_some() {
                    (rnd, None, Some(SampleError::RandomnessInUse))
                } else if carrier.threshold().is_some() {
                    (rnd, None, Some(SampleError::ThresholdInUse))
                } else {
                    // Spans record even a missing randomness (as all ones); log records
                    // only a real one.
                    if !logs || rnd.0.is_some() {
                        carrier.set_randomness(rnd.value());
                    }
                    (rnd, Some(carrier), None)
                }
            }
            Sampler::Equalizing { .. } | Sampler::Proportional { .. } => {
                if error.is_some() {
                    return (Rnd(None), None, error);
                }
                let rnd = match carrier.explicit_randomness() {
                    Some(r) => Rnd(Some(r)),
                    None if has_trace_id => Rnd(Some(Randomness::from_trace_id(trace_id))),
                    None => Rnd(None),
                };
                (rnd, Some(carrier), None)
            }
        }
    }
}

/// The decision for one item: whether to keep it. `priority` gives the threshold a
/// priority attribute forces, if any. On a keep the carrier holds the threshold.
pub fn should_sample<C: Carrier>(
    sampler: &Sampler,
    fail_closed: bool,
    (rnd, mut carrier, error): (Rnd, Option<C>, Option<SampleError>),
    priority: impl FnOnce(Threshold) -> Threshold,
) -> (bool, Option<C>, Option<SampleError>) {
    let error = error.or_else(|| consistency(rnd, carrier.as_mut()));
    let threshold = match error {
        Some(_) if fail_closed => Threshold::NEVER,
        Some(_) => Threshold::ALWAYS,
        None => sampler.decide(carrier.as_ref().and_then(Carrier::threshold)),
    };
    let threshold = priority(threshold);
    let sampled = threshold.should_sample(rnd.value());
    if sampled {
        if let Some(c) = carrier.as_mut() {
            // A keep that would raise an arriving threshold's probability leaves it as
            // it was (the Collector logs this at debug level).
            let _ = c.update_threshold(threshold);
        }
    }
    (sampled, carrier, error)
}

fn consistency<C: Carrier>(rnd: Rnd, carrier: Option<&mut C>) -> Option<SampleError> {
    if rnd.0.is_none() {
        return Some(SampleError::MissingRandomness);
    }
    let carrier = carrier?;
    match carrier.threshold() {
        Some(t) if !t.should_sample(rnd.value()) => {
            carrier.clear_threshold();
            Some(SampleError::InconsistentArrivingThreshold)
        }
        _ => None,
    }
}

/// The legacy `hash_seed` randomness: FNV-1a (32 bits) over the seed's 4 little-endian
/// bytes and then the input; its low 14 bits pick the bucket, spread over 56 bits so that
/// a threshold compares as the bucket did.
pub fn hash_randomness(bytes: &[u8], seed: u32) -> Randomness {
    let mut h: u32 = 0x811c_9dc5;
    for b in seed.to_le_bytes().iter().chain(bytes) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let hashed = u64::from(h & HASH_BUCKET_MASK);
    let rprime14 = u64::from(HASH_BUCKETS) - 1 - hashed;
    let unused18 = u64::from(h >> (32 - HASH_BUCKETS_LG2));
    let mixed28 = unused18 ^ (unused18 << 10);
    Randomness((rprime14 << 42) | (mixed28 << 14) | hashed)
}

/// The span `sampling.priority` attribute: `Some(true)` keep, `Some(false)` drop.
pub fn span_priority(
    value: Option<&llamacol_api::otlp::common::v1::any_value::Value>,
) -> Option<bool> {
    use llamacol_api::otlp::common::v1::any_value::Value;
    let v = match value? {
        Value::IntValue(i) => *i as f64,
        Value::DoubleValue(d) => *d,
        Value::StringValue(s) => s.parse::<f64>().ok()?,
        _ => return None,
    };
    if v == 0.0 {
        Some(false)
    } else if v > 0.0 {
        Some(true)
    } else {
        None
    }
}
