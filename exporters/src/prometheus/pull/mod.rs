//! `prometheus` exporter: serves the metrics it receives on `/metrics` for Prometheus to
//! scrape, translated as the OpenTelemetry spec and the Collector do. Ingestion updates
//! the store under a short lock; a scrape copies pointers and renders outside the lock.

mod config;
pub mod protobuf;
pub mod render;

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::task::Background;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, Signal,
};

pub use config::PrometheusConfig;
use render::Format;

use super::model::observe::Options;
use super::model::Ingest;

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "prometheus",
        signals: &[Signal::Metrics],
        config: ConfigSpec::of::<PrometheusConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<PrometheusConfig>(block)?;
    if config.add_metric_suffixes == Some(false) {
        tracing::warn!(exporter = %ctx.id, "add_metric_suffixes is ignored, as in the Collector since v0.132.0: for names without unit and type suffixes set translation_strategy: UnderscoreEscapingWithoutSuffixes");
    }
    Ok(Arc::new(PrometheusExporter {
        id: ctx.id.to_string(),
        options: config.options(),
        ingest: Arc::new(Ingest::new(ctx.dropped.clone())),
        config,
        server: Background::new(),
    }))
}

pub struct PrometheusExporter {
    id: String,
    config: PrometheusConfig,
    options: Options,
    ingest: Arc<Ingest>,
    server: Background,
}

struct Scrape {
    ingest: Arc<Ingest>,
    config: PrometheusConfig,
}

async fn scrape(State(s): State<Arc<Scrape>>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let snapshot = {
        let mut store = s
            .ingest
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        store.expire(Instant::now(), s.config.metric_expiration);
        store.snapshot()
    };
    if protobuf::preferred(accept) {
        let body = protobuf::render(&snapshot, s.config.send_timestamps);
        return ([(header::CONTENT_TYPE, protobuf::CONTENT_TYPE)], body).into_response();
    }
    let format = if s.config.enable_open_metrics && accept.contains("application/openmetrics-text")
    {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    };
    let body = render::render(&snapshot, format, s.config.send_timestamps);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

#[async_trait]
impl Exporter for PrometheusExporter {
    async fn start(&self) -> Result<(), BoxError> {
        let listener = tokio::net::TcpListener::bind(&self.config.endpoint)
            .await
            .map_err(|e| format!("cannot serve /metrics on `{}`: {e}", self.config.endpoint))?;
        let tls = self
            .config
            .tls
            .as_ref()
            .map(|t| llamacol_api::tls::acceptor(t, &self.id))
            .transpose()?;
        let scheme = if tls.is_some() { "TLS" } else { "plaintext" };
        tracing::info!(component = %self.id, endpoint = %listener.local_addr()?, scheme, "serving Prometheus /metrics");
        let app = axum::Router::new()
            .route("/metrics", get(scrape))
            .with_state(Arc::new(Scrape {
                ingest: self.ingest.clone(),
                config: self.config.clone(),
            }));
        let id = self.id.clone();
        self.server.spawn(|stop| async move {
            match tls {
                Some(acceptor) => {
                    match llamacol_api::tls::TlsIncoming::new(listener, acceptor, &id, stop.clone()) {
                        Ok(incoming) => {
                            let _ = axum::serve(incoming, app)
                                .with_graceful_shutdown(stop.cancelled_owned())
                                .await;
                        }
                        Err(e) => tracing::error!(component = %id, error = %e, "cannot serve /metrics over TLS"),
                    }
                }
                None => {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(stop.cancelled_owned())
                        .await;
                }
            }
        });
        Ok(())
    }

    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        self.ingest
            .ingest(&self.id, batch, &self.options)
            .map(|_| ())
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        self.server.stop().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
