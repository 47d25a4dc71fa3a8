//! `slo` processor (metrics): evaluates threshold rules and burn-rate SLOs over the
//! metrics passing through, every `evaluation_interval`, on its own task. Batches pass on
//! unchanged; after each evaluation it adds `ALERTS` and SLO gauges of its own, notifies
//! Alertmanager and webhooks (from another task, never blocking the metrics), and
//! publishes its alerts at the admin server's `/debug/alerts`.

mod alert;
mod burn;
pub mod config;
mod engine;
mod notify;
mod rule;
mod select;
mod series;
pub mod template;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use llamacol_api::clock::{unix_nanos, unix_seconds};
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::serde_yaml;
use llamacol_api::stateful::{State, StatefulProcessor};
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, NodeContext, Processor,
    ProcessorFactory, Signal,
};
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::SloConfig;
pub use engine::{Engine, Evaluation};

use alert::Notice;

/// The live page's alerts panel (its key in `/api/live`); the alerts themselves are read
/// from the node context's reports.
const ALERTS_PANEL: llamacol_api::live::Panel = llamacol_api::live::Panel::new("alerts");

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "slo",
        signals: &[Signal::Metrics],
        config: ConfigSpec::of::<SloConfig>(),
        build,
    }
}

/// How long shutdown waits for notifications still being sent.
const NOTIFY_DRAIN: Duration = Duration::from_secs(10);

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<SloConfig>(block)?;
    let mut rules = config.rules.clone();
    let mut slos = config.slos.clone();
    for path in &config.rule_files {
        let file = config::load_rule_file(path).map_err(|e| e.join("; "))?;
        rules.extend(file.rules);
        slos.extend(file.slos);
    }
    let component = ctx.id.to_string();
    ctx.node.live().feeds(ALERTS_PANEL, &component);
    let engine = Engine::new(&config, rules, slos, unix_nanos());
    let notifier = notify::targets(&config.notify, &component, &ctx.node)?;
    let (sender, pending) = match notifier {
        Some(n) => (Some(n.sender), Some((n.inbox, n.targets))),
        None => (None, None),
    };
    let state = SloState {
        engine,
        interval: config.evaluation_interval,
        next_evaluation: Instant::now() + config.evaluation_interval,
        passing: VecDeque::new(),
        sender,
        node: ctx.node.clone(),
        component: component.clone(),
    };
    let inner = StatefulProcessor::new(component, Box::new(state), 4, next, ctx.dropped.clone());
    Ok(Arc::new(SloProcessor {
        inner,
        pending: Mutex::new(pending),
        notifier: Mutex::new(None),
    }))
}

type Pending = (mpsc::Receiver<Vec<Notice>>, Vec<notify::Target>);

pub struct SloProcessor {
    inner: StatefulProcessor,
    /// The notifier's inbox and targets, until `start` spawns it.
    pending: Mutex<Option<Pending>>,
    notifier: Mutex<Option<JoinHandle<()>>>,
}

#[async_trait]
impl Consumer for SloProcessor {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.inner.consume(batch).await
    }
}

#[async_trait]
impl Processor for SloProcessor {
    async fn start(&self) -> Result<(), BoxError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((rx, targets)) = pending {
            *self.notifier.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(tokio::spawn(notify::run(rx, targets)));
        }
        self.inner.start().await
    }

    /// Stops evaluating (the state, and with it the notifier's inbox, is dropped), then
    /// gives notifications in flight a little time.
    async fn shutdown(&self) -> Result<(), BoxError> {
        let result = self.inner.shutdown().await;
        let task = self
            .notifier
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut task) = task {
            if tokio::time::timeout(NOTIFY_DRAIN, &mut task).await.is_err() {
                tracing::warn!("slo: notifications still being sent at shutdown were abandoned");
                task.abort();
            }
        }
        result
    }
}

/// What the processor's task holds.
struct SloState {
    engine: Engine,
    interval: Duration,
    next_evaluation: Instant,
    /// Batches taken in and not yet passed on.
    passing: VecDeque<Batch>,
    sender: Option<notify::Sender>,
    node: NodeContext,
    component: String,
}

impl State for SloState {
    fn add(&mut self, batch: Batch) -> Result<(), BoxError> {
        if let Batch::Metrics(p) = &batch {
            let now = unix_seconds();
            match (p.decoded(), p.encoded()) {
                (Some(request), _) => self.engine.ingest(request, now),
                // Decoded into a copy that is dropped here: the batch goes on encoded only
                // (no second copy held while it waits in a queue), and one whose metrics no
                // rule reads is not decoded at all.
                (None, Some(bytes)) if self.engine.reads_any(bytes) => {
                    let request = ExportMetricsServiceRequest::decode(bytes.clone())?;
                    self.engine.ingest(&request, now);
                }
                _ => {}
            }
        }
        self.passing.push_back(batch);
        Ok(())
    }

    fn ready(&mut self) -> Option<Batch> {
        self.passing.pop_front()
    }

    /// Everything taken in, then, when the evaluation is due, its `ALERTS` and SLO
    /// gauges (notices go to the notifier; `/debug/alerts` is updated).
    fn flush(&mut self) -> Option<Batch> {
        if let Some(b) = self.passing.pop_front() {
            return Some(b);
        }
        let now = Instant::now();
        if now < self.next_evaluation {
            return None;
        }
        // Evaluations keep their rhythm; a late one does not cause a burst to catch up.
        let next = self.next_evaluation + self.interval;
        self.next_evaluation = if next <= now {
            now + self.interval
        } else {
            next
        };
        let evaluation = self.engine.evaluate(unix_seconds());
        if let Some(sender) = &self.sender {
            sender.send(evaluation.notices);
        }
        self.node
            .publish_alerts(&self.component, self.engine.report());
        evaluation
            .metrics
            .map(|m| Batch::Metrics(llamacol_api::Payload::from_message(m)))
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.next_evaluation)
    }

    fn items(&self) -> usize {
        self.passing.iter().map(Batch::items).sum()
    }
}

#[cfg(test)]
mod tests;
