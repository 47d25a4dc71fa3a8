//! `llm_serving` processor (metrics): maps what each serving engine (llama.cpp, vLLM,
//! SGLang, TGI, Triton) calls requests running and waiting, KV and prefix cache use,
//! tokens, first-token / per-token / end-to-end / queue latency and preemptions onto one
//! documented set (`uniform.rs`), labelled with `llm.server.engine` and
//! `gen_ai.request.model`, so that one dashboard or SLO covers a mixed fleet. A processor
//! rather than a receiver option: the engines' metrics reach a gateway as OTLP from
//! agents, from the Collector, or from the `llamacpp` receiver, not only from our
//! `prometheus` receiver. The uniform metrics go in a scope of their own
//! (`llamacol/llm_serving`) in the resource the engine's metrics came in.

mod config;
mod convert;
mod engines;
mod ratio;
mod uniform;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use llamacol_api::attributes::string;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::otlp::common::v1::InstrumentationScope;
use llamacol_api::otlp::metrics::v1::{
    metric, AggregationTemporality, Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum,
};
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};

pub use config::{Engine, LlmServingConfig};
pub use uniform::{Shape, Uniform};

use convert::{Context, Points};
use engines::{How, Rule, RULES};

/// The instrumentation scope of the uniform metrics.
pub const SCOPE: &str = "llamacol/llm_serving";

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "llm_serving",
        signals: &[Signal::Metrics],
        config: ConfigSpec::of::<LlmServingConfig>(),
        build,
    }
}

fn build(
    _ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<LlmServingConfig>(block)?;
    Ok(stateless::processor(LlmServing::new(&config), next))
}

pub struct LlmServing {
    rules: Vec<&'static Rule>,
    keep_original: bool,
    /// Every metric name a rule reads, to index only those.
    known: HashSet<&'static str>,
    ratios: ratio::Ratios,
}

/// A metric's name as the rules know it: counters without `_total`, so that text 0.0.4,
/// OpenMetrics and OTLP sources (with or without the suffix) all match.
fn normalized(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

fn partner_of(how: How) -> Option<&'static str> {
    match how {
        How::Plus(n) | How::DeltaRatio(n) | How::DeltaRatioWithMisses(n) => Some(n),
        _ => None,
    }
}

impl LlmServing {
    pub fn new(config: &LlmServingConfig) -> Self {
        let rules: Vec<&'static Rule> = RULES
            .iter()
            .filter(|r| config.engines.contains(&r.engine))
            .collect();
        let known = rules
            .iter()
            .flat_map(|r| r.sources.iter())
            .flat_map(|s| std::iter::once(s.name).chain(partner_of(s.how)))
            .collect();
        LlmServing {
            rules,
            keep_original: config.keep_original,
            known,
            ratios: ratio::Ratios::default(),
        }
    }

    fn resource(&self, rm: &mut ResourceMetrics) {
        let mut index: HashMap<&str, (usize, usize)> = HashMap::new();
        for (si, scope) in rm.scope_metrics.iter().enumerate() {
            for (mi, m) in scope.metrics.iter().enumerate() {
                let name = normalized(&m.name);
                if self.known.contains(name) {
                    index.entry(name).or_insert((si, mi));
                }
            }
        }
        if index.is_empty() {
            return;
        }
        let resource_attrs = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let resource_model = convert::label(resource_attrs, "llamacpp.model");
        let resource_key = format!("{resource_attrs:?}");
        let scopes = &rm.scope_metrics;
        let metric_at = |(si, mi): (usize, usize)| &scopes[si].metrics[mi];
        let other = |name: &str| index.get(name).map(|&at| metric_at(at));
        let mut out: Vec<Metric> = Vec::new();
        let mut used: HashSet<(usize, usize)> = HashSet::new();
        for rule in &self.rules {
            let found = rule.sources.iter().find_map(|s| {
                let &at = index.get(s.name)?;
                convert::present(s, metric_at(at)).then_some((s, at))
            });
            let Some((source, at)) = found else { continue };
            let mut added = vec![string("llm.server.engine", rule.engine.name())];
            if let Some(t) = rule.uniform.token_type() {
                added.push(string("gen_ai.token.type", t));
            }
            let series_key = format!(
                "{}|{}|{resource_key}",
                rule.engine.name(),
                rule.uniform.name()
            );
            let ctx = Context {
                other: &other,
                model_labels: engines::model_labels(rule.engine),
                added: &added,
                resource_model: if rule.engine == Engine::LlamaCpp {
                    resource_model
                } else {
                    None
                },
                ratios: &self.ratios,
                series_key: &series_key,
            };
            let points = convert::convert(source, metric_at(at), &ctx);
            if add(&mut out, rule.uniform, points) {
                used.insert(at);
                if let Some(&partner) = partner_of(source.how).and_then(|n| index.get(n)) {
                    used.insert(partner);
                }
            }
        }
        if !self.keep_original && !used.is_empty() {
            for (si, scope) in rm.scope_metrics.iter_mut().enumerate() {
                let mut mi = 0;
                scope.metrics.retain(|_| {
                    let keep = !used.contains(&(si, mi));
                    mi += 1;
                    keep
                });
            }
            rm.scope_metrics.retain(|s| !s.metrics.is_empty());
        }
        if !out.is_empty() {
            rm.scope_metrics.push(ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics: out,
                schema_url: String::new(),
            });
        }
    }
}

/// Adds the points under the uniform metric (created on first use); false when there
/// were none of the shape the uniform metric has.
fn add(out: &mut Vec<Metric>, uniform: Uniform, points: Points) -> bool {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let at = match out.iter().position(|m| m.name == uniform.name()) {
        Some(i) => i,
        None => {
            let data = match uniform.shape() {
                Shape::Gauge => metric::Data::Gauge(Gauge::default()),
                Shape::Counter => metric::Data::Sum(Sum {
                    aggregation_temporality: cumulative,
                    is_monotonic: true,
                    ..Default::default()
                }),
                Shape::Histogram => metric::Data::Histogram(Histogram {
                    aggregation_temporality: cumulative,
                    ..Default::default()
                }),
            };
            out.push(Metric {
                name: uniform.name().into(),
                unit: uniform.unit().into(),
                description: uniform.description().into(),
                data: Some(data),
                ..Default::default()
            });
            out.len() - 1
        }
    };
    let added = match (&mut out[at].data, points) {
        (Some(metric::Data::Gauge(g)), Points::Number(p)) if !p.is_empty() => {
            g.data_points.extend(p);
            true
        }
        (Some(metric::Data::Sum(s)), Points::Number(p)) if !p.is_empty() => {
            s.data_points.extend(p);
            true
        }
        (Some(metric::Data::Histogram(h)), Points::Histogram(p)) if !p.is_empty() => {
            h.data_points.extend(p);
            true
        }
        _ => false,
    };
    let empty = match &out[at].data {
        Some(metric::Data::Gauge(g)) => g.data_points.is_empty(),
        Some(metric::Data::Sum(s)) => s.data_points.is_empty(),
        Some(metric::Data::Histogram(h)) => h.data_points.is_empty(),
        _ => true,
    };
    if empty {
        out.remove(at);
    }
    added
}

impl Process for LlmServing {
    fn process(&self, batch: Batch) -> Result<Batch, ConsumeError> {
        Ok(match batch {
            Batch::Metrics(mut p) => {
                for rm in &mut p
                    .message_mut()
                    .map_err(ConsumeError::permanent)?
                    .resource_metrics
                {
                    self.resource(rm);
                }
                Batch::Metrics(p)
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests;
