//! OTLP/gRPC sending: the batch's bytes go out as they are (no decode for forwarding).

use bytes::Bytes;
use llamacol_api::client_metadata::Metadata;
use llamacol_api::otlp::collector::{logs, metrics, trace};
use llamacol_api::{Batch, BoxError, ConsumeError};
use tonic::codec::CompressionEncoding;
use tonic::codegen::{http, Service};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::Status;

use super::config::{Balancer, Compression, OtlpExporterConfig};
use super::outcome::{check_size, from_grpc, report_partial, PartialSuccess};

pub struct GrpcSender {
    id: String,
    channel: Channel,
    metadata: MetadataMap,
    compression: Option<CompressionEncoding>,
    timeout: std::time::Duration,
    auth: Option<std::sync::Arc<dyn llamacol_api::auth::Authenticator>>,
    max_request_size: Option<usize>,
}

impl GrpcSender {
    pub fn new(
        id: String,
        config: &OtlpExporterConfig,
        auth: Option<std::sync::Arc<dyn llamacol_api::auth::Authenticator>>,
    ) -> Result<GrpcSender, BoxError> {
        let url = if config.endpoint.contains("://") {
            config.endpoint.clone()
        } else if config.tls.insecure {
            format!("http://{}", config.endpoint)
        } else {
            format!("https://{}", config.endpoint)
        };
        let channel = match config.balancer_name {
            Some(Balancer::RoundRobin) => match resolved(&url) {
                Ok(addresses) => {
                    let endpoints = addresses
                        .into_iter()
                        .map(|(address, host)| endpoint(&address, Some(&host), config))
                        .collect::<Result<Vec<_>, _>>()?;
                    Channel::balance_list(endpoints.into_iter())
                }
                Err(e) => {
                    // Not resolvable yet (a Service without ready pods): one connection,
                    // retried as usual, rather than a failed start.
                    tracing::warn!(component = %id, error = %e, "balancer_name round_robin: the endpoint does not resolve now; using one connection to it");
                    endpoint(&url, None, config)?.connect_lazy()
                }
            },
            Some(Balancer::PickFirst) | None => endpoint(&url, None, config)?.connect_lazy(),
        };
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
            channel,
            metadata,
            compression,
            timeout: config.timeout,
            auth,
            max_request_size: config.request_limit(),
        })
    }

    pub fn request_limit(&self) -> Option<usize> {
        self.max_request_size
    }

    pub async fn send(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let bytes = batch.bytes();
        let metadata = batch.metadata().clone();
        match batch {
            Batch::Traces(_) => {
                self.call::<trace::v1::ExportTraceServiceResponse>(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    bytes,
                    &metadata,
                )
                .await
            }
            Batch::Metrics(_) => {
                self.call::<metrics::v1::ExportMetricsServiceResponse>(
                    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                    bytes,
                    &metadata,
                )
                .await
            }
            Batch::Logs(_) => {
                self.call::<logs::v1::ExportLogsServiceResponse>(
                    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                    bytes,
                    &metadata,
                )
                .await
            }
        }
    }

    /// One gRPC unary call, framed here so the batch's bytes go out as they are: tonic's
    /// codec path copies every request into its own buffer first, which for 10 workers
    /// with multi-megabyte batches in flight was tens of MiB outside any queue bound.
    async fn call<R: prost::Message + Default + PartialSuccess + Send + 'static>(
        &self,
        path: &'static str,
        body: Bytes,
        metadata: &Metadata,
    ) -> Result<(), ConsumeError> {
        let reply = self.unary::<R>(path, body, metadata).await?;
        report_partial(&self.id, &reply);
        Ok(())
    }

    /// One unary call to `path` with `body` (an encoded request message), its answer
    /// decoded as `R`; failures classified as OTLP/gRPC says (the `jaeger` exporter's
    /// `PostSpans` goes through here too).
    pub(crate) async fn unary<R: prost::Message + Default + Send + 'static>(
        &self,
        path: &'static str,
        body: Bytes,
        metadata: &Metadata,
    ) -> Result<R, ConsumeError> {
        check_size(body.len(), self.max_request_size)?;
        let (flag, payload) = match self.compression {
            Some(encoding) => (1u8, compress(encoding, &body)?),
            None => (0u8, body),
        };
        let mut header = [0u8; 5];
        header[0] = flag;
        header[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .header("grpc-accept-encoding", "gzip")
            .header(
                "grpc-timeout",
                format!("{}m", self.timeout.as_millis().max(1)),
            )
            .header(http::header::USER_AGENT, USER_AGENT);
        if let Some(encoding) = self.compression {
            request = request.header("grpc-encoding", encoding.to_string());
        }
        let mut request = request
            .body(tonic::body::Body::new(Frames(
                [Bytes::copy_from_slice(&header), payload].into(),
            )))
            .map_err(|e| from_grpc(&Status::internal(format!("building the request: {e}"))))?;
        request
            .headers_mut()
            .extend(self.metadata.clone().into_headers());
        if let Some(auth) = &self.auth {
            auth.apply_headers(request.headers_mut(), metadata);
        }
        let exchange = async {
            let mut channel = self.channel.clone();
            std::future::poll_fn(|cx| channel.poll_ready(cx))
                .await
                .map_err(|e| Status::unavailable(format!("connecting: {e}")))?;
            let response = channel
                .call(request)
                .await
                .map_err(|e| Status::unavailable(transport_error(&e)))?;
            answer::<R>(response).await
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(format!(
                    "no answer within {:?} (`timeout`)",
                    self.timeout
                )))
            })
            .map_err(|status| from_grpc(&status))
    }
}

const USER_AGENT: &str = concat!("llamacol/", env!("CARGO_PKG_VERSION"));

/// The request body: the 5-byte gRPC message header, then the payload, as they are.
struct Frames(std::collections::VecDeque<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

fn compress(encoding: CompressionEncoding, body: &[u8]) -> Result<Bytes, ConsumeError> {
    let compressed = match encoding {
        CompressionEncoding::Zstd => zstd::bulk::compress(body, 0).map_err(|e| e.to_string()),
        _ => {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            std::io::Write::write_all(&mut gz, body)
                .and_then(|()| gz.finish())
                .map_err(|e| e.to_string())
        }
    };
    compressed
        .map(Bytes::from)
        .map_err(|e| from_grpc(&Status::internal(format!("compressing the request: {e}"))))
}

/// The response's status (trailers, or headers for a trailers-only answer) and message.
async fn answer<R: prost::Message + Default>(
    response: http::Response<tonic::body::Body>,
) -> Result<R, Status> {
    if let Some(status) = Status::from_header_map(response.headers()) {
        if status.code() != tonic::Code::Ok {
            return Err(status);
        }
    }
    let http_status = response.status();
    let compressed = response
        .headers()
        .get("grpc-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let collected = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map_err(|e| Status::unavailable(format!("reading the answer: {e}")))?;
    if let Some(status) = collected.trailers().and_then(Status::from_header_map) {
        if status.code() != tonic::Code::Ok {
            return Err(status);
        }
    } else if !http_status.is_success() {
        return Err(Status::unavailable(format!(
            "HTTP {http_status} without a gRPC status (a proxy in the way?)"
        )));
    }
    let data = collected.to_bytes();
    if data.len() < 5 {
        return Ok(R::default());
    }
    let message = data.slice(5..);
    let message = if data[0] == 1 {
        match compressed.as_deref() {
            Some("gzip") => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&message[..]),
                    &mut out,
                )
                .map_err(|e| Status::internal(format!("decompressing the answer: {e}")))?;
                Bytes::from(out)
            }
            other => {
                return Err(Status::internal(format!(
                    "answer compressed with {other:?}, which was not offered"
                )))
            }
        }
    } else {
        message
    };
    R::decode(message).map_err(|e| Status::internal(format!("decoding the export response: {e}")))
}

/// The innermost cause: "tcp connect error" rather than "transport error".
fn transport_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// One connection's settings: to `url`, verifying TLS for `host` when given (a resolved
/// address stands in for the host name).
fn endpoint(
    url: &str,
    host: Option<&str>,
    config: &OtlpExporterConfig,
) -> Result<Endpoint, BoxError> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("invalid endpoint `{url}`: {e}"))?
        .timeout(config.timeout)
        .connect_timeout(config.timeout);
    if let Some(k) = &config.keepalive {
        if let Some(time) = k.time {
            endpoint = endpoint.http2_keep_alive_interval(time);
        }
        if let Some(timeout) = k.timeout {
            endpoint = endpoint.keep_alive_timeout(timeout);
        }
        endpoint = endpoint.keep_alive_while_idle(k.permit_without_stream);
    }
    if url.starts_with("https://") {
        let mut tls = tls(config)?;
        if let (Some(host), None) = (host, &config.tls.server_name_override) {
            tls = tls.domain_name(host.to_string());
        }
        endpoint = if config.tls.insecure_skip_verify {
            let verifier = llamacol_api::tls::SkipVerification::new();
            endpoint.tls_config_with_verifier(tls, verifier)?
        } else {
            endpoint.tls_config(tls)?
        };
    }
    Ok(endpoint)
}

/// `round_robin`: a URL per address the URL's host resolves to now, with the host name.
fn resolved(url: &str) -> Result<Vec<(String, String)>, BoxError> {
    use std::net::ToSocketAddrs;
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid endpoint `{url}`: {e}"))?;
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(format!(
            "`balancer_name: round_robin` needs a `host:port` endpoint, not `{url}`"
        )
        .into());
    };
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let addresses: Vec<_> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving `{host}` for round_robin: {e}"))?
        .collect();
    if addresses.is_empty() {
        return Err(format!("`{host}` resolves to no address").into());
    }
    Ok(addresses
        .into_iter()
        .map(|a| (format!("{scheme}://{a}"), host.to_string()))
        .collect())
}

fn tls(config: &OtlpExporterConfig) -> Result<ClientTlsConfig, BoxError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("reading `{}`: {e}", p.display()))
    };
    let mut tls = ClientTlsConfig::new();
    // Roots and a verifier that checks nothing conflict: no roots when skipping.
    if !config.tls.insecure_skip_verify {
        tls = match &config.tls.ca_file {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => tls.with_native_roots(),
        };
    }
    if let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) {
        tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    if let Some(name) = &config.tls.server_name_override {
        tls = tls.domain_name(name.clone());
    }
    Ok(tls)
}
