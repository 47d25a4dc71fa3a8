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
use http_body_util::{BodyExt, Limited};
use llamacol_api::client_metadata::ClientMetadata;
use llamacol_api::rpc_status::RpcStatus;

use super::body::InvalidRequest;
use llamacol_api::{Batch, Consumer, Signal};
use prost::Message;

use super::config::HttpConfig;
use super::status::retry_after_secs;
use super::TlsPeer;

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
                    let peer = tcp
                        .map(|Extension(ConnectInfo(addr))| addr.ip())
                        .or(tls.map(|Extension(ConnectInfo(TlsPeer(addr)))| addr.ip()));
                    export(s, signal, peer, headers, body)
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
    let format = match media_type(&headers).as_str() {
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
    let bytes = match read_body(&state, &headers, body).await {
        Ok(b) => b,
        Err((status, message)) => return error(format, status, message),
    };
    let mut batch = match decode(signal, format, bytes) {
        Ok(b) => b,
        Err(InvalidRequest(message)) => return error(format, StatusCode::BAD_REQUEST, message),
    };
    if state.include_metadata {
        let pairs = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let metadata = ClientMetadata::from_pairs(pairs).with_addr(peer);
        batch.set_metadata(Some(Arc::new(metadata)));
    } else if let Some(addr) = peer {
        batch.set_metadata(Some(Arc::new(ClientMetadata::from_addr(addr))));
    }
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

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

type Refusal = (StatusCode, String);

/// Reads at most `max_body` bytes, then decompresses to at most `max_body` bytes.
async fn read_body(state: &HttpState, headers: &HeaderMap, body: Body) -> Result<Bytes, Refusal> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body larger than the {} byte limit (`max_request_body_size`)",
                state.max_body
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.max_body) {
        return Err(too_large());
    }
    let raw = match Limited::new(body, state.max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("reading request body: {e}"),
            ))
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    super::body::decompress(encoding, raw, state.max_body).map_err(|e| match e {
        super::body::BodyError::TooLarge => too_large(),
        super::body::BodyError::Invalid(message) => (StatusCode::BAD_REQUEST, message),
    })
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
