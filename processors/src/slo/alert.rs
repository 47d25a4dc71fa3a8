//! Alert states per rule and group, as Prometheus keeps them: inactive -> pending (from
//! the first breaching evaluation) -> firing (once `for` has passed) -> resolved (kept
//! 15 minutes so the resolution is re-sent), and which alerts are due to be sent.

use std::collections::{BTreeMap, HashMap};

/// How long a resolved alert is kept and re-sent (Prometheus's `resolvedRetention`).
const RESOLVED_RETENTION: f64 = 15.0 * 60.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Firing,
    Resolved,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: State,
    /// Unix seconds of the first breaching evaluation.
    pub active_at: f64,
    pub fired_at: Option<f64>,
    pub resolved_at: Option<f64>,
    #[serde(skip)]
    pub last_sent: Option<f64>,
    pub value: f64,
}

/// What one evaluation says of one group.
pub struct Observation {
    pub key: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub value: f64,
    pub breaching: bool,
}

/// A message for Alertmanager: Unix seconds for `startsAt` / `endsAt`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: f64,
    pub ends_at: f64,
    pub firing: bool,
}

/// Every alert of one processor, by owner (a rule or an SLO severity) and group.
#[derive(Debug, Default)]
pub struct Book {
    alerts: HashMap<(usize, Vec<String>), Alert>,
}

impl Book {
    /// Applies one evaluation of `owner`: groups not observed (gone, or without a value)
    /// count as not breaching.
    pub fn update(&mut self, owner: usize, observations: Vec<Observation>, hold: f64, now: f64) {
        let mut seen: Vec<Vec<String>> = Vec::with_capacity(observations.len());
        for o in observations {
            if !o.breaching {
                continue;
            }
            seen.push(o.key.clone());
            let alert = self.alerts.entry((owner, o.key)).or_insert_with(|| Alert {
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                state: State::Pending,
                active_at: now,
                fired_at: None,
                resolved_at: None,
                last_sent: None,
                value: o.value,
            });
            if alert.state == State::Resolved {
                // Breaching again after a resolution: a new alert.
                *alert = Alert {
                    state: State::Pending,
                    active_at: now,
                    fired_at: None,
                    resolved_at: None,
                    last_sent: None,
                    ..alert.clone()
                };
            }
            alert.labels = o.labels;
            alert.annotations = o.annotations;
            alert.value = o.value;
            if alert.state == State::Pending && now - alert.active_at >= hold {
                alert.state = State::Firing;
                alert.fired_at = Some(now);
            }
        }
        self.alerts.retain(|(o, key), alert| {
            if *o != owner || seen.contains(key) {
                return true;
            }
            match alert.state {
                State::Pending => false,
                State::Firing => {
                    alert.state = State::Resolved;
                    alert.resolved_at = Some(now);
                    true
                }
                State::Resolved => alert
                    .resolved_at
                    .is_some_and(|r| now - r < RESOLVED_RETENTION),
            }
        });
    }

    /// Alerts to send now (Prometheus's rules: firing ones when new or every
    /// `resend_delay`, resolved ones once resolved and every `resend_delay` while kept),
    /// marked as sent. A firing alert's `endsAt` is `valid_for` ahead, so Alertmanager
    /// resolves it by itself if llamacol stops sending.
    pub fn due(&mut self, now: f64, resend_delay: f64, valid_for: f64) -> Vec<Notice> {
        let mut out = Vec::new();
        for alert in self.alerts.values_mut() {
            if alert.state == State::Pending {
                continue;
            }
            let needs = match (alert.last_sent, alert.resolved_at) {
                (None, _) => true,
                (Some(sent), Some(resolved)) if resolved > sent => true,
                (Some(sent), _) => sent + resend_delay <= now,
            };
            if !needs {
                continue;
            }
            alert.last_sent = Some(now);
            out.push(Notice {
                labels: alert.labels.clone(),
                annotations: alert.annotations.clone(),
                starts_at: alert.active_at,
                ends_at: alert.resolved_at.unwrap_or(now + valid_for),
                firing: alert.state == State::Firing,
            });
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Pending and firing alerts (what `ALERTS` shows), sorted by labels.
    pub fn active(&self) -> Vec<&Alert> {
        let mut out: Vec<&Alert> = self
            .alerts
            .values()
            .filter(|a| a.state != State::Resolved)
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Every alert kept, resolved ones included, sorted by labels.
    pub fn all(&self) -> Vec<&Alert> {
        let mut out: Vec<&Alert> = self.alerts.values().collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}
