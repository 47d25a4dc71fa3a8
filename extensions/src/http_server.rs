//! What the extensions that answer HTTP (`health_check`, `zpages`, `pprof`) share: bind
//! the configured endpoint (an error naming the key when it cannot), say where they
//! listen, and serve until stopped, shutting down gracefully.

use axum::Router;
use llamacol_api::task::Background;
use llamacol_api::{BoxError, ComponentId};

/// Serves `app` on `endpoint` on `task` until the task is stopped; `what` names the
/// server in the log (`what` listening at ..., `what` stopped).
pub async fn serve(
    id: &ComponentId,
    what: &'static str,
    endpoint: &str,
    app: Router,
    task: &Background,
) -> Result<(), BoxError> {
    let listener = llamacol_api::net::bind(endpoint)
        .await
        .map_err(|e| format!("cannot listen on `{endpoint}` (`endpoint`): {e}"))?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(component = %id, endpoint = %addr, "{what} listening");
    }
    let id = id.clone();
    task.spawn(|cancel| async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(component = %id, error = %e, "{what} stopped");
        }
    });
    Ok(())
}
