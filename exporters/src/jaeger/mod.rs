//! `jaeger` exporter (traces): into the Jaeger people run. `protocol: otlp` (default) is
//! the `otlp` exporter's sender with Jaeger v2's ports; `protocol: grpc` translates to
//! Jaeger's model (`translate.rs`, as the Collector's translator) and calls
//! `api_v2.CollectorService/PostSpans`, one call per resource.

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::formats::jaeger::{from_otlp, model};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};
use prost::Message;

pub use config::{JaegerConfig, JaegerProtocol};

use crate::otlp::grpc::GrpcSender;
use crate::otlp::{sender, OtlpExporter};

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "jaeger",
        signals: &[Signal::Traces],
        config: ConfigSpec::of::<JaegerConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<JaegerConfig>(block)?;
    let id = ctx.id.to_string();
    let auth = ctx.auth.resolve(config.auth.as_ref())?;
    Ok(Arc::new(match config.protocol {
        JaegerProtocol::Grpc => JaegerExporter::Grpc(GrpcSender::new(id, &config.sender(), auth)?),
        JaegerProtocol::Otlp | JaegerProtocol::OtlpHttp => {
            JaegerExporter::Otlp(sender(id, &config.sender(), auth)?)
        }
    }))
}

pub enum JaegerExporter {
    Otlp(OtlpExporter),
    Grpc(GrpcSender),
}

#[async_trait]
impl Exporter for JaegerExporter {
    fn max_request_size(&self) -> Option<usize> {
        match self {
            JaegerExporter::Otlp(s) => s.request_limit(),
            JaegerExporter::Grpc(s) => s.request_limit(),
        }
    }

    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        match self {
            JaegerExporter::Otlp(s) => s.export(batch).await,
            JaegerExporter::Grpc(s) => post_spans(s, batch).await,
        }
    }
}

/// One `PostSpans` per resource. When one fails, the batch keeps only the resources not
/// yet delivered, so a retry sends no span twice.
async fn post_spans(sender: &GrpcSender, batch: &mut Batch) -> Result<(), ConsumeError> {
    let metadata = batch.metadata().clone();
    let Batch::Traces(payload) = batch else {
        return Err(ConsumeError::permanent(format!(
            "jaeger exports traces only, not {}",
            batch.signal()
        )));
    };
    let request = payload.message_mut().map_err(ConsumeError::permanent)?;
    let mut delivered = 0;
    let mut result = Ok(());
    for rs in &request.resource_spans {
        if let Some(jaeger) = from_otlp::batch(rs) {
            let body = model::PostSpansRequest {
                batch: Some(jaeger),
            }
            .encode_to_vec();
            let call = sender
                .unary::<model::PostSpansResponse>(model::POST_SPANS, Bytes::from(body), &metadata)
                .await;
            if let Err(e) = call {
                result = Err(e);
                break;
            }
        }
        delivered += 1;
    }
    if delivered > 0 && result.is_err() {
        request.resource_spans.drain(..delivered);
        payload.recount();
    }
    result
}

#[cfg(test)]
mod tests;
