//! Object storage (`path: s3://bucket/prefix`, `gs://bucket/prefix`,
//! `az://container/prefix`): files are written and closed in a local staging directory
//! exactly as for a local `path`, then uploaded by a background task and deleted locally
//! once the store has them: a file of one part or less (5 MiB) in one PUT, as the AWS
//! SDK's S3 upload manager does, a bigger one as a multipart upload of 5 MiB parts. A
//! failed upload stays staged and is tried again after a backoff (1 s doubling to 30 s; logged once until it works); staged files left by an earlier run
//! are uploaded at start, so nothing closed is lost. Credentials, region, account and
//! endpoint come from each store's usual environment variables (`AWS_*`, `GOOGLE_*`,
//! `AZURE_*`), read by object_store's builders.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use llamacol_api::backoff::{Backoff, BackoffPolicy};
use llamacol_api::log_once::LogOnce;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

pub struct Remote {
    store: Arc<dyn ObjectStore>,
    /// Key prefix inside the bucket (no leading or trailing `/`).
    prefix: String,
    /// Where files are written before upload.
    pub staging: PathBuf,
    failures: LogOnce,
    /// After a failed upload, no attempt until its wait is over.
    retry: Mutex<Backoff>,
}

/// Waits between upload attempts after a failure: from 1 s, doubling, to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Multipart part size (S3's minimum part); files up to this size go up in one PUT.
const PART_BYTES: usize = 5 << 20;

/// Which object store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    S3,
    Gcs,
    Azure,
}

/// The URL forms `path` accepts, for messages.
pub const URL_FORMS: &str = "`s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`";

/// An object storage URL split into its store, bucket (container) and key prefix.
pub fn parse_url(url: &str) -> Option<(Store, String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let store = match scheme {
        "s3" => Store::S3,
        "gs" => Store::Gcs,
        "az" => Store::Azure,
        _ => return None,
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| {
        (
            store,
            bucket.to_string(),
            prefix.trim_matches('/').to_string(),
        )
    })
}

impl Remote {
    pub fn new(url: &str, staging: PathBuf) -> Result<Remote, llamacol_api::BoxError> {
        let (kind, bucket, prefix) =
            parse_url(url).ok_or_else(|| format!("`{url}` is not one of {URL_FORMS}"))?;
        // object_store's HTTP client takes the process's rustls provider: ring, the one the
        // rest of llamacol uses (an error only means one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store: Arc<dyn ObjectStore> = match kind {
            Store::S3 => Arc::new(
                AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()?,
            ),
            Store::Gcs => Arc::new(
                GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .build()?,
            ),
            Store::Azure => Arc::new(
                MicrosoftAzureBuilder::from_env()
                    .with_container_name(bucket)
                    .build()?,
            ),
        };
        Ok(Remote {
            store,
            prefix,
            staging,
            failures: LogOnce::new(),
            retry: Mutex::new(Backoff::new(BackoffPolicy::doubling(
                Duration::from_secs(1),
                MAX_BACKOFF,
            ))),
        })
    }

    /// Uploads every closed `.parquet` file under the staging directory; returns how
    /// many went up. After a failure, nothing is tried until the backoff has passed,
    /// unless `now` (start and shutdown).
    pub async fn upload_staged(&self, component: &str, now: bool) -> usize {
        if !now && !self.retry().due() {
            return 0;
        }
        let mut uploaded = 0;
        for file in staged(&self.staging) {
            match self.upload(&file).await {
                Ok(()) => {
                    uploaded += 1;
                    self.retry().reset();
                    if self.failures.cleared() {
                        tracing::info!(component, "parquet uploads work again");
                    }
                }
                Err(e) => {
                    self.retry().failed(None);
                    let message = format!("uploading {}: {e}", file.display());
                    if self.failures.is_new(&message) {
                        tracing::error!(component, error = %message, "upload failed; the file stays staged and is tried again (logged once until uploads work)");
                    }
                    break;
                }
            }
        }
        uploaded
    }

    fn retry(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.retry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn upload(&self, file: &Path) -> Result<(), llamacol_api::BoxError> {
        let relative = file.strip_prefix(&self.staging)?;
        let key = if self.prefix.is_empty() {
            relative.to_string_lossy().into_owned()
        } else {
            format!("{}/{}", self.prefix, relative.to_string_lossy())
        };
        let data = bytes::Bytes::from(tokio::fs::read(file).await?);
        let location = StorePath::from(key);
        if data.len() <= PART_BYTES {
            self.store.put(&location, data.into()).await?;
        } else {
            let upload = self.store.put_multipart(&location).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            writer.put(data);
            writer.finish().await?;
        }
        tokio::fs::remove_file(file).await?;
        Ok(())
    }
}

/// How many closed files are waiting under `dir`.
pub fn staged_count(dir: &Path) -> usize {
    staged(dir).len()
}

/// Closed files waiting under `dir`, oldest name first.
fn staged(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::{parse_url, Store};

    #[test]
    fn urls_split_into_store_bucket_and_prefix() {
        assert_eq!(
            parse_url("s3://logs/llm/"),
            Some((Store::S3, "logs".into(), "llm".into()))
        );
        assert_eq!(
            parse_url("s3://logs"),
            Some((Store::S3, "logs".into(), String::new()))
        );
        assert_eq!(
            parse_url("gs://traces/a/b"),
            Some((Store::Gcs, "traces".into(), "a/b".into()))
        );
        assert_eq!(
            parse_url("az://container/x/"),
            Some((Store::Azure, "container".into(), "x".into()))
        );
        assert_eq!(parse_url("s3:///x"), None);
        assert_eq!(parse_url("hdfs://x/y"), None);
        assert_eq!(parse_url("/data"), None);
    }
}
