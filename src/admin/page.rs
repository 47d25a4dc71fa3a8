//! The live page: `GET /` and its assets (the page's own code from `src/admin/ui/`, uPlot
//! installed from npm by build.rs; all embedded, so it works air-gapped), `/api/live`
//! (everything after `?since=`, Unix seconds) and `/api/traces/{id}`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use llamacol_pipeline::telemetry::Telemetry;

const ASSETS: [(&str, &str, &str); 5] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("ui/index.html"),
    ),
    (
        "/ui/app.js",
        "text/javascript; charset=utf-8",
        include_str!("ui/app.js"),
    ),
    (
        "/ui/style.css",
        "text/css; charset=utf-8",
        include_str!("ui/style.css"),
    ),
    (
        "/ui/uPlot.js",
        "text/javascript; charset=utf-8",
        include_str!(concat!(env!("OUT_DIR"), "/uPlot.iife.min.js")),
    ),
    (
        "/ui/uPlot.css",
        "text/css; charset=utf-8",
        include_str!(concat!(env!("OUT_DIR"), "/uPlot.min.css")),
    ),
];

pub fn routes() -> Router<Arc<Telemetry>> {
    let mut router = Router::new()
        .route("/api/live", get(live))
        .route("/api/traces/{id}", get(trace));
    for (path, content_type, body) in ASSETS {
        router = router.route(
            path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
            }),
        );
    }
    router
}

/// `since=<Unix seconds>` of a query string; 0 (everything) when absent or unreadable.
fn since(query: Option<&str>) -> f64 {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("since="))
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite())
        .unwrap_or(0.0)
}

async fn live(State(t): State<Arc<Telemetry>>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let node = t.node();
    let panels = node.live().json_since(since(query.as_deref()));
    Json(serde_json::json!({
        "now": llamacol_api::clock::unix_seconds(),
        "window_seconds": llamacol_api::live::WINDOW_SECONDS,
        "host": llamacol_api::node::hostname(),
        "version": env!("CARGO_PKG_VERSION"),
        "panels": panels,
        // What alerting components report now (`/debug/alerts`).
        "alerts": node.alerts(),
    }))
}

async fn trace(State(t): State<Arc<Telemetry>>, Path(id): Path<String>) -> impl IntoResponse {
    match t.node().live().trace(&id.to_ascii_lowercase()) {
        Some(trace) => Json(trace).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("trace {id} is not among the recent ones kept for this page\n"),
        )
            .into_response(),
    }
}
