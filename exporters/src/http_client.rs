//! The reqwest client exporters share: default headers (marked sensitive), timeout, TLS.

use std::time::Duration;

use llamacol_pipeline::BoxError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::otlp::{Headers, TlsConfig};

pub fn build(
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
        .default_headers(map);
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
