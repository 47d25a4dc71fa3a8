//! `health_check` extension: an HTTP endpoint for liveness/readiness probes, as the
//! Collector's. `200` once every pipeline component started; `503` before that and from
//! the moment shutdown begins (so a load balancer stops sending before we stop taking).

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use llamacol_pipeline::config::{parse_block, ConfigSpec};
use llamacol_pipeline::serde_yaml::Value;
use llamacol_pipeline::task::Background;
use llamacol_pipeline::{
    BoxError, ComponentId, Extension, ExtensionContext, ExtensionFactory, ServiceStatus,
};

pub use config::{HealthCheckConfig, ResponseBody};

pub fn factory() -> ExtensionFactory {
    ExtensionFactory {
        type_name: "health_check",
        config: ConfigSpec::of::<HealthCheckConfig>(),
        storage: false,
        build,
    }
}

fn build(ctx: &ExtensionContext, block: &Value) -> Result<Arc<dyn Extension>, BoxError> {
    Ok(Arc::new(HealthCheck {
        id: ctx.id.clone(),
        config: parse_block::<HealthCheckConfig>(block)?,
        status: ctx.status.clone(),
        server: Background::new(),
    }))
}

pub struct HealthCheck {
    id: ComponentId,
    config: HealthCheckConfig,
    status: ServiceStatus,
    server: Background,
}

#[derive(Clone)]
struct Answer {
    status: ServiceStatus,
    body: Option<ResponseBody>,
}

#[async_trait]
impl Extension for HealthCheck {
    async fn start(&self) -> Result<(), BoxError> {
        let endpoint = &self.config.endpoint;
        let listener = llamacol_pipeline::net::bind(endpoint)
            .await
            .map_err(|e| format!("cannot listen on `{endpoint}` (`endpoint`): {e}"))?;
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(component = %self.id, endpoint = %addr, path = %self.config.path, "health check listening");
        }
        let app = Router::new()
            .route(&self.config.path, get(health))
            .with_state(Answer {
                status: self.status.clone(),
                body: self.config.response_body.clone(),
            });
        let id = self.id.clone();
        self.server.spawn(|cancel| async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(component = %id, error = %e, "health check server stopped");
            }
        });
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        self.server.stop().await;
        Ok(())
    }
}

async fn health(State(answer): State<Answer>) -> axum::response::Response {
    let running = answer.status.is_running();
    let code = if running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    match &answer.body {
        Some(body) => {
            let text = if running {
                &body.healthy
            } else {
                &body.unhealthy
            };
            (code, text.clone()).into_response()
        }
        None => {
            let status = if running {
                "Server available"
            } else {
                "Server not available"
            };
            (
                code,
                [(header::CONTENT_TYPE, "application/json")],
                format!("{{\"status\":\"{status}\"}}"),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests;
