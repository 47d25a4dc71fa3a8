//! `graphistry` exporter (traces): what the llamatelemetry notebooks do by hand in a
//! Python cell, done continuously. Spans are gathered per `window` (or until
//! `max_spans`) into a graph (`graph.rs`: nodes = spans, edges = parent -> child) and
//! uploaded through Graphistry's REST API (`client.rs`), or written as Arrow files to
//! `offline_dir`.
//!
//! Nothing accepted is lost silently: a closed window whose upload fails retryably is
//! kept and tried again (with backoff) by a background task; while [`MAX_WAITING`]
//! windows wait, new batches are refused as retryable, so they stay in the exporter's
//! queue (bounded, persistent when configured). A permanent refusal, or a window still
//! waiting at shutdown, is counted as dropped.

mod client;
mod config;
mod graph;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use llamacol_api::attributes::value_string;
use llamacol_api::backoff::{Backoff, BackoffPolicy};
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::log_once::LogOnce;
use llamacol_api::node::{TargetCounters, TargetFamily};
use llamacol_api::serde_yaml::Value;
use llamacol_api::task::Background;
use llamacol_api::{
    Batch, BoxError, BuildContext, ConsumeError, Exporter, ExporterFactory, OutcomeCounter, Signal,
};

pub use config::{EdgeMode, GraphistryConfig, Privacy, PrivacyMode};
use graph::{dataset_json, ipc_file, rfc3339, Built, Graph};

use llamacol_api::repeated::{self, Repeated};

/// Trace graphs uploaded per server (`llamacol_graphistry_datasets_total`).
pub const DATASETS: TargetFamily = TargetFamily {
    metric: "llamacol_graphistry_datasets_total",
    label: "server",
    help: "Trace graphs a graphistry exporter uploaded or wrote offline (delivered), whose upload failed and is retried (failed), or that it gave up on (dropped).",
    outcomes: &["delivered", "failed", "dropped"],
};

/// The spans in them (`llamacol_graphistry_spans_total`).
pub const SPANS: TargetFamily = TargetFamily {
    metric: "llamacol_graphistry_spans_total",
    label: "server",
    help: "Spans in the graphs a graphistry exporter delivered (delivered), spans that did not fit a full window and went to the next one (carried_over), and spans in graphs it gave up on (dropped).",
    outcomes: &["delivered", "carried_over", "dropped"],
};

/// Closed windows that may wait for upload before new batches are refused.
pub const MAX_WAITING: usize = 4;
/// Tries per waiting window at shutdown.
const SHUTDOWN_ATTEMPTS: usize = 3;
/// Backoff between upload attempts of a waiting window: from 1 s, doubling, to this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub fn factory() -> ExporterFactory {
    ExporterFactory {
        type_name: "graphistry",
        signals: &[Signal::Traces],
        config: ConfigSpec::of::<GraphistryConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Value) -> Result<Arc<dyn Exporter>, BoxError> {
    let config = parse_block::<GraphistryConfig>(block)?;
    let id = ctx.id.to_string();
    let (sink, server) = match &config.offline_dir {
        Some(dir) => (Sink::Offline(dir.clone()), dir.display().to_string()),
        None => (
            Sink::Upload(Box::new(client::Client::new(&config)?)),
            config.base_url(),
        ),
    };
    let datasets = ctx.node.target_counters(DATASETS, &id, &server);
    let spans = ctx.node.target_counters(SPANS, &id, &server);
    Ok(Arc::new(GraphistryExporter {
        inner: Arc::new(Inner {
            id,
            config,
            sink,
            state: tokio::sync::Mutex::new(State::default()),
            dropped: ctx.dropped.clone(),
            datasets,
            spans,
            failures: LogOnce::new(),
            written: AtomicU64::new(0),
        }),
        ticker: Background::new(),
    }))
}

pub struct GraphistryExporter {
    inner: Arc<Inner>,
    /// Closes windows on time and retries waiting uploads.
    ticker: Background,
}

enum Sink {
    Upload(Box<client::Client>),
    Offline(PathBuf),
}

struct Inner {
    id: String,
    config: GraphistryConfig,
    sink: Sink,
    state: tokio::sync::Mutex<State>,
    dropped: OutcomeCounter,
    datasets: Arc<TargetCounters>,
    spans: Arc<TargetCounters>,
    failures: LogOnce,
    /// Offline windows written, to name their directories uniquely.
    written: AtomicU64,
}

struct State {
    /// The window being filled, and when its first span came.
    open: Option<(Graph, Instant)>,
    /// Closed windows not yet delivered, oldest first.
    waiting: VecDeque<Closed>,
    /// After a failed upload, no attempt until its wait is over.
    backoff: Backoff,
}

impl Default for State {
    fn default() -> State {
        State {
            open: None,
            waiting: VecDeque::new(),
            backoff: Backoff::new(BackoffPolicy::doubling(Duration::from_secs(1), MAX_BACKOFF)),
        }
    }
}

struct Closed {
    built: Built,
    name: String,
}

/// A span's service: `service.name` of its resource.
fn service_of(rs: &llamacol_api::otlp::trace::v1::ResourceSpans) -> String {
    rs.resource
        .as_ref()
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .map_or_else(|| "unknown_service".to_string(), value_string)
}

impl Inner {
    /// Adds the batch's spans to the open window, closing it whenever it is full.
    async fn take(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        let Batch::Traces(payload) = batch else {
            return Err(ConsumeError::permanent(format!(
                "graphistry exports traces only, not {}",
                batch.signal()
            )));
        };
        let total = payload.items();
        let request = payload.message().map_err(ConsumeError::permanent)?;
        // Every span's node carries its resource's service name: a request that would
        // repeat more than `repeated::LIMIT` bytes of it is refused
        // (`llamacol_api::repeated`).
        let services: Vec<String> = request.resource_spans.iter().map(service_of).collect();
        let mut repeated = Repeated::new("service name");
        for (rs, service) in request.resource_spans.iter().zip(&services) {
            let spans = rs.scope_spans.iter().map(|ss| ss.spans.len()).sum();
            repeated
                .add("span", service.len(), spans)
                .map_err(ConsumeError::permanent)?;
        }
        let mut state = self.state.lock().await;
        if state.waiting.len() >= MAX_WAITING {
            self.deliver(&mut state, false).await;
            if state.waiting.len() >= MAX_WAITING {
                return Err(ConsumeError::retryable(format!(
                    "graphistry: {} graphs are waiting for upload to {}; new spans stay in the queue until one is delivered",
                    state.waiting.len(),
                    self.server()
                ))
                .with_retry_after(Duration::from_secs(1)));
            }
        }
        let mut taken = 0;
        for (rs, service) in request.resource_spans.iter().zip(&services) {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    // Nor does a window: one that would pass it is closed first (its
                    // Arrow text columns hold at most 2 GiB).
                    let full = state.open.as_ref().is_some_and(|(graph, _)| {
                        graph.service_bytes() + service.len() > repeated::LIMIT
                    });
                    if full {
                        self.close(&mut state);
                    }
                    let (graph, _) = state
                        .open
                        .get_or_insert_with(|| (Graph::new(SystemTime::now()), Instant::now()));
                    graph.push(service, span);
                    taken += 1;
                    if graph.spans() >= self.config.max_spans {
                        self.close(&mut state);
                        if total > taken {
                            TargetCounters::add(&self.spans.failed, total - taken);
                        }
                    }
                }
            }
        }
        if !state.waiting.is_empty() {
            self.deliver(&mut state, false).await;
        }
        Ok(())
    }

    /// Closes the open window (if any) into the waiting list.
    fn close(&self, state: &mut State) {
        let Some((graph, _)) = state.open.take() else {
            return;
        };
        let spans = graph.spans();
        match graph.build(self.config.edges, SystemTime::now()) {
            Ok(built) => {
                let name = self.name(&built);
                state.waiting.push_back(Closed { built, name });
            }
            Err(e) => {
                tracing::error!(component = %self.id, error = %e, spans, "could not build the graph's Arrow tables; its spans are dropped");
                self.give_up(1, spans);
            }
        }
    }

    fn name(&self, built: &Built) -> String {
        self.config
            .name
            .replace("{start}", &rfc3339(built.started))
            .replace("{end}", &rfc3339(built.ended))
            .replace("{spans}", &built.spans.to_string())
            .replace("{traces}", &built.traces.to_string())
    }

    /// Delivers waiting windows, oldest first, until one fails retryably. `now`: ignore
    /// the backoff (shutdown).
    async fn deliver(&self, state: &mut State, now: bool) {
        while let Some(closed) = state.waiting.front() {
            if !now && !state.backoff.due() {
                return;
            }
            let spans = closed.built.spans;
            match self.send(closed).await {
                Ok(location) => {
                    TargetCounters::add(&self.datasets.sent, 1);
                    TargetCounters::add(&self.spans.sent, spans);
                    if self.failures.cleared() {
                        tracing::info!(component = %self.id, server = %self.server(), "graphistry delivers again");
                    }
                    tracing::info!(component = %self.id, dataset = %location, spans, traces = closed.built.traces, "trace graph delivered");
                    state.waiting.pop_front();
                    state.backoff.reset();
                }
                Err(e) if e.is_retryable() => {
                    TargetCounters::add(&self.datasets.failed, 1);
                    let wait = state.backoff.failed(e.retry_after());
                    if self.failures.is_new(&e.to_string()) {
                        tracing::warn!(component = %self.id, error = %e, waiting = state.waiting.len(), retry_in = ?wait, "trace graph not delivered; kept and retried");
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(component = %self.id, error = %e, spans, "trace graph refused; its spans are dropped");
                    state.waiting.pop_front();
                    self.give_up(1, spans);
                }
            }
        }
    }

    fn give_up(&self, datasets: usize, spans: usize) {
        TargetCounters::add(&self.datasets.dropped, datasets);
        TargetCounters::add(&self.spans.dropped, spans);
        self.dropped.add(spans);
    }

    /// Uploads or writes one window; returns the dataset URL or directory.
    async fn send(&self, closed: &Closed) -> Result<String, ConsumeError> {
        match &self.sink {
            Sink::Upload(client) => {
                let id = client.upload(&closed.built, &closed.name).await?;
                Ok(client.dataset_url(&id))
            }
            Sink::Offline(dir) => {
                let seq = self.written.fetch_add(1, Ordering::Relaxed);
                let stamp = rfc3339(closed.built.started).replace(':', "");
                let target = dir.join(format!("{stamp}-{}-{seq}", std::process::id()));
                write_offline(&target, closed, self.config.org_name.as_deref()).map_err(|e| {
                    ConsumeError::retryable(format!(
                        "graphistry: writing `{}`: {e}",
                        target.display()
                    ))
                })?;
                Ok(target.display().to_string())
            }
        }
    }

    fn server(&self) -> String {
        match &self.sink {
            Sink::Upload(_) => self.config.base_url(),
            Sink::Offline(dir) => dir.display().to_string(),
        }
    }
}

/// `nodes.arrow`, `edges.arrow` and `bindings.json` (the dataset description an upload
/// would send) in `target`, written in `<target>.tmp` and renamed, so a reader never sees
/// a partial window.
fn write_offline(target: &Path, closed: &Closed, org: Option<&str>) -> Result<(), BoxError> {
    let tmp = target.with_extension("tmp");
    std::fs::create_dir_all(&tmp)?;
    std::fs::write(tmp.join("nodes.arrow"), ipc_file(&closed.built.nodes)?)?;
    std::fs::write(tmp.join("edges.arrow"), ipc_file(&closed.built.edges)?)?;
    let bindings = dataset_json(&closed.name, org);
    std::fs::write(
        tmp.join("bindings.json"),
        serde_json::to_vec_pretty(&bindings)?,
    )?;
    std::fs::rename(&tmp, target)?;
    Ok(())
}

#[async_trait]
impl Exporter for GraphistryExporter {
    async fn start(&self) -> Result<(), BoxError> {
        if let Some(dir) = &self.inner.config.offline_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("creating `offline_dir` `{}`: {e}", dir.display()))?;
        }
        let inner = self.inner.clone();
        let every = inner.config.window.min(Duration::from_secs(1));
        self.ticker.spawn(move |cancel| async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let mut state = inner.state.lock().await;
                let due = state
                    .open
                    .as_ref()
                    .is_some_and(|(_, opened)| opened.elapsed() >= inner.config.window);
                if due {
                    inner.close(&mut state);
                }
                inner.deliver(&mut state, false).await;
            }
        });
        Ok(())
    }

    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError> {
        self.inner.take(batch).await
    }

    /// Closes the open window and delivers what waits, with up to
    /// [`SHUTDOWN_ATTEMPTS`] tries a second apart; what still cannot be delivered is
    /// counted as dropped.
    async fn shutdown(&self) -> Result<(), BoxError> {
        self.ticker.stop().await;
        let inner = &self.inner;
        let mut state = inner.state.lock().await;
        inner.close(&mut state);
        for attempt in 0..SHUTDOWN_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            inner.deliver(&mut state, true).await;
            if state.waiting.is_empty() {
                break;
            }
        }
        let left: Vec<Closed> = state.waiting.drain(..).collect();
        if !left.is_empty() {
            let spans: usize = left.iter().map(|c| c.built.spans).sum();
            tracing::error!(component = %inner.id, graphs = left.len(), spans, server = %inner.server(), "trace graphs not delivered by shutdown; dropped");
            inner.give_up(left.len(), spans);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
