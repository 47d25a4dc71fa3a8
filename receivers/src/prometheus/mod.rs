//! `prometheus` receiver: scrapes Prometheus exposition endpoints as the Collector's
//! receiver does, configured with Prometheus' own `scrape_configs` under `config:`.
//! Every target is its own scraper on the API's scrape controller, so a slow or dead
//! target never delays the others; `file_sd_configs` files are re-read when they change,
//! and targets come and go with them.

mod config;
pub mod parse;
mod protobuf;
pub mod relabel;
mod scrape;
mod targets;
pub mod translate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::scrape::{Schedule, ScrapeController};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    BoxError, BuildContext, Consumer, OutcomeCounter, Receiver, ReceiverFactory, Signal,
};
use reqwest::header::HeaderValue;
use tokio_util::sync::CancellationToken;

pub use config::{PrometheusReceiverConfig, ScrapeConfig};
use relabel::Rule;
use scrape::{JobSettings, TargetScraper};
use targets::Target;

/// How often `file_sd_configs` files are checked for changes (Prometheus watches them;
/// `refresh_interval` re-reads them regardless).
const FILE_CHECK: Duration = Duration::from_secs(5);

pub fn factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "prometheus",
        signals: &[Signal::Metrics],
        config: ConfigSpec::of::<PrometheusReceiverConfig>(),
        build,
    }
}

/// One scrape config, ready to run.
struct Job {
    config: ScrapeConfig,
    settings: Arc<JobSettings>,
    relabel: Vec<Rule>,
    schedule: Schedule,
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Box<dyn Receiver>, BoxError> {
    let config = parse_block::<PrometheusReceiverConfig>(block)?;
    let global = &config.config.global;
    let jobs = config
        .config
        .scrape_configs
        .iter()
        .map(|job| {
            let at = |e: String| format!("scrape config `{}`: {e}", job.job_name);
            let compile = |rules: &[relabel::RuleConfig]| {
                rules
                    .iter()
                    .cloned()
                    .map(Rule::compile)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(at)
            };
            let timeout = job.timeout(global);
            let tls = llamacol_api::http::TlsConfig {
                ca_file: job.tls_config.ca_file.clone(),
                cert_file: job.tls_config.cert_file.clone(),
                key_file: job.tls_config.key_file.clone(),
                server_name_override: job.tls_config.server_name.clone(),
                insecure_skip_verify: job.tls_config.insecure_skip_verify,
                ..llamacol_api::http::TlsConfig::default()
            };
            let client = llamacol_api::http::client(timeout, &tls, &Default::default())
                .map_err(|e| at(e.to_string()))?;
            let settings = JobSettings {
                client,
                authorization: authorization(job).map_err(at)?,
                timeout,
                honor_labels: job.honor_labels,
                honor_timestamps: job.honor_timestamps,
                metric_relabel: compile(&job.metric_relabel_configs)?,
                sample_limit: job.sample_limit,
                label_limit: job.label_limit,
                body_size_limit: job.body_size_limit.0,
                compression: job.enable_compression,
                native_histograms: job
                    .scrape_native_histograms
                    .unwrap_or(global.scrape_native_histograms),
                classic_histograms: job
                    .always_scrape_classic_histograms
                    .unwrap_or(global.always_scrape_classic_histograms),
                dropped: ctx.dropped.clone(),
                external_labels: global
                    .external_labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            let interval = job.interval(global);
            Ok(Job {
                relabel: compile(&job.relabel_configs)?,
                config: job.clone(),
                settings: Arc::new(settings),
                schedule: Schedule {
                    interval,
                    timeout,
                    // Spread a job's targets over the interval, as Prometheus does.
                    start_jitter: interval,
                    start_delay: Duration::ZERO,
                },
            })
        })
        .collect::<Result<Vec<Job>, String>>()?;
    Ok(Box::new(PrometheusReceiver {
        id: ctx.id.to_string(),
        failures: ctx.failures.clone(),
        jobs,
        controllers: Vec::new(),
        cancel: CancellationToken::new(),
        watchers: tokio::task::JoinSet::new(),
    }))
}

/// The `Authorization` header a scrape config asks for; secrets read from their files
/// at start.
fn authorization(job: &ScrapeConfig) -> Result<Option<HeaderValue>, String> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
    };
    let value = if let Some(basic) = &job.basic_auth {
        let password = match (&basic.password, &basic.password_file) {
            (_, Some(file)) => read(file)?,
            (Some(p), None) => p.clone(),
            (None, None) => String::new(),
        };
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{password}", basic.username));
        Some(format!("Basic {token}"))
    } else if let Some(auth) = &job.authorization {
        let credentials = match (&auth.credentials, &auth.credentials_file) {
            (_, Some(file)) => read(file)?,
            (Some(c), None) => c.clone(),
            (None, None) => String::new(),
        };
        Some(format!("{} {credentials}", auth.kind))
    } else if let Some(file) = &job.bearer_token_file {
        Some(format!("Bearer {}", read(file)?))
    } else {
        job.bearer_token.as_ref().map(|t| format!("Bearer {t}"))
    };
    value
        .map(|v| {
            let mut header = HeaderValue::from_str(&v)
                .map_err(|_| "credentials are not a valid header value")?;
            header.set_sensitive(true);
            Ok(header)
        })
        .transpose()
}

pub struct PrometheusReceiver {
    id: String,
    failures: OutcomeCounter,
    jobs: Vec<Job>,
    controllers: Vec<ScrapeController>,
    cancel: CancellationToken,
    watchers: tokio::task::JoinSet<()>,
}

#[async_trait]
impl Receiver for PrometheusReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        for job in self.jobs.drain(..) {
            let statics = targets::targets(&job.config, &job.relabel, &job.config.static_configs);
            let mut controller = ScrapeController::new(&self.id, self.failures.clone());
            for target in statics {
                controller.spawn(
                    TargetScraper::new(target, job.settings.clone()),
                    job.schedule,
                    next.clone(),
                );
            }
            self.controllers.push(controller);
            if !job.config.file_sd_configs.is_empty() {
                let watcher = FileTargets {
                    id: self.id.clone(),
                    failures: self.failures.clone(),
                    job,
                    next: next.clone(),
                    running: BTreeMap::new(),
                };
                self.watchers.spawn(watcher.run(self.cancel.clone()));
            }
        }
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.cancel.cancel();
        while self.watchers.join_next().await.is_some() {}
        for controller in &mut self.controllers {
            controller.shutdown().await;
        }
        Ok(())
    }
}

/// The targets of one job's `file_sd_configs`, each scraped by its own controller so one
/// can stop when its file drops it.
struct FileTargets {
    id: String,
    failures: OutcomeCounter,
    job: Job,
    next: Arc<dyn Consumer>,
    running: BTreeMap<Target, ScrapeController>,
}

impl FileTargets {
    async fn run(mut self, cancel: CancellationToken) {
        let patterns: Vec<String> = self
            .job
            .config
            .file_sd_configs
            .iter()
            .flat_map(|f| f.files.clone())
            .collect();
        let refresh = self
            .job
            .config
            .file_sd_configs
            .iter()
            .map(|f| f.refresh_interval)
            .min()
            .unwrap_or(Duration::from_secs(300));
        let mut seen: Option<Vec<(std::path::PathBuf, Option<SystemTime>)>> = None;
        let mut last_read = tokio::time::Instant::now();
        let mut failing: Option<String> = None;
        loop {
            let stamps = modification_times(&patterns);
            if seen.as_ref() != Some(&stamps) || last_read.elapsed() >= refresh {
                last_read = tokio::time::Instant::now();
                seen = Some(stamps);
                match targets::read_files(&patterns) {
                    Ok(groups) => {
                        if failing.take().is_some() {
                            tracing::info!(component = %self.id, job = %self.job.config.job_name, "file_sd files read again");
                        }
                        let wanted = targets::targets(&self.job.config, &self.job.relabel, &groups);
                        self.apply(wanted).await;
                    }
                    // Keep the targets we have, as Prometheus does.
                    Err(e) if failing.as_deref() != Some(e.as_str()) => {
                        self.failures.add(1);
                        tracing::warn!(component = %self.id, job = %self.job.config.job_name, error = %e, "file_sd: keeping the previous targets; logged again only when this changes");
                        failing = Some(e);
                    }
                    Err(_) => {}
                }
            }
            tokio::select! {
                () = tokio::time::sleep(FILE_CHECK) => {}
                () = cancel.cancelled() => break,
            }
        }
        for (_, mut controller) in std::mem::take(&mut self.running) {
            controller.shutdown().await;
        }
    }

    async fn apply(&mut self, wanted: Vec<Target>) {
        let gone: Vec<Target> = self
            .running
            .keys()
            .filter(|t| !wanted.contains(t))
            .cloned()
            .collect();
        // A target the files no longer list ends as Prometheus ends it: a stale marker
        // for each of its series.
        for target in gone {
            if let Some(mut controller) = self.running.remove(&target) {
                controller.retire().await;
            }
        }
        for target in wanted {
            if self.running.contains_key(&target) {
                continue;
            }
            let mut controller = ScrapeController::new(&self.id, self.failures.clone());
            controller.spawn(
                TargetScraper::new(target.clone(), self.job.settings.clone()),
                self.job.schedule,
                self.next.clone(),
            );
            self.running.insert(target, controller);
        }
    }
}

/// Each matching file's modification time, to notice a change.
fn modification_times(patterns: &[String]) -> Vec<(std::path::PathBuf, Option<SystemTime>)> {
    let mut out: Vec<(std::path::PathBuf, Option<SystemTime>)> = patterns
        .iter()
        .flat_map(|p| targets::expand(p).unwrap_or_default())
        .map(|path| {
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            (path, modified)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests;
