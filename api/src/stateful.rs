//! The worker every stateful processor runs on (`batch`, `tail_sampling`, `slo`): a
//! bounded inbox whose send is the backpressure, a timer, and
//! delivery downstream that retries while the next stage refuses retryably, counts what a
//! permanent refusal or the shutdown deadline leaves undelivered, and flushes everything
//! on shutdown. A processor supplies only its [`State`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, BackoffPolicy};
use crate::batch::Batch;
use crate::component::Processor;
use crate::consumer::{BoxError, ConsumeError, Consumer};
use crate::outcome::OutcomeCounter;

/// Pauses between offers of a batch the next stage refused retryably: from 50 ms,
/// doubling, to 2 s (the stage is in-process: it frees room quickly or not at all).
const REFUSED_BACKOFF: BackoffPolicy =
    BackoffPolicy::doubling(Duration::from_millis(50), Duration::from_secs(2));
/// The longest pause, even when the stage asks for more (`Retry-After`).
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// What a stateful processor holds between batches. Called from one task only.
pub trait State: Send + 'static {
    /// Takes one accepted batch in. An error counts its items as dropped (logged).
    fn add(&mut self, batch: Batch) -> Result<(), BoxError>;
    /// A batch to pass on now (e.g. a size was reached), if any; called until `None`.
    fn ready(&mut self) -> Option<Batch>;
    /// The next batch of everything held (the timer fired, or shutdown); called until
    /// `None`.
    fn flush(&mut self) -> Option<Batch>;
    /// When the timer should fire next; `None`: no timer now.
    fn deadline(&self) -> Option<Instant>;
    /// Items held (counted as dropped if the shutdown deadline cuts the flush short).
    fn items(&self) -> usize;
    /// The inbox closed (shutdown): `flush` is called next and should give up everything
    /// held, whatever its timers say.
    fn closing(&mut self) {}
    /// While true, nothing more is taken from the inbox until the timer frees room: the
    /// inbox fills and senders wait (backpressure; tail sampling's `block_on_overflow`).
    fn full(&self) -> bool {
        false
    }
}

#[derive(Debug, thiserror::Error)]
#[error("processor is shut down")]
struct ShutDown;

/// A processor running a [`State`] in its own task.
pub struct StatefulProcessor {
    tx: Mutex<Option<mpsc::Sender<Batch>>>,
    /// The worker, until `start` spawns it.
    pending: Mutex<Option<(Worker, mpsc::Receiver<Batch>)>>,
    task: Mutex<Option<JoinHandle<()>>>,
    hard_stop: CancellationToken,
}

impl StatefulProcessor {
    /// `inbox`: batches accepted before `consume` has to wait (memory outside any queue
    /// bound while the next stage is slow; keep it small). `id` names the component in
    /// logs; `dropped` is the build context's counter.
    pub fn new(
        id: String,
        state: Box<dyn State>,
        inbox: usize,
        next: Arc<dyn Consumer>,
        dropped: OutcomeCounter,
    ) -> StatefulProcessor {
        let (tx, rx) = mpsc::channel(inbox.max(1));
        let hard_stop = CancellationToken::new();
        let worker = Worker {
            id,
            state,
            next,
            dropped,
            hard_stop: hard_stop.clone(),
        };
        StatefulProcessor {
            tx: Mutex::new(Some(tx)),
            pending: Mutex::new(Some((worker, rx))),
            task: Mutex::new(None),
            hard_stop,
        }
    }
}

#[async_trait]
impl Consumer for StatefulProcessor {
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
impl Processor for StatefulProcessor {
    async fn start(&self) -> Result<(), BoxError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((worker, inbox)) = pending {
            *self.task.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(tokio::spawn(worker.run(inbox)));
        }
        Ok(())
    }

    /// Closes the inbox and waits until everything held has been passed on. If the
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
    state: Box<dyn State>,
    next: Arc<dyn Consumer>,
    dropped: OutcomeCounter,
    hard_stop: CancellationToken,
}

impl Worker {
    async fn run(mut self, mut inbox: mpsc::Receiver<Batch>) {
        loop {
            let deadline = self.state.deadline();
            let timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            // A full state takes nothing new, except to see that the inbox closed.
            let taking = !self.state.full() || inbox.is_closed();
            let delivered = tokio::select! {
                received = inbox.recv(), if taking => match received {
                    Some(batch) => {
                        let items = batch.items();
                        if let Err(e) = self.state.add(batch) {
                            self.dropped.add(items);
                            tracing::error!(component = %self.id, error = %e, items, "processor could not take a batch; dropped");
                        }
                        self.deliver(State::ready).await
                    }
                    // Inbox closed: shutdown. Pass everything on, then stop.
                    None => {
                        self.state.closing();
                        if self.deliver(State::flush).await {
                            return;
                        }
                        false
                    }
                },
                () = timer => self.deliver(State::flush).await,
                () = self.hard_stop.cancelled() => false,
            };
            if !delivered {
                self.drop_all(&mut inbox);
                return;
            }
        }
    }

    /// Sends every batch `next_batch` yields; false when told to stop.
    async fn deliver(&mut self, next_batch: fn(&mut dyn State) -> Option<Batch>) -> bool {
        while let Some(batch) = next_batch(self.state.as_mut()) {
            if !self.send(batch).await {
                return false;
            }
        }
        true
    }

    /// Sends one batch, retrying while the next stage refuses retryably. Returns false
    /// when told to stop, having counted the batch in hand as dropped (the caller counts
    /// the rest).
    async fn send(&mut self, batch: Batch) -> bool {
        let items = batch.items();
        let mut backoff = Backoff::new(REFUSED_BACKOFF);
        loop {
            let asked = Instant::now();
            let result = tokio::select! {
                r = self.next.consume(batch.clone()) => r,
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
                    let pause = backoff
                        .next_wait(e.retry_after())
                        .unwrap_or(MAX_PAUSE)
                        .min(MAX_PAUSE);
                    tokio::select! {
                        () = tokio::time::sleep_until(asked + pause) => {}
                        () = self.hard_stop.cancelled() => {
                            self.dropped.add(items);
                            return false;
                        }
                    }
                }
                Err(e) => {
                    self.dropped.add(items);
                    tracing::warn!(component = %self.id, error = %e, items, "next stage refused the batch permanently; dropped");
                    return true;
                }
            }
        }
    }

    fn drop_all(&mut self, inbox: &mut mpsc::Receiver<Batch>) {
        let mut items = self.state.items();
        while let Ok(batch) = inbox.try_recv() {
            items += batch.items();
        }
        self.dropped.add(items);
        if items > 0 {
            tracing::warn!(component = %self.id, items, "processor stopped at the shutdown deadline; pending items dropped");
        }
    }
}
