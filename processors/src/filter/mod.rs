//! `filter` processor (traces, metrics, logs): removes the resources, spans, span
//! events, metrics, data points and log records that match any of its OTTL conditions,
//! as the Collector's `filter` processor. What it removes is counted as `filtered` (a
//! configured decision, not a loss); containers left empty go with it.

mod config;

use std::sync::Arc;

use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::log_once::LogOnce;
use llamacol_api::ottl::run::applies;
use llamacol_api::ottl::{walk, ErrorMode, Item, RuntimeError};
use llamacol_api::outcome::OutcomeCounter;
use llamacol_api::serde_yaml;
use llamacol_api::stateless::{self, Process};
use llamacol_api::{
    Batch, BoxError, BuildContext, ComponentId, ConsumeError, Consumer, Processor,
    ProcessorFactory, Signal,
};

pub use config::{Bound, FilterConfig};

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "filter",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<FilterConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<FilterConfig>(block)?;
    let lists = config.bind().map_err(llamacol_api::config::issues_error)?;
    Ok(stateless::processor(
        Filter {
            id: ctx.id.clone(),
            lists,
            error_mode: config.error_mode,
            filtered: ctx.filtered.clone(),
            failures: ctx.failures.clone(),
            logged: LogOnce::new(),
        },
        next,
    ))
}

pub struct Filter {
    id: ComponentId,
    /// `(signal prefix of the key, conditions)`, in order.
    lists: Vec<(String, Bound)>,
    error_mode: ErrorMode,
    filtered: OutcomeCounter,
    /// Condition failures under `ignore`/`silent` (the item is kept).
    failures: OutcomeCounter,
    logged: LogOnce,
}

impl Filter {
    /// Whether any condition holds; a failing condition follows `error_mode` (kept
    /// under ignore/silent).
    fn matches(&self, bound: &Bound, item: &Item) -> Result<bool, RuntimeError> {
        for c in &bound.conditions {
            match c.eval(item) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) if self.error_mode == ErrorMode::Propagate => {
                    return Err(RuntimeError::new(format!(
                        "condition {:?} failed: {e}",
                        c.text
                    )))
                }
                Err(e) => {
                    self.failures.add(1);
                    if self.error_mode == ErrorMode::Ignore && self.logged.is_new(&e.0) {
                        tracing::warn!(component = %self.id, condition = %c.text, error = %e, "OTTL condition failed; item kept (error_mode: ignore; later failures counted, not logged)");
                    }
                }
            }
        }
        Ok(false)
    }
}

impl Process for Filter {
    fn process(&self, mut batch: Batch) -> Result<Batch, ConsumeError> {
        let before = batch.items();
        let original = batch.encoded().cloned();
        let mut removed_any = false;
        let prefix = match batch.signal() {
            Signal::Traces => "traces.",
            Signal::Metrics => "metrics.",
            Signal::Logs => "logs.",
        };
        for (key, bound) in &self.lists {
            if !key.starts_with(prefix) || !applies(bound.context, &batch) {
                continue;
            }
            let mut visit = |item: &mut Item| {
                let matched = self.matches(bound, item)?;
                removed_any |= matched;
                Ok(!matched)
            };
            let result = match &mut batch {
                Batch::Traces(p) => walk::traces(
                    p.message_mut().map_err(ConsumeError::permanent)?,
                    bound.context,
                    &mut visit,
                ),
                Batch::Metrics(p) => walk::metrics(
                    p.message_mut().map_err(ConsumeError::permanent)?,
                    bound.context,
                    &mut visit,
                ),
                Batch::Logs(p) => walk::logs(
                    p.message_mut().map_err(ConsumeError::permanent)?,
                    bound.context,
                    &mut visit,
                ),
            };
            result.map_err(ConsumeError::permanent)?;
            match &mut batch {
                Batch::Traces(p) => p.recount(),
                Batch::Metrics(p) => p.recount(),
                Batch::Logs(p) => p.recount(),
            }
        }
        self.filtered.add(before.saturating_sub(batch.items()));
        // Nothing removed: the bytes it came as go on (no encoding downstream).
        if let (false, Some(bytes)) = (removed_any, original) {
            batch.restore_encoded(bytes);
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests;
