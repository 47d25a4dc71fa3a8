//! The admin HTTP server: `/healthz`, `/readyz`, `/metrics`, `/debug/pipelines`,
//! `/debug/alerts`, and the live page (`/`, `page.rs`).

mod page;

use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use llamacol_api::auth::Authenticator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use llamacol_pipeline::telemetry::{QueueReading, Telemetry};

/// The admin server's `auth`: whether it is asked for, and the authenticator once the
/// service that runs the extension has started (replaced on reload).
#[derive(Default)]
pub struct AdminAuth {
    pub required: bool,
    pub authenticator: RwLock<Option<Arc<dyn Authenticator>>>,
}

/// Serves the admin endpoints on `listener` until `cancel`; with `auth.required`, every
/// path but the probes' (`/healthz`, `/readyz`) needs what the authenticator accepts.
pub async fn serve(
    listener: TcpListener,
    telemetry: Arc<Telemetry>,
    auth: Arc<AdminAuth>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/debug/pipelines", get(pipelines))
        .route("/debug/alerts", get(alerts))
        .merge(page::routes())
        .with_state(telemetry.clone())
        .layer(axum::middleware::from_fn_with_state(auth, guard));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(telemetry.clone())
        .merge(guarded);
    // The page's once-a-second rows are taken whether or not anyone looks, so a page
    // opened later still shows the last 15 minutes.
    tokio::spawn(llamacol_pipeline::sample_every_second(
        telemetry,
        cancel.clone(),
    ));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
}

/// Refuses a request the admin authenticator does not accept (401 with its challenge),
/// or any request before the extension runs (503).
async fn guard(
    State(auth): State<Arc<AdminAuth>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !auth.required {
        return next.run(request).await;
    }
    let authenticator = auth
        .authenticator
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let Some(authenticator) = authenticator else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: the authenticator extension is not running yet\n",
        )
            .into_response();
    };
    match authenticator.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                authenticator.challenge().to_string(),
            )],
            format!("{refusal}\n"),
        )
            .into_response(),
    }
}

async fn readyz(State(t): State<Arc<Telemetry>>) -> impl IntoResponse {
    if t.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: components are starting or stopping\n",
        )
    }
}

async fn metrics(State(t): State<Arc<Telemetry>>) -> axum::response::Response {
    if !t.metrics_served() {
        return (
            StatusCode::NOT_FOUND,
            "self-metrics are off (service.telemetry.metrics.level: none)\n",
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        t.render(),
    )
        .into_response()
}

/// The current alerts of every alerting processor: `{component: [alert, ...]}`.
async fn alerts(State(t): State<Arc<Telemetry>>) -> impl IntoResponse {
    Json(t.node().alerts())
}

async fn pipelines(State(t): State<Arc<Telemetry>>) -> impl IntoResponse {
    let components: Vec<serde_json::Value> = t
        .snapshot()
        .iter()
        .map(|(scope, values)| llamacol_pipeline::telemetry::scope_json(scope, values))
        .collect();
    let queues: Vec<serde_json::Value> =
        t.queue_snapshot().iter().map(QueueReading::json).collect();
    Json(serde_json::json!({
        "ready": t.is_ready(),
        "pipelines": t.pipelines(),
        "components": components,
        "queues": queues,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readyz_is_503_until_ready_and_healthz_always_200() {
        let telemetry = Telemetry::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cancel = CancellationToken::new();
        tokio::spawn(serve(
            listener,
            telemetry.clone(),
            Default::default(),
            cancel.clone(),
        ));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tokio::io::AsyncWriteExt::write_all(
                &mut s,
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .expect("write");
            let mut out = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out)
                .await
                .expect("read");
            out.split(' ').nth(1).unwrap_or_default().to_string()
        };
        assert_eq!(get("/readyz").await, "503");
        assert_eq!(get("/healthz").await, "200");
        telemetry.set_ready(true);
        assert_eq!(get("/readyz").await, "200");
        telemetry.set_ready(false);
        assert_eq!(get("/readyz").await, "503");
        cancel.cancel();
    }
}
