//! `protocols.http.cors`: CORS for browser SDKs (OpenTelemetry JS sending from a web
//! page), as the Collector's `confighttp` does it. Off unless `allowed_origins` is set.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use llamacol_api::config::Issue;
use serde::Deserialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to send, e.g. `https://app.example.com`; `*` in a pattern matches
    /// any characters (`https://*.example.com`), and `*` alone any origin.
    pub allowed_origins: Vec<String>,
    /// Request headers allowed besides the ones OTLP needs (`Content-Type`,
    /// `Content-Encoding`, `Accept`, `X-Requested-With`), e.g. `Authorization`.
    pub allowed_headers: Vec<String>,
    /// How long a browser may cache a preflight answer, in seconds.
    pub max_age: Option<u64>,
}

const OTLP_HEADERS: [&str; 4] = [
    "content-type",
    "content-encoding",
    "accept",
    "x-requested-with",
];

impl CorsConfig {
    pub fn issues(&self, at: &str) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.allowed_origins.is_empty() {
            issues.push(Issue::new(
                format!("{at}.allowed_origins"),
                "is empty, so no browser could send; list origins, e.g. `[\"https://app.example.com\"]`",
            ));
        }
        for o in &self.allowed_origins {
            if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                issues.push(Issue::new(
                    format!("{at}.allowed_origins"),
                    format!(
                        "`{o}` is not an origin; write `https://host[:port]` (`*` allowed in it)"
                    ),
                ));
            }
        }
        for h in &self.allowed_headers {
            if HeaderName::from_bytes(h.as_bytes()).is_err() {
                issues.push(Issue::new(
                    format!("{at}.allowed_headers"),
                    format!("`{h}` is not a header name"),
                ));
            }
        }
        issues
    }

    pub fn layer(&self) -> CorsLayer {
        let patterns = self.allowed_origins.clone();
        let mut headers: Vec<HeaderName> = OTLP_HEADERS
            .iter()
            .map(|h| HeaderName::from_static(h))
            .collect();
        headers.extend(
            self.allowed_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
        );
        let mut layer = CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin
                    .to_str()
                    .is_ok_and(|o| patterns.iter().any(|p| matches(p, o)))
            }))
            .allow_methods([Method::POST, Method::OPTIONS])
            .allow_headers(headers);
        if let Some(secs) = self.max_age {
            layer = layer.max_age(Duration::from_secs(secs));
        }
        layer
    }
}

/// `pattern` with `*` as "any characters" against `origin`.
fn matches(pattern: &str, origin: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == origin;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !origin.starts_with(first)
        || !origin[first.len()..].ends_with(last)
        || origin.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &origin[first.len()..origin.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn origin_patterns() {
        assert!(matches("*", "https://anything.io"));
        assert!(matches(
            "https://app.example.com",
            "https://app.example.com"
        ));
        assert!(!matches(
            "https://app.example.com",
            "https://evil.example.com"
        ));
        assert!(matches("https://*.example.com", "https://a.b.example.com"));
        assert!(!matches(
            "https://*.example.com",
            "https://example.com.evil.io"
        ));
        assert!(!matches("https://*.example.com", "http://a.example.com"));
        assert!(matches("http://localhost:*", "http://localhost:5173"));
    }
}
