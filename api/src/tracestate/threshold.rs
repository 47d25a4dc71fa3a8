//! OpenTelemetry consistent probability sampling (OTEP 235): 56-bit randomness and
//! rejection thresholds, their hex encodings (`rv`, `th`), and probability to threshold
//! with a precision, computed exactly as the Collector's `pkg/sampling` computes them so
//! that both write the same `th` for the same configuration.

/// 2^56: thresholds and randomness are 56-bit numbers.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
/// Hex digits of a 56-bit value.
pub const NUM_HEX_DIGITS: usize = 14;
/// The smallest probability a threshold can express.
pub const MIN_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;

/// Items whose randomness is at least the threshold are kept (default: always).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(pub u64);

/// 56 bits of randomness (from `rv`, the trace id, or a hash).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Randomness(pub u64);

impl Threshold {
    pub const ALWAYS: Threshold = Threshold(0);
    pub const NEVER: Threshold = Threshold(MAX_ADJUSTED_COUNT);

    /// Parses a `th` value: 1 to 14 hex digits, extended with zeros on the right.
    pub fn parse(t: &str) -> Result<Threshold, TraceStateError> {
        if t.len() > NUM_HEX_DIGITS {
            return Err(TraceStateError::Size);
        }
        if t.is_empty() {
            return Err(TraceStateError::Empty);
        }
        let v = parse_hex(t)?;
        Ok(Threshold(v << (4 * (NUM_HEX_DIGITS - t.len()))))
    }

    /// The `th` encoding: 14 hex digits without trailing zeros; `0` for always, empty
    /// for never.
    pub fn tvalue(self) -> String {
        match self {
            Threshold::ALWAYS => "0".into(),
            Threshold::NEVER => String::new(),
            Threshold(t) => Randomness(t).rvalue().trim_end_matches('0').to_string(),
        }
    }

    pub fn should_sample(self, r: Randomness) -> bool {
        self.0 <= r.0
    }

    pub fn probability(self) -> f64 {
        (MAX_ADJUSTED_COUNT - self.0) as f64 / MAX_ADJUSTED_COUNT as f64
    }

    /// The threshold for `fraction`, rounded to `precision` hex digits (0: all 14), with
    /// the precision widened for probabilities near 0 or 1 as the Collector widens it.
    pub fn from_probability(fraction: f64, precision: usize) -> Result<Threshold, TraceStateError> {
        let mut precision = if precision == 0 {
            NUM_HEX_DIGITS
        } else {
            precision
        } as i64;
        if !(MIN_PROBABILITY..=1.0).contains(&fraction) {
            return Err(TraceStateError::ProbabilityRange);
        }
        if fraction == 1.0 {
            return Ok(Threshold::ALWAYS);
        }
        // Go's integer division truncates toward zero; so does Rust's.
        let widen = |x: f64| i64::from(frexp_exponent(x)) / -4;
        precision = (NUM_HEX_DIGITS as i64)
            .min((precision + widen(fraction)).max(precision + widen(1.0 - fraction)));
        let scaled = (fraction * MAX_ADJUSTED_COUNT as f64).round() as u64;
        let mut threshold = MAX_ADJUSTED_COUNT - scaled;
        let shift = 4 * (NUM_HEX_DIGITS as i64 - precision);
        if shift != 0 {
            let half = 1u64 << (shift - 1);
            threshold += half;
            threshold >>= shift;
            threshold <<= shift;
        }
        Ok(Threshold(threshold))
    }
}

impl Randomness {
    /// Every probability samples this (what "no randomness" is treated as).
    pub const ALL_PROBABILITIES: Randomness = Randomness(MAX_ADJUSTED_COUNT - 1);

    /// The W3C level 2 random bits: the trace id's last 7 bytes.
    pub fn from_trace_id(id: &[u8]) -> Randomness {
        let mut low = [0u8; 8];
        if let Some(tail) = id.get(8..16) {
            low.copy_from_slice(tail);
        }
        Randomness(u64::from_be_bytes(low) & (MAX_ADJUSTED_COUNT - 1))
    }

    /// Parses an `rv` value: exactly 14 hex digits.
    pub fn parse(r: &str) -> Result<Randomness, TraceStateError> {
        if r.len() != NUM_HEX_DIGITS {
            return Err(TraceStateError::RValueSize);
        }
        Ok(Randomness(parse_hex(r)?))
    }

    /// 14 lowercase hex digits.
    pub fn rvalue(self) -> String {
        if self.0 >= MAX_ADJUSTED_COUNT {
            return String::new();
        }
        format!("{:014x}", self.0)
    }
}

/// Hex digits only (Go's `strconv.ParseUint(s, 16, 64)`: no sign, no prefix).
fn parse_hex(s: &str) -> Result<u64, TraceStateError> {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TraceStateError::Syntax);
    }
    u64::from_str_radix(s, 16).map_err(|_| TraceStateError::Syntax)
}

/// The exponent `math.Frexp` returns: `x = frac * 2^exp` with `frac` in [0.5, 1).
fn frexp_exponent(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let bits = x.abs().to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: normalize first.
        return frexp_exponent(x * f64::from_bits(0x4350_0000_0000_0000)) - 54;
    }
    exponent - 1022
}

/// Why a tracestate, `th` or `rv` could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TraceStateError {
    #[error("invalid tracestate size")]
    Size,
    #[error("t-value is empty")]
    Empty,
    #[error("r-value must have 14 hex digits")]
    RValueSize,
    #[error("invalid syntax")]
    Syntax,
    #[error("sampling probability out of the range [1/MaxAdjustedCount, 1]")]
    ProbabilityRange,
    #[error("cannot raise existing sampling probability")]
    InconsistentSampling,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's examples (probability -> `th`: 1 -> 0, 1/2 -> 8, 1/4 -> c,
    /// 1/8 -> e, 1/10 -> e666..., 1/100 -> fd70a...), at full precision, the Collector's
    /// default 4 digits and 1 digit; every figure as the Collector's `pkg/sampling`
    /// v0.161.0 printed it (Go, `ProbabilityToThresholdWithPrecision(p, 0|4|1).TValue()`),
    /// including the widened precision near 0 and the float rounding at full precision.
    #[test]
    fn the_specs_threshold_table() {
        let table: [(f64, &str, &str, &str); 10] = [
            (1.0, "0", "0", "0"),
            (0.5, "8", "8", "8"),
            (0.25, "c", "c", "c"),
            (0.125, "e", "e", "e"),
            (0.1, "e6666666666666", "e666", "e"),
            (0.01, "fd70a3d70a3d71", "fd70a", "fd"),
            (1.0 / 3.0, "aaaaaaaaaaaaac", "aaab", "b"),
            (2.0 / 3.0, "55555555555558", "5555", "5"),
            (0.001, "ffbe76c8b43958", "ffbe77", "ffc"),
            // `sampling_percentage: 33.3` is a float32 in the Collector's config.
            (f64::from(33.3f32) / 100.0, "aac08333333334", "aac1", "b"),
        ];
        for (p, full, four, one) in table {
            let th = |precision| {
                Threshold::from_probability(p, precision)
                    .expect("in range")
                    .tvalue()
            };
            assert_eq!(
                (th(0).as_str(), th(4).as_str(), th(1).as_str()),
                (full, four, one),
                "{p}"
            );
        }
        assert_eq!(
            Threshold::from_probability(0.0, 4),
            Err(TraceStateError::ProbabilityRange)
        );
        assert_eq!(
            Threshold::from_probability(1.5, 4),
            Err(TraceStateError::ProbabilityRange)
        );
    }

    #[test]
    fn thresholds_and_randomness_parse_and_print() {
        assert_eq!(Threshold::parse("8").expect("valid"), Threshold(1 << 55));
        assert_eq!(Threshold::parse("8").expect("valid").tvalue(), "8");
        assert_eq!(Threshold::parse("0").expect("valid"), Threshold::ALWAYS);
        assert_eq!(Threshold::parse(""), Err(TraceStateError::Empty));
        assert_eq!(
            Threshold::parse("123456789abcdef"),
            Err(TraceStateError::Size)
        );
        assert_eq!(Threshold::parse("+8"), Err(TraceStateError::Syntax));
        assert_eq!(
            Randomness::parse("ffffffffffffff").expect("valid"),
            Randomness::ALL_PROBABILITIES
        );
        assert_eq!(Randomness::parse("fff"), Err(TraceStateError::RValueSize));
        assert_eq!(Randomness(0x12).rvalue(), "00000000000012");
        let id = [0u8, 1, 2, 3, 4, 5, 6, 7, 0xff, 1, 2, 3, 4, 5, 6, 7];
        assert_eq!(Randomness::from_trace_id(&id), Randomness(0x01020304050607));
        assert!(Threshold(5).should_sample(Randomness(5)));
        assert!(!Threshold(6).should_sample(Randomness(5)));
        assert!(!Threshold::NEVER.should_sample(Randomness::ALL_PROBABILITIES));
    }
}
