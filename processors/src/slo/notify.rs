//! Notification targets: Alertmanager's v2 API (`POST /api/v2/alerts`) and webhooks
//! (Alertmanager's webhook payload, or a Slack message). One task sends; the rule engine
//! hands it notices through a bounded channel and never waits: a full channel counts the
//! notices as dropped (a firing alert is sent again at the next `resend_delay`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llamacol_api::backoff::{Backoff, BackoffPolicy};
use llamacol_api::http::{classify, client, retry_after_header};
use llamacol_api::node::{NodeContext, TargetCounters, TargetFamily};
use llamacol_api::{BoxError, ErrorKind};
use serde_json::json;
use tokio::sync::mpsc;

use super::alert::Notice;
use super::config::{NotifyConfig, TargetConfig, WebhookFormat};

/// Alerts sent to each `alertmanager` / `webhook` target.
pub const NOTIFICATIONS: TargetFamily = TargetFamily {
    metric: "llamacol_alert_notifications_total",
    label: "target",
    help: "Alerts an alerting processor sent (outcome sent), gave up on after retries (failed) or could not queue (dropped), per target.",
    outcomes: &["sent", "failed", "dropped"],
};

/// Notice lists waiting to be sent.
const QUEUE: usize = 64;
/// Tries per notice list and target (then counted as failed).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Upper bound of one computed wait (a server's `Retry-After` is waited as given).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct Target {
    name: &'static str,
    /// The first retry's wait, doubled for each next one.
    first_backoff: Duration,
    url: String,
    format: Option<WebhookFormat>,
    client: reqwest::Client,
    counters: Arc<TargetCounters>,
}

/// The engine's side: hands notices over without waiting.
pub struct Sender {
    tx: mpsc::Sender<Vec<Notice>>,
    counters: Vec<Arc<TargetCounters>>,
}

impl Sender {
    pub fn send(&self, notices: Vec<Notice>) {
        let n = notices.len();
        if n == 0 {
            return;
        }
        if self.tx.try_send(notices).is_err() {
            for c in &self.counters {
                TargetCounters::add(&c.dropped, n);
            }
        }
    }
}

/// The configured targets, the engine's side of the channel, and the sender task's.
pub struct Notifier {
    pub sender: Sender,
    pub inbox: mpsc::Receiver<Vec<Notice>>,
    pub targets: Vec<Target>,
}

/// Builds the targets; `None` when none is configured.
pub fn targets(
    config: &NotifyConfig,
    component: &str,
    node: &NodeContext,
) -> Result<Option<Notifier>, BoxError> {
    let mut targets = Vec::new();
    let mut add = |name: &'static str,
                   c: &TargetConfig,
                   format: Option<WebhookFormat>|
     -> Result<(), BoxError> {
        let base = c.endpoint.trim_end_matches('/');
        targets.push(Target {
            name,
            first_backoff: FIRST_BACKOFF,
            url: if format.is_none() {
                format!("{base}/api/v2/alerts")
            } else {
                c.endpoint.clone()
            },
            format,
            client: client(c.timeout, &c.tls, &c.headers)?,
            counters: node.target_counters(NOTIFICATIONS, component, name),
        });
        Ok(())
    };
    if let Some(c) = &config.alertmanager {
        add("alertmanager", c, None)?;
    }
    if let Some(c) = &config.webhook {
        add("webhook", c, Some(c.format))?;
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let (tx, rx) = mpsc::channel(QUEUE);
    let counters = targets.iter().map(|t| t.counters.clone()).collect();
    Ok(Some(Notifier {
        sender: Sender { tx, counters },
        inbox: rx,
        targets,
    }))
}

/// Sends every notice list to every target until the channel closes.
pub async fn run(mut rx: mpsc::Receiver<Vec<Notice>>, targets: Vec<Target>) {
    while let Some(notices) = rx.recv().await {
        for target in &targets {
            target.deliver(&notices).await;
        }
    }
}

impl Target {
    /// Waits `first` before the first retry (tests shorten it).
    #[cfg(test)]
    pub fn with_backoff(mut self, first: Duration) -> Target {
        self.first_backoff = first;
        self
    }

    async fn deliver(&self, notices: &[Notice]) {
        let body = match self.format {
            None => alertmanager_body(notices),
            Some(WebhookFormat::Json) => webhook_body(notices),
            Some(WebhookFormat::Slack) => slack_body(notices),
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut backoff = Backoff::new(BackoffPolicy::doubling(self.first_backoff, MAX_BACKOFF));
        for attempt in 1..=ATTEMPTS {
            let outcome = match self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = retry_after_header(r.headers());
                    let text = r.text().await.unwrap_or_default();
                    let e = classify(status, retry_after.as_deref(), text.trim().to_string());
                    Err((
                        e.kind() == ErrorKind::Retryable,
                        e.retry_after(),
                        e.to_string(),
                    ))
                }
                Err(e) => Err((true, None, e.to_string())),
            };
            match outcome {
                Ok(()) => {
                    TargetCounters::add(&self.counters.sent, notices.len());
                    return;
                }
                Err((retryable, retry_after, message)) if retryable && attempt < ATTEMPTS => {
                    tracing::debug!(target = self.name, url = %self.url, attempt, error = %message, "alert notification failed; retrying");
                    let wait = backoff.next_wait(retry_after).unwrap_or(MAX_BACKOFF);
                    tokio::time::sleep(wait).await;
                }
                Err((_, _, message)) => {
                    tracing::warn!(target = self.name, url = %self.url, alerts = notices.len(), error = %message, "alert notification failed after {attempt} attempt(s); firing alerts are sent again at the next resend_delay");
                    TargetCounters::add(&self.counters.failed, notices.len());
                    return;
                }
            }
        }
    }
}

fn rfc3339(seconds: f64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0));
    humantime::format_rfc3339_millis(
        t.min(SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799)),
    )
    .to_string()
}

/// Alertmanager v2 `postableAlerts`.
pub fn alertmanager_body(notices: &[Notice]) -> serde_json::Value {
    notices
        .iter()
        .map(|n| {
            json!({
                "labels": n.labels,
                "annotations": n.annotations,
                "startsAt": rfc3339(n.starts_at),
                "endsAt": rfc3339(n.ends_at),
            })
        })
        .collect()
}

/// Alertmanager's webhook payload (version 4), one group with every notice.
pub fn webhook_body(notices: &[Notice]) -> serde_json::Value {
    let common = |pick: fn(&Notice) -> &BTreeMap<String, String>| -> BTreeMap<String, String> {
        let Some(first) = notices.first() else {
            return BTreeMap::new();
        };
        pick(first)
            .iter()
            .filter(|(k, v)| notices.iter().all(|n| pick(n).get(*k) == Some(*v)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let common_labels = common(|n| &n.labels);
    let group_labels: BTreeMap<String, String> = common_labels
        .iter()
        .filter(|(k, _)| *k == "alertname")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let firing = notices.iter().any(|n| n.firing);
    let alerts: Vec<serde_json::Value> = notices
        .iter()
        .map(|n| {
            json!({
                "status": if n.firing { "firing" } else { "resolved" },
                "labels": n.labels,
                "annotations": n.annotations,
                "startsAt": rfc3339(n.starts_at),
                // Alertmanager sends the zero time for alerts still firing.
                "endsAt": if n.firing { "0001-01-01T00:00:00Z".to_string() } else { rfc3339(n.ends_at) },
                "generatorURL": "",
                "fingerprint": fingerprint(&n.labels),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{{}}}", group_labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(",")),
        "truncatedAlerts": 0,
        "status": if firing { "firing" } else { "resolved" },
        "receiver": "llamacol",
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common(|n| &n.annotations),
        "externalURL": "",
        "alerts": alerts,
    })
}

/// A Slack incoming-webhook message: one line per alert.
pub fn slack_body(notices: &[Notice]) -> serde_json::Value {
    let lines: Vec<String> = notices
        .iter()
        .map(|n| {
            let state = if n.firing { "FIRING" } else { "RESOLVED" };
            let name = n
                .labels
                .get("alertname")
                .map(String::as_str)
                .unwrap_or("alert");
            let others: Vec<String> = n
                .labels
                .iter()
                .filter(|(k, _)| *k != "alertname")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let summary = n
                .annotations
                .get("summary")
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("[{state}] {name} {{{}}}{summary}", others.join(", "))
        })
        .collect();
    json!({ "text": lines.join("\n") })
}

/// A stable 16-hex-digit id of a label set (FNV-1a over sorted `name=value` pairs).
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}
