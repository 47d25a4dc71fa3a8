//! `azure` detector: the VM's compute metadata from the Azure Instance Metadata Service
//! (`/metadata/instance/compute?api-version=2020-09-01&format=json`, `Metadata: true`),
//! mapped as the Collector's `azure` detector maps it.

use async_trait::async_trait;
use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::BoxError;
use serde::Deserialize;

use super::catalog::{tag_patterns, Builder, SCHEMA_URL};
use super::config::AzureConfig;
use super::detect::{Detected, Detector};

pub struct AzureDetector {
    pub config: AzureConfig,
    pub client: reqwest::Client,
    pub fail_on_missing_metadata: bool,
}

/// The fields of the compute metadata the detector uses
/// (<https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service>).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Compute {
    location: String,
    name: String,
    vm_id: String,
    vm_size: String,
    subscription_id: String,
    resource_group_name: String,
    vm_scale_set_name: String,
    zone: String,
    os_profile: OsProfile,
    tags_list: Vec<Tag>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OsProfile {
    computer_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tag {
    name: String,
    value: String,
}

impl AzureDetector {
    async fn compute(&self) -> Result<Compute, BoxError> {
        let url = format!(
            "{}/metadata/instance/compute",
            self.config.endpoint.trim_end_matches('/')
        );
        let response = self
            .client
            .get(url)
            .query(&[("format", "json"), ("api-version", "2020-09-01")])
            .header("Metadata", "true")
            .send()
            .await?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!("Azure IMDS replied with status code: {status}").into());
        }
        Ok(serde_json::from_slice(&response.bytes().await?)
            .map_err(|e| format!("failed to decode Azure IMDS reply: {e}"))?)
    }
}

#[async_trait]
impl Detector for AzureDetector {
    fn name(&self) -> &'static str {
        "azure"
    }

    async fn detect(&self) -> Result<Detected, BoxError> {
        let compute = match self.compute().await {
            Ok(c) => c,
            Err(e) if self.fail_on_missing_metadata => {
                return Err(format!(
                    "azure metadata unavailable at {}: {e}",
                    self.config.endpoint
                )
                .into())
            }
            Err(e) => {
                tracing::debug!(error = %e, "Azure metadata unavailable; not on Azure");
                return Ok(Detected::default());
            }
        };
        let mut b = Builder::new("azure", &self.config.resource_attributes);
        b.set_str("cloud.provider", "azure");
        b.set_str("cloud.platform", "azure_vm");
        if !compute.os_profile.computer_name.is_empty() {
            b.set_str("host.name", compute.os_profile.computer_name);
        } else if !compute.name.is_empty() {
            b.set_str("host.name", compute.name.clone());
        }
        b.set_str("cloud.region", compute.location);
        b.set_str("host.id", compute.vm_id);
        b.set_str("cloud.account.id", compute.subscription_id);
        if !compute.zone.is_empty() {
            b.set_str("cloud.availability_zone", compute.zone);
        }
        b.set_str("azure.vm.name", compute.name);
        b.set_str("azure.vm.size", compute.vm_size);
        if !compute.vm_scale_set_name.is_empty() {
            b.set_str("azure.vm.scaleset.name", compute.vm_scale_set_name);
        }
        b.set_str("azure.resourcegroup.name", compute.resource_group_name);
        let patterns = tag_patterns(&self.config.tags);
        for tag in compute.tags_list {
            if patterns.iter().any(|p| p.is_match(&tag.name)) {
                b.put(
                    &format!("azure.tag.{}", tag.name),
                    any_value::Value::StringValue(tag.value),
                );
            }
        }
        Ok(Detected {
            attributes: b.finish(),
            schema_url: SCHEMA_URL.to_string(),
        })
    }
}
