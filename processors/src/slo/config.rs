//! `processors.slo` config: rules, SLOs, rule files and notification targets. The keys
//! are the contract the issue set; rule files hold the same `rules:` / `slos:` lists.

use std::collections::BTreeMap;
use std::time::Duration;

use llamacol_api::config::{is_http_url, parse, ComponentConfig, Issue, Positions};
use llamacol_api::http::{Headers, TlsConfig};
use llamacol_api::serde_yaml;
use serde::Deserialize;

use super::template;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SloConfig {
    /// How often rules and SLOs are evaluated. Default 15s.
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
    /// A firing alert is sent again this often (Prometheus's `--rules.alert.resend-delay`).
    /// Default 1m.
    #[serde(with = "humantime_serde")]
    pub resend_delay: Duration,
    /// Files with more `rules:` / `slos:` (paths relative to the working directory).
    pub rule_files: Vec<String>,
    pub rules: Vec<RuleSpec>,
    pub slos: Vec<SloSpec>,
    pub notify: NotifyConfig,
    /// Groups (distinct `by` values) one rule or SLO keeps at most; the points of further
    /// groups are evaluated together in one overflow group, whose alerts carry
    /// `otel_metric_overflow="true"` and no `by` labels. Default 1000.
    pub max_groups: usize,
    /// Series (distinct attribute sets) one rule or SLO keeps at most; points of further
    /// series are left out of its evaluation, counted. Default 10000.
    pub max_series: usize,
}

impl Default for SloConfig {
    fn default() -> Self {
        SloConfig {
            evaluation_interval: Duration::from_secs(15),
            resend_delay: Duration::from_secs(60),
            rule_files: Vec::new(),
            rules: Vec::new(),
            slos: Vec::new(),
            notify: NotifyConfig::default(),
            max_groups: 1_000,
            max_series: 10_000,
        }
    }
}

/// One alerting rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub alert: String,
    /// The OTLP metric name as received (or `ratio` instead).
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default, rename = "where")]
    pub matchers: BTreeMap<String, Matcher>,
    #[serde(default)]
    pub ratio: Option<RatioSpec>,
    /// Attributes (point, then resource) that make one alert each.
    #[serde(default)]
    pub by: Vec<String>,
    #[serde(default)]
    pub aggregate: Aggregate,
    #[serde(default)]
    pub quantile: Option<f64>,
    /// Default 5m (Prometheus's lookback).
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    #[serde(default)]
    pub op: Option<Op>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub for_: Duration,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_window() -> Duration {
    Duration::from_secs(300)
}

/// `where:` values: equality with a scalar, or `{regex: "..."}` (fully anchored, as
/// Prometheus's `=~`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Matcher {
    Regex { regex: String },
    Equals(Scalar),
}

/// A YAML scalar compared as text (`500`, `true`, `gpu`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    pub fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// A metric and the points of it that count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    pub metric: String,
    #[serde(default, rename = "where")]
    pub matchers: BTreeMap<String, Matcher>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioSpec {
    pub numerator: Selector,
    pub denominator: Selector,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    #[default]
    Last,
    Min,
    Max,
    Avg,
    Sum,
    Rate,
    Increase,
    Quantile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }
}

/// An SLO: an objective over a period, and the burn-rate alerts that guard its budget.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    pub name: String,
    /// Percent of good events over `period`, e.g. 99.5.
    pub objective: f64,
    #[serde(default = "default_period", with = "humantime_serde")]
    pub period: Duration,
    pub sli: Sli,
    #[serde(default)]
    pub alerting: Alerting,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_period() -> Duration {
    Duration::from_secs(30 * 86_400)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sli {
    #[serde(default)]
    pub ratio: Option<SliRatio>,
    #[serde(default)]
    pub latency: Option<SliLatency>,
}

/// Bad events / all events, both counters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliRatio {
    pub errors: Selector,
    pub total: Selector,
}

/// Good events are a histogram's observations in buckets whose upper bound is at most
/// `threshold`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliLatency {
    pub metric: String,
    #[serde(default, rename = "where")]
    pub matchers: BTreeMap<String, Matcher>,
    pub threshold: f64,
}

/// Window pairs per severity; an alert fires while any pair burns above its rate in both
/// windows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerting {
    #[serde(default)]
    pub page: Vec<BurnWindow>,
    #[serde(default)]
    pub ticket: Vec<BurnWindow>,
}

impl Default for Alerting {
    /// The SRE workbook's multi-window, multi-burn-rate alerts (chapter 5, table 5-8).
    fn default() -> Self {
        let w = |long: u64, short: u64, burn_rate: f64| BurnWindow {
            long: Duration::from_secs(long),
            short: Duration::from_secs(short),
            burn_rate,
        };
        Alerting {
            page: vec![w(3600, 300, 14.4), w(6 * 3600, 1800, 6.0)],
            ticket: vec![w(86_400, 2 * 3600, 3.0), w(3 * 86_400, 6 * 3600, 1.0)],
        }
    }
}

impl Alerting {
    /// `(severity, pairs)` in a fixed order.
    pub fn severities(&self) -> [(&'static str, &[BurnWindow]); 2] {
        [("page", &self.page), ("ticket", &self.ticket)]
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnWindow {
    #[serde(with = "humantime_serde")]
    pub long: Duration,
    #[serde(with = "humantime_serde")]
    pub short: Duration,
    pub burn_rate: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub alertmanager: Option<TargetConfig>,
    pub webhook: Option<TargetConfig>,
}

/// An HTTP notification target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub endpoint: String,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Webhooks only: `json` (Alertmanager's webhook payload, default) or `slack`.
    #[serde(default)]
    pub format: WebhookFormat,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    #[default]
    Json,
    Slack,
}

/// What a rule file holds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleFile {
    pub rules: Vec<RuleSpec>,
    pub slos: Vec<SloSpec>,
}

impl ComponentConfig for RuleFile {
    fn validate(&self) -> Vec<Issue> {
        check_rules(&self.rules, &self.slos)
    }
}

/// Reads and checks a rule file; errors name the file, line and column.
pub fn load_rule_file(path: &str) -> Result<RuleFile, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        let hint = if std::path::Path::new(path).is_relative() {
            format!(" (a relative path is read from the working directory, {cwd}; give an absolute path or start llamacol from there)")
        } else {
            String::new()
        };
        vec![format!("cannot read rule file `{path}`: {e}{hint}")]
    })?;
    parse_rule_file(path, &text)
}

/// Parses and checks a rule file's text; errors name `path`, line and column.
pub fn parse_rule_file(path: &str, text: &str) -> Result<RuleFile, Vec<String>> {
    let at = |issue: &Issue| {
        let positions = Positions::index(text);
        match positions.find(&issue.path) {
            Some((_, (line, col))) => {
                format!("{path}:{line}:{col}: {}: {}", issue.path, issue.message)
            }
            None => format!("{path}: {}: {}", issue.path, issue.message),
        }
    };
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let place = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        vec![format!("{path}{place}: not valid YAML: {e}")]
    })?;
    let file =
        parse::<RuleFile>(&value).map_err(|issues| issues.iter().map(at).collect::<Vec<_>>())?;
    let issues = file.validate();
    if issues.is_empty() {
        Ok(file)
    } else {
        Err(issues.iter().map(at).collect())
    }
}

impl ComponentConfig for SloConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = check_rules(&self.rules, &self.slos);
        if self.evaluation_interval.is_zero() {
            issues.push(Issue::new(
                "evaluation_interval",
                "must be more than 0, e.g. 15s",
            ));
        }
        for (key, value) in [
            ("max_groups", self.max_groups),
            ("max_series", self.max_series),
        ] {
            if value == 0 {
                issues.push(Issue::new(key, "must be at least 1"));
            }
        }
        for (i, path) in self.rule_files.iter().enumerate() {
            if let Err(errors) = load_rule_file(path) {
                for e in errors {
                    issues.push(Issue::new(format!("rule_files[{i}]"), e));
                }
            }
        }
        for (key, target) in [
            ("alertmanager", &self.notify.alertmanager),
            ("webhook", &self.notify.webhook),
        ] {
            let Some(target) = target else { continue };
            if !is_http_url(&target.endpoint) {
                issues.push(Issue::new(
                    format!("notify.{key}.endpoint"),
                    format!(
                        "`{}` is not an http:// or https:// URL, e.g. http://127.0.0.1:9093",
                        target.endpoint
                    ),
                ));
            }
            if key == "alertmanager" && target.format != WebhookFormat::Json {
                issues.push(Issue::new(
                    "notify.alertmanager.format",
                    "Alertmanager takes its own API's JSON; `format` is for `webhook`",
                ));
            }
        }
        if self.rules.is_empty() && self.slos.is_empty() && self.rule_files.is_empty() {
            issues.push(Issue::new(
                "",
                "no rules: add `rules:`, `slos:` or `rule_files:` (configs/rules/llm-node.yaml is a pack for llama.cpp GPU nodes)",
            ));
        }
        issues
    }
}

/// The checks shared by the processor's block and rule files.
fn check_rules(rules: &[RuleSpec], slos: &[SloSpec]) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let at = |key: &str| {
            if key.is_empty() {
                format!("rules[{i}]")
            } else {
                format!("rules[{i}].{key}")
            }
        };
        let mut issue = |key: &str, message: String| issues.push(Issue::new(at(key), message));
        if rule.alert.trim().is_empty() {
            issue(
                "alert",
                "give the alert a name, e.g. GPUTemperatureHigh".into(),
            );
        }
        match (&rule.metric, &rule.ratio) {
            (None, None) => issue(
                "",
                "give `metric` (or `ratio: {numerator, denominator}`)".into(),
            ),
            (Some(_), Some(_)) => {
                issue("ratio", "give either `metric` or `ratio`, not both".into())
            }
            _ => {}
        }
        if rule.ratio.is_some() && !rule.matchers.is_empty() {
            issue(
                "where",
                "with `ratio`, put `where` inside `numerator` / `denominator`".into(),
            );
        }
        match (rule.aggregate, rule.quantile) {
            (Aggregate::Quantile, None) => issue(
                "quantile",
                "`aggregate: quantile` needs `quantile`, between 0 and 1 (e.g. 0.99)".into(),
            ),
            (Aggregate::Quantile, Some(q)) if !(0.0..=1.0).contains(&q) => issue(
                "quantile",
                format!("{q} is outside 0..1; e.g. 0.99 for the 99th percentile"),
            ),
            (Aggregate::Quantile, Some(_)) if rule.ratio.is_some() => issue(
                "aggregate",
                "a ratio of quantiles is not supported; use a quantile rule on one metric".into(),
            ),
            (a, Some(_)) if a != Aggregate::Quantile => issue(
                "quantile",
                "`quantile` is only read with `aggregate: quantile`".into(),
            ),
            _ => {}
        }
        if rule.op.is_none() {
            issue("op", "give a comparison: one of > >= < <= == !=".into());
        }
        match rule.threshold {
            None => issue(
                "threshold",
                "give the number the value is compared with".into(),
            ),
            Some(t) if !t.is_finite() => issue("threshold", "must be a finite number".into()),
            _ => {}
        }
        if rule.window.is_zero() {
            issue("window", "must be more than 0, e.g. 5m".into());
        }
        let mut regexes: Vec<(String, &BTreeMap<String, Matcher>)> =
            vec![(at("where"), &rule.matchers)];
        if let Some(r) = &rule.ratio {
            regexes.push((at("ratio.numerator.where"), &r.numerator.matchers));
            regexes.push((at("ratio.denominator.where"), &r.denominator.matchers));
        }
        for label in rule.labels.keys() {
            if !valid_label_name(label) {
                issues.push(Issue::new(
                    format!("rules[{i}].labels.{label}"),
                    "label names are letters, digits and `_`, not starting with a digit",
                ));
            }
        }
        for (path, matchers) in regexes {
            issues.extend(check_matchers(&path, matchers));
        }
        let known = template::known_names(&rule.by, rule.labels.keys());
        for (key, text) in &rule.annotations {
            for name in template::names(text) {
                if !known.contains(&name) {
                    issues.push(Issue::new(
                        format!("rules[{i}].annotations.{key}"),
                        format!(
                            "`{{{{{name}}}}}` is not a label this alert can have; it has: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    for (i, slo) in slos.iter().enumerate() {
        let at = |key: &str| format!("slos[{i}].{key}");
        if slo.name.trim().is_empty() {
            issues.push(Issue::new(
                at("name"),
                "give the SLO a name, e.g. chat-availability",
            ));
        }
        if !(slo.objective > 0.0 && slo.objective < 100.0) {
            issues.push(Issue::new(
                at("objective"),
                format!(
                    "{} is not a percentage between 0 and 100 (exclusive), e.g. 99.5",
                    slo.objective
                ),
            ));
        }
        if slo.period.is_zero() {
            issues.push(Issue::new(at("period"), "must be more than 0, e.g. 30d"));
        }
        match (&slo.sli.ratio, &slo.sli.latency) {
            (None, None) => issues.push(Issue::new(
                at("sli"),
                "give `ratio: {errors, total}` or `latency: {metric, threshold}`",
            )),
            (Some(_), Some(_)) => {
                issues.push(Issue::new(at("sli"), "give `ratio` or `latency`, not both"))
            }
            (Some(r), None) => {
                issues.extend(check_matchers(
                    &at("sli.ratio.errors.where"),
                    &r.errors.matchers,
                ));
                issues.extend(check_matchers(
                    &at("sli.ratio.total.where"),
                    &r.total.matchers,
                ));
            }
            (None, Some(l)) => issues.extend(check_matchers(&at("sli.latency.where"), &l.matchers)),
        }
        for (severity, pairs) in slo.alerting.severities() {
            for (j, w) in pairs.iter().enumerate() {
                let path = at(&format!("alerting.{severity}[{j}]"));
                if w.short.is_zero() || w.short >= w.long {
                    issues.push(Issue::new(
                        path.clone(),
                        "`short` must be more than 0 and shorter than `long` (the workbook uses long/12)",
                    ));
                }
                if !(w.burn_rate > 0.0 && w.burn_rate.is_finite()) {
                    issues.push(Issue::new(
                        format!("{path}.burn_rate"),
                        "must be a number above 0, e.g. 14.4",
                    ));
                }
            }
        }
    }
    issues
}

fn check_matchers(path: &str, matchers: &BTreeMap<String, Matcher>) -> Vec<Issue> {
    matchers
        .iter()
        .filter_map(|(key, m)| match m {
            Matcher::Regex { regex } => regex::Regex::new(regex).err().map(|e| {
                Issue::new(
                    format!("{path}.{key}.regex"),
                    format!("not a valid regex: {e}"),
                )
            }),
            Matcher::Equals(_) => None,
        })
        .collect()
}

/// Prometheus's label name rule.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
