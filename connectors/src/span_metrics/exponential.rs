//! A base-2 exponential histogram of positive values (durations), as the OpenTelemetry
//! metrics data model defines it and as the Collector's spanmetrics keeps one: it
//! starts at scale 20 and lowers the scale (merging neighbouring buckets) whenever the
//! buckets in use would span more than `max_size`. Bucket `i` holds (base^i, base^(i+1)],
//! base = 2^(2^-scale); zero goes to the zero count.

/// The scale a histogram starts at (the Go implementation's `MaxScale`).
pub const MAX_SCALE: i32 = 20;
/// Buckets per histogram when the config gives none.
pub const DEFAULT_MAX_SIZE: i32 = 160;

#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialHistogram {
    max_size: usize,
    pub scale: i32,
    /// Index of `counts[0]`.
    pub offset: i32,
    pub counts: Vec<u64>,
    pub zero_count: u64,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl ExponentialHistogram {
    pub fn new(max_size: i32) -> ExponentialHistogram {
        let max_size = if max_size <= 0 {
            DEFAULT_MAX_SIZE
        } else {
            max_size
        };
        ExponentialHistogram {
            max_size: max_size.max(2) as usize,
            scale: MAX_SCALE,
            offset: 0,
            counts: Vec::new(),
            zero_count: 0,
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
        }
    }

    /// Adds `n` observations of `value` (negative values are not durations: taken as 0).
    pub fn record(&mut self, value: f64, n: u64) {
        let value = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += n;
        self.sum += value * n as f64;
        if value == 0.0 {
            self.zero_count += n;
            return;
        }
        let mut index = map_to_index(value, self.scale);
        if !self.counts.is_empty() {
            let low = index.min(self.offset);
            let high = index.max(self.offset + self.counts.len() as i32 - 1);
            let change = scale_change(low, high, self.max_size);
            if change > 0 {
                self.downscale(change);
                index = map_to_index(value, self.scale);
            }
        }
        self.add(index, n);
    }

    fn add(&mut self, index: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(n);
            return;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += n;
    }

    /// Lowers the scale by `change`: bucket `i` becomes `i >> change`.
    fn downscale(&mut self, change: i32) {
        let old = std::mem::take(&mut self.counts);
        let old_offset = self.offset;
        self.scale -= change;
        for (i, n) in old.into_iter().enumerate() {
            if n > 0 {
                self.add((old_offset + i as i32) >> change, n);
            }
        }
    }
}

/// The least scale reduction that fits indexes `low..=high` in `max_size` buckets.
fn scale_change(mut low: i32, mut high: i32, max_size: usize) -> i32 {
    let mut change = 0;
    while (high - low) as usize >= max_size {
        low >>= 1;
        high >>= 1;
        change += 1;
    }
    change
}

/// The bucket of `value` (> 0) at `scale`: upper bounds inclusive, so an exact power of
/// two belongs to the bucket below the one its logarithm names.
pub fn map_to_index(value: f64, scale: i32) -> i32 {
    let bits = value.to_bits();
    let raw_exponent = ((bits >> 52) & 0x7ff) as i32;
    let significand = bits & ((1u64 << 52) - 1);
    if scale <= 0 {
        // Subnormals are far below any duration; read them as the smallest normal.
        let exponent = raw_exponent.max(1) - 1023;
        let correction = if significand == 0 { -1 } else { 0 };
        return (exponent + correction) >> -scale;
    }
    if significand == 0 && raw_exponent > 0 {
        return ((raw_exponent - 1023) << scale) - 1;
    }
    let factor = std::f64::consts::LOG2_E * 2f64.powi(scale);
    (value.ln() * factor).floor() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_close_their_bucket() {
        // (1, 2] is bucket 0 at scale 0; 2 itself is its upper bound.
        assert_eq!(map_to_index(2.0, 0), 0);
        assert_eq!(map_to_index(2.5, 0), 1);
        assert_eq!(map_to_index(1.0, 0), -1);
        assert_eq!(map_to_index(4.0, 1), 3);
        assert_eq!(map_to_index(3.0, 1), 3);
        assert_eq!(map_to_index(2.9, 1), 3);
        assert_eq!(map_to_index(2.8, 1), 2);
    }

    #[test]
    fn the_scale_drops_until_the_values_fit() {
        let mut h = ExponentialHistogram::new(4);
        for v in [1.5, 3.0, 100.0, 1000.0] {
            h.record(v, 1);
        }
        let buckets = (h.offset..h.offset + h.counts.len() as i32).count();
        assert!(buckets <= 4, "{h:?}");
        assert_eq!(h.counts.iter().sum::<u64>(), 4);
        assert_eq!((h.count, h.min, h.max), (4, 1.5, 1000.0));
        // Each value lies in its bucket's (lower, upper] at the final scale.
        let base = 2f64.powf(2f64.powi(-h.scale));
        for v in [1.5, 3.0, 100.0, 1000.0] {
            let i = map_to_index(v, h.scale);
            assert!(
                base.powi(i) < v && v <= base.powi(i + 1) * (1.0 + 1e-12),
                "{v} {i}"
            );
        }
        h.record(0.0, 2);
        assert_eq!((h.zero_count, h.count), (2, 6));
    }
}
