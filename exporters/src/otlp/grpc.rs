//! OTLP/gRPC sending: the batch's bytes go out as they are (no decode for forwarding).

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes};
use llamacol_pipeline::otlp::collector::{logs, metrics, trace};
use llamacol_pipeline::{Batch, BoxError, ConsumeError};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Status;

use super::config::{Compression, OtlpExporterConfig};
use super::outcome::{from_grpc, report_partial, PartialSuccess};

pub struct GrpcSender {
    id: String,
    channel: Channel,
    metadata: MetadataMap,
    compression: Option<CompressionEncoding>,
    timeout: std::time::Duration,
}

impl GrpcSender {
    pub fn new(id: String, config: &OtlpExporterConfig) -> Result<GrpcSender, BoxError> {
        let url = if config.endpoint.contains("://") {
            config.endpoint.clone()
        } else if config.tls.insecure {
            format!("http://{}", config.endpoint)
        } else {
            format!("https://{}", config.endpoint)
        };
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| format!("invalid endpoint `{url}`: {e}"))?
            .timeout(config.timeout)
            .connect_timeout(config.timeout);
        if url.starts_with("https://") {
            endpoint = endpoint.tls_config(tls(config)?)?;
        }
        let mut metadata = MetadataMap::new();
        for (name, value) in &config.headers.0 {
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("header `{name}` is not a valid gRPC metadata key"))?;
            let value = MetadataValue::try_from(value.as_str())
                .map_err(|_| format!("header `{name}` has a value that is not valid ASCII"))?;
            metadata.insert(key, value);
        }
        let compression = match config.compression {
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::Zstd => Some(CompressionEncoding::Zstd),
            Compression::None => None,
        };
        Ok(GrpcSender {
            id,
            channel: endpoint.connect_lazy(),
            metadata,
            compression,
            timeout: config.timeout,
        })
    }

    pub async fn send(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let bytes = batch.bytes();
        match batch {
            Batch::Traces(_) => {
                self.call::<trace::v1::ExportTraceServiceResponse>(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    bytes,
                )
                .await
            }
            Batch::Metrics(_) => {
                self.call::<metrics::v1::ExportMetricsServiceResponse>(
                    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                    bytes,
                )
                .await
            }
            Batch::Logs(_) => {
                self.call::<logs::v1::ExportLogsServiceResponse>(
                    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                    bytes,
                )
                .await
            }
        }
    }

    async fn call<R: prost::Message + Default + PartialSuccess + Send + 'static>(
        &self,
        path: &'static str,
        body: Bytes,
    ) -> Result<(), ConsumeError> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
            .accept_compressed(CompressionEncoding::Gzip);
        if let Some(c) = self.compression {
            grpc = grpc.send_compressed(c);
        }
        grpc.ready()
            .await
            .map_err(|e| from_grpc(&Status::unavailable(format!("connecting: {e}"))))?;
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        let response = grpc
            .unary(
                request,
                PathAndQuery::from_static(path),
                BytesCodec::<R>(PhantomData),
            )
            .await
            .map_err(|status| from_grpc(&status))?;
        report_partial(&self.id, response.get_ref());
        Ok(())
    }
}

fn tls(config: &OtlpExporterConfig) -> Result<ClientTlsConfig, BoxError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("reading `{}`: {e}", p.display()))
    };
    let mut tls = ClientTlsConfig::new();
    tls = match &config.tls.ca_file {
        Some(ca) => tls.ca_certificate(Certificate::from_pem(read(ca)?)),
        None => tls.with_native_roots(),
    };
    if let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    if let Some(name) = &config.tls.server_name_override {
        tls = tls.domain_name(name.clone());
    }
    Ok(tls)
}

/// Sends request bytes as they are; decodes the (small) response with prost.
struct BytesCodec<R>(PhantomData<fn() -> R>);

impl<R: prost::Message + Default + Send + 'static> Codec for BytesCodec<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = BytesEncoder;
    type Decoder = ResponseDecoder<R>;
    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }
    fn decoder(&mut self) -> ResponseDecoder<R> {
        ResponseDecoder(PhantomData)
    }
}

struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

struct ResponseDecoder<R>(PhantomData<fn() -> R>);

impl<R: prost::Message + Default> Decoder for ResponseDecoder<R> {
    type Item = R;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        R::decode(bytes)
            .map(Some)
            .map_err(|e| Status::internal(format!("decoding the export response: {e}")))
    }
}
