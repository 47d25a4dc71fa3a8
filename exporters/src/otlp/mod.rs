//! `otlp` exporter: sends OTLP over gRPC or HTTP (protobuf or JSON) to any OTLP backend,
//! another llamacol included. Retries follow the OTLP spec (see `outcome.rs`).

mod config;
pub(crate) mod grpc;
pub(crate) mod http;
mod outcome;

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};

pub use config::{
    auth_claim, Compression, Encoding, OtlpExporterConfig, OtlpHttpExporterConfig, Protocol,
};
use llamacol_api::auth::Authenticator;

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "otlp",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<OtlpExporterConfig>(),
        build,
    }
}

/// The Collector's OTLP/HTTP exporter, `otlp_http` (v0.161.0; `otlphttp` before, an alias
/// in the binary's table): this exporter with `protocol: http` unless the block says
/// otherwise. (`otlp_grpc` is `otlp`'s alias there.)
pub fn factory_http() -> ExporterFactory {
    ExporterFactory {
        type_name: "otlp_http",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<OtlpHttpExporterConfig>(),
        build: build_http,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<OtlpExporterConfig>(block)?;
    start(ctx, &config)
}

fn build_http(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<OtlpHttpExporterConfig>(block)?;
    start(ctx, &config.0)
}

fn start(ctx: &BuildContext, config: &OtlpExporterConfig) -> Result<Arc<dyn Exporter>, BoxError> {
    let auth = ctx.auth.resolve(config.auth.as_ref())?;
    Ok(Arc::new(sender(ctx.id.to_string(), config, auth)?))
}

/// An OTLP sender for `config` (also what `loadbalancing` builds for each backend),
/// sending `auth`'s credentials when given.
pub fn sender(
    id: String,
    config: &OtlpExporterConfig,
    auth: Option<Arc<dyn Authenticator>>,
) -> Result<OtlpExporter, BoxError> {
    Ok(match config.protocol {
        Protocol::Grpc => OtlpExporter::Grpc(grpc::GrpcSender::new(id, config, auth)?),
        Protocol::Http => OtlpExporter::Http(http::HttpSender::new(id, config, auth)?),
    })
}

pub enum OtlpExporter {
    Grpc(grpc::GrpcSender),
    Http(http::HttpSender),
}

impl OtlpExporter {
    /// The largest encoded request this sender sends (`max_request_size`).
    pub fn request_limit(&self) -> Option<usize> {
        match self {
            OtlpExporter::Grpc(s) => s.request_limit(),
            OtlpExporter::Http(s) => s.request_limit(),
        }
    }
}

#[async_trait]
impl Exporter for OtlpExporter {
    fn max_request_size(&self) -> Option<usize> {
        self.request_limit()
    }

    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        match self {
            OtlpExporter::Grpc(s) => s.send(batch).await,
            OtlpExporter::Http(s) => s.send(batch).await,
        }
    }
}

#[cfg(test)]
mod tests;
