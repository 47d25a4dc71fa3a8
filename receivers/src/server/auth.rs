//! The receiver side of authentication: a request whose headers the named authenticator
//! does not accept is refused (HTTP 401 with the challenge, gRPC `UNAUTHENTICATED`) and
//! counted per protocol.

use std::sync::Arc;

use axum::http::HeaderValue;
use llamacol_api::auth::Authenticator;

/// The axum middleware a receiver's HTTP server puts in front of its routes: 401 with
/// the challenge when the authenticator refuses, counted in `refused`.
pub async fn http_guard(
    axum::extract::State(guard): axum::extract::State<Guard>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match guard.authenticator.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            guard.refused();
            tracing::debug!(component = %guard.component, reason = %refusal, "HTTP request refused: unauthenticated");
            let mut response = axum::response::IntoResponse::into_response((
                axum::http::StatusCode::UNAUTHORIZED,
                format!("unauthenticated: {refusal}"),
            ));
            if let Ok(v) = HeaderValue::from_str(guard.authenticator.challenge()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::WWW_AUTHENTICATE, v);
            }
            response
        }
    }
}

/// What a receiver's guard needs: the authenticator, and where refusals are counted.
#[derive(Clone)]
pub struct Guard {
    pub authenticator: Arc<dyn Authenticator>,
    pub component: String,
    pub counters: Arc<llamacol_api::node::TargetCounters>,
}

impl Guard {
    pub fn refused(&self) {
        llamacol_api::node::TargetCounters::add(&self.counters.sent, 1);
    }

    /// gRPC: `UNAUTHENTICATED` unless the metadata passes.
    pub fn check_grpc(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), tonic::Status> {
        let headers = metadata.clone().into_headers();
        self.authenticator.check(&headers).map_err(|refusal| {
            self.refused();
            tracing::debug!(component = %self.component, reason = %refusal, "gRPC request refused: unauthenticated");
            tonic::Status::unauthenticated(format!("unauthenticated: {refusal}"))
        })
    }
}
