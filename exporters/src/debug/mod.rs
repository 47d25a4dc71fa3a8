//! `debug` exporter: prints batches to stderr for people, like the Collector's.

mod config;
mod render;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};

pub use config::{DebugConfig, LoggingConfig, Verbosity};
pub use render::render;

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "debug",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<DebugConfig>(),
        build,
    }
}

/// The deprecated `logging` exporter, accepted as `debug` with a warning naming it.
pub fn factory_logging() -> ExporterFactory {
    ExporterFactory {
        type_name: "logging",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<LoggingConfig>(),
        build: build_logging,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<DebugConfig>(block)?;
    Ok(Arc::new(DebugExporter::new(ctx.id.to_string(), &config)?))
}

fn build_logging(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<LoggingConfig>(block)?;
    tracing::warn!(exporter = %ctx.id, "the `logging` exporter is deprecated (the Collector removed it in v0.111.0): it runs as `debug`; rename it to `debug` (`loglevel` becomes `verbosity`)");
    Ok(Arc::new(DebugExporter::new(
        ctx.id.to_string(),
        &config.as_debug(),
    )?))
}

pub struct DebugExporter {
    id: String,
    verbosity: Verbosity,
    outputs: Vec<Output>,
    sampler: Mutex<Sampler>,
}

enum Output {
    Stdout,
    Stderr,
    File(Mutex<std::fs::File>),
}

impl Output {
    fn open(path: &str) -> std::io::Result<Output> {
        Ok(match path {
            "stdout" => Output::Stdout,
            "stderr" => Output::Stderr,
            file => Output::File(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)?,
            )),
        })
    }

    /// One write per batch, so lines of concurrent batches do not interleave.
    fn write(&self, text: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => std::io::stdout().lock().write_all(text),
            Output::Stderr => std::io::stderr().lock().write_all(text),
            Output::File(f) => f
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_all(text),
        }
    }
}

/// The Collector's log sampling for this exporter: per second, the first
/// `sampling_initial` batches, then every `sampling_thereafter`-th.
struct Sampler {
    initial: u64,
    thereafter: u64,
    second: u64,
    seen: u64,
}

impl Sampler {
    fn admit(&mut self, now_second: u64) -> bool {
        if now_second != self.second {
            self.second = now_second;
            self.seen = 0;
        }
        self.seen += 1;
        self.seen <= self.initial
            || (self.seen - self.initial).is_multiple_of(self.thereafter.max(1))
    }
}

impl DebugExporter {
    pub fn new(id: String, config: &DebugConfig) -> Result<DebugExporter, BoxError> {
        let paths = match (&config.output_paths, config.use_internal_logger) {
            (_, true) => vec!["stderr".to_string()],
            (Some(paths), false) => paths.clone(),
            (None, false) => vec!["stdout".to_string()],
        };
        let outputs = paths
            .iter()
            .map(|p| Output::open(p).map_err(|e| format!("output_paths: cannot open {p}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DebugExporter {
            id,
            verbosity: config.verbosity,
            outputs,
            sampler: Mutex::new(Sampler {
                initial: config.sampling_initial,
                thereafter: config.sampling_thereafter,
                second: 0,
                seen: 0,
            }),
        })
    }
}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let admitted = self
            .sampler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(llamacol_api::clock::unix_seconds() as u64);
        if !admitted {
            // Sampled out of the printout, as the Collector's: still delivered.
            return Ok(());
        }
        let text = render(&self.id, batch, self.verbosity).map_err(ConsumeError::permanent)?;
        for output in &self.outputs {
            output
                .write(text.as_bytes())
                .map_err(ConsumeError::retryable)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
