//! `connectors.span_metrics` config: the Collector's `spanmetrics` connector's keys,
//! defaults and checks (contrib v0.161.0, its feature gates at their defaults).

use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

use super::glob::Glob;

/// The attributes every series carries unless `exclude_dimensions` names them.
pub const SERVICE_NAME: &str = "service.name";
pub const SPAN_NAME: &str = "span.name";
pub const SPAN_KIND: &str = "span.kind";
pub const STATUS_CODE: &str = "status.code";
/// Added to every series (the Collector's `includeCollectorInstanceID` gate is on by
/// default): this process's instance id.
pub const COLLECTOR_INSTANCE: &str = "collector.instance.id";
const RESERVED: [&str; 5] = [
    SERVICE_NAME,
    SPAN_NAME,
    SPAN_KIND,
    STATUS_CODE,
    COLLECTOR_INSTANCE,
];

/// The Collector's default duration buckets, in milliseconds.
pub const DEFAULT_BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10_000.0, 15_000.0,
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    /// More attributes, looked up on the span, then its resource (`name`, `default`), or
    /// every span and resource attribute a `glob` matches.
    pub dimensions: Vec<Dimension>,
    /// Only on `calls`.
    pub calls_dimensions: Vec<Dimension>,
    /// Of `service.name`, `span.name`, `span.kind`, `status.code`,
    /// `collector.instance.id`: the ones left out.
    pub exclude_dimensions: Vec<String>,
    /// Deprecated in the Collector (v0.130.0) for `aggregation_cardinality_limit`;
    /// accepted and ignored, as there.
    pub dimensions_cache_size: usize,
    /// Resources (sets of resource attributes) kept; the least recently used one beyond
    /// it is forgotten (default 1000).
    pub resource_metrics_cache_size: usize,
    /// Only these resource attributes tell resources apart (default: all of them).
    pub resource_metrics_key_attributes: Vec<String>,
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE` (default) or `AGGREGATION_TEMPORALITY_DELTA`.
    pub aggregation_temporality: String,
    pub histogram: HistogramConfig,
    /// Default 60s.
    #[serde(with = "humantime_serde")]
    pub metrics_flush_interval: Duration,
    /// A resource not seen for this long is no longer exported (0: never).
    #[serde(with = "humantime_serde")]
    pub metrics_expiration: Duration,
    /// A series not seen for this long is no longer exported (0: never).
    #[serde(with = "humantime_serde")]
    pub series_expiration: Duration,
    /// Delta: series whose last flush time is remembered (default 1000).
    pub metric_timestamp_cache_size: Option<usize>,
    /// Metric name prefix (default `traces.span.metrics`).
    pub namespace: String,
    pub exemplars: ExemplarsConfig,
    pub events: EventsConfig,
    /// Scopes whose name and version become `span.instrumentation.scope.*` attributes.
    pub include_instrumentation_scope: Vec<String>,
    /// Series per metric and resource; further ones share one `otel.metric.overflow`
    /// series (0: no limit).
    pub aggregation_cardinality_limit: usize,
    /// The Collector's switch for its `excludeResourceMetrics` gate; with that gate off
    /// (its default) the resource attributes are on the metrics either way.
    pub add_resource_attributes: bool,
    /// Adds `sampling.method` (`extrapolated` or `counted`).
    pub enable_metrics_sampling_method: bool,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            dimensions: Vec::new(),
            calls_dimensions: Vec::new(),
            exclude_dimensions: Vec::new(),
            dimensions_cache_size: 0,
            resource_metrics_cache_size: 1000,
            resource_metrics_key_attributes: Vec::new(),
            aggregation_temporality: CUMULATIVE.into(),
            histogram: HistogramConfig::default(),
            metrics_flush_interval: Duration::from_secs(60),
            metrics_expiration: Duration::ZERO,
            series_expiration: Duration::ZERO,
            metric_timestamp_cache_size: None,
            namespace: "traces.span.metrics".into(),
            exemplars: ExemplarsConfig::default(),
            events: EventsConfig::default(),
            include_instrumentation_scope: Vec::new(),
            aggregation_cardinality_limit: 0,
            add_resource_attributes: false,
            enable_metrics_sampling_method: false,
        }
    }
}

pub const CUMULATIVE: &str = "AGGREGATION_TEMPORALITY_CUMULATIVE";
pub const DELTA: &str = "AGGREGATION_TEMPORALITY_DELTA";

impl SpanMetricsConfig {
    /// As the Collector reads it: delta only when spelled so, cumulative otherwise.
    pub fn delta(&self) -> bool {
        self.aggregation_temporality == DELTA
    }

    pub fn timestamp_cache_size(&self) -> usize {
        self.metric_timestamp_cache_size.unwrap_or(1000)
    }

    pub fn excluded(&self, name: &str) -> bool {
        self.exclude_dimensions.iter().any(|e| e == name)
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub glob: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramConfig {
    pub disable: bool,
    /// `ms` (default) or `s`.
    pub unit: Unit,
    pub exponential: Option<ExponentialConfig>,
    pub explicit: Option<ExplicitConfig>,
    /// Only on `duration`.
    pub dimensions: Vec<Dimension>,
}

impl Default for HistogramConfig {
    fn default() -> Self {
        HistogramConfig {
            disable: false,
            unit: Unit::Milliseconds,
            exponential: None,
            explicit: None,
            dimensions: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Unit {
    #[serde(rename = "ms")]
    Milliseconds,
    #[serde(rename = "s")]
    Seconds,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
        }
    }

    /// Nanoseconds per unit.
    pub fn divider(self) -> f64 {
        match self {
            Unit::Milliseconds => 1e6,
            Unit::Seconds => 1e9,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExponentialConfig {
    /// Buckets per half (default 160, as the Collector's).
    pub max_size: i32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplicitConfig {
    /// Durations (`2ms`, `1s`, ...).
    pub buckets: Option<Vec<HumanDuration>>,
}

/// One bucket boundary as the Collector writes it (`100ms`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct HumanDuration(#[serde(with = "humantime_serde")] pub Duration);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    pub enabled: bool,
    /// Default 5.
    pub max_per_data_point: i64,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig {
            enabled: false,
            max_per_data_point: 5,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    pub enabled: bool,
    pub dimensions: Vec<Dimension>,
}

impl ComponentConfig for SpanMetricsConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        for (key, dims) in [
            ("dimensions", &self.dimensions),
            ("calls_dimensions", &self.calls_dimensions),
            ("histogram.dimensions", &self.histogram.dimensions),
        ] {
            dimension_issues(key, dims, &mut issues);
        }
        if self.events.enabled {
            if self.events.dimensions.is_empty() {
                issues.push(Issue::new(
                    "events.dimensions",
                    "no dimensions configured for events: list at least one, or disable events",
                ));
            }
            dimension_issues("events.dimensions", &self.events.dimensions, &mut issues);
        }
        if self.histogram.explicit.is_some() && self.histogram.exponential.is_some() {
            issues.push(Issue::new(
                "histogram",
                "use either `explicit` or `exponential` buckets histogram",
            ));
        }
        if let Some(buckets) = self
            .histogram
            .explicit
            .as_ref()
            .and_then(|e| e.buckets.as_ref())
        {
            if !buckets.windows(2).all(|w| w[0].0 < w[1].0) {
                issues.push(Issue::new(
                    "histogram.explicit.buckets",
                    "boundaries must be in increasing order",
                ));
            }
        }
        if self
            .histogram
            .exponential
            .as_ref()
            .is_some_and(|e| e.max_size < 0 || (e.max_size > 0 && e.max_size < 2))
        {
            issues.push(Issue::new(
                "histogram.exponential.max_size",
                "must be at least 2 (0 or left out: 160)",
            ));
        }
        if ![CUMULATIVE, DELTA, ""].contains(&self.aggregation_temporality.as_str()) {
            issues.push(Issue::new(
                "aggregation_temporality",
                format!(
                    "`{}` is neither {CUMULATIVE} nor {DELTA}",
                    self.aggregation_temporality
                ),
            ));
        }
        if self.metrics_flush_interval.is_zero() {
            issues.push(Issue::new(
                "metrics_flush_interval",
                "must be longer than 0s (the Collector's default is 60s)",
            ));
        }
        if self.delta() && self.timestamp_cache_size() == 0 {
            issues.push(Issue::new(
                "metric_timestamp_cache_size",
                "delta temporality needs a cache of at least 1",
            ));
        }
        if self.resource_metrics_cache_size == 0 {
            issues.push(Issue::new(
                "resource_metrics_cache_size",
                "must be at least 1",
            ));
        }
        if self.exemplars.enabled && self.exemplars.max_per_data_point < 0 {
            issues.push(Issue::new(
                "exemplars.max_per_data_point",
                "must be 0 or more",
            ));
        }
        for (i, e) in self.exclude_dimensions.iter().enumerate() {
            if !RESERVED.contains(&e.as_str()) {
                issues.push(Issue::new(
                    format!("exclude_dimensions[{i}]"),
                    format!("`{e}` is none of {}", RESERVED.join(", ")),
                ));
            }
        }
        issues
    }
}

/// The Collector's checks: each entry has a `name` or a `glob` (not both), no name twice
/// or equal to a reserved one, no `default` on a glob, no glob matching a name.
fn dimension_issues(key: &str, dims: &[Dimension], issues: &mut Vec<Issue>) {
    let mut names: Vec<&str> = RESERVED.to_vec();
    let mut globs: Vec<(usize, Glob)> = Vec::new();
    for (i, d) in dims.iter().enumerate() {
        let at = format!("{key}[{i}]");
        match (d.name.is_empty(), d.glob.is_empty()) {
            (false, false) => issues.push(Issue::new(
                at,
                format!(
                    "set only one of `name` or `glob`, got both: name={:?} glob={:?}",
                    d.name, d.glob
                ),
            )),
            (true, true) => issues.push(Issue::new(at, "set one of `name` or `glob`")),
            (false, true) => {
                if names.contains(&d.name.as_str()) {
                    issues.push(Issue::new(
                        format!("{at}.name"),
                        format!("duplicate dimension name {:?}", d.name),
                    ));
                }
                names.push(&d.name);
            }
            (true, false) => {
                if d.default.is_some() {
                    issues.push(Issue::new(
                        format!("{at}.default"),
                        format!(
                            "`default` is not supported on `glob` dimension {:?}",
                            d.glob
                        ),
                    ));
                }
                match Glob::new(&d.glob) {
                    Ok(g) => globs.push((i, g)),
                    Err(e) => issues.push(Issue::new(
                        format!("{at}.glob"),
                        format!("invalid dimension glob {:?}: {e}", d.glob),
                    )),
                }
            }
        }
    }
    for name in names {
        for (i, g) in &globs {
            if g.matches(name) {
                issues.push(Issue::new(
                    format!("{key}[{i}].glob"),
                    format!(
                        "duplicate dimension name {name:?} conflicting with glob {:?}",
                        dims[*i].glob
                    ),
                ));
            }
        }
    }
}
