//! `batch` processor: the Collector's semantics. Items are grouped by resource and scope
//! (no duplicated resource blocks), sent when `send_batch_size` is reached or `timeout`
//! after the first pending item, split at `send_batch_max_size`, and flushed on shutdown.
//!
//! It owns a task with a bounded inbox: `consume` awaits room in the inbox (that await is
//! the backpressure). Once accepted, a batch is delivered downstream, retried while the
//! next stage refuses retryably, or counted as dropped (permanent refusal, shutdown
//! deadline); never lost silently.

mod config;
mod groups;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use llamacol_pipeline::config::{parse_block, ConfigSpec};
use llamacol_pipeline::serde_yaml::Value;
use llamacol_pipeline::{
    Batch, BoxError, BuildContext, ConsumeError, Consumer, DropCounter, Processor,
    ProcessorFactory, Signal,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use config::BatchConfig;
pub use groups::Groups;

/// Batches waiting in the inbox before `consume` has to wait. Memory outside any queue
/// bound while the next stage waits (16 requests of 500 spans are about 3 MiB); 64 cost
/// 9-14 MiB more peak RSS behind a slow backend for no throughput (BENCHMARKS.md).
const INBOX: usize = 16;

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "batch",
        signals: &Signal::ALL,
        config: ConfigSpec::of::<BatchConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<BatchConfig>(block)?;
    let signal = *ctx
        .signals
        .first()
        .ok_or("a batch processor needs a signal")?;
    let (tx, rx) = mpsc::channel(INBOX);
    let worker = Worker {
        id: ctx.id.to_string(),
        config,
        groups: Groups::new(signal),
        next,
        dropped: ctx.dropped.clone(),
        hard_stop: CancellationToken::new(),
    };
    Ok(Arc::new(BatchProcessor {
        tx: Mutex::new(Some(tx)),
        pending: Mutex::new(Some((worker, rx))),
        task: Mutex::new(None),
        hard_stop: CancellationToken::new(),
    }))
}

type Inbox = mpsc::Receiver<Batch>;

pub struct BatchProcessor {
    tx: Mutex<Option<mpsc::Sender<Batch>>>,
    /// The worker, until `start` spawns it.
    pending: Mutex<Option<(Worker, Inbox)>>,
    task: Mutex<Option<JoinHandle<()>>>,
    hard_stop: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
#[error("batch processor is shut down")]
struct ShutDown;

#[async_trait]
impl Consumer for BatchProcessor {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match tx {
            Some(tx) => tx
                .send(batch)
                .await
                .map_err(|_| ConsumeError::retryable(ShutDown)),
            None => Err(ConsumeError::retryable(ShutDown)),
        }
    }
}

#[async_trait]
impl Processor for BatchProcessor {
    async fn start(&self) -> Result<(), BoxError> {
        let Some((mut worker, inbox)) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        worker.hard_stop = self.hard_stop.clone();
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(tokio::spawn(worker.run(inbox)));
        Ok(())
    }

    /// Closes the inbox and waits until everything pending has been passed on. If the
    /// runtime's deadline gives up on this wait, the worker is told to stop and counts
    /// what it still holds as dropped.
    async fn shutdown(&self) -> Result<(), BoxError> {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let _stop_if_abandoned = self.hard_stop.clone().drop_guard();
        if let Some(task) = task {
            task.await?;
        }
        Ok(())
    }
}

struct Worker {
    id: String,
    config: BatchConfig,
    groups: Groups,
    next: Arc<dyn Consumer>,
    dropped: DropCounter,
    hard_stop: CancellationToken,
}

impl Worker {
    async fn run(mut self, mut inbox: Inbox) {
        let mut deadline: Option<Instant> = None;
        loop {
            let timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = inbox.recv() => match received {
                    Some(batch) => {
                        self.add(batch);
                        if deadline.is_none() && !self.groups.is_empty() {
                            deadline = Some(Instant::now() + self.config.timeout);
                        }
                        while self.config.send_batch_size > 0 && self.groups.items() >= self.config.send_batch_size {
                            if !self.send(self.config.send_batch_size).await {
                                self.drop_all(&mut inbox);
                                return;
                            }
                        }
                        if self.groups.is_empty() {
                            deadline = None;
                        }
                    }
                    None => {
                        // Inbox closed: shutdown. Send everything, then stop.
                        while !self.groups.is_empty() {
                            if !self.send(0).await {
                                self.drop_all(&mut inbox);
                                return;
                            }
                        }
                        return;
                    }
                },
                () = timer => {
                    while !self.groups.is_empty() {
                        if !self.send(0).await {
                            self.drop_all(&mut inbox);
                            return;
                        }
                    }
                    deadline = None;
                }
                () = self.hard_stop.cancelled() => {
                    self.drop_all(&mut inbox);
                    return;
                }
            }
        }
    }

    fn add(&mut self, mut batch: Batch) {
        let items = batch.items();
        if let Err(e) = self.groups.add(&batch.bytes()) {
            // Cannot happen for batches built by receivers (they are checked); count it anyway.
            self.dropped.add(items);
            tracing::error!(component = %self.id, error = %e, items, "batch processor could not read a batch; dropped");
        }
    }

    /// Sends one batch of at most `want` items (`send_batch_max_size` also applies; 0 =
    /// everything pending). Retries while the next stage refuses retryably. Returns false
    /// when told to stop, having counted the batch in hand as dropped (the caller counts
    /// the rest).
    async fn send(&mut self, want: usize) -> bool {
        let max = match (want, self.config.send_batch_max_size) {
            (0, m) => m,
            (w, 0) => w,
            (w, m) => w.min(m),
        };
        let (bytes, items) = self.groups.take(max);
        if items == 0 {
            return true;
        }
        let signal = self.groups.signal();
        let mut wait = Duration::from_millis(50);
        loop {
            let batch = Batch::from_encoded_parts(signal, bytes.clone(), items);
            let asked = tokio::time::Instant::now();
            let result = tokio::select! {
                r = self.next.consume(batch) => r,
                () = self.hard_stop.cancelled() => {
                    self.dropped.add(items);
                    return false;
                }
            };
            match result {
                Ok(()) => return true,
                Err(e) if e.is_retryable() => {
                    tracing::debug!(component = %self.id, error = %e, "next stage refused the batch; retrying");
                    // An exporter queue already waited for room before refusing
                    // (`block_on_overflow`): time spent there counts toward the backoff,
                    // so a stage that waited is asked again at once, and only a stage that
                    // refuses at once (memory_limiter) is retried after a pause.
                    let pause = e.retry_after().unwrap_or(wait).min(Duration::from_secs(5));
                    tokio::select! {
                        () = tokio::time::sleep_until(asked + pause) => {}
                        () = self.hard_stop.cancelled() => {
                            self.dropped.add(items);
                            return false;
                        }
                    }
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    self.dropped.add(items);
                    tracing::warn!(component = %self.id, error = %e, items, "next stage refused the batch permanently; dropped");
                    return true;
                }
            }
        }
    }

    fn drop_all(&mut self, inbox: &mut Inbox) {
        let mut items = self.groups.items();
        while let Ok(batch) = inbox.try_recv() {
            items += batch.items();
        }
        self.dropped.add(items);
        if items > 0 {
            tracing::warn!(component = %self.id, items, "batch processor stopped at the shutdown deadline; pending items dropped");
        }
    }
}

#[cfg(test)]
mod tests;
