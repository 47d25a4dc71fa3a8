//! `env` detector: the attributes in `OTEL_RESOURCE_ATTRIBUTES` (or the older
//! `OTEL_RESOURCE`), `key=value` pairs separated by commas, values percent-decoded, as the
//! Collector parses them (its pattern, its errors: `internal/env/env.go`, v0.160.0).

use std::sync::LazyLock;

use async_trait::async_trait;
use llamacol_api::attributes::string;
use llamacol_api::otlp::common::v1::KeyValue;
use llamacol_api::BoxError;
use regex::Regex;

use super::detect::{Detected, Detector};

/// Where the variables come from: the process environment, or a fixed value (tests).
pub struct EnvDetector {
    pub lookup: fn(&str) -> Option<String>,
}

impl EnvDetector {
    pub fn from_process() -> EnvDetector {
        EnvDetector {
            lookup: |name| std::env::var(name).ok(),
        }
    }
}

#[async_trait]
impl Detector for EnvDetector {
    fn name(&self) -> &'static str {
        "env"
    }

    async fn detect(&self) -> Result<Detected, BoxError> {
        let value = ["OTEL_RESOURCE_ATTRIBUTES", "OTEL_RESOURCE"]
            .iter()
            .filter_map(|name| (self.lookup)(name))
            .map(|v| v.trim().to_string())
            .find(|v| !v.is_empty());
        let attributes = match value {
            Some(text) => parse(&text).map_err(|e| format!("OTEL_RESOURCE_ATTRIBUTES: {e}"))?,
            None => Vec::new(),
        };
        Ok(Detected {
            attributes,
            schema_url: String::new(),
        })
    }
}

/// Go's `\s` is `[\t\n\f\r ]`, which is spelled out so that a vertical tab is not space.
static PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\t\n\f\r ]*([[:ascii:]]{1,256}?)[\t\n\f\r ]*=[\t\n\f\r ]*([[:ascii:]]{0,256}?)[\t\n\f\r ]*(?:,|$)")
        .expect("a valid pattern")
});

/// A malformed `OTEL_RESOURCE_ATTRIBUTES`, worded as the Collector words it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvFormatError {
    #[error("invalid resource format: {0:?}")]
    NoPair(String),
    #[error("invalid resource format, invalid text: {0:?}")]
    InvalidText(String),
    #[error(
        "invalid resource format in attribute: {attribute:?}, err: invalid URL escape {escape:?}"
    )]
    BadEscape { attribute: String, escape: String },
}

/// `k1=v1,k2=v2`, keys and values trimmed, values percent-decoded (`+` is a space).
pub fn parse(text: &str) -> Result<Vec<KeyValue>, EnvFormatError> {
    let mut out: Vec<KeyValue> = Vec::new();
    let mut at = 0;
    let mut any = false;
    for pair in PAIR.captures_iter(text) {
        any = true;
        let whole = pair.get(0).expect("group 0");
        if whole.start() != at {
            return Err(EnvFormatError::InvalidText(
                text[at..whole.start()].to_string(),
            ));
        }
        let key = &pair[1];
        let value = query_unescape(&pair[2]).map_err(|escape| EnvFormatError::BadEscape {
            attribute: whole.as_str().to_string(),
            escape,
        })?;
        match out.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => *kv = string(key, &value),
            None => out.push(string(key, &value)),
        }
        at = whole.end();
    }
    if !any {
        return Err(EnvFormatError::NoPair(text.to_string()));
    }
    if at != text.len() {
        return Err(EnvFormatError::InvalidText(text[at..].to_string()));
    }
    Ok(out)
}

/// Go's `url.QueryUnescape`: `%XX` to its byte, `+` to a space; a bad escape is returned
/// as the text Go quotes (`%3-`).
fn query_unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        let end = (i + 3).min(s.len());
                        return Err(s[i..end].to_string());
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}
