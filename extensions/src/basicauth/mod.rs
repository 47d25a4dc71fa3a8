//! `basicauth` extension (the Collector's): on receivers, HTTP Basic credentials checked
//! against htpasswd lines (bcrypt `$2y$`/`$2b$`/`$2a$`, `{SHA}`, or plain text, as
//! `htpasswd -B`, `-s` and `-p` write them); on exporters, `client_auth` is sent.
//! Passwords are compared in constant time (bcrypt by its own verification) and never
//! logged.

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use llamacol_api::auth::{constant_time_eq, Authenticator, Refusal};
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{BoxError, Extension, ExtensionContext, ExtensionFactory};

pub use config::{BasicAuthConfig, ClientAuth, Htpasswd};

use crate::watched::Watched;

pub fn factory() -> ExtensionFactory {
    ExtensionFactory {
        type_name: "basicauth",
        config: ConfigSpec::of::<BasicAuthConfig>(),
        storage: false,
        authenticator: true,
        build,
    }
}

fn build(ctx: &ExtensionContext, block: &Value) -> Result<Arc<dyn Extension>, BoxError> {
    let config = parse_block::<BasicAuthConfig>(block)?;
    let (file, inline) = match &config.htpasswd {
        Some(h) => (
            h.file
                .as_ref()
                .map(|p| Watched::open(p.clone(), parse_htpasswd, &ctx.id.to_string()))
                .transpose()?,
            h.inline
                .as_ref()
                .map(|i| parse_htpasswd(i.expose()))
                .transpose()?
                .unwrap_or_default(),
        ),
        None => (None, Vec::new()),
    };
    let client = config.client_auth.as_ref().map(|c| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            c.username,
            c.password.expose()
        ));
        format!("Basic {encoded}")
    });
    Ok(Arc::new(BasicAuth(Arc::new(Inner {
        file,
        inline,
        client,
    }))))
}

/// One htpasswd line's user and stored password.
#[derive(Debug)]
pub struct User {
    name: String,
    hash: Hash,
}

#[derive(Debug)]
enum Hash {
    Bcrypt(String),
    Sha1([u8; 20]),
    Plain(String),
}

/// `user:hash` lines; blank lines and `#` comments are skipped. Errors name the line
/// number, never its contents.
/// A line of an htpasswd file that cannot be used (named by number, never by contents).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHtpasswd {
    #[error("line {0}: not `user:hash`")]
    Format(usize),
    #[error("line {0}: a `{{SHA}}` hash that is not 20 bytes of base64")]
    Sha1(usize),
    #[error("line {line}: hash type `{kind}` is not supported; use bcrypt (`htpasswd -B`)")]
    Unsupported { line: usize, kind: String },
}

pub fn parse_htpasswd(text: &str) -> Result<Vec<User>, BadHtpasswd> {
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, stored)) = line.split_once(':') else {
            return Err(BadHtpasswd::Format(i + 1));
        };
        let hash = if stored.starts_with("$2y$")
            || stored.starts_with("$2b$")
            || stored.starts_with("$2a$")
        {
            Hash::Bcrypt(stored.to_string())
        } else if let Some(b64) = stored.strip_prefix("{SHA}") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| <[u8; 20]>::try_from(b).ok())
                .ok_or(BadHtpasswd::Sha1(i + 1))?;
            Hash::Sha1(bytes)
        } else if stored.starts_with('$') {
            return Err(BadHtpasswd::Unsupported {
                line: i + 1,
                kind: stored.split('$').nth(1).unwrap_or_default().to_string(),
            });
        } else {
            Hash::Plain(stored.to_string())
        };
        users.push(User {
            name: name.to_string(),
            hash,
        });
    }
    Ok(users)
}

struct Inner {
    file: Option<Watched<Vec<User>, BadHtpasswd>>,
    inline: Vec<User>,
    client: Option<String>,
}

pub struct BasicAuth(Arc<Inner>);

impl User {
    fn verifies(&self, password: &str) -> bool {
        match &self.hash {
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Hash::Sha1(expected) => {
                use sha1::Digest;
                constant_time_eq(&sha1::Sha1::digest(password.as_bytes()), expected)
            }
            Hash::Plain(p) => constant_time_eq(password.as_bytes(), p.as_bytes()),
        }
    }
}

impl Authenticator for Inner {
    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let given = headers
            .get(header::AUTHORIZATION)
            .ok_or(Refusal("no credentials"))?;
        let encoded = given
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Basic "))
            .ok_or(Refusal("wrong authentication scheme"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(Refusal("malformed Basic credentials"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or(Refusal("malformed Basic credentials"))?;
        let from_file = self.file.as_ref().map(Watched::get);
        let found = from_file
            .iter()
            .flat_map(|users| users.iter())
            .chain(&self.inline)
            .find(|u| u.name == user);
        match found {
            Some(u) if u.verifies(password) => Ok(()),
            _ => Err(Refusal("invalid username or password")),
        }
    }

    fn challenge(&self) -> &str {
        "Basic realm=\"llamacol\""
    }

    fn client_header(&self) -> Option<(HeaderName, HeaderValue)> {
        let mut value = HeaderValue::from_str(self.client.as_deref()?).ok()?;
        value.set_sensitive(true);
        Some((header::AUTHORIZATION, value))
    }
}

#[async_trait]
impl Extension for BasicAuth {
    fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests;
