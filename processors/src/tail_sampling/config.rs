//! `processors.tail_sampling` config: the Collector's keys (v0.161.0) and policy shapes,
//! plus our bounds `max_spans_per_trace` and `max_bytes`.

use std::time::Duration;

use llamacol_api::config::{ByteSize, ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailSamplingConfig {
    /// How long after a trace's first span its decision is taken. Default 30s.
    #[serde(with = "humantime_serde")]
    pub decision_wait: Duration,
    /// Traces held at most; past it the oldest is decided at once. Default 50000.
    pub num_traces: usize,
    /// Sizing hint only (the Collector's key; maps are sized from it).
    pub expected_new_traces_per_sec: usize,
    pub decision_cache: DecisionCache,
    pub policies: Vec<PolicyConfig>,
    /// Decide as soon as one policy samples (later policies are not evaluated).
    pub sample_on_first_match: bool,
    /// A trace reaching this many spans is decided at once. Default 10000.
    pub max_spans_per_trace: usize,
    /// Encoded bytes held for undecided traces at most; past it the oldest are decided.
    /// Default 256MiB.
    pub max_bytes: ByteSize,
    /// A trace larger than this (encoded) is not sampled, at once, without running the
    /// policies (the Collector's key; its later spans follow). 0 (default): no such bound.
    pub maximum_trace_size_bytes: ByteSize,
    /// At `num_traces`, take no new trace until a decision makes room (the senders wait:
    /// backpressure) instead of deciding the oldest at once. Default false. The traces of
    /// a request already taken are all held, so `num_traces` may be passed by one request.
    pub block_on_overflow: bool,
    /// When a trace's root span (no parent) arrives, decide it this long after, if that
    /// is sooner than `decision_wait` after its first span. 0 (default): off.
    #[serde(with = "humantime_serde")]
    pub decision_wait_after_root_received: Duration,
    /// At shutdown, traces still waiting for their decision are dropped (counted in
    /// `llamacol_processor_dropped_items_total`) instead of decided. Default false.
    pub drop_pending_traces_on_shutdown: bool,
    /// `trace-complete` (default): policies judge the whole trace when its wait is over.
    /// `span-ingest`: each arriving batch of a trace is judged alone as it arrives (the
    /// span count and size so far included); sampled or dropped, the trace is decided at
    /// once with what came before it; otherwise it waits, and at the end of its wait it
    /// is not sampled without another evaluation. Needs stateless policies.
    pub sampling_strategy: SamplingStrategy,
}

/// `sampling_strategy`, as the Collector spells it.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum SamplingStrategy {
    #[default]
    #[serde(rename = "trace-complete")]
    TraceComplete,
    #[serde(rename = "span-ingest")]
    SpanIngest,
}

impl Default for TailSamplingConfig {
    fn default() -> Self {
        TailSamplingConfig {
            decision_wait: Duration::from_secs(30),
            num_traces: 50_000,
            expected_new_traces_per_sec: 0,
            decision_cache: DecisionCache::default(),
            policies: Vec::new(),
            sample_on_first_match: false,
            max_spans_per_trace: 10_000,
            max_bytes: ByteSize(256 << 20),
            maximum_trace_size_bytes: ByteSize(0),
            drop_pending_traces_on_shutdown: false,
            decision_wait_after_root_received: Duration::ZERO,
            block_on_overflow: false,
            sampling_strategy: SamplingStrategy::TraceComplete,
        }
    }
}

/// How many decided trace ids are remembered, so that late spans follow the decision.
/// 0 (the default): `num_traces` each.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionCache {
    pub sampled_cache_size: usize,
    pub non_sampled_cache_size: usize,
}

/// One policy: `name`, `type`, and the block its type reads (others are ignored, as the
/// Collector ignores them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub latency: LatencyConfig,
    pub numeric_attribute: NumericAttributeConfig,
    pub probabilistic: ProbabilisticConfig,
    pub status_code: StatusCodeConfig,
    pub string_attribute: StringAttributeConfig,
    pub rate_limiting: RateConfig<SpansPerSecond>,
    pub bytes_limiting: RateConfig<BytesPerSecond>,
    pub span_count: SpanCountConfig,
    pub boolean_attribute: BooleanAttributeConfig,
    pub trace_state: TraceStateConfig,
    pub and: AndConfig,
    pub not: NotConfig,
    pub drop: DropConfig,
    pub composite: CompositeConfig,
    pub ottl_condition: OttlConditionConfig,
}

/// `ottl_condition`: sampled when a span matches one of `span`, or a span event one of
/// `spanevent` (OTTL conditions in those contexts).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OttlConditionConfig {
    /// A condition failing on a span: `propagate` (default; the trace is not sampled by
    /// this policy), `ignore` or `silent` (the condition counts as false).
    pub error_mode: llamacol_api::ottl::ErrorMode,
    pub span: Vec<String>,
    pub spanevent: Vec<String>,
}

impl OttlConditionConfig {
    /// The conditions bound to their contexts, or each one's error.
    pub fn bind(&self) -> Result<Vec<llamacol_api::ottl::Predicate>, Vec<(String, String)>> {
        use llamacol_api::ottl::{ContextName, Predicate};
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (key, context, list) in [
            ("span", ContextName::Span, &self.span),
            ("spanevent", ContextName::SpanEvent, &self.spanevent),
        ] {
            for (i, text) in list.iter().enumerate() {
                match Predicate::parse(text, Some(context)) {
                    Ok(p) => out.push(p),
                    Err(e) => errors.push((format!("ottl_condition.{key}[{i}]"), e.to_string())),
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyConfig {
    pub threshold_ms: i64,
    pub upper_threshold_ms: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumericAttributeConfig {
    pub key: String,
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
    pub invert_match: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticConfig {
    pub hash_salt: String,
    /// Percentage of traces sampled; as in the Collector, 100 or more samples every
    /// trace and 0 or less none.
    pub sampling_percentage: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusCodeConfig {
    pub status_codes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StringAttributeConfig {
    pub key: String,
    pub values: Vec<String>,
    pub enabled_regex_matching: bool,
    /// Regex results remembered per distinct value (the Collector's LRU; default 128).
    pub cache_max_size: usize,
    pub invert_match: bool,
}

/// `rate_limiting` reads `spans_per_second`, `bytes_limiting` `bytes_per_second`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateConfig<R: Default> {
    #[serde(flatten)]
    pub rate: R,
    /// Default: twice the rate.
    pub burst_capacity: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SpansPerSecond {
    #[serde(default)]
    pub spans_per_second: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BytesPerSecond {
    #[serde(default)]
    pub bytes_per_second: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanCountConfig {
    pub min_spans: i32,
    pub max_spans: i32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BooleanAttributeConfig {
    pub key: String,
    pub value: bool,
    pub invert_match: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceStateConfig {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AndConfig {
    pub and_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotConfig {
    pub not_sub_policy: Option<Box<PolicyConfig>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropConfig {
    pub drop_sub_policy: Vec<PolicyConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompositeConfig {
    pub max_total_spans_per_second: i64,
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    pub rate_allocation: Vec<RateAllocation>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateAllocation {
    pub policy: String,
    pub percent: i64,
}

/// The policy types and where each may appear (`and`, `drop`, `not`: the shared types;
/// `composite`: the shared types and `and`).
pub const SHARED_TYPES: [&str; 13] = [
    "always_sample",
    "trace_flags",
    "latency",
    "numeric_attribute",
    "probabilistic",
    "status_code",
    "string_attribute",
    "rate_limiting",
    "bytes_limiting",
    "span_count",
    "trace_state",
    "boolean_attribute",
    "ottl_condition",
];

impl ComponentConfig for TailSamplingConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.decision_wait.is_zero() {
            issues.push(Issue::new("decision_wait", "must be more than 0, e.g. 30s"));
        }
        if self.num_traces == 0 {
            issues.push(Issue::new(
                "num_traces",
                "must be at least 1 (default 50000)",
            ));
        }
        if self.max_spans_per_trace == 0 {
            issues.push(Issue::new(
                "max_spans_per_trace",
                "must be at least 1 (default 10000)",
            ));
        }
        if self.policies.is_empty() {
            issues.push(Issue::new(
                "policies",
                "no policies: nothing would be sampled; add e.g. `{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}`",
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, p) in self.policies.iter().enumerate() {
            let path = format!("policies[{i}]");
            if self.sampling_strategy == SamplingStrategy::SpanIngest
                && super::policy::Policy::new(p).is_stateful()
            {
                issues.push(Issue::new(
                    &path,
                    format!("`sampling_strategy: span-ingest` needs stateless policies, and `{}` depends on earlier decisions (a rate, or a span count's `max_spans`); use `trace-complete` or another policy", p.name),
                ));
            }
            if names.contains(&p.name.as_str()) {
                issues.push(Issue::new(
                    format!("{path}.name"),
                    format!(
                        "policy name `{}` is used twice; names must be unique",
                        p.name
                    ),
                ));
            }
            names.push(&p.name);
            let mut allowed: Vec<&str> = SHARED_TYPES.to_vec();
            allowed.extend(["and", "not", "drop", "composite"]);
            check_policy(&path, p, &allowed, &mut issues);
        }
        issues
    }
}

fn check_policy(path: &str, p: &PolicyConfig, allowed: &[&str], issues: &mut Vec<Issue>) {
    let kind = p.kind.as_str();
    if !allowed.contains(&kind) {
        let hint = llamacol_api::config::did_you_mean(kind, allowed.iter().copied())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        issues.push(Issue::new(
            format!("{path}.type"),
            format!(
                "unknown policy type `{kind}`{hint}; valid here: {}",
                allowed.join(", ")
            ),
        ));
        return;
    }
    let mut issue =
        |key: &str, message: String| issues.push(Issue::new(format!("{path}.{key}"), message));
    match kind {
        "numeric_attribute"
            if p.numeric_attribute.min_value.is_none()
                && p.numeric_attribute.max_value.is_none() =>
        {
            issue(
                "numeric_attribute",
                "give `min_value`, `max_value` or both".into(),
            );
        }
        "status_code" => {
            if p.status_code.status_codes.is_empty() {
                issue(
                    "status_code.status_codes",
                    "expected at least one status code to filter on".into(),
                );
            }
            for code in &p.status_code.status_codes {
                if !matches!(code.as_str(), "OK" | "ERROR" | "UNSET") {
                    issue(
                        "status_code.status_codes",
                        format!("unknown status code `{code}`, supported: OK, ERROR, UNSET"),
                    );
                }
            }
        }
        "ottl_condition" => {
            if p.ottl_condition.span.is_empty() && p.ottl_condition.spanevent.is_empty() {
                issue(
                    "ottl_condition",
                    "give `span` or `spanevent` conditions, e.g. `span: ['attributes[\"gen_ai.request.model\"] == \"llama-3\"']`".into(),
                );
            }
            if let Err(errors) = p.ottl_condition.bind() {
                for (key, message) in errors {
                    issue(&key, message);
                }
            }
        }
        "string_attribute" if p.string_attribute.enabled_regex_matching => {
            for v in &p.string_attribute.values {
                if let Err(e) = regex::Regex::new(v) {
                    issue(
                        "string_attribute.values",
                        format!("invalid regex `{v}`: {e}"),
                    );
                }
            }
        }
        "and" | "drop" => {
            let (key, subs) = if kind == "and" {
                ("and.and_sub_policy", &p.and.and_sub_policy)
            } else {
                ("drop.drop_sub_policy", &p.drop.drop_sub_policy)
            };
            if subs.is_empty() {
                issue(key, "give at least one sub-policy".into());
            }
            for (j, sub) in subs.iter().enumerate() {
                let mut allowed: Vec<&str> = SHARED_TYPES.to_vec();
                allowed.push("not");
                check_policy(&format!("{path}.{key}[{j}]"), sub, &allowed, issues);
            }
        }
        "not" => match &p.not.not_sub_policy {
            Some(sub) => check_policy(
                &format!("{path}.not.not_sub_policy"),
                sub,
                &SHARED_TYPES,
                issues,
            ),
            None => issue("not.not_sub_policy", "give the sub-policy to invert".into()),
        },
        "composite" => {
            let c = &p.composite;
            if c.composite_sub_policy.is_empty() {
                issue(
                    "composite.composite_sub_policy",
                    "give at least one sub-policy".into(),
                );
            }
            let total: i64 = c.rate_allocation.iter().map(|r| r.percent).sum();
            if total > 100 {
                issue(
                    "composite.rate_allocation",
                    format!("percents add up to {total}, over 100"),
                );
            }
            for (j, sub) in c.composite_sub_policy.iter().enumerate() {
                let mut allowed: Vec<&str> = SHARED_TYPES.to_vec();
                allowed.push("and");
                check_policy(
                    &format!("{path}.composite.composite_sub_policy[{j}]"),
                    sub,
                    &allowed,
                    issues,
                );
            }
        }
        _ => {}
    }
}
