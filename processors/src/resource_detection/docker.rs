//! `docker` detector: the Docker host's name and OS type (`GET /info`) and, when enabled,
//! this container's name and image (`GET /containers/<hostname>/json`), from the Docker
//! Engine API on its socket, as the Collector's `docker` detector reads them.

use std::path::PathBuf;

use async_trait::async_trait;
use llamacol_api::BoxError;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::catalog::{Builder, SCHEMA_URL};
use super::config::DockerConfig;
use super::detect::{Detected, Detector};

pub struct DockerDetector {
    pub config: DockerConfig,
    pub client: reqwest::Client,
    pub timeout: std::time::Duration,
    pub fail_on_missing_metadata: bool,
    /// This container's id or name as Docker knows it: the host name inside a container.
    pub container_hostname: fn() -> Option<String>,
}

/// `GET /info` (Docker Engine API `SystemInfo`), the fields used.
#[derive(Debug, Deserialize)]
struct Info {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "OSType")]
    os_type: String,
}

/// `GET /containers/{id}/json` (`ContainerInspectResponse`), the fields used.
#[derive(Debug, Deserialize)]
struct Inspect {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Config")]
    config: InspectConfig,
}

#[derive(Debug, Deserialize)]
struct InspectConfig {
    #[serde(rename = "Image")]
    image: String,
}

impl DockerDetector {
    async fn get(&self, path: &str) -> Result<Vec<u8>, BoxError> {
        match self.config.endpoint.strip_prefix("unix://") {
            Some(socket) => {
                let socket = PathBuf::from(socket);
                tokio::time::timeout(self.timeout, unix_get(&socket, path))
                    .await
                    .map_err(|_| {
                        format!("no answer from {} within the timeout", socket.display())
                    })?
            }
            None => {
                let url = format!("{}{path}", self.config.endpoint.trim_end_matches('/'));
                let response = self.client.get(url).send().await?;
                let status = response.status();
                if !status.is_success() {
                    return Err(format!("GET {path} answered {status}").into());
                }
                Ok(response.bytes().await?.to_vec())
            }
        }
    }

    async fn inspect_self(&self) -> Result<Inspect, BoxError> {
        let hostname = (self.container_hostname)().ok_or("this process has no host name")?;
        let body = self.get(&format!("/containers/{hostname}/json")).await?;
        Ok(serde_json::from_slice(&body)
            .map_err(|e| format!("decoding the container inspection: {e}"))?)
    }

    fn missing(&self, e: BoxError) -> Result<Detected, BoxError> {
        if self.fail_on_missing_metadata {
            return Err(format!(
                "docker metadata unavailable at {}: {e}",
                self.config.endpoint
            )
            .into());
        }
        tracing::debug!(error = %e, "docker metadata unavailable");
        Ok(Detected::default())
    }
}

#[async_trait]
impl Detector for DockerDetector {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn detect(&self) -> Result<Detected, BoxError> {
        let mut b = Builder::new("docker", &self.config.resource_attributes);
        if b.enabled("os.type") || b.enabled("host.name") {
            let info = match self.get("/info").await.and_then(|body| {
                serde_json::from_slice::<Info>(&body)
                    .map_err(|e| format!("decoding /info: {e}").into())
            }) {
                Ok(info) => info,
                Err(e) => return self.missing(e),
            };
            b.set_str("os.type", info.os_type.to_lowercase());
            b.set_str("host.name", info.name);
        }
        if b.enabled("container.name") || b.enabled("container.image.name") {
            match self.inspect_self().await {
                Ok(inspect) => {
                    b.set_str("container.name", inspect.name);
                    b.set_str("container.image.name", inspect.config.image);
                }
                Err(e) => return self.missing(e),
            }
        }
        Ok(Detected {
            attributes: b.finish(),
            schema_url: SCHEMA_URL.to_string(),
        })
    }
}

/// One HTTP/1.0 GET over a Unix socket: the daemon answers with the whole body and closes
/// the connection, so no chunked decoding is needed.
async fn unix_get(socket: &std::path::Path, path: &str) -> Result<Vec<u8>, BoxError> {
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| format!("connecting to {}: {e}", socket.display()))?;
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: docker\r\nAccept: application/json\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the daemon's answer has no header end")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("the daemon's answer has no status line")?;
    if !(200..300).contains(&status) {
        return Err(format!("GET {path} answered {status}").into());
    }
    Ok(response[split + 4..].to_vec())
}
