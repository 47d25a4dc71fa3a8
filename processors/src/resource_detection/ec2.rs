//! `ec2` detector: the instance identity document, host name and (optionally) tags from
//! the EC2 instance metadata service (IMDSv2: a session token first, IMDSv1 when the
//! service refuses tokens), as the Collector's `ec2` detector maps them.

use async_trait::async_trait;
use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::BoxError;
use serde::Deserialize;

use super::catalog::{tag_patterns, Builder, SCHEMA_URL};
use super::config::Ec2Config;
use super::detect::{Detected, Detector};

pub struct Ec2Detector {
    pub config: Ec2Config,
    pub client: reqwest::Client,
    pub fail_on_missing_metadata: bool,
}

/// The fields of the instance identity document the detector uses
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-identity-documents.html>).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDocument {
    account_id: String,
    availability_zone: String,
    image_id: String,
    instance_id: String,
    instance_type: String,
    region: String,
}

impl Ec2Detector {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.endpoint.trim_end_matches('/'))
    }

    /// An IMDSv2 session token, or `None` where the service only speaks IMDSv1.
    async fn token(&self) -> Result<Option<String>, BoxError> {
        let response = self
            .client
            .put(self.url("latest/api/token"))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
            .send()
            .await?;
        match response.status().as_u16() {
            200 => Ok(Some(response.text().await?)),
            403..=405 => Ok(None),
            status => {
                Err(format!("the metadata service answered {status} to the token request").into())
            }
        }
    }

    async fn get(&self, token: &Option<String>, path: &str) -> Result<String, BoxError> {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.header("X-aws-ec2-metadata-token", token);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET /{path} answered {status}").into());
        }
        Ok(response.text().await?)
    }
}

#[async_trait]
impl Detector for Ec2Detector {
    fn name(&self) -> &'static str {
        "ec2"
    }

    async fn detect(&self) -> Result<Detected, BoxError> {
        let probe = async {
            let token = self.token().await?;
            self.get(&token, "latest/meta-data/instance-id").await?;
            Ok::<_, BoxError>(token)
        };
        let token = match probe.await {
            Ok(token) => token,
            Err(e) if self.fail_on_missing_metadata || self.config.fail_on_missing_metadata => {
                return Err(
                    format!("EC2 metadata unavailable at {}: {e}", self.config.endpoint).into(),
                )
            }
            Err(e) => {
                tracing::debug!(error = %e, "EC2 metadata unavailable; not on EC2");
                return Ok(Detected::default());
            }
        };
        let document = self
            .get(&token, "latest/dynamic/instance-identity/document")
            .await
            .map_err(|e| format!("failed getting identity document: {e}"))?;
        let doc: IdentityDocument = serde_json::from_str(&document)
            .map_err(|e| format!("failed getting identity document: {e}"))?;
        let hostname = self
            .get(&token, "latest/meta-data/hostname")
            .await
            .map_err(|e| format!("failed getting hostname: {e}"))?;
        let mut b = Builder::new("ec2", &self.config.resource_attributes);
        b.set_str("cloud.provider", "aws");
        b.set_str("cloud.platform", "aws_ec2");
        b.set_str("cloud.region", doc.region);
        b.set_str("cloud.account.id", doc.account_id);
        b.set_str("cloud.availability_zone", doc.availability_zone);
        b.set_str("host.id", doc.instance_id);
        b.set_str("host.image.id", doc.image_id);
        b.set_str("host.type", doc.instance_type);
        b.set_str("host.name", hostname);
        if !self.config.tags.is_empty() {
            match self.tags(&token).await {
                Ok(tags) => {
                    for (key, value) in tags {
                        b.put(
                            &format!("ec2.tag.{key}"),
                            any_value::Value::StringValue(value),
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "failed to fetch tags from IMDS"),
            }
        }
        Ok(Detected {
            attributes: b.finish(),
            schema_url: SCHEMA_URL.to_string(),
        })
    }
}

impl Ec2Detector {
    /// The instance's tags whose key matches a configured regex, from
    /// `/latest/meta-data/tags/instance` (one key per line, then one value per key).
    async fn tags(&self, token: &Option<String>) -> Result<Vec<(String, String)>, BoxError> {
        let patterns = tag_patterns(&self.config.tags);
        let keys = self.get(token, "latest/meta-data/tags/instance").await?;
        let mut out = Vec::new();
        for key in keys.lines().map(str::trim).filter(|k| !k.is_empty()) {
            if patterns.iter().any(|p| p.is_match(key)) {
                let value = self
                    .get(token, &format!("latest/meta-data/tags/instance/{key}"))
                    .await?;
                out.push((key.to_string(), value));
            }
        }
        Ok(out)
    }
}
