//! `zipkin` exporter (traces): Zipkin v2 spans POSTed as JSON or protobuf, translated
//! as the Collector's `zipkinexporter` translates them (`llamacol_api::formats::zipkin`).

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use llamacol_api::auth::Authenticator;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::formats::zipkin::{from_otlp, json, proto, NO_SERVICE_NAME};
use llamacol_api::http::{classify, retry_after_header};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};

pub use config::{Format, ZipkinConfig};

use crate::otlp::http::compress;
use crate::otlp::Compression;

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "zipkin",
        signals: &[Signal::Traces],
        config: ConfigSpec::of::<ZipkinConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<ZipkinConfig>(block)?;
    let auth = ctx.auth.resolve(config.auth.as_ref())?;
    Ok(Arc::new(ZipkinExporter {
        client: llamacol_api::http::client(config.timeout, &config.tls, &config.headers)?,
        auth,
        config,
    }))
}

pub struct ZipkinExporter {
    config: ZipkinConfig,
    client: reqwest::Client,
    auth: Option<Arc<dyn Authenticator>>,
}

#[async_trait]
impl Exporter for ZipkinExporter {
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let metadata = batch.metadata().clone();
        let Batch::Traces(payload) = batch else {
            return Err(ConsumeError::permanent(format!(
                "zipkin exports traces only, not {}",
                batch.signal()
            )));
        };
        let request = payload.message().map_err(ConsumeError::permanent)?;
        // A span without ids cannot be written in Zipkin's model: the request is refused
        // for good (as the Collector refuses it), and counted failed.
        let mut spans =
            from_otlp::spans(&request.resource_spans).map_err(ConsumeError::permanent)?;
        for span in &mut spans {
            if let Some(e) = span
                .local_endpoint
                .as_mut()
                .filter(|e| e.service_name == NO_SERVICE_NAME)
            {
                e.service_name.clone_from(&self.config.default_service_name);
            }
        }
        let (content_type, body) = match self.config.format {
            Format::Json => ("application/json", json::write(&spans)),
            Format::Proto => ("application/x-protobuf", proto::write(&spans)),
        };
        let body = compress(self.config.compression, Bytes::from(body))
            .map_err(ConsumeError::permanent)?;
        let mut post = self
            .client
            .post(&self.config.endpoint)
            .header(CONTENT_TYPE, content_type)
            .body(body);
        if let Some(encoding) = match self.config.compression {
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
            Compression::None => None,
        } {
            post = post.header(CONTENT_ENCODING, encoding);
        }
        let post = llamacol_api::auth::with_auth(post, self.auth.as_ref(), &metadata);
        let response = post.send().await.map_err(ConsumeError::retryable)?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let retry_after = retry_after_header(response.headers());
        let text = response.text().await.unwrap_or_default();
        Err(classify(status, retry_after.as_deref(), text))
    }
}

#[cfg(test)]
mod tests;
