//! `file` exporter: OTLP/JSON lines, one line per batch, each a `TracesData`,
//! `MetricsData` or `LogsData` object, as the Collector's file exporter writes them.

mod config;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};

pub use config::{FileConfig, Rotation};
use writer::LineWriter;

use llamacol_api::json::to_json;

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "file",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<FileConfig>(),
        build,
    }
}

fn build(_: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<FileConfig>(block)?;
    Ok(Arc::new(FileExporter {
        config,
        writer: Arc::new(Mutex::new(None)),
    }))
}

pub struct FileExporter {
    config: FileConfig,
    /// Opened at start; writes happen on the blocking pool.
    writer: Arc<Mutex<Option<LineWriter>>>,
}

#[async_trait]
impl Exporter for FileExporter {
    async fn start(&self) -> Result<(), BoxError> {
        let path = &self.config.path;
        let opened = LineWriter::open(Path::new(path), self.config.rotation.clone())
            .map_err(|e| format!("cannot open `{path}` for writing: {e}"))?;
        *self.writer.lock().unwrap_or_else(PoisonError::into_inner) = Some(opened);
        Ok(())
    }

    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let line = to_json(batch).map_err(ConsumeError::permanent)?;
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = writer.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_mut() {
                Some(w) => w.write_line(&line),
                None => Err(std::io::Error::other("file exporter not started")),
            }
        })
        .await
        .map_err(ConsumeError::retryable)?
        .map_err(ConsumeError::retryable)
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            match writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_mut()
            {
                Some(w) => w.flush(),
                None => Ok(()),
            }
        })
        .await??;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
