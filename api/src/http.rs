//! What components that talk HTTP share: the `headers` and `tls` config blocks, one
//! reqwest client builder, and the classification of a response status into a retryable
//! or permanent [`ConsumeError`] honouring `Retry-After` (the OTLP/HTTP rules, which
//! Prometheus remote write and most webhooks follow too).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::consumer::{BoxError, ConsumeError};

/// `headers:` header names and values; `Debug` shows names only, so secrets stay out of
/// logs, and the client marks every value sensitive.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Headers(pub BTreeMap<String, String>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// `tls:` the Collector's client TLS keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// gRPC without a URL scheme: plaintext instead of TLS.
    pub insecure: bool,
    /// PEM CA bundle to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `key_file`) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Server name to verify, when it differs from the endpoint's host.
    pub server_name_override: Option<String>,
    /// Do not check the server's certificate (self-signed test backends only; see
    /// `tls::SkipVerification`).
    pub insecure_skip_verify: bool,
}

/// A reqwest client with `headers` on every request (values marked sensitive), an overall
/// `timeout`, and `tls` (CA bundle, client certificate) applied.
pub fn client(
    timeout: Duration,
    tls: &TlsConfig,
    headers: &Headers,
) -> Result<reqwest::Client, BoxError> {
    let mut map = HeaderMap::new();
    for (name, value) in &headers.0 {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("header `{name}` has an invalid value"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .default_headers(map)
        .danger_accept_invalid_certs(tls.insecure_skip_verify);
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("reading `{}`: {e}", p.display()))
    };
    if let Some(ca) = &tls.ca_file {
        builder = builder.tls_built_in_root_certs(false);
        for cert in reqwest::Certificate::from_pem_bundle(&read(ca)?)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let mut pem = read(cert)?;
        pem.extend_from_slice(&read(key)?);
        builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
    }
    Ok(builder.build()?)
}

/// A non-success HTTP response.
#[derive(Debug, thiserror::Error)]
#[error("HTTP export failed with status {status}: {message}")]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

/// 429, 502, 503 and 504 are retryable (after `Retry-After` when the server sent one);
/// 413 is a refusal for size (the queue cuts the request and sends the pieces); every
/// other status is permanent.
pub fn classify(status: u16, retry_after: Option<&str>, message: String) -> ConsumeError {
    let error = HttpError { status, message };
    if status == 413 {
        return ConsumeError::request_too_large(error, None);
    }
    if matches!(status, 429 | 502 | 503 | 504) {
        let e = ConsumeError::retryable(error);
        match retry_after.and_then(parse_retry_after) {
            Some(d) => e.with_retry_after(d),
            None => e,
        }
    } else {
        ConsumeError::permanent(error)
    }
}

/// A response's `Retry-After` header, as sent.
pub fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A non-success response's status, `Retry-After` and body (trimmed), read in full.
pub async fn read_refusal(response: reqwest::Response) -> (u16, Option<String>, String) {
    let status = response.status().as_u16();
    let retry_after = retry_after_header(response.headers());
    let message = response.text().await.unwrap_or_default().trim().to_string();
    (status, retry_after, message)
}

/// A non-success response as the error to return: read, then [`classify`]d.
pub async fn refused(response: reqwest::Response) -> ConsumeError {
    let (status, retry_after, message) = read_refusal(response).await;
    classify(status, retry_after.as_deref(), message)
}

/// `Retry-After`: delay-seconds or an HTTP-date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::ErrorKind;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let later = SystemTime::now() + Duration::from_secs(30);
        let secs = parse_retry_after(&httpdate::fmt_http_date(later))
            .map(|d| d.as_secs())
            .unwrap_or_default();
        assert!((28..=30).contains(&secs), "{secs}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn statuses_are_classified_as_the_otlp_spec_says() {
        for (status, kind) in [
            (429, ErrorKind::Retryable),
            (502, ErrorKind::Retryable),
            (503, ErrorKind::Retryable),
            (504, ErrorKind::Retryable),
            (400, ErrorKind::Permanent),
            (401, ErrorKind::Permanent),
            (500, ErrorKind::Permanent),
        ] {
            assert_eq!(
                classify(status, None, String::new()).kind(),
                kind,
                "{status}"
            );
        }
        let e = classify(503, Some("7"), "busy".into());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.to_string().contains("503") && e.to_string().contains("busy"));
    }
}
