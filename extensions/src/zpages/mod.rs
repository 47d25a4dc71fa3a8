//! `zpages` extension: the Collector's in-process debug pages on their own endpoint
//! (`/debug/servicez`, `/debug/pipelinez`, `/debug/extensionz`, `/debug/featurez`, and
//! `/debug/expvarz` when asked), from the description the engine publishes of what it
//! runs (`service_info`), the same data the admin server's pages use.

mod config;
mod pages;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::service_info::ServiceInfo;
use llamacol_api::task::Background;
use llamacol_api::{BoxError, ComponentId, Extension, ExtensionContext, ExtensionFactory};

pub use config::ZpagesConfig;

pub fn factory() -> ExtensionFactory {
    ExtensionFactory {
        type_name: "zpages",
        config: ConfigSpec::of::<ZpagesConfig>(),
        storage: false,
        authenticator: false,
        build,
    }
}

fn build(ctx: &ExtensionContext, block: &Value) -> Result<Arc<dyn Extension>, BoxError> {
    Ok(Arc::new(Zpages {
        id: ctx.id.clone(),
        config: parse_block::<ZpagesConfig>(block)?,
        info: ctx.node.shared::<ServiceInfo>(),
        server: Background::new(),
    }))
}

pub struct Zpages {
    id: ComponentId,
    config: ZpagesConfig,
    info: Arc<ServiceInfo>,
    server: Background,
}

type Html = ([(header::HeaderName, &'static str); 1], String);

fn html(body: String) -> Html {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body)
}

async fn servicez(State(info): State<Arc<ServiceInfo>>) -> Html {
    html(pages::servicez(info.get().as_deref(), SystemTime::now()))
}

async fn pipelinez(State(info): State<Arc<ServiceInfo>>) -> Html {
    html(pages::pipelinez(info.get().as_deref()))
}

async fn extensionz(State(info): State<Arc<ServiceInfo>>) -> Html {
    html(pages::extensionz(info.get().as_deref()))
}

async fn featurez() -> Html {
    html(pages::featurez())
}

/// Go's expvar has `cmdline` and `memstats`; here the command line and the process's
/// resident and virtual memory (from /proc).
async fn expvarz() -> impl IntoResponse {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(field))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let body = serde_json::json!({
        "cmdline": std::env::args().collect::<Vec<_>>(),
        "memstats": {
            "rss_bytes": kib("VmRSS:").map(|k| k * 1024),
            "virtual_bytes": kib("VmSize:").map(|k| k * 1024),
        },
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

#[async_trait]
impl Extension for Zpages {
    async fn start(&self) -> Result<(), BoxError> {
        let mut app = Router::new()
            .route("/debug/servicez", get(servicez))
            .route("/debug/pipelinez", get(pipelinez))
            .route("/debug/extensionz", get(extensionz))
            .route("/debug/featurez", get(featurez));
        if self.config.expvar.enabled {
            app = app.route("/debug/expvarz", get(expvarz));
        }
        let app = app.with_state(self.info.clone());
        crate::http_server::serve(&self.id, "zpages", &self.config.endpoint, app, &self.server)
            .await
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        self.server.stop().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
