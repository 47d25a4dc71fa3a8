//! `gcp` detector: Compute Engine and GKE nodes, from the metadata server
//! (`/computeMetadata/v1/...` with `Metadata-Flavor: Google`), mapped as the Collector's
//! `gcp` detector maps them (Google's `detectors/gcp` v1.35.0 decides the platform).
//! The serverless platforms (Cloud Run, Cloud Functions, App Engine) are not detected:
//! a GPU node agent does not run there.

use async_trait::async_trait;
use llamacol_api::BoxError;

use super::catalog::{Builder, SCHEMA_URL};
use super::config::GcpConfig;
use super::detect::{Detected, Detector};

pub struct GcpDetector {
    pub config: GcpConfig,
    pub client: reqwest::Client,
    pub fail_on_missing_metadata: bool,
    /// The process environment (GKE is told by `KUBERNETES_SERVICE_HOST`); a fixed one in
    /// tests.
    pub lookup: fn(&str) -> Option<String>,
}

/// A metadata value that is not there (404), as opposed to a server that failed.
#[derive(Debug, thiserror::Error)]
#[error("metadata `{0}` is not defined")]
struct NotDefined(String);

impl GcpDetector {
    async fn get(&self, suffix: &str) -> Result<String, BoxError> {
        let url = format!(
            "{}/computeMetadata/v1/{suffix}",
            self.config.endpoint.trim_end_matches('/')
        );
        let response = self
            .client
            .get(url)
            .header("Metadata-Flavor", "Google")
            .send()
            .await?;
        match response.status().as_u16() {
            200 => Ok(response.text().await?.trim().to_string()),
            404 => Err(NotDefined(suffix.to_string()).into()),
            status => Err(format!("metadata `{suffix}` answered {status}").into()),
        }
    }

    /// Whether a metadata server answers as Google's does.
    async fn on_gce(&self) -> Result<(), BoxError> {
        let response = self
            .client
            .get(format!("{}/", self.config.endpoint.trim_end_matches('/')))
            .header("Metadata-Flavor", "Google")
            .send()
            .await?;
        match response.headers().get("Metadata-Flavor") {
            Some(v) if v == "Google" => Ok(()),
            _ => Err(
                "the endpoint is not a Google metadata server (no `Metadata-Flavor: Google`)"
                    .into(),
            ),
        }
    }
}

#[async_trait]
impl Detector for GcpDetector {
    fn name(&self) -> &'static str {
        "gcp"
    }

    async fn detect(&self) -> Result<Detected, BoxError> {
        if let Err(e) = self.on_gce().await {
            if self.fail_on_missing_metadata {
                return Err(
                    format!("GCP metadata unavailable at {}: {e}", self.config.endpoint).into(),
                );
            }
            tracing::debug!(error = %e, "GCP metadata unavailable; not on GCP");
            return Ok(Detected::default());
        }
        let mut b = Builder::new("gcp", &self.config.resource_attributes);
        let mut errors: Vec<String> = Vec::new();
        b.set_str("cloud.provider", "gcp");
        if let Some(project) = note(&mut errors, self.get("project/project-id").await) {
            b.set_str("cloud.account.id", project);
        }
        let on_gke = (self.lookup)("KUBERNETES_SERVICE_HOST").is_some()
            && self
                .get("instance/attributes/cluster-location")
                .await
                .is_ok();
        if on_gke {
            b.set_str("cloud.platform", "gcp_kubernetes_engine");
            if let Some(location) = note(
                &mut errors,
                self.get("instance/attributes/cluster-location").await,
            ) {
                match location.matches('-').count() {
                    1 => b.set_str("cloud.region", location),
                    2 => b.set_str("cloud.availability_zone", location),
                    _ => errors.push(format!(
                        "unrecognized format for cluster location: {location}"
                    )),
                }
            }
            if let Some(name) = note(
                &mut errors,
                self.get("instance/attributes/cluster-name").await,
            ) {
                b.set_str("k8s.cluster.name", name);
            }
            if let Some(id) = note(&mut errors, self.get("instance/id").await) {
                b.set_str("host.id", id);
            }
            // Fallible on GKE (workload identity may hide it): left out quietly.
            if let Ok(name) = self.get("instance/name").await {
                b.set_str("host.name", name);
            }
        } else {
            b.set_str("cloud.platform", "gcp_compute_engine");
            if let Some(zone) = note(&mut errors, self.get("instance/zone").await) {
                match zone_and_region(&zone) {
                    Some((zone, region)) => {
                        b.set_str("cloud.availability_zone", zone);
                        b.set_str("cloud.region", region);
                    }
                    None => errors.push(format!(
                        "zone was not in the expected format: country-region-zone.  Got {zone}"
                    )),
                }
            }
            if let Some(t) = note(&mut errors, self.get("instance/machine-type").await) {
                b.set_str("host.type", t);
            }
            if let Some(id) = note(&mut errors, self.get("instance/id").await) {
                b.set_str("host.id", id);
            }
            if let Some(name) = note(&mut errors, self.get("instance/name").await) {
                b.set_str("host.name", name.clone());
                b.set_str("gcp.gce.instance.name", name);
            }
            if let Some(hostname) = note(&mut errors, self.get("instance/hostname").await) {
                b.set_str("gcp.gce.instance.hostname", hostname);
            }
            match self.get("instance/attributes/created-by").await {
                Ok(created_by) => {
                    if let Some((kind, location, name)) = managed_instance_group(&created_by) {
                        b.set_str("gcp.gce.instance_group_manager.name", name);
                        b.set_str(&format!("gcp.gce.instance_group_manager.{kind}"), location);
                    }
                }
                Err(e) if e.is::<NotDefined>() => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            if self.fail_on_missing_metadata {
                return Err(errors.join("; ").into());
            }
            tracing::info!(errors = %errors.join("; "), "gcp: some attributes are not available");
        }
        Ok(Detected {
            attributes: b.finish(),
            schema_url: SCHEMA_URL.to_string(),
        })
    }
}

/// `projects/123/zones/us-central1-a` (or just the zone) to the zone and its region.
pub fn zone_and_region(zone: &str) -> Option<(String, String)> {
    let zone = zone.rsplit('/').next().unwrap_or(zone);
    let parts: Vec<&str> = zone.splitn(3, '-').collect();
    (parts.len() == 3).then(|| (zone.to_string(), parts[..2].join("-")))
}

/// `projects/P/(zones|regions)/L/instanceGroupManagers/N` to (`zone`|`region`, L, N).
pub fn managed_instance_group(created_by: &str) -> Option<(&'static str, String, String)> {
    let parts: Vec<&str> = created_by.split('/').collect();
    match parts.as_slice() {
        ["projects", p, kind, location, "instanceGroupManagers", name]
            if !p.is_empty() && !location.is_empty() && !name.is_empty() =>
        {
            let kind = match *kind {
                "zones" => "zone",
                "regions" => "region",
                _ => return None,
            };
            Some((kind, location.to_string(), name.to_string()))
        }
        _ => None,
    }
}

/// The value, or `None` with the error noted.
fn note(errors: &mut Vec<String>, result: Result<String, BoxError>) -> Option<String> {
    result.map_err(|e| errors.push(e.to_string())).ok()
}
