//! OTLP/HTTP sending with reqwest: protobuf (the batch's bytes as they are) or JSON.

use std::io::Write;

use bytes::Bytes;
use llamacol_api::otlp::collector::{logs, metrics, trace};
use llamacol_api::rpc_status::RpcStatus;
use llamacol_api::{Batch, BoxError, ConsumeError, Signal};
use prost::Message;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};

use super::config::{Compression, Encoding, OtlpExporterConfig};
use llamacol_api::http::{classify, retry_after_header};

use super::outcome::{check_size, report_partial, ExportError, PartialSuccess};
use llamacol_api::json::to_json;

pub struct HttpSender {
    id: String,
    client: reqwest::Client,
    urls: [String; 3],
    encoding: Encoding,
    compression: Compression,
    auth: Option<std::sync::Arc<dyn llamacol_api::auth::Authenticator>>,
    max_request_size: Option<usize>,
}

impl HttpSender {
    pub fn new(
        id: String,
        config: &OtlpExporterConfig,
        auth: Option<std::sync::Arc<dyn llamacol_api::auth::Authenticator>>,
    ) -> Result<HttpSender, BoxError> {
        let client = llamacol_api::http::client(config.timeout, &config.tls, &config.headers)?;
        let base = config.endpoint.trim_end_matches('/');
        let url = |own: &Option<String>, path: &str| {
            own.clone().unwrap_or_else(|| format!("{base}{path}"))
        };
        Ok(HttpSender {
            id,
            client,
            urls: [
                url(&config.traces_endpoint, "/v1/traces"),
                url(&config.metrics_endpoint, "/v1/metrics"),
                url(&config.logs_endpoint, "/v1/logs"),
            ],
            encoding: config.encoding,
            compression: config.compression,
            auth,
            max_request_size: config.request_limit(),
        })
    }

    pub fn request_limit(&self) -> Option<usize> {
        self.max_request_size
    }

    pub async fn send(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let (content_type, body) = match self.encoding {
            Encoding::Proto => ("application/x-protobuf", batch.bytes()),
            Encoding::Json => (
                "application/json",
                Bytes::from(to_json(batch).map_err(ConsumeError::permanent)?),
            ),
        };
        check_size(body.len(), self.max_request_size)?;
        let body = compress(self.compression, body)
            .map_err(|e| ConsumeError::permanent(ExportError::Encode(e.to_string())))?;
        let signal = batch.signal();
        let request = self
            .client
            .post(&self.urls[signal as usize])
            .header(CONTENT_TYPE, content_type)
            .body(body);
        let mut request =
            llamacol_api::auth::with_auth(request, self.auth.as_ref(), batch.metadata());
        if let Some(encoding) = match self.compression {
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
            Compression::None => None,
        } {
            request = request.header(CONTENT_ENCODING, encoding);
        }
        // Network failures (refused, reset, timed out) are worth retrying.
        let response = request
            .send()
            .await
            .map_err(|e| ConsumeError::retryable(ExportError::Transport(e)))?;
        let status = response.status().as_u16();
        let retry_after = retry_after_header(response.headers());
        let json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = response.bytes().await.unwrap_or_default();
        if (200..300).contains(&status) {
            self.report(signal, json, &body);
            return Ok(());
        }
        Err(classify(
            status,
            retry_after.as_deref(),
            error_message(json, &body),
        ))
    }

    fn report(&self, signal: Signal, json: bool, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        fn parse<R: Message + Default + serde::de::DeserializeOwned + PartialSuccess>(
            json: bool,
            body: &[u8],
        ) -> Option<R> {
            if json {
                serde_json::from_slice(body).ok()
            } else {
                R::decode(body).ok()
            }
        }
        let response: Option<Box<dyn PartialSuccess>> =
            match signal {
                Signal::Traces => parse::<trace::v1::ExportTraceServiceResponse>(json, body)
                    .map(|r| Box::new(r) as _),
                Signal::Metrics => parse::<metrics::v1::ExportMetricsServiceResponse>(json, body)
                    .map(|r| Box::new(r) as _),
                Signal::Logs => parse::<logs::v1::ExportLogsServiceResponse>(json, body)
                    .map(|r| Box::new(r) as _),
            };
        if let Some(r) = response {
            report_partial(&self.id, r.as_ref());
        }
    }
}

fn error_message(json: bool, body: &[u8]) -> String {
    let from_status = if json {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
    } else {
        RpcStatus::decode(body)
            .ok()
            .map(|s| s.message)
            .filter(|m| !m.is_empty())
    };
    from_status
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned())
}

pub(crate) fn compress(compression: Compression, body: Bytes) -> std::io::Result<Bytes> {
    match compression {
        Compression::None => Ok(body),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            enc.write_all(&body)?;
            Ok(Bytes::from(enc.finish()?))
        }
        Compression::Zstd => zstd::bulk::compress(&body, 1).map(Bytes::from),
    }
}
