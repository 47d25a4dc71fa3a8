//! `jsonl_webhook` exporter (traces, metrics, logs): POSTs each batch as one OTLP/JSON
//! line (`application/x-ndjson`) to an HTTP endpoint. The pipeline puts its bounded queue
//! and retry loop in front: this module only sends and says whether a failure is worth
//! retrying (429/502/503/504 and network errors are, honouring `Retry-After`; other
//! statuses are not), through `llamacol_api::http`.

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::http::{client, refused};
use llamacol_api::serde_yaml;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};
use llamacol_api::json::to_json;

pub use config::JsonlWebhookConfig;

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "jsonl_webhook",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<JsonlWebhookConfig>(),
        build,
    }
}

fn build(_ctx: &BuildContext, block: &serde_yaml::Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<JsonlWebhookConfig>(block)?;
    Ok(Arc::new(JsonlWebhook {
        client: client(config.timeout, &config.tls, &config.headers)?,
        endpoint: config.endpoint,
    }))
}

pub struct JsonlWebhook {
    client: reqwest::Client,
    endpoint: String,
}

#[async_trait]
impl Exporter for JsonlWebhook {
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let mut line = to_json(batch).map_err(ConsumeError::permanent)?;
        line.push('\n');
        let response = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/x-ndjson")
            .body(line)
            .send()
            .await
            // Connection refused, reset, timed out: the backend may come back.
            .map_err(ConsumeError::retryable)?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(refused(response).await)
    }
}

#[cfg(test)]
mod tests;
