//! Authentication, in the Collector's shape: an extension (`bearertokenauth`,
//! `basicauth`) is an [`Authenticator`]; a receiver protocol or an exporter names it with
//! `auth: {authenticator: <extension id>}`. Server side, a receiver refuses a request
//! whose headers the authenticator does not accept (gRPC `UNAUTHENTICATED`, HTTP 401
//! with `WWW-Authenticate`); client side, an exporter sends the header it gives.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::client_metadata::Metadata;

/// `auth:` under a receiver protocol or an exporter.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The id of an authenticator extension listed in `service.extensions`.
    pub authenticator: String,
}

/// Why a request was refused (never holds the credentials it was given).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub &'static str);

pub trait Authenticator: Send + Sync {
    /// Server side: accepts or refuses a request by its headers (HTTP headers, or gRPC
    /// metadata, which travels as HTTP/2 headers). Comparisons are constant-time.
    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal>;
    /// The `WWW-Authenticate` challenge of a 401, e.g. `Bearer realm="llamacol"`.
    fn challenge(&self) -> &str;
    /// Client side: the header to send with each request (read fresh each time, so a
    /// reloaded token is used at once); `None` when this authenticator has no client
    /// credentials configured.
    fn client_header(&self) -> Option<(HeaderName, HeaderValue)>;
    /// Client side, per request: sets (or removes) headers of a request carrying a batch
    /// whose client metadata is `metadata` (`include_metadata`); by default sets
    /// [`Authenticator::client_header`]. `headers_setter` sets them from the metadata.
    fn apply_headers(&self, headers: &mut HeaderMap, metadata: &Metadata) {
        let _ = metadata;
        if let Some((name, value)) = self.client_header() {
            headers.insert(name, value);
        }
    }
}

/// The running authenticator extensions by id, for components to look up at build.
#[derive(Clone, Default)]
pub struct Authenticators(Arc<BTreeMap<String, Arc<dyn Authenticator>>>);

impl std::fmt::Debug for Authenticators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Authenticators {
    pub fn new(by_id: BTreeMap<String, Arc<dyn Authenticator>>) -> Authenticators {
        Authenticators(Arc::new(by_id))
    }

    /// The authenticator `config` names. The config check made sure it exists; a missing
    /// one here (a component built outside a service) is an error naming it.
    pub fn get(&self, config: &AuthConfig) -> Result<Arc<dyn Authenticator>, crate::BoxError> {
        self.0.get(&config.authenticator).cloned().ok_or_else(|| {
            format!(
                "authenticator `{}` is not a running authenticator extension",
                config.authenticator
            )
            .into()
        })
    }

    /// `get` for an optional `auth:` block.
    pub fn resolve(
        &self,
        config: Option<&AuthConfig>,
    ) -> Result<Option<Arc<dyn Authenticator>>, crate::BoxError> {
        config.map(|c| self.get(c)).transpose()
    }
}

/// `request` with the authenticator's headers for a batch of `metadata`, if there are any.
pub fn with_auth(
    request: reqwest::RequestBuilder,
    auth: Option<&Arc<dyn Authenticator>>,
    metadata: &Metadata,
) -> reqwest::RequestBuilder {
    let Some(auth) = auth else {
        return request;
    };
    let mut headers = HeaderMap::new();
    auth.apply_headers(&mut headers, metadata);
    request.headers(headers)
}

/// Equal bytes, in time that depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_bytes_and_lengths() {
        assert!(constant_time_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abc", b"Bearer abd"));
        assert!(!constant_time_eq(b"Bearer abc", b"Bearer abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
