//! One target's scrape cycle: its endpoints fetched concurrently, turned into one OTLP
//! metrics request with the target as the resource.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use llamacol_api::attributes::{int, string as text};
use llamacol_api::node::{LlamaServer, NodeContext};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::common::v1::{InstrumentationScope, KeyValue};
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::scrape::{Scraped, Scraper};

use super::config::{LlamaCppConfig, Target};
use super::parse::{self, Health, Props};

/// Why one endpoint of a target gave nothing usable this cycle (its text is compared
/// across cycles, so only changes are logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("timed out")]
    TimedOut,
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("reading the body: {0}")]
    Body(String),
    /// Not asked for (its switch is off).
    #[error("off")]
    Off,
    #[error("status {status} ({state})")]
    Health { status: u16, state: &'static str },
    #[error("status {0}")]
    Status(u16),
    #[error("status {status}: {endpoint} is disabled on the server{hint}")]
    Disabled {
        status: u16,
        endpoint: &'static str,
        hint: &'static str,
    },
    #[error("unreadable {endpoint}: {reason}")]
    Unreadable {
        endpoint: &'static str,
        reason: String,
    },
}

pub struct Response {
    pub status: u16,
    pub body: bytes::Bytes,
}

/// Per-target state carried between cycles.
pub struct TargetScraper {
    pub name: String,
    base: String,
    address: String,
    port: i64,
    client: reqwest::Client,
    config: LlamaCppConfig,
    /// Series key -> (start time ns, last value), for counter start times and resets.
    counters: HashMap<String, (u64, f64)>,
    /// (time ns, prompt tokens, generated tokens) of the last cycle, for throughput.
    last_totals: Option<(u64, f64, f64)>,
    props: Option<Props>,
    props_read: Option<Instant>,
    /// Where what `/props` says about the server is published for other components.
    node: NodeContext,
    /// Last outcome per endpoint, to log only changes.
    outcomes: HashMap<&'static str, String>,
    /// This cycle's changes: (endpoint, problem or None when recovered).
    changes: Vec<(&'static str, Option<String>)>,
}

use llamacol_api::clock::unix_nanos as now_ns;

impl TargetScraper {
    pub fn new(
        target: &Target,
        config: &LlamaCppConfig,
    ) -> Result<TargetScraper, llamacol_api::BoxError> {
        let base = target.endpoint.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base).map_err(|e| format!("target `{base}`: {e}"))?;
        let address = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80) as i64;
        let client = llamacol_api::http::client(
            config.effective_timeout(),
            &llamacol_api::http::TlsConfig::default(),
            &target.headers,
        )?;
        Ok(TargetScraper {
            name: target
                .name
                .clone()
                .unwrap_or_else(|| format!("{address}:{port}")),
            base,
            address,
            port,
            client,
            config: config.clone(),
            counters: HashMap::new(),
            last_totals: None,
            props: None,
            props_read: None,
            node: NodeContext::default(),
            outcomes: HashMap::new(),
            changes: Vec::new(),
        })
    }

    async fn fetch(&self, path: &str) -> Result<Response, Problem> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    Problem::TimedOut
                } else {
                    Problem::Unreachable(e.to_string())
                }
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| Problem::Body(e.to_string()))?;
        Ok(Response { status, body })
    }

    /// Notes an endpoint's outcome; returns whether it failed. Changes are logged together
    /// at the end of the cycle ([`TargetScraper::log_changes`]), one line per target.
    fn outcome(&mut self, endpoint: &'static str, outcome: Result<(), Problem>) -> bool {
        let (text, failed) = match &outcome {
            Ok(()) => ("ok".to_string(), false),
            Err(problem) => (problem.to_string(), true),
        };
        if self.outcomes.get(endpoint) != Some(&text) {
            let was_known = self.outcomes.insert(endpoint, text.clone()).is_some();
            if failed || was_known {
                self.changes.push((endpoint, failed.then_some(text)));
            }
        }
        failed
    }

    fn log_changes(&mut self) {
        let changes = std::mem::take(&mut self.changes);
        let failing: Vec<String> = changes
            .iter()
            .filter_map(|(e, p)| p.as_ref().map(|p| format!("{e}: {p}")))
            .collect();
        let recovered: Vec<&str> = changes
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(e, _)| *e)
            .collect();
        if !failing.is_empty() {
            tracing::warn!(target_name = %self.name, problems = %failing.join("; "), "llama.cpp target failing; logged again only when this changes");
        }
        if !recovered.is_empty() {
            tracing::info!(target_name = %self.name, endpoints = %recovered.join(", "), "llama.cpp endpoints recovered");
        }
    }

    /// One cycle. Returns the request and how many endpoint fetches failed.
    pub async fn cycle(&mut self) -> (ExportMetricsServiceRequest, usize) {
        let props_due = self.config.props
            && self
                .props_read
                .is_none_or(|t| t.elapsed() >= self.config.props_interval);
        let skip = || async { Err::<Response, Problem>(Problem::Off) };
        let (metrics, slots, health, props) = tokio::join!(
            async {
                if self.config.metrics {
                    self.fetch("/metrics").await
                } else {
                    skip().await
                }
            },
            async {
                if self.config.slots {
                    self.fetch("/slots").await
                } else {
                    skip().await
                }
            },
            async {
                if self.config.health {
                    self.fetch("/health").await
                } else {
                    skip().await
                }
            },
            async {
                if props_due {
                    self.fetch("/props").await
                } else {
                    skip().await
                }
            },
        );
        let now = now_ns();
        let mut out = Vec::new();
        let mut failures = 0;

        if self.config.health {
            let state = match &health {
                Ok(r) => parse::health(r.status, &r.body),
                Err(_) => Health::Unreachable,
            };
            let up = matches!(&health, Ok(r) if r.status == 200);
            let result = match (&health, state) {
                (Err(e), _) => Err(e.clone()),
                (Ok(_), Health::Ok) => Ok(()),
                (Ok(r), s) => Err(Problem::Health {
                    status: r.status,
                    state: s.as_str(),
                }),
            };
            failures += usize::from(self.outcome("/health", result));
            out.push(gauge(
                "llamacpp.up",
                "",
                "1 when /health answers 200, else 0",
                vec![point(now, 0, if up { 1.0 } else { 0.0 }, vec![])],
            ));
            let states = Health::ALL
                .iter()
                .map(|s| {
                    point(
                        now,
                        0,
                        if *s == state { 1.0 } else { 0.0 },
                        vec![text("llamacpp.health.state", s.as_str())],
                    )
                })
                .collect();
            out.push(gauge("llamacpp.health.status", "", "Server state per /health: ok, loading, error or unreachable (1 for the current one)", states));
        }

        if props_due {
            let result = match &props {
                Ok(r) if r.status == 200 => parse::props(&r.body)
                    .map(|p| {
                        self.publish(&p);
                        self.props = Some(p);
                        self.props_read = Some(Instant::now());
                    })
                    .map_err(|e| Problem::Unreadable {
                        endpoint: "/props",
                        reason: e.to_string(),
                    }),
                Ok(r) => {
                    self.props_read = Some(Instant::now());
                    Err(Problem::Status(r.status))
                }
                Err(e) => Err(e.clone()),
            };
            failures += usize::from(self.outcome("/props", result));
        }

        if self.config.metrics {
            let result = match &metrics {
                Ok(r) if r.status == 200 => match std::str::from_utf8(&r.body)
                    .map_err(|e| e.to_string())
                    .and_then(|t| parse::prometheus_text(t).map_err(|e| e.to_string()))
                {
                    Ok(samples) => {
                        self.metrics(samples, now, &mut out);
                        Ok(())
                    }
                    Err(e) => Err(Problem::Unreadable {
                        endpoint: "/metrics",
                        reason: e,
                    }),
                },
                Ok(r) if r.status == 501 || r.status == 404 => Err(Problem::Disabled {
                    status: r.status,
                    endpoint: "/metrics",
                    hint: " (start it with --metrics)",
                }),
                Ok(r) => Err(Problem::Status(r.status)),
                Err(e) => Err(e.clone()),
            };
            failures += usize::from(self.outcome("/metrics", result));
        }

        if self.config.slots {
            let result = match &slots {
                Ok(r) if r.status == 200 => match parse::slots(&r.body) {
                    Ok(slots) => {
                        slot_metrics(&slots, now, &mut out);
                        Ok(())
                    }
                    Err(e) => Err(Problem::Unreadable {
                        endpoint: "/slots",
                        reason: e.to_string(),
                    }),
                },
                Ok(r) if r.status == 501 || r.status == 404 => Err(Problem::Disabled {
                    status: r.status,
                    endpoint: "/slots",
                    hint: "",
                }),
                Ok(r) => Err(Problem::Status(r.status)),
                Err(e) => Err(e.clone()),
            };
            failures += usize::from(self.outcome("/slots", result));
        }

        self.log_changes();
        super::live::record(
            self.node.live(),
            &super::live::Target {
                name: &self.name,
                endpoint: &self.base,
                model: self.props.as_ref().and_then(|p| p.model.as_deref()),
            },
            &out,
            now as f64 / 1e9,
        );
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "llamacol/receiver/llamacpp".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics: out,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        (request, failures)
    }

    /// Publish on this node context (the service's, in a pipeline).
    pub fn publishing_to(mut self, node: NodeContext) -> TargetScraper {
        self.node = node;
        self
    }

    fn publish(&self, props: &Props) {
        self.node.publish_llama_server(LlamaServer {
            endpoint: self.base.clone(),
            address: self.address.clone(),
            port: u16::try_from(self.port).unwrap_or_default(),
            model: props.model.clone(),
            build: props.build.clone(),
            context_size: props.n_ctx,
            slots: props.total_slots,
        });
    }

    fn resource(&self) -> Resource {
        let mut attributes = vec![
            text("service.name", "llama.cpp"),
            text("server.address", &self.address),
            int("server.port", self.port),
            text("llamacpp.target", &self.name),
        ];
        if let Some(p) = &self.props {
            if let Some(m) = &p.model {
                attributes.push(text("llamacpp.model", m));
            }
            if let Some(b) = &p.build {
                attributes.push(text("llamacpp.build", b));
            }
            if let Some(n) = p.total_slots {
                attributes.push(int("llamacpp.slots.total", n));
            }
            if let Some(n) = p.n_ctx {
                attributes.push(int("llamacpp.context_size", n));
            }
            if !p.endpoints.is_empty() {
                attributes.push(text("llamacpp.endpoints", &p.endpoints.join(",")));
            }
        }
        Resource {
            attributes,
            ..Default::default()
        }
    }

    /// `llamacpp:<name>` series as `llamacpp.<name>`: `_total` ones become monotonic
    /// cumulative sums (without the suffix), the rest gauges. Unknown names pass through.
    fn metrics(&mut self, samples: Vec<parse::Sample>, now: u64, out: &mut Vec<Metric>) {
        // A counter starts at the first scrape that saw it. The server's
        // `Process-Start-Time-Unix` header is not used: real builds send their monotonic
        // clock in microseconds since boot there, not a Unix time (testdata/llamacpp/README.md).
        let mut families: Vec<(String, bool, Vec<NumberDataPoint>)> = Vec::new();
        let (mut prompt, mut generated) = (None, None);
        for s in samples {
            let short = s
                .name
                .strip_prefix("llamacpp:")
                .unwrap_or(&s.name)
                .to_string();
            let counter = short.ends_with("_total");
            let base = short.strip_suffix("_total").unwrap_or(&short).to_string();
            match short.as_str() {
                "prompt_tokens_total" => prompt = Some(s.value),
                "tokens_predicted_total" => generated = Some(s.value),
                _ => {}
            }
            let attributes: Vec<KeyValue> = s.labels.iter().map(|(k, v)| text(k, v)).collect();
            let start = if counter {
                let key = format!("{}{:?}", s.name, s.labels);
                let entry = self.counters.entry(key).or_insert((now, s.value));
                if s.value < entry.1 {
                    // The counter went down: the server restarted. New start, no negative rate.
                    entry.0 = now;
                }
                entry.1 = s.value;
                entry.0
            } else {
                0
            };
            let name = format!("llamacpp.{base}");
            let p = point(now, start, s.value, attributes);
            match families.iter_mut().find(|(n, _, _)| *n == name) {
                Some((_, _, points)) => points.push(p),
                None => families.push((name, counter, vec![p])),
            }
        }
        for (name, counter, points) in families {
            let unit = unit_for(&name);
            out.push(if counter {
                sum(&name, unit, points)
            } else {
                gauge(&name, unit, "", points)
            });
        }
        if let (Some(p), Some(g)) = (prompt, generated) {
            if let Some((t0, p0, g0)) = self.last_totals {
                let dt = Duration::from_nanos(now.saturating_sub(t0)).as_secs_f64();
                if dt > 0.0 && p >= p0 && g >= g0 {
                    out.push(gauge(
                        "llamacpp.prompt_tokens.rate",
                        "{token}/s",
                        "Prompt tokens per second since the last scrape",
                        vec![point(now, 0, (p - p0) / dt, vec![])],
                    ));
                    out.push(gauge(
                        "llamacpp.generated_tokens.rate",
                        "{token}/s",
                        "Generated tokens per second since the last scrape",
                        vec![point(now, 0, (g - g0) / dt, vec![])],
                    ));
                }
            }
            self.last_totals = Some((now, p, g));
        }
    }
}

fn unit_for(name: &str) -> &'static str {
    if name.ends_with("tokens_seconds") {
        "{token}/s"
    } else if name.ends_with("_seconds") {
        "s"
    } else if name.contains("tokens") {
        "{token}"
    } else if name.ends_with("_ratio") {
        "1"
    } else if name.ends_with("n_decode") {
        "{call}"
    } else {
        ""
    }
}

fn slot_metrics(slots: &[parse::Slot], now: u64, out: &mut Vec<Metric>) {
    let id = |s: &parse::Slot| vec![int("llamacpp.slot.id", s.id)];
    let per = |f: &dyn Fn(&parse::Slot) -> Option<f64>| -> Vec<NumberDataPoint> {
        slots
            .iter()
            .filter_map(|s| f(s).map(|v| point(now, 0, v, id(s))))
            .collect()
    };
    let series: [(&str, &str, &str, Vec<NumberDataPoint>); 4] = [
        (
            "llamacpp.slot.processing",
            "",
            "1 while the slot processes a task",
            per(&|s| s.processing.map(|p| if p { 1.0 } else { 0.0 })),
        ),
        (
            "llamacpp.slot.context",
            "{token}",
            "Context size of the slot (n_ctx)",
            per(&|s| s.n_ctx.map(|v| v as f64)),
        ),
        (
            "llamacpp.slot.decoded",
            "{token}",
            "Tokens decoded for the current task",
            per(&|s| s.n_decoded.map(|v| v as f64)),
        ),
        (
            "llamacpp.slot.remaining",
            "{token}",
            "Tokens left to generate for the current task",
            per(&|s| s.n_remain.map(|v| v as f64)),
        ),
    ];
    for (name, unit, help, points) in series {
        if !points.is_empty() {
            out.push(gauge(name, unit, help, points));
        }
    }
    let busy = slots.iter().filter(|s| s.processing == Some(true)).count();
    // The KV cache a busy slot holds is its context so far: the prompt plus what it has
    // generated. Idle slots keep a prompt cache too, but it is reusable space, so it is
    // not counted as used (llama-server no longer exports KV use on /metrics).
    let capacity: i64 = slots.iter().filter_map(|s| s.n_ctx).sum();
    if capacity > 0 {
        let used: i64 = slots
            .iter()
            .filter(|s| s.processing == Some(true))
            .map(|s| {
                let held = s.n_prompt_tokens.unwrap_or(0) + s.n_decoded.unwrap_or(0);
                held.min(s.n_ctx.unwrap_or(held))
            })
            .sum();
        out.push(gauge(
            "llamacpp.kv_cache.usage",
            "1",
            "Share of the server's context (KV cache) held by busy slots: their prompt plus generated tokens over the slots' n_ctx, from /slots",
            vec![point(now, 0, used as f64 / capacity as f64, vec![])],
        ));
    }
    out.push(gauge(
        "llamacpp.slots.busy",
        "{slot}",
        "Slots processing a task",
        vec![point(now, 0, busy as f64, vec![])],
    ));
    out.push(gauge(
        "llamacpp.slots.total",
        "{slot}",
        "Slots of the server",
        vec![point(now, 0, slots.len() as f64, vec![])],
    ));
}

fn point(now: u64, start: u64, value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn gauge(name: &str, unit: &str, description: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: description.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points })),
        ..Default::default()
    }
}

fn sum(name: &str, unit: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

#[async_trait::async_trait]
impl Scraper for TargetScraper {
    fn name(&self) -> &str {
        &self.name
    }

    async fn scrape(&mut self) -> Scraped {
        let (request, failed) = self.cycle().await;
        Scraped { request, failed }
    }
}
