//! Field types and helpers component configs share, so every component reads durations,
//! sizes and the like the same way (and gives the same errors):
//!
//! ```
//! use std::time::Duration;
//! use llamacol_api::config::{ByteSize, ComponentConfig};
//!
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields, default)]   // unknown keys are errors, every key optional
//! struct MyConfig {
//!     /// How long to wait for the backend. Default 5s.
//!     #[serde(with = "llamacol_api::config::duration")]
//!     timeout: Duration,
//!     /// Largest request sent. Default 4MiB.
//!     max_request: ByteSize,
//! }
//!
//! impl Default for MyConfig {
//!     fn default() -> Self {
//!         MyConfig { timeout: Duration::from_secs(5), max_request: ByteSize(4 << 20) }
//!     }
//! }
//!
//! impl ComponentConfig for MyConfig {}
//! ```
//!
//! `headers:` and `tls:` blocks are [`crate::http::Headers`] and [`crate::http::TlsConfig`].

use serde::{Deserialize, Deserializer};

use super::typed::Issue;

/// Whether `url` is an `http://` or `https://` URL (what an HTTP client can send to).
pub fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// A listen endpoint must be `host:port` with a numeric port (`0.0.0.0:4317`,
/// `localhost:13133`, `[::]:8888`); the issue, at `path`, shows `example_port`.
pub fn check_listen(path: &str, endpoint: &str, example_port: u16) -> Option<Issue> {
    // An unexpanded `${env:...}` is reported where it is, once.
    if endpoint.contains("${") {
        return None;
    }
    let port_ok = endpoint
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    (!port_ok).then(|| {
        let host = endpoint
            .split(':')
            .next()
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost");
        Issue::new(
            path,
            format!("`{endpoint}` must be `host:port`, e.g. `{host}:{example_port}`"),
        )
    })
}

/// `#[serde(with = "llamacol_api::config::duration")]`: humantime strings such as
/// `200ms`, `10s`, `5m`, `1h30m`, as every built-in component reads them.
pub mod duration {
    pub use humantime_serde::{deserialize, serialize};
}

/// Why a size was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidByteSize {
    #[error("`{0}` is not a size; write e.g. `16MiB` or `1048576`")]
    NotASize(String),
    #[error("unknown size unit `{unit}` in `{text}`; use B, KB, MB, GB, KiB, MiB or GiB")]
    Unit { unit: String, text: String },
    #[error("`{0}` is too large")]
    TooLarge(String),
}

/// A size in bytes: a plain number, or a number with a unit in any case (`512KiB`,
/// `16MiB`, `1GiB`, `10MB`, `1kb`, `100B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Result<ByteSize, InvalidByteSize> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| InvalidByteSize::NotASize(text.to_string()))?;
        // Any case, as the Collector's stanza sizes (`fingerprint_size: 1kb`).
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            other => {
                return Err(InvalidByteSize::Unit {
                    unit: other.to_string(),
                    text: text.to_string(),
                })
            }
        };
        number
            .checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| InvalidByteSize::TooLarge(text.to_string()))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_endpoints_need_a_numeric_port() {
        assert!(check_listen("endpoint", "0.0.0.0:4317", 4317).is_none());
        assert!(check_listen("endpoint", "[::]:8888", 8888).is_none());
        let issue = check_listen("endpoint", "localhost", 13133).expect("no port");
        assert_eq!(
            issue.message,
            "`localhost` must be `host:port`, e.g. `localhost:13133`"
        );
        assert!(check_listen("endpoint", "localhost:http", 4318).is_some());
        assert!(is_http_url("https://x/y") && !is_http_url("x:4318"));
    }

    #[test]
    fn sizes_read_with_and_without_units() {
        for (text, bytes) in [
            ("100", 100),
            ("16MiB", 16 << 20),
            ("1 GiB", 1 << 30),
            ("10MB", 10_000_000),
            ("512KiB", 512 << 10),
        ] {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
        }
        assert!(ByteSize::parse("12 parsecs")
            .expect_err("refused")
            .to_string()
            .contains("unknown size unit"));
        assert!(ByteSize::parse("lots")
            .expect_err("refused")
            .to_string()
            .contains("not a size"));
        let v: ByteSize = serde_yaml::from_str("4096").expect("number");
        assert_eq!(v, ByteSize(4096));
        let v: ByteSize = serde_yaml::from_str("\"2KiB\"").expect("text");
        assert_eq!(v, ByteSize(2048));
    }
}

/// A secret (password, key, token): `Debug` and `Display` show `<redacted>`, so it never
/// reaches a log line, an error message or a debug page; [`Secret::expose`] gives the
/// value to the one place that sends it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
