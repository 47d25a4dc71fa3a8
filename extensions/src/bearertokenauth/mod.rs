//! `bearertokenauth` extension (the Collector's): on receivers, a request must carry
//! `<header>: <scheme> <token>` with one of the configured tokens; on exporters, that
//! header is sent. The token can come from a file, read again when it changes. Tokens are
//! compared in constant time and never logged.

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use llamacol_api::auth::{constant_time_eq, Authenticator, Refusal};
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{BoxError, Extension, ExtensionContext, ExtensionFactory};

pub use config::BearerTokenAuthConfig;

use crate::watched::Watched;

pub fn factory() -> ExtensionFactory {
    ExtensionFactory {
        type_name: "bearertokenauth",
        config: ConfigSpec::of::<BearerTokenAuthConfig>(),
        storage: false,
        authenticator: true,
        build,
    }
}

fn build(ctx: &ExtensionContext, block: &Value) -> Result<Arc<dyn Extension>, BoxError> {
    let config = parse_block::<BearerTokenAuthConfig>(block)?;
    let tokens = match &config.filename {
        Some(path) => Tokens::File(Watched::open(
            path.clone(),
            first_line,
            &ctx.id.to_string(),
        )?),
        None => Tokens::Fixed(
            config
                .token
                .iter()
                .chain(&config.tokens)
                .map(|t| t.expose().to_string())
                .collect(),
        ),
    };
    let header = HeaderName::from_bytes(config.header.as_bytes())?;
    Ok(Arc::new(BearerTokenAuth(Arc::new(Inner {
        challenge: format!("{} realm=\"llamacol\"", config.scheme),
        scheme: config.scheme,
        header,
        tokens,
    }))))
}

/// A token file whose first line is empty.
#[derive(Debug, thiserror::Error)]
#[error("holds no token")]
struct NoToken;

fn first_line(text: &str) -> Result<String, NoToken> {
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        Err(NoToken)
    } else {
        Ok(token)
    }
}

enum Tokens {
    Fixed(Vec<String>),
    File(Watched<String, NoToken>),
}

struct Inner {
    header: HeaderName,
    scheme: String,
    challenge: String,
    tokens: Tokens,
}

pub struct BearerTokenAuth(Arc<Inner>);

impl Inner {
    fn with_tokens<R>(&self, f: impl FnOnce(&[String]) -> R) -> R {
        match &self.tokens {
            Tokens::Fixed(t) => f(t),
            Tokens::File(w) => f(std::slice::from_ref(&*w.get())),
        }
    }
}

impl Authenticator for Inner {
    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(given) = headers.get(&self.header) else {
            return Err(Refusal("no credentials"));
        };
        let given = given.as_bytes();
        let prefix = format!("{} ", self.scheme);
        let Some(token) = given.strip_prefix(prefix.as_bytes()) else {
            return Err(Refusal("wrong authentication scheme"));
        };
        // Every configured token is compared, so the time does not say which matched.
        let matched = self.with_tokens(|tokens| {
            tokens
                .iter()
                .fold(false, |ok, t| constant_time_eq(token, t.as_bytes()) | ok)
        });
        if matched {
            Ok(())
        } else {
            Err(Refusal("invalid token"))
        }
    }

    fn challenge(&self) -> &str {
        &self.challenge
    }

    fn client_header(&self) -> Option<(HeaderName, HeaderValue)> {
        let token = self.with_tokens(|t| t.first().cloned())?;
        let mut value = HeaderValue::from_str(&format!("{} {token}", self.scheme)).ok()?;
        value.set_sensitive(true);
        Some((self.header.clone(), value))
    }
}

#[async_trait]
impl Extension for BearerTokenAuth {
    fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests;
