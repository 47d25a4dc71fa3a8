//! `health_check` extension: an HTTP endpoint for liveness/readiness probes, as the
//! Collector's. `200` once every pipeline component started; `503` before that and from
//! the moment shutdown begins (so a load balancer stops sending before we stop taking).

mod config;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::task::Background;
use llamacol_api::{
    BoxError, ComponentId, Extension, ExtensionContext, ExtensionFactory, ServiceStatus,
};

pub use config::{HealthCheckConfig, ResponseBody};

pub fn factory() -> ExtensionFactory {
    ExtensionFactory {
        type_name: "health_check",
        config: ConfigSpec::of::<HealthCheckConfig>(),
        storage: false,
        authenticator: false,
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
        let app = Router::new()
            .route(&self.config.path, get(health))
            .with_state(Answer {
                status: self.status.clone(),
                body: self.config.response_body.clone(),
            });
        crate::http_server::serve(
            &self.id,
            "health check",
            &self.config.endpoint,
            app,
            &self.server,
        )
        .await
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        self.server.stop().await;
        Ok(())
    }
}

async fn health(State(answer): State<Answer>) -> axum::response::Response {
    let since = answer.status.running_since();
    let code = if since.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    match (&answer.body, since) {
        (Some(body), Some(_)) => (code, body.healthy.clone()).into_response(),
        (Some(body), None) => (code, body.unhealthy.clone()).into_response(),
        (None, since) => (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            status_json(since, SystemTime::now()),
        )
            .into_response(),
    }
}

/// The Collector's body: `status`, and while available `upSince` (RFC 3339, UTC) and
/// `uptime` (a Go duration, e.g. `16m24.684476004s`).
fn status_json(since: Option<SystemTime>, now: SystemTime) -> String {
    match since {
        Some(since) => format!(
            "{{\"status\":\"Server available\",\"upSince\":\"{}\",\"uptime\":\"{}\"}}",
            humantime::format_rfc3339_nanos(since),
            go_duration(now.duration_since(since).unwrap_or_default())
        ),
        None => "{\"status\":\"Server not available\"}".to_string(),
    }
}

/// A duration as Go prints it: `1h2m3.5s`, `16m24.684476004s`, `250ms` below a second.
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if secs == 0 {
        return match nanos {
            0 => "0s".to_string(),
            n if n >= 1_000_000 => format!("{}ms", trim_fraction(n, 1_000_000)),
            n if n >= 1_000 => format!("{}µs", trim_fraction(n, 1_000)),
            n => format!("{n}ns"),
        };
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let seconds = if nanos == 0 {
        s.to_string()
    } else {
        format!("{s}.{}", format!("{nanos:09}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `n / unit` with its decimals, trailing zeros dropped (`1500000 / 1e6` -> `1.5`).
fn trim_fraction(n: u32, unit: u32) -> String {
    let whole = n / unit;
    let rest = n % unit;
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    format!(
        "{whole}.{}",
        format!("{rest:0width$}").trim_end_matches('0')
    )
}

#[cfg(test)]
mod tests;
