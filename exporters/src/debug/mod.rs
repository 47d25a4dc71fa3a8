//! `debug` exporter: prints batches to stderr for people, like the Collector's.

mod config;
mod render;

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};

pub use config::{DebugConfig, Verbosity};
pub use render::render;

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "debug",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<DebugConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<DebugConfig>(block)?;
    Ok(Arc::new(DebugExporter {
        id: ctx.id.to_string(),
        verbosity: config.verbosity,
    }))
}

pub struct DebugExporter {
    id: String,
    verbosity: Verbosity,
}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let text = render(&self.id, batch, self.verbosity).map_err(ConsumeError::permanent)?;
        // One write per batch, so lines of concurrent batches do not interleave.
        std::io::stderr()
            .lock()
            .write_all(text.as_bytes())
            .map_err(ConsumeError::retryable)
    }
}

#[cfg(test)]
mod tests;
