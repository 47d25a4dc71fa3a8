//! `transform` processor (traces, metrics, logs): changes telemetry with OTTL statements,
//! as the Collector's `transform` processor (`trace_statements`, `metric_statements`,
//! `log_statements`, `statements`, `error_mode`, groups with `context` and
//! `conditions`). A batch no statement applies to passes on encoded, undecoded.

mod config;

use std::sync::Arc;

use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::log_once::LogOnce;
use llamacol_api::ottl::run::applies;
use llamacol_api::ottl::{run_statements, ErrorMode};
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ComponentId, ConsumeError, Consumer, Processor,
    ProcessorFactory, Signal,
};

pub use config::{Bound, Entry, Group, TransformConfig};

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "transform",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<TransformConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<TransformConfig>(block)?;
    let mut groups = Vec::new();
    for (key, signal, entries) in config.lists() {
        let bound = config
            .bind(key, signal, entries)
            .map_err(llamacol_api::config::issues_error)?;
        groups.extend(bound.into_iter().map(|b| (signal, b)));
    }
    Ok(stateless::processor(
        Transform {
            id: ctx.id.clone(),
            groups,
            logged: LogOnce::new(),
            failures: ctx.failures.clone(),
        },
        next,
    ))
}

pub struct Transform {
    id: ComponentId,
    groups: Vec<(Option<Signal>, Bound)>,
    logged: LogOnce,
    /// Statement failures under `ignore`/`silent`.
    failures: llamacol_api::outcome::OutcomeCounter,
}

impl Process for Transform {
    fn process(&self, mut batch: Batch) -> Result<Batch, ConsumeError> {
        let original = batch.encoded().cloned();
        let mut applied = 0;
        for (signal, group) in &self.groups {
            if signal.is_some_and(|s| s != batch.signal()) {
                continue;
            }
            if !group.statements.iter().any(|s| applies(s.context, &batch)) {
                continue;
            }
            let mut on_error = |text: &str, e: &llamacol_api::ottl::RuntimeError| {
                self.failures.add(1);
                if group.error_mode == ErrorMode::Ignore && self.logged.is_new(&e.0) {
                    tracing::warn!(component = %self.id, statement = text, error = %e, "OTTL statement failed; item left as it was (error_mode: ignore; later failures counted, not logged)");
                }
            };
            let outcome = run_statements(
                &mut batch,
                &group.statements,
                &group.conditions,
                group.error_mode,
                &mut on_error,
            )
            .map_err(ConsumeError::permanent)?;
            applied += outcome.applied;
        }
        // No editor ran (every `where` was false): the batch is as it came, so its bytes
        // go on and the next stage does not encode it again.
        if let (0, Some(bytes)) = (applied, original) {
            batch.restore_encoded(bytes);
            return Ok(batch);
        }
        match &mut batch {
            Batch::Traces(p) => p.recount(),
            Batch::Metrics(p) => p.recount(),
            Batch::Logs(p) => p.recount(),
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests;
