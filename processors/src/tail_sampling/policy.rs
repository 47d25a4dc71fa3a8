//! The policies, evaluated as the Collector's `tailsamplingprocessor` (v0.161.0, feature
//! gates at their defaults) evaluates them over everything received for a trace:
//! resources and spans in arrival order, attribute values read as pdata reads them (a
//! value of another type is 0, "" or false).

use std::collections::HashSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use llamacol_api::otlp::common::v1::{any_value::Value, KeyValue};
use llamacol_api::otlp::trace::v1::{ResourceSpans, Span};
use regex::Regex;

use super::config::PolicyConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Sampled,
    NotSampled,
    Dropped,
}

/// What a policy sees of a trace.
pub struct TraceView<'a> {
    pub id: &'a [u8],
    pub pieces: &'a [ResourceSpans],
    pub spans: usize,
    pub bytes: usize,
}

impl TraceView<'_> {
    fn spans(&self) -> impl Iterator<Item = &Span> {
        self.pieces
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
    }

    fn any_span(&self, f: impl FnMut(&Span) -> bool) -> Decision {
        sampled_if(self.spans().any(f))
    }

    /// Sampled when some resource, or some span, satisfies its check (`invert`: when
    /// every resource and every span does).
    fn resource_or_span(
        &self,
        invert: bool,
        resource: impl Fn(&[KeyValue]) -> bool,
        span: impl Fn(&Span) -> bool,
    ) -> Decision {
        if invert {
            let all = self
                .pieces
                .iter()
                .all(|rs| resource(resource_attrs(rs)) && spans_of(rs).all(&span));
            sampled_if(all)
        } else {
            let any = self
                .pieces
                .iter()
                .any(|rs| resource(resource_attrs(rs)) || spans_of(rs).any(&span));
            sampled_if(any)
        }
    }
}

fn resource_attrs(rs: &ResourceSpans) -> &[KeyValue] {
    rs.resource
        .as_ref()
        .map(|r| r.attributes.as_slice())
        .unwrap_or_default()
}

fn spans_of(rs: &ResourceSpans) -> impl Iterator<Item = &Span> {
    rs.scope_spans.iter().flat_map(|ss| &ss.spans)
}

fn sampled_if(b: bool) -> Decision {
    if b {
        Decision::Sampled
    } else {
        Decision::NotSampled
    }
}

/// An attribute present without a value reads as pdata's empty value: 0, "" and false
/// through the accessors below, as this stand-in does.
static EMPTY: Value = Value::BoolValue(false);

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| {
        kv.value
            .as_ref()
            .and_then(|v| v.value.as_ref())
            .unwrap_or(&EMPTY)
    })
}

/// pdata's `Int()`: 0 for a value of another type.
fn int_of(v: &Value) -> i64 {
    match v {
        Value::IntValue(i) => *i,
        _ => 0,
    }
}

/// pdata's `Str()`: "" for a value of another type.
fn str_of(v: &Value) -> &str {
    match v {
        Value::StringValue(s) => s,
        _ => "",
    }
}

/// pdata's `Bool()`: false for a value of another type.
fn bool_of(v: &Value) -> bool {
    matches!(v, Value::BoolValue(true))
}

pub enum Policy {
    AlwaysSample,
    /// Some span has the W3C `sampled` flag (bit 0 of its `flags`).
    TraceFlags,
    Latency {
        threshold_ms: i64,
        upper_ms: i64,
    },
    Numeric {
        key: String,
        min: i64,
        max: i64,
        invert: bool,
    },
    Probabilistic {
        threshold: u64,
        salt: String,
    },
    StatusCode(Vec<i32>),
    Str {
        key: String,
        matcher: StrMatcher,
        invert: bool,
    },
    Rate {
        bucket: TokenBucket,
        bytes: bool,
    },
    SpanCount {
        min: i64,
        max: i64,
    },
    Boolean {
        key: String,
        value: bool,
        invert: bool,
    },
    TraceState {
        key: String,
        values: HashSet<String>,
    },
    And(Vec<Policy>),
    Not(Box<Policy>),
    Drop(Vec<Policy>),
    Composite(Composite),
    Ottl {
        conditions: Vec<llamacol_api::ottl::Predicate>,
        error_mode: llamacol_api::ottl::ErrorMode,
    },
}

pub enum StrMatcher {
    Exact(HashSet<String>),
    Regex(Vec<Regex>),
}

impl StrMatcher {
    fn matches(&self, s: &str) -> bool {
        match self {
            StrMatcher::Exact(set) => set.contains(s),
            StrMatcher::Regex(list) => list.iter().any(|r| r.is_match(s)),
        }
    }
}

/// What the policies read of each span: every field for OTTL conditions, else the
/// scalars (times, status, flags, trace state) and the attributes of the keys named.
#[derive(Debug, Default, Clone)]
pub struct Needs {
    pub everything: bool,
    pub keys: HashSet<String>,
}

impl Needs {
    pub fn add(&mut self, other: Needs) {
        self.everything |= other.everything;
        self.keys.extend(other.keys);
    }
}

impl Policy {
    /// What this policy reads of spans and resources.
    pub fn needs(&self) -> Needs {
        let key = |k: &String| Needs {
            everything: false,
            keys: HashSet::from([k.clone()]),
        };
        let all = |subs: &mut dyn Iterator<Item = &Policy>| {
            let mut n = Needs::default();
            for sub in subs {
                n.add(sub.needs());
            }
            n
        };
        match self {
            Policy::Ottl { .. } => Needs {
                everything: true,
                keys: HashSet::new(),
            },
            Policy::Numeric { key: k, .. }
            | Policy::Str { key: k, .. }
            | Policy::Boolean { key: k, .. } => key(k),
            Policy::And(subs) | Policy::Drop(subs) => all(&mut subs.iter()),
            Policy::Not(sub) => sub.needs(),
            Policy::Composite(c) => all(&mut c.subs.iter().map(|(p, _, _)| p)),
            Policy::AlwaysSample
            | Policy::TraceFlags
            | Policy::Latency { .. }
            | Policy::Probabilistic { .. }
            | Policy::StatusCode(_)
            | Policy::Rate { .. }
            | Policy::SpanCount { .. }
            | Policy::TraceState { .. } => Needs::default(),
        }
    }

    /// Builds a validated policy config.
    pub fn new(c: &PolicyConfig) -> Policy {
        match c.kind.as_str() {
            "latency" => Policy::Latency {
                threshold_ms: c.latency.threshold_ms,
                upper_ms: c.latency.upper_threshold_ms,
            },
            "numeric_attribute" => Policy::Numeric {
                key: c.numeric_attribute.key.clone(),
                min: c.numeric_attribute.min_value.unwrap_or(i64::MIN),
                max: c.numeric_attribute.max_value.unwrap_or(i64::MAX),
                invert: c.numeric_attribute.invert_match,
            },
            "probabilistic" => Policy::Probabilistic {
                // As the Collector: 100% or more samples everything, 0 or less (or NaN)
                // nothing; no value is refused.
                threshold: match c.probabilistic.sampling_percentage / 100.0 {
                    r if r >= 1.0 => u64::MAX,
                    r => uint64_times_ratio(r),
                },
                salt: if c.probabilistic.hash_salt.is_empty() {
                    "default-hash-seed".into()
                } else {
                    c.probabilistic.hash_salt.clone()
                },
            },
            "status_code" => Policy::StatusCode(
                c.status_code
                    .status_codes
                    .iter()
                    .map(|s| match s.as_str() {
                        "OK" => 1,
                        "ERROR" => 2,
                        _ => 0,
                    })
                    .collect(),
            ),
            "string_attribute" => {
                let s = &c.string_attribute;
                let matcher = if s.enabled_regex_matching {
                    StrMatcher::Regex(s.values.iter().filter_map(|v| Regex::new(v).ok()).collect())
                } else {
                    StrMatcher::Exact(s.values.iter().filter(|v| !v.is_empty()).cloned().collect())
                };
                Policy::Str {
                    key: s.key.clone(),
                    matcher,
                    invert: s.invert_match,
                }
            }
            "rate_limiting" => Policy::Rate {
                bucket: TokenBucket::with_burst(
                    c.rate_limiting.rate.spans_per_second,
                    c.rate_limiting.burst_capacity,
                ),
                bytes: false,
            },
            "bytes_limiting" => Policy::Rate {
                bucket: TokenBucket::with_burst(
                    c.bytes_limiting.rate.bytes_per_second,
                    c.bytes_limiting.burst_capacity,
                ),
                bytes: true,
            },
            "trace_flags" => Policy::TraceFlags,
            "span_count" => Policy::SpanCount {
                min: i64::from(c.span_count.min_spans),
                max: i64::from(c.span_count.max_spans),
            },
            "boolean_attribute" => Policy::Boolean {
                key: c.boolean_attribute.key.clone(),
                value: c.boolean_attribute.value,
                invert: c.boolean_attribute.invert_match,
            },
            "trace_state" => {
                let key = c.trace_state.key.clone();
                let values = c
                    .trace_state
                    .values
                    .iter()
                    .filter(|v| !v.is_empty() && key.len() + v.len() < 256)
                    .cloned()
                    .collect();
                Policy::TraceState { key, values }
            }
            "and" => Policy::And(c.and.and_sub_policy.iter().map(Policy::new).collect()),
            "drop" => Policy::Drop(c.drop.drop_sub_policy.iter().map(Policy::new).collect()),
            "not" => Policy::Not(Box::new(
                c.not
                    .not_sub_policy
                    .as_deref()
                    .map_or(Policy::AlwaysSample, Policy::new),
            )),
            "composite" => Policy::Composite(Composite::new(c)),
            "ottl_condition" => Policy::Ottl {
                conditions: c.ottl_condition.bind().unwrap_or_default(),
                error_mode: c.ottl_condition.error_mode,
            },
            _ => Policy::AlwaysSample,
        }
    }

    pub fn is_drop(&self) -> bool {
        matches!(self, Policy::Drop(_))
    }

    /// Whether a decision depends on earlier ones (a rate, a span count's upper bound),
    /// as the Collector's `IsStateful`: such policies need the whole trace at once, so
    /// `sampling_strategy: span-ingest` refuses them.
    pub fn is_stateful(&self) -> bool {
        match self {
            Policy::Rate { .. } => true,
            Policy::SpanCount { max, .. } => *max > 0,
            Policy::And(subs) | Policy::Drop(subs) => subs.iter().any(Policy::is_stateful),
            Policy::Not(sub) => sub.is_stateful(),
            Policy::Composite(c) => c.subs.iter().any(|(p, _, _)| p.is_stateful()),
            _ => false,
        }
    }

    pub fn evaluate(&mut self, t: &TraceView) -> Decision {
        match self {
            Policy::Ottl {
                conditions,
                error_mode,
            } => ottl_decision(t, conditions, *error_mode),
            Policy::AlwaysSample => Decision::Sampled,
            Policy::TraceFlags => t.any_span(|s| s.flags & 0x01 != 0),
            Policy::Latency {
                threshold_ms,
                upper_ms,
            } => {
                // The Collector's running minimum start and maximum end, checked span by
                // span (a start or end of 0 counts as unset).
                let (mut min, mut max) = (0u64, 0u64);
                t.any_span(|s| {
                    if min == 0 || s.start_time_unix_nano < min {
                        min = s.start_time_unix_nano;
                    }
                    if max == 0 || s.end_time_unix_nano > max {
                        max = s.end_time_unix_nano;
                    }
                    let ms = ((i128::from(max) - i128::from(min))
                        .clamp(i128::from(i64::MIN), i128::from(i64::MAX))
                        as i64)
                        / 1_000_000;
                    // As the Collector v0.161.0 (`latency.go`; v0.140 sampled at the
                    // threshold too): over the threshold; with an upper bound, over the
                    // lower and at or under the upper.
                    if *upper_ms == 0 {
                        ms > *threshold_ms
                    } else {
                        *threshold_ms < ms && ms <= *upper_ms
                    }
                })
            }
            Policy::Numeric {
                key,
                min,
                max,
                invert,
            } => {
                let within = |attrs: &[KeyValue]| {
                    get(attrs, key)
                        .map(int_of)
                        .is_some_and(|v| v >= *min && v <= *max)
                };
                if *invert {
                    t.resource_or_span(true, |r| !within(r), |s| !within(&s.attributes))
                } else {
                    t.resource_or_span(false, within, |s| within(&s.attributes))
                }
            }
            Policy::Probabilistic { threshold, salt } => {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in salt.bytes().chain(t.id.iter().copied()) {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
                sampled_if(h <= *threshold)
            }
            Policy::StatusCode(codes) => {
                t.any_span(|s| codes.contains(&s.status.as_ref().map_or(0, |st| st.code)))
            }
            Policy::Str {
                key,
                matcher,
                invert,
            } => {
                let resource_match = |attrs: &[KeyValue]| {
                    get(attrs, key).is_some_and(|v| matcher.matches(str_of(v)))
                };
                // Spans: an empty string (or a value of another type) never matches.
                let span_match = |s: &Span| {
                    get(&s.attributes, key)
                        .is_some_and(|v| !str_of(v).is_empty() && matcher.matches(str_of(v)))
                };
                if *invert {
                    t.resource_or_span(true, |r| !resource_match(r), |s| !span_match(s))
                } else {
                    t.resource_or_span(false, resource_match, span_match)
                }
            }
            Policy::Rate { bucket, bytes } => {
                let n = if *bytes { t.bytes } else { t.spans };
                sampled_if(bucket.allow(n as i64, Instant::now()))
            }
            Policy::SpanCount { min, max } => {
                let n = t.spans as i64;
                sampled_if(n >= *min && (*max == 0 || n <= *max))
            }
            Policy::Boolean { key, value, invert } => {
                if *invert {
                    t.resource_or_span(
                        true,
                        |r| get(r, key).is_none_or(|v| bool_of(v) != *value),
                        |s| get(&s.attributes, key).is_none_or(|v| bool_of(v) != *value),
                    )
                } else {
                    t.resource_or_span(
                        false,
                        |r| get(r, key).is_some_and(|v| bool_of(v) == *value),
                        |s| get(&s.attributes, key).is_some_and(|v| bool_of(v) == *value),
                    )
                }
            }
            Policy::TraceState { key, values } => t.any_span(|s| {
                llamacol_api::tracestate::member(&s.trace_state, key)
                    .is_some_and(|v| values.contains(v))
            }),
            Policy::And(subs) => {
                for sub in subs {
                    if sub.evaluate(t) == Decision::NotSampled {
                        return Decision::NotSampled;
                    }
                }
                Decision::Sampled
            }
            Policy::Not(sub) => match sub.evaluate(t) {
                Decision::Sampled => Decision::NotSampled,
                Decision::NotSampled => Decision::Sampled,
                other => other,
            },
            Policy::Drop(subs) => {
                for sub in subs {
                    if sub.evaluate(t) == Decision::NotSampled {
                        return Decision::NotSampled;
                    }
                }
                Decision::Dropped
            }
            Policy::Composite(c) => c.evaluate(t),
        }
    }
}

/// `float64(MaxUint64) * ratio` as Go's `big.Float` computes it (64-bit mantissa, round
/// to nearest even) and truncates to an integer: the legacy probabilistic threshold.
fn uint64_times_ratio(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    let bits = ratio.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let (mantissa, exp2) = if exponent == 0 {
        (bits & ((1 << 52) - 1), -1074)
    } else {
        ((bits & ((1 << 52) - 1)) | (1 << 52), exponent - 1075)
    };
    let mut product = u128::from(u64::MAX) * u128::from(mantissa);
    let mut exp2 = exp2;
    let width = 128 - product.leading_zeros() as i32;
    if width > 64 {
        let shift = (width - 64) as u32;
        let kept = product >> shift;
        let rest = product & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let round_up = rest > half || (rest == half && kept & 1 == 1);
        product = kept + u128::from(round_up);
        exp2 += shift as i32;
    }
    let value = if exp2 >= 0 {
        product.checked_shl(exp2 as u32).unwrap_or(u128::MAX)
    } else if exp2 > -128 {
        product >> (-exp2) as u32
    } else {
        0
    };
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// golang.org/x/time/rate's token bucket: starts full; `allow(n)` takes `n` tokens when
/// there are that many.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A burst of 0 means twice the rate (the Collector's default).
    pub fn with_burst(rate: i64, burst: i64) -> TokenBucket {
        TokenBucket::new(rate, if burst == 0 { rate * 2 } else { burst })
    }

    pub fn new(rate: i64, burst: i64) -> TokenBucket {
        TokenBucket {
            rate: rate.max(0) as f64,
            burst: burst.max(0) as f64,
            tokens: burst.max(0) as f64,
            last: None,
        }
    }

    pub fn allow(&mut self, n: i64, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.last = Some(now);
        let n = n as f64;
        if n <= self.tokens {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// Sub-policies in order, each with its share of `max_total_spans_per_second`; the first
/// that samples decides, if its share and the total allow the trace's spans this second.
pub struct Composite {
    max_total: i64,
    subs: Vec<(Policy, i64, i64)>,
    second: i64,
}

impl Composite {
    fn new(c: &PolicyConfig) -> Composite {
        let cc = &c.composite;
        let total = cc.max_total_spans_per_second as f64;
        let default = total / cc.composite_sub_policy.len().max(1) as f64;
        let subs = cc
            .composite_sub_policy
            .iter()
            .map(|sub| {
                let percent = cc
                    .rate_allocation
                    .iter()
                    .rev()
                    .find(|r| r.policy == sub.name)
                    .map(|r| r.percent);
                let share = match percent {
                    Some(p) if p > 0 => (p as f64 / 100.0) * total,
                    _ => default,
                };
                (Policy::new(sub), share as i64, 0)
            })
            .collect();
        Composite {
            max_total: cc.max_total_spans_per_second,
            subs,
            second: 0,
        }
    }

    fn evaluate(&mut self, t: &TraceView) -> Decision {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if now != self.second {
            self.second = now;
            for sub in &mut self.subs {
                sub.2 = 0;
            }
        }
        for (policy, allocated, sampled) in &mut self.subs {
            if policy.evaluate(t) == Decision::Sampled {
                let if_sampled = *sampled + t.spans as i64;
                if if_sampled <= *allocated && if_sampled <= self.max_total {
                    *sampled = if_sampled;
                    return Decision::Sampled;
                }
                return Decision::NotSampled;
            }
        }
        Decision::NotSampled
    }
}

/// `ottl_condition`: sampled when any span (or span event) meets any of its context's
/// conditions. The conditions read a copy of the trace's pieces (OTTL items borrow
/// mutably); under `propagate` a failing condition makes the policy's answer
/// `NotSampled`, as the Collector's error.
fn ottl_decision(
    t: &TraceView,
    conditions: &[llamacol_api::ottl::Predicate],
    mode: llamacol_api::ottl::ErrorMode,
) -> Decision {
    use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use llamacol_api::ottl::{walk, ContextName, ErrorMode};
    let mut copy = ExportTraceServiceRequest {
        resource_spans: t.pieces.to_vec(),
    };
    let mut sampled = false;
    let mut failed = false;
    for context in [ContextName::Span, ContextName::SpanEvent] {
        let here: Vec<_> = conditions.iter().filter(|c| c.context == context).collect();
        if here.is_empty() || sampled {
            continue;
        }
        let _ = walk::traces(&mut copy, context, &mut |item| {
            for c in &here {
                match c.eval(item) {
                    Ok(true) => sampled = true,
                    Ok(false) => {}
                    Err(_) if mode == ErrorMode::Propagate => failed = true,
                    Err(_) => {}
                }
            }
            Ok(true)
        });
    }
    if failed {
        return Decision::NotSampled;
    }
    sampled_if(sampled)
}

#[cfg(test)]
mod tests {
    use super::uint64_times_ratio;

    #[test]
    fn the_legacy_threshold_rounds_as_big_float() {
        // What Go's `big.Float` printed for the Collector's `calculateThreshold`.
        let cases = [
            (1.0, u64::MAX),
            (0.5, 9223372036854775807),
            (0.1, 1844674407370955263),
            (0.333, 6142765776545281023),
            (0.0001, 1844674407370955),
            (0.25, 4611686018427387903),
            (0.999, 18428297329635842047),
            (0.0, 0),
        ];
        for (ratio, expected) in cases {
            assert_eq!(uint64_times_ratio(ratio), expected, "{ratio}");
        }
    }
}
