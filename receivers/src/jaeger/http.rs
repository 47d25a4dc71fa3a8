//! `POST /api/traces`: a Thrift binary-protocol `Batch` (`application/x-thrift` or
//! `application/vnd.apache.thrift.binary`), answered 202 when the pipeline took it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use llamacol_api::formats::thrift::{self, Protocol};
use llamacol_api::Consumer;

use crate::server::config::{HttpServerConfig, JaegerThriftHttpPort};
use crate::server::status::retry_after_secs;
use crate::server::{self, body, TlsPeer};

struct HttpState {
    next: Arc<dyn Consumer>,
    max_body: usize,
    include_metadata: bool,
}

pub fn router(config: &HttpServerConfig<JaegerThriftHttpPort>, next: Arc<dyn Consumer>) -> Router {
    let state = Arc::new(HttpState {
        next,
        max_body: config.max_request_body_size,
        include_metadata: config.include_metadata,
    });
    Router::new()
        .route(
            "/api/traces",
            post(
                |State(s): State<Arc<HttpState>>,
                 tcp: Option<Extension<ConnectInfo<SocketAddr>>>,
                 tls: Option<Extension<ConnectInfo<TlsPeer>>>,
                 headers: HeaderMap,
                 body: Body| async move {
                    let peer = server::peer(tcp, tls);
                    match receive(&s, peer, &headers, body).await {
                        Ok(()) => StatusCode::ACCEPTED.into_response(),
                        Err(response) => response,
                    }
                },
            ),
        )
        // The body limit is enforced in `receive` (before and after decompression).
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn receive(
    state: &HttpState,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), Response> {
    let refuse = |status: StatusCode, message: String| {
        tracing::debug!(%status, %message, "Jaeger Thrift HTTP request refused");
        (status, message).into_response()
    };
    let media_type = body::media_type(headers);
    if !matches!(
        media_type.as_str(),
        "application/x-thrift" | "application/vnd.apache.thrift.binary"
    ) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("Unsupported content type: {media_type}; send application/x-thrift"),
        ));
    }
    let bytes = body::read(state.max_body, headers, body)
        .await
        .map_err(|(s, m)| refuse(s, m))?;
    let batch = thrift::read_struct(Protocol::Binary, &bytes).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            format!("Unable to process request body: {e}"),
        )
    })?;
    let mut batch = super::thrift_batch(&batch);
    server::set_client_metadata(&mut batch, state.include_metadata, headers, peer);
    match state.next.consume(batch).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_retryable() => {
            let mut response = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Cannot submit Jaeger batch: {e}; retry later"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(&e)));
            Err(response)
        }
        Err(e) => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("Cannot submit Jaeger batch: {e}"),
        )),
    }
}
