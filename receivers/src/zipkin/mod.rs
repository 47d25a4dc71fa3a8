//! `zipkin` receiver (traces): Zipkin's HTTP API as the Collector's `zipkinreceiver`
//! serves it on 9411. A path containing `api/v1/spans` is Zipkin v1 (Thrift when
//! `Content-Type: application/x-thrift`, else JSON); any other path is v2 (protobuf when
//! `Content-Type: application/x-protobuf`, else JSON). Translated to OTLP as the
//! Collector's translator does (`llamacol_api::formats::zipkin`); 202 when accepted.

mod config;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::formats::zipkin::{json, proto, to_otlp, v1};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::trace::v1::ResourceSpans;
use llamacol_api::{Batch, BoxError, BuildContext, Consumer, Receiver, ReceiverFactory, Signal};

pub use config::ZipkinConfig;

use crate::server::status::retry_after_secs;
use crate::server::{self, body, Servers, TlsPeer};

pub fn factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "zipkin",
        signals: &[Signal::Traces],
        config: ConfigSpec::of::<ZipkinConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &llamacol_api::serde_yaml::Value,
) -> Result<Box<dyn Receiver>, BoxError> {
    Ok(Box::new(ZipkinReceiver {
        config: parse_block::<ZipkinConfig>(block)?,
        servers: Servers::new(ctx.id.to_string(), ctx.auth.clone(), ctx.node.clone()),
    }))
}

pub struct ZipkinReceiver {
    config: ZipkinConfig,
    servers: Servers,
}

struct HttpState {
    next: Arc<dyn Consumer>,
    max_body: usize,
    include_metadata: bool,
    parse_string_tags: bool,
}

#[async_trait]
impl Receiver for ZipkinReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        let c = &self.config.server;
        let listener = self
            .servers
            .listen(&c.endpoint, c.transport, c.tls.as_ref(), "Zipkin HTTP")
            .await?;
        let state = Arc::new(HttpState {
            next,
            max_body: c.max_request_body_size,
            include_metadata: c.include_metadata,
            parse_string_tags: self.config.parse_string_tags,
        });
        // Every path and method, as the Collector's handler takes them.
        let app = Router::new()
            .fallback(
                |State(s): State<Arc<HttpState>>,
                 tcp: Option<Extension<ConnectInfo<SocketAddr>>>,
                 tls: Option<Extension<ConnectInfo<TlsPeer>>>,
                 uri: Uri,
                 headers: HeaderMap,
                 body: Body| async move {
                    match receive(&s, server::peer(tcp, tls), &uri, &headers, body).await {
                        Ok(()) => StatusCode::ACCEPTED.into_response(),
                        Err(response) => response,
                    }
                },
            )
            .layer(DefaultBodyLimit::disable())
            .with_state(state);
        let app = self
            .servers
            .guarded(app, c.auth.as_ref(), c.cors.as_ref(), "http")?;
        self.servers.serve_http(app, listener, "Zipkin HTTP");
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.servers.shutdown().await;
        Ok(())
    }
}

async fn receive(
    state: &HttpState,
    peer: Option<std::net::IpAddr>,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), Response> {
    let refuse = |status: StatusCode, message: String| {
        tracing::debug!(%status, %message, "Zipkin request refused");
        (status, message).into_response()
    };
    let bytes = body::read(state.max_body, headers, body)
        .await
        .map_err(|(s, m)| refuse(s, m))?;
    let resource_spans = translate(state.parse_string_tags, uri.path(), headers, &bytes)
        .map_err(|m| refuse(StatusCode::BAD_REQUEST, m))?;
    let mut batch: Batch = ExportTraceServiceRequest { resource_spans }.into();
    server::set_client_metadata(&mut batch, state.include_metadata, headers, peer);
    match state.next.consume(batch).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_retryable() => {
            let mut response = refuse(StatusCode::SERVICE_UNAVAILABLE, format!("{e}; retry later"));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(&e)));
            Err(response)
        }
        Err(e) => Err(refuse(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

/// A request body as OTLP, by path and `Content-Type` (matched exactly, as the
/// Collector matches it).
pub fn translate(
    parse_string_tags: bool,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<ResourceSpans>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if path.contains("api/v1/spans") {
        if content_type == "application/x-thrift" {
            return v1::from_thrift(body);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return v1::from_json(body, parse_string_tags, now);
    }
    let spans = if content_type == "application/x-protobuf" {
        let debug = headers.get("x-b3-flags").and_then(|v| v.to_str().ok()) == Some("1");
        proto::parse(body, debug).map_err(|e| e.to_string())?
    } else {
        json::parse(body).map_err(|e| e.to_string())?
    };
    to_otlp::resource_spans(&spans, parse_string_tags)
}

#[cfg(test)]
mod tests;
