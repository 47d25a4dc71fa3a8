//! OTLP/HTTP: `POST /v1/{traces,metrics,logs}` with protobuf or JSON bodies, gzip/deflate.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use axum::Router;
use bytes::Bytes;
use llamacol_api::rpc_status::RpcStatus;

use super::body::InvalidRequest;
use crate::server::{self, body};
use llamacol_api::{Batch, Consumer, Signal};
use prost::Message;

use super::config::HttpConfig;
use crate::server::status::retry_after_secs;
use crate::server::TlsPeer;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

struct HttpState {
    next: Arc<dyn Consumer>,
    max_body: usize,
    /// `include_metadata`: the request's headers go with its batch.
    include_metadata: bool,
}

/// The routes for the wired `signals`; the others answer 404 like an unknown path.
pub fn router(signals: &[Signal], config: &HttpConfig, next: Arc<dyn Consumer>) -> Router {
    let state = Arc::new(HttpState {
        next,
        max_body: config.max_request_body_size,
        include_metadata: config.include_metadata,
    });
    let mut router = Router::new();
    for &signal in signals {
        let path = match signal {
            Signal::Traces => &config.traces_url_path,
            Signal::Metrics => &config.metrics_url_path,
            Signal::Logs => &config.logs_url_path,
        };
        router = router.route(
            path,
            post(
                move |State(s): State<Arc<HttpState>>,
                      tcp: Option<Extension<ConnectInfo<SocketAddr>>>,
                      tls: Option<Extension<ConnectInfo<TlsPeer>>>,
                      headers: HeaderMap,
                      body: Body| {
                    export(s, signal, server::peer(tcp, tls), headers, body)
                },
            ),
        );
    }
    // The body limit is enforced in `export` (before and after decompression).
    router.layer(DefaultBodyLimit::disable()).with_state(state)
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Protobuf,
    Json,
}

async fn export(
    state: Arc<HttpState>,
    signal: Signal,
    peer: Option<IpAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let format = match body::media_type(&headers).as_str() {
        PROTOBUF | "application/protobuf" => Format::Protobuf,
        JSON => Format::Json,
        other => {
            let shown = if other.is_empty() {
                "no Content-Type"
            } else {
                other
            };
            return error(
                Format::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content type `{shown}`; send `{PROTOBUF}` or `{JSON}`"),
            );
        }
    };
    let bytes = match body::read(state.max_body, &headers, body).await {
        Ok(b) => b,
        Err((status, message)) => return error(format, status, message),
    };
    let mut batch = match decode(signal, format, bytes) {
        Ok(b) => b,
        Err(InvalidRequest(message)) => return error(format, StatusCode::BAD_REQUEST, message),
    };
    server::set_client_metadata(&mut batch, state.include_metadata, &headers, peer);
    match state.next.consume(batch).await {
        Ok(()) => success(format),
        Err(e) if e.is_retryable() => {
            let mut response = error(
                format,
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{e}; retry later"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(&e)));
            response
        }
        Err(e) => error(format, StatusCode::BAD_REQUEST, e.to_string()),
    }
}

fn decode(signal: Signal, format: Format, bytes: Bytes) -> Result<Batch, InvalidRequest> {
    match format {
        Format::Protobuf => super::body::protobuf(signal, bytes),
        Format::Json => super::body::json(signal, &bytes),
    }
}

/// A full success is the empty response message: zero bytes in protobuf, `{}` in JSON.
fn success(format: Format) -> Response {
    match format {
        Format::Protobuf => ([(header::CONTENT_TYPE, PROTOBUF)], Bytes::new()).into_response(),
        Format::Json => ([(header::CONTENT_TYPE, JSON)], "{}").into_response(),
    }
}

fn error(format: Format, status: StatusCode, message: String) -> Response {
    let code = match status {
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::PAYLOAD_TOO_LARGE => tonic::Code::ResourceExhausted,
        _ => tonic::Code::InvalidArgument,
    } as i32;
    tracing::debug!(%status, %message, "OTLP/HTTP request refused");
    match format {
        Format::Protobuf => (
            status,
            [(header::CONTENT_TYPE, PROTOBUF)],
            RpcStatus { code, message }.encode_to_vec(),
        )
            .into_response(),
        Format::Json => (
            status,
            [(header::CONTENT_TYPE, JSON)],
            serde_json::json!({"code": code, "message": message}).to_string(),
        )
            .into_response(),
    }
}
