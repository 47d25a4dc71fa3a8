//! Keeping every request within what the far side accepts. Before a batch is exported it
//! is cut, on the wire, into requests no larger than the exporter's `max_request_size`
//! (or the smaller limit learned from a refusal); a request refused for its size is cut
//! again (at the limit the refusal stated, else in half) and its pieces sent, never
//! retried as it was. An item that cannot fit alone is counted failed, with the limit.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::component::ComponentId;
use crate::consumer::{ConsumeError, RequestTooLarge};
use crate::telemetry::Counters;
use crate::wire::split_by_size;

/// How often a continuing stream of oversize items is logged (the counter has them all).
const OVERSIZE_LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("{items} item(s) left out: the largest is {largest} bytes, and requests to this exporter's far side may be at most {limit} bytes ({why}); drop or shorten the large attributes (e.g. with a processor), or raise the far side's limit and this exporter's `max_request_size` together")]
    Oversize {
        items: usize,
        largest: usize,
        limit: usize,
        why: &'static str,
    },
    #[error("cutting the request to size: {0}")]
    Malformed(#[source] crate::wire::WireError),
}

/// One exporter's request-size limit: configured, and learned from refusals.
pub struct RequestFit {
    id: ComponentId,
    /// The smallest limit learned from refusals; `usize::MAX` until one.
    learned: AtomicUsize,
    /// Set when the learned limit drops; cleared (and logged) when a request under it
    /// is delivered.
    announce: AtomicBool,
    /// The size of the last request refused for its size (for the log line).
    refused_size: AtomicUsize,
    /// Requests cut because they were larger than the limit.
    pub split: AtomicU64,
    oversize_log: Mutex<OversizeLog>,
}

#[derive(Default)]
struct OversizeLog {
    last: Option<Instant>,
    since: usize,
}

impl RequestFit {
    pub fn new(id: ComponentId) -> RequestFit {
        RequestFit {
            id,
            learned: AtomicUsize::new(usize::MAX),
            announce: AtomicBool::new(false),
            refused_size: AtomicUsize::new(0),
            split: AtomicU64::new(0),
            oversize_log: Mutex::new(OversizeLog::default()),
        }
    }

    /// The limit in force: the smaller of `configured` and what was learned.
    pub fn limit(&self, configured: Option<usize>) -> Option<usize> {
        let learned = self.learned.load(Ordering::Relaxed);
        match (configured, learned) {
            (c, usize::MAX) => c,
            (Some(c), l) => Some(c.min(l)),
            (None, l) => Some(l),
        }
    }

    /// `batch` as requests within `limit`: itself when it fits; else its pieces, the
    /// items that fit nowhere counted failed and returned as the error.
    pub fn pieces(
        &self,
        mut batch: Batch,
        limit: Option<usize>,
        counters: &Counters,
        why: &'static str,
    ) -> (VecDeque<Batch>, Option<ConsumeError>) {
        let Some(limit) = limit.filter(|l| batch.encoded_len() > *l) else {
            return (VecDeque::from([batch]), None);
        };
        self.split.fetch_add(1, Ordering::Relaxed);
        let signal = batch.signal();
        let metadata = batch.metadata().clone();
        let bytes = batch.bytes();
        let split = match split_by_size(signal, &bytes, limit) {
            Ok(split) => split,
            Err(e) => {
                Counters::add(&counters.failed, batch.items());
                let error = ConsumeError::permanent(FitError::Malformed(e));
                tracing::warn!(component = %self.id, error = %error, items = batch.items(), "export failed permanently; data dropped");
                return (VecDeque::new(), Some(error));
            }
        };
        let pieces = split
            .pieces
            .into_iter()
            .map(|(bytes, items)| {
                let mut piece = Batch::from_encoded_parts(signal, bytes, items);
                piece.set_metadata(metadata.clone());
                piece
            })
            .collect();
        if split.oversize_items == 0 {
            return (pieces, None);
        }
        Counters::add(&counters.failed, split.oversize_items);
        let error = ConsumeError::permanent(FitError::Oversize {
            items: split.oversize_items,
            largest: split.largest_oversize,
            limit,
            why,
        });
        self.log_oversize(&error, split.oversize_items);
        (pieces, Some(error))
    }

    /// A request of `size` bytes was refused for its size: learns the limit (the one the
    /// far side stated, else half the request) and cuts `piece` to it.
    pub fn refused(
        &self,
        piece: Batch,
        too_large: RequestTooLarge,
        error: &ConsumeError,
        counters: &Counters,
    ) -> (VecDeque<Batch>, Option<ConsumeError>) {
        let size = piece.encoded_len();
        let limit = match too_large.limit {
            Some(stated) if stated < size => stated,
            _ => size / 2,
        };
        if limit < self.learned.fetch_min(limit, Ordering::Relaxed) {
            self.refused_size.store(size, Ordering::Relaxed);
            self.announce.store(true, Ordering::Relaxed);
            tracing::warn!(component = %self.id, refused_bytes = size, error = %error, "the far side refused a request for its size; sending requests of at most {limit} bytes from now on");
        }
        let why = if too_large.limit.is_some() {
            "the limit the far side stated"
        } else {
            "learned from the far side's refusals"
        };
        self.pieces(piece, Some(limit), counters, why)
    }

    /// `batch` was delivered: says once what the learned limit is. (Its size is read only
    /// then: for a batch held decoded, reading it walks the whole message.)
    pub fn delivered(&self, batch: &Batch) {
        if self.announce.swap(false, Ordering::Relaxed) {
            let size = batch.encoded_len();
            let limit = self.learned.load(Ordering::Relaxed);
            tracing::info!(
                component = %self.id,
                limit,
                refused_bytes = self.refused_size.load(Ordering::Relaxed),
                delivered_bytes = size,
                "requests cut to the learned limit are delivered (llamacol_exporter_request_size_limit_bytes)"
            );
        }
    }

    /// Logs the first oversize items, then at most once a minute with how many since.
    fn log_oversize(&self, error: &ConsumeError, items: usize) {
        let mut log = self
            .oversize_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        log.since += items;
        if log.last.is_some_and(|t| t.elapsed() < OVERSIZE_LOG_EVERY) {
            return;
        }
        tracing::warn!(component = %self.id, error = %error, items_since_last_line = log.since, "export failed permanently for items too large to send; counted as failed");
        log.last = Some(Instant::now());
        log.since = 0;
    }
}
