//! `attributes` processor (traces, metrics, logs): inserts, updates, upserts, deletes,
//! hashes, extracts from and converts the attributes of spans, log records and metric
//! data points, optionally only for items matching `include` and not `exclude`, as the
//! Collector's `attributes` processor.

mod config;
mod matching;

use std::sync::Arc;

use llamacol_api::attraction::Actions;
use llamacol_api::client_metadata::ClientMetadata;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::otlp::metrics::v1::metric::Data;
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, Processor, ProcessorFactory, Signal,
};

pub use config::AttributesConfig;
pub use matching::{MatchConfig, Matcher, Subject};

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "attributes",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<AttributesConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<AttributesConfig>(block)?;
    // As the Collector, properties that do not apply to the pipeline's signal refuse it.
    for (key, properties) in [("include", &config.include), ("exclude", &config.exclude)] {
        for signal in &ctx.signals {
            if let Some(problem) = properties.as_ref().and_then(|p| p.check_for(*signal)) {
                return Err(format!("{key}: {problem} (in a {signal} pipeline)").into());
            }
        }
    }
    let joined = llamacol_api::config::issues_error;
    let actions = Actions::new("actions", &config.actions).map_err(joined)?;
    let (include, exclude) = config.matchers().map_err(joined)?;
    Ok(stateless::processor(
        AttributesProcessor {
            actions,
            include,
            exclude,
        },
        next,
    ))
}

pub struct AttributesProcessor {
    actions: Actions,
    include: Option<Matcher>,
    exclude: Option<Matcher>,
}

impl AttributesProcessor {
    fn selected(&self, s: &Subject) -> bool {
        self.include.as_ref().is_none_or(|m| m.matches(s))
            && !self.exclude.as_ref().is_some_and(|m| m.matches(s))
    }

    fn filtered(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }
}

impl Process for AttributesProcessor {
    fn process(&self, mut batch: Batch) -> Result<Batch, ConsumeError> {
        let metadata = batch.metadata().clone();
        let metadata: Option<&ClientMetadata> = metadata.as_deref();
        match &mut batch {
            Batch::Traces(p) => {
                let request = p.message_mut().map_err(ConsumeError::permanent)?;
                for rs in &mut request.resource_spans {
                    let resource = rs.resource.clone().unwrap_or_default();
                    for ss in &mut rs.scope_spans {
                        for span in &mut ss.spans {
                            if self.filtered() {
                                let subject = Subject {
                                    resource: &resource.attributes,
                                    scope: ss.scope.as_ref(),
                                    attributes: &span.attributes,
                                    span: Some((&span.name, span.kind)),
                                    ..Default::default()
                                };
                                if !self.selected(&subject) {
                                    continue;
                                }
                            }
                            self.actions.apply(&mut span.attributes, metadata);
                        }
                    }
                }
            }
            Batch::Logs(p) => {
                let request = p.message_mut().map_err(ConsumeError::permanent)?;
                for rl in &mut request.resource_logs {
                    let resource = rl.resource.clone().unwrap_or_default();
                    for sl in &mut rl.scope_logs {
                        for log in &mut sl.log_records {
                            if self.filtered() {
                                let subject = Subject {
                                    resource: &resource.attributes,
                                    scope: sl.scope.as_ref(),
                                    attributes: &log.attributes,
                                    log: Some((log.body.as_ref(), &log.severity_text)),
                                    ..Default::default()
                                };
                                if !self.selected(&subject) {
                                    continue;
                                }
                            }
                            self.actions.apply(&mut log.attributes, metadata);
                        }
                    }
                }
            }
            Batch::Metrics(p) => {
                let request = p.message_mut().map_err(ConsumeError::permanent)?;
                for rm in &mut request.resource_metrics {
                    let resource = rm.resource.clone().unwrap_or_default();
                    for sm in &mut rm.scope_metrics {
                        for metric in &mut sm.metrics {
                            if self.filtered() {
                                let subject = Subject {
                                    resource: &resource.attributes,
                                    scope: sm.scope.as_ref(),
                                    metric_name: Some(&metric.name),
                                    ..Default::default()
                                };
                                if !self.selected(&subject) {
                                    continue;
                                }
                            }
                            for attrs in point_attributes(&mut metric.data) {
                                self.actions.apply(attrs, metadata);
                            }
                        }
                    }
                }
            }
        }
        Ok(batch)
    }
}

fn point_attributes(
    data: &mut Option<Data>,
) -> Vec<&mut Vec<llamacol_api::otlp::common::v1::KeyValue>> {
    match data {
        Some(Data::Gauge(g)) => g
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Sum(s)) => s
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        Some(Data::Summary(s)) => s
            .data_points
            .iter_mut()
            .map(|p| &mut p.attributes)
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
