//! One target's scrape: the GET Prometheus sends (its `Accept`, the scrape-timeout
//! header), the body within `body_size_limit`, parsed and translated; then the target's
//! own series as Prometheus writes them (`up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling`,
//! `scrape_series_added`), and stale markers for what disappeared. A failed scrape is
//! `up` 0, every series of the target stale, one failed read; its reason is logged when
//! it changes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::scrape::{Scraped, Scraper};
use reqwest::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE,
};

use super::parse::{parse, Family, Format};
use super::relabel::Rule;
use super::targets::Target;
use super::translate::{Attrs, Options, Placement, ResourceKey, ScopeKey, TargetState};

/// What Prometheus 3 asks for by default (OpenMetrics first), less the text format 1.0.0
/// (quoted UTF-8 names), which this receiver does not read.
const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// With `scrape_native_histograms`: the protobuf format first, as Prometheus asks.
const ACCEPT_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// A scrape config's settings every target of it shares.
pub struct JobSettings {
    pub client: reqwest::Client,
    pub authorization: Option<HeaderValue>,
    pub timeout: Duration,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub metric_relabel: Vec<Rule>,
    pub sample_limit: usize,
    pub label_limit: usize,
    /// 0: no limit.
    pub body_size_limit: u64,
    /// Ask for gzip.
    pub compression: bool,
    /// Ask for protobuf first and read native histograms.
    pub native_histograms: bool,
    /// Keep classic buckets of histograms that are also native.
    pub classic_histograms: bool,
    pub external_labels: Vec<(String, String)>,
    /// Points left out of a scrape (a malformed histogram, a series given twice).
    pub dropped: llamacol_api::OutcomeCounter,
}

pub struct TargetScraper {
    target: Target,
    job: Arc<JobSettings>,
    /// The target's own `job` and `instance`.
    own: ResourceKey,
    scheme: String,
    state: TargetState,
    /// The last failure logged (`None`: healthy), so each change is logged once.
    failing: Option<String>,
    /// (metric, reason) of the drops already logged.
    warned: std::collections::HashSet<(String, &'static str)>,
}

impl TargetScraper {
    pub fn new(target: Target, job: Arc<JobSettings>) -> TargetScraper {
        let get = |k: &str| target.labels.get(k).cloned().unwrap_or_default();
        let own = (get("job"), get("instance"));
        let scheme = target
            .url
            .split_once("://")
            .map_or("http", |(scheme, _)| scheme)
            .to_string();
        TargetScraper {
            target,
            job,
            own,
            scheme,
            state: TargetState::default(),
            failing: None,
            warned: std::collections::HashSet::new(),
        }
    }

    async fn fetch(&self) -> Result<(Vec<u8>, Format), String> {
        let mut request = self
            .job
            .client
            .get(&self.target.url)
            .header(
                ACCEPT,
                if self.job.native_histograms {
                    ACCEPT_NATIVE
                } else {
                    ACCEPT_HEADER
                },
            )
            .header(
                ACCEPT_ENCODING,
                if self.job.compression {
                    "gzip"
                } else {
                    "identity"
                },
            )
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", self.job.timeout.as_secs_f64()),
            )
            .header(
                "User-Agent",
                concat!("llamacol/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(auth) = &self.job.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {:?}", self.job.timeout)
            } else {
                format!("cannot reach it: {e}")
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("answered HTTP {}", status.as_u16()));
        }
        let format = match response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            Some(t) if t.starts_with("application/openmetrics-text") => Format::OpenMetrics,
            Some(t) if t.starts_with("application/vnd.google.protobuf") => {
                if !t.contains("encoding=delimited") {
                    return Err(format!(
                        "answered `{t}`: only the delimited protobuf encoding is read"
                    ));
                }
                Format::Protobuf
            }
            _ => Format::Text,
        };
        let gzip = response
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let limit = self.job.body_size_limit;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("body cut off: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if limit > 0 && body.len() as u64 > limit {
                return Err(format!("body larger than body_size_limit ({limit} bytes)"));
            }
        }
        if gzip {
            body = gunzip(&body, limit)?;
        }
        Ok((body, format))
    }

    /// The body's families, in the format the target answered.
    fn families(&self, body: Vec<u8>, format: Format) -> Result<Vec<Family>, String> {
        if format == Format::Protobuf {
            return super::protobuf::parse(&body, self.job.classic_histograms)
                .map_err(|e| format!("malformed exposition: {e}"));
        }
        let text = String::from_utf8(body)
            .map_err(|e| format!("body is not UTF-8 (byte {})", e.utf8_error().valid_up_to()))?;
        parse(&text, format).map_err(|e| format!("malformed exposition: {e}"))
    }

    /// Logs the target's health when it changes.
    fn note(&mut self, problem: Option<String>) {
        if problem == self.failing {
            return;
        }
        match &problem {
            Some(p) => {
                tracing::warn!(target_name = %self.target.url, problem = %p, "prometheus target failing; logged again only when this changes")
            }
            None => {
                tracing::info!(target_name = %self.target.url, "prometheus target scraped again")
            }
        }
        self.failing = problem;
    }
}

#[async_trait]
impl Scraper for TargetScraper {
    fn name(&self) -> &str {
        &self.target.url
    }

    async fn scrape(&mut self) -> Scraped {
        let started = Instant::now();
        let now_ns = now_ns();
        let options = Options {
            honor_labels: self.job.honor_labels,
            honor_timestamps: self.job.honor_timestamps,
            metric_relabel: &self.job.metric_relabel,
            sample_limit: self.job.sample_limit,
            label_limit: self.job.label_limit,
        };
        let labels = self.labels();
        let result = match self.fetch().await {
            Ok((body, format)) => self
                .families(body, format)
                .and_then(|families| self.state.translate(families, &labels, &options, now_ns)),
            Err(e) => Err(e),
        };
        let mut info: Vec<(ResourceKey, Attrs)> = Vec::new();
        let mut scope_info: Vec<(Placement, Attrs)> = Vec::new();
        let (mut metrics, up, counts, failed) = match result {
            Ok(t) => {
                info = t.target_info;
                scope_info = t.scope_info;
                self.job.dropped.add(t.dropped.len());
                for drop in &t.dropped {
                    if self.warned.insert(drop.clone()) {
                        tracing::warn!(target_name = %self.target.url, metric = %drop.0, reason = drop.1, "series left out of the scrape (counted; logged once per metric and reason)");
                    }
                }
                let counts = (t.samples_scraped, t.samples_post_relabeling, t.series_added);
                let mut metrics = t.metrics;
                metrics.extend(self.state.stale(now_ns, false));
                self.note(None);
                (metrics, 1.0, counts, 0)
            }
            Err(problem) => {
                self.note(Some(problem));
                (self.state.stale(now_ns, true), 0.0, (0, 0, 0), 1)
            }
        };
        let report = [
            up,
            started.elapsed().as_secs_f64(),
            counts.0 as f64,
            counts.1 as f64,
            counts.2 as f64,
        ];
        metrics.extend(self.report(&labels, now_ns, Some(report)));
        let request = self.request(metrics, &info, &scope_info);
        Scraped { request, failed }
    }

    fn retired(&mut self) -> Option<ExportMetricsServiceRequest> {
        let now_ns = now_ns();
        let labels = self.labels();
        let mut metrics = self.state.stale(now_ns, true);
        metrics.extend(self.report(&labels, now_ns, None));
        Some(self.request(metrics, &[], &[]))
    }
}

/// The series Prometheus writes about each scrape, in this order.
const REPORT: [(&str, &str, &str); 5] = [
    ("up", "The scraping was successful", ""),
    ("scrape_duration_seconds", "Duration of the scrape", "s"),
    (
        "scrape_samples_scraped",
        "The number of samples the target exposed",
        "",
    ),
    (
        "scrape_samples_post_metric_relabeling",
        "The number of samples remaining after metric relabeling was applied",
        "",
    ),
    (
        "scrape_series_added",
        "The approximate number of new series in this scrape",
        "",
    ),
];

impl TargetScraper {
    /// The target's labels with the global `external_labels` it does not set itself.
    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.target.labels.clone();
        for (k, v) in &self.job.external_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        labels
    }

    /// The target's own series (`REPORT`), under its own job and instance; `None`: their
    /// stale markers, for a target that is gone.
    fn report(
        &self,
        labels: &BTreeMap<String, String>,
        now_ns: u64,
        values: Option<[f64; 5]>,
    ) -> Vec<(Placement, Metric)> {
        let attributes: Vec<KeyValue> = labels
            .iter()
            .filter(|(k, _)| *k != "job" && *k != "instance")
            .map(|(k, v)| llamacol_api::attributes::string(k, v))
            .collect();
        REPORT
            .iter()
            .enumerate()
            .map(|(i, (name, help, unit))| {
                let point = NumberDataPoint {
                    attributes: attributes.clone(),
                    time_unix_nano: now_ns,
                    value: values.map(|v| number_data_point::Value::AsDouble(v[i])),
                    // OTLP's FLAG_NO_RECORDED_VALUE: Prometheus' stale marker.
                    flags: if values.is_some() { 0 } else { 1 },
                    ..NumberDataPoint::default()
                };
                let metric = Metric {
                    name: (*name).into(),
                    description: (*help).into(),
                    unit: (*unit).into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![point],
                    })),
                    ..Metric::default()
                };
                ((self.own.clone(), ScopeKey::default()), metric)
            })
            .collect()
    }

    /// One resource per job/instance the metrics name, with the target's `target_info`;
    /// in it one scope per scope the series name (`otel_scope_*`), else the receiver's.
    fn request(
        &self,
        metrics: Vec<(Placement, Metric)>,
        info: &[(ResourceKey, Attrs)],
        scope_info: &[(Placement, Attrs)],
    ) -> ExportMetricsServiceRequest {
        let mut by_resource: BTreeMap<ResourceKey, BTreeMap<ScopeKey, Vec<Metric>>> =
            BTreeMap::new();
        for ((resource, scope), m) in metrics {
            by_resource
                .entry(resource)
                .or_default()
                .entry(scope)
                .or_default()
                .push(m);
        }
        let text = |k: &str, v: &str| llamacol_api::attributes::string(k, v);
        let resource_metrics = by_resource
            .into_iter()
            .map(|(key, scopes)| {
                let mut resource = resource(&key, &self.scheme);
                for (_, attrs) in info.iter().filter(|(k, _)| *k == key) {
                    for (k, v) in attrs {
                        if !resource.attributes.iter().any(|a| &a.key == k) {
                            resource.attributes.push(text(k, v));
                        }
                    }
                }
                let scope_metrics = scopes
                    .into_iter()
                    .map(|(scope, metrics)| {
                        let own = scope == ScopeKey::default();
                        let mut attributes: Vec<KeyValue> =
                            scope.attributes.iter().map(|(k, v)| text(k, v)).collect();
                        let placement = (key.clone(), scope.clone());
                        for (_, attrs) in scope_info.iter().filter(|(p, _)| *p == placement) {
                            for (k, v) in attrs {
                                if !attributes.iter().any(|a| &a.key == k) {
                                    attributes.push(text(k, v));
                                }
                            }
                        }
                        ScopeMetrics {
                            scope: Some(InstrumentationScope {
                                name: if own {
                                    "llamacol/receiver/prometheus".into()
                                } else {
                                    scope.name
                                },
                                version: if own {
                                    env!("CARGO_PKG_VERSION").into()
                                } else {
                                    scope.version
                                },
                                attributes,
                                ..InstrumentationScope::default()
                            }),
                            metrics,
                            schema_url: scope.schema_url,
                        }
                    })
                    .collect();
                ResourceMetrics {
                    resource: Some(resource),
                    scope_metrics,
                    schema_url: String::new(),
                }
            })
            .collect();
        ExportMetricsServiceRequest { resource_metrics }
    }
}

/// A gzip body decompressed, held to `limit` bytes once decompressed (0: no limit), so a
/// small body cannot expand past what the user allowed.
fn gunzip(body: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cap = if limit > 0 { limit + 1 } else { u64::MAX };
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip body cannot be decompressed: {e}"))?;
    if limit > 0 && out.len() as u64 > limit {
        return Err(format!(
            "body larger than body_size_limit ({limit} bytes) once decompressed"
        ));
    }
    Ok(out)
}

/// `job` and `instance` as the Collector's receiver puts them on the resource:
/// `service.name`, `service.instance.id`, and from the instance `server.address` and
/// `server.port`; `url.scheme` is the target's (`tests/e2e_prometheus_receiver.rs` holds
/// this against the Collector's output).
fn resource(key: &ResourceKey, scheme: &str) -> Resource {
    let (job, instance) = key;
    let mut attributes = vec![
        llamacol_api::attributes::string("service.name", job),
        llamacol_api::attributes::string("service.instance.id", instance),
    ];
    if let Some((host, port)) = instance.rsplit_once(':') {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        // A loopback or unspecified address tells a reader nothing about the server: left
        // out, as the Collector's receiver leaves it out.
        if !matches!(
            host,
            "" | "localhost" | "127.0.0.1" | "0.0.0.0" | "::1" | "::"
        ) {
            attributes.push(llamacol_api::attributes::string("server.address", host));
        }
        attributes.push(llamacol_api::attributes::string("server.port", port));
    }
    attributes.push(llamacol_api::attributes::string("url.scheme", scheme));
    Resource {
        attributes,
        ..Resource::default()
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
