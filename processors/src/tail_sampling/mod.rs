//! `tail_sampling` processor (traces): holds each trace's spans for `decision_wait` after
//! its first span, then decides with the Collector's policies and final rule (a `drop`
//! decision wins, then any sample); kept traces are passed on, the rest counted in
//! `llamacol_processor_sampled_out_items_total`. Decided trace ids are remembered
//! (bounded) so late spans follow the decision. Memory is bounded three ways: at most
//! `num_traces` traces, `max_spans_per_trace` spans per trace and `max_bytes` held;
//! reaching a bound decides the oldest (or the oversized) trace at once with the same
//! policies, counted in `llamacol_processor_decided_early_items_total`; a trace past
//! `maximum_trace_size_bytes` is not sampled at once. Nothing held is dropped: at
//! shutdown every held trace is decided (unless `drop_pending_traces_on_shutdown` asks to
//! drop them, counted). Traces are held as their encoding
//! (`llamacol_api::wire::split_by_trace` splits each request without decoding it), read for
//! their decision only as far as the policies need (`wire.rs`), and kept ones leave as the
//! bytes they came as.

mod config;
mod policy;
pub mod wire;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::trace::v1::ResourceSpans;
use llamacol_api::serde_yaml;
use llamacol_api::stateful::{State, StatefulProcessor};
use llamacol_api::wire::{len_field_size, put_len_prefix};
use llamacol_api::{
    Batch, BoxError, BuildContext, Consumer, OutcomeCounter, Payload, Processor, ProcessorFactory,
    Signal,
};
use prost::Message;
use tokio::time::Instant;

pub use config::TailSamplingConfig;
use policy::{Decision, Needs, Policy, TraceView};

pub fn factory() -> ProcessorFactory {
    ProcessorFactory {
        type_name: "tail_sampling",
        signals: &[Signal::Traces],
        config: ConfigSpec::of::<TailSamplingConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &serde_yaml::Value,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError> {
    let config = parse_block::<TailSamplingConfig>(block)?;
    let mut state = TailSampler::new(&config, ctx.sampled_out.clone());
    state.dropped = ctx.dropped.clone();
    Ok(Arc::new(StatefulProcessor::new(
        ctx.id.to_string(),
        Box::new(state),
        16,
        next,
        ctx.dropped.clone(),
    )))
}

type TraceId = [u8; 16];

/// Spans passed on per output batch at most.
const OUT_BATCH_SPANS: usize = 8192;

struct Held {
    /// Encoded `ResourceSpans` pieces, decoded only when the trace is decided.
    pieces: Vec<Bytes>,
    spans: usize,
    /// Encoded size of the pieces as one request.
    bytes: usize,
    deadline: Instant,
}

/// The most recent decisions, first in first out.
struct Decided {
    ids: HashSet<TraceId>,
    order: VecDeque<TraceId>,
    capacity: usize,
}

impl Decided {
    fn new(capacity: usize) -> Decided {
        Decided {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    fn insert(&mut self, id: TraceId) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            if self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }

    fn contains(&self, id: &TraceId) -> bool {
        self.ids.contains(id)
    }
}

pub struct TailSampler {
    policies: Vec<Policy>,
    /// What the policies read of the held spans.
    needs: Needs,
    /// Leading `drop` policies, evaluated first.
    drop_prefix: usize,
    sample_on_first_match: bool,
    decision_wait: Duration,
    num_traces: usize,
    max_spans: usize,
    max_bytes: usize,
    /// `maximum_trace_size_bytes` (0: none).
    max_trace_bytes: usize,
    /// `drop_pending_traces_on_shutdown`.
    drop_pending: bool,
    /// `sampling_strategy: span-ingest`: judge each arriving piece; pending traces are
    /// not sampled at the end of their wait, without another evaluation.
    span_ingest: bool,
    /// `block_on_overflow`: at `num_traces`, wait for room instead of deciding the oldest.
    block_on_overflow: bool,
    /// `decision_wait_after_root_received` (None: 0, off).
    root_wait: Option<Duration>,
    /// Deadlines a root span brought forward, soonest first (entries of traces decided
    /// meanwhile are skipped when they come up).
    sooner: BTreeSet<(Instant, TraceId)>,
    held: HashMap<TraceId, Held>,
    /// Held trace ids by arrival (so by deadline: `decision_wait` is the same for all).
    order: VecDeque<TraceId>,
    held_spans: usize,
    held_bytes: usize,
    sampled: Decided,
    not_sampled: Decided,
    /// Kept spans waiting to be passed on: an encoded request.
    out: BytesMut,
    out_spans: usize,
    ready: VecDeque<Batch>,
    closing: bool,
    counter: OutcomeCounter,
    /// Where held spans dropped at shutdown are counted (the build context's counter).
    pub dropped: OutcomeCounter,
}

impl TailSampler {
    pub fn new(c: &TailSamplingConfig, counter: OutcomeCounter) -> TailSampler {
        let mut policies: Vec<Policy> = c.policies.iter().map(Policy::new).collect();
        // `drop` policies first, as the Collector sorts them (order kept otherwise).
        policies.sort_by_key(|p| !p.is_drop());
        let drop_prefix = policies.iter().take_while(|p| p.is_drop()).count();
        let cache = |n: usize| if n == 0 { c.num_traces } else { n };
        let mut needs = Needs::default();
        for p in &policies {
            needs.add(p.needs());
        }
        TailSampler {
            policies,
            needs,
            drop_prefix,
            sample_on_first_match: c.sample_on_first_match,
            decision_wait: c.decision_wait,
            num_traces: c.num_traces.max(1),
            max_spans: c.max_spans_per_trace.max(1),
            max_bytes: c.max_bytes.0 as usize,
            max_trace_bytes: usize::try_from(c.maximum_trace_size_bytes.0).unwrap_or(usize::MAX),
            drop_pending: c.drop_pending_traces_on_shutdown,
            span_ingest: c.sampling_strategy == config::SamplingStrategy::SpanIngest,
            block_on_overflow: c.block_on_overflow,
            root_wait: Some(c.decision_wait_after_root_received).filter(|w| !w.is_zero()),
            sooner: BTreeSet::new(),
            held: HashMap::with_capacity(c.expected_new_traces_per_sec.min(c.num_traces)),
            order: VecDeque::new(),
            held_spans: 0,
            held_bytes: 0,
            sampled: Decided::new(cache(c.decision_cache.sampled_cache_size)),
            not_sampled: Decided::new(cache(c.decision_cache.non_sampled_cache_size)),
            out: BytesMut::new(),
            out_spans: 0,
            ready: VecDeque::new(),
            closing: false,
            counter,
            dropped: OutcomeCounter::default(),
        }
    }

    /// Takes one request's spans in, trace by trace (see [`TailSampler::take_encoded`]).
    pub fn take(
        &mut self,
        request: ExportTraceServiceRequest,
        now: Instant,
    ) -> Result<(), llamacol_api::wire::SplitError> {
        self.take_encoded(&request.encode_to_vec(), now)
    }

    /// Takes one encoded request's spans in, trace by trace, held as their bytes; refuses
    /// one whose split would copy too much resource and scope text
    /// (`llamacol_api::repeated`).
    pub fn take_encoded(
        &mut self,
        request: &[u8],
        now: Instant,
    ) -> Result<(), llamacol_api::wire::SplitError> {
        for piece in llamacol_api::wire::split_by_trace(request, self.root_wait.is_some())? {
            let llamacol_api::wire::Piece {
                id,
                body,
                spans,
                root,
            } = piece;
            if self.sampled.contains(&id) {
                self.emit(&body, spans);
                continue;
            }
            if self.not_sampled.contains(&id) {
                self.counter.add(spans);
                continue;
            }
            let bytes = len_field_size(body.len());
            if self.span_ingest && self.judged_on_ingest(id, &body, spans, bytes) {
                self.settle_on_ingest(id, body, spans);
                continue;
            }
            if !self.held.contains_key(&id) {
                // `block_on_overflow`: this request's traces are all taken (its senders
                // were answered already); `full` then holds the next ones back.
                while !self.block_on_overflow && self.held.len() >= self.num_traces {
                    self.decide_oldest_early();
                }
                self.order.push_back(id);
            }
            let held = self.held.entry(id).or_insert_with(|| Held {
                pieces: Vec::new(),
                spans: 0,
                bytes: 0,
                deadline: now + self.decision_wait,
            });
            // `decision_wait_after_root_received`: the root span brings the decision
            // forward (never later than `decision_wait` after the first span).
            if let Some(wait) = self.root_wait.filter(|_| root) {
                let sooner = now + wait;
                if sooner < held.deadline {
                    held.deadline = sooner;
                    self.sooner.insert((sooner, id));
                }
            }
            held.pieces.push(body);
            held.spans += spans;
            held.bytes += bytes;
            let too_many = held.spans >= self.max_spans;
            let too_large = self.max_trace_bytes > 0 && held.bytes > self.max_trace_bytes;
            self.held_spans += spans;
            self.held_bytes += bytes;
            if too_large {
                // The Collector's `maximum_trace_size_bytes`: not sampled, no policy run.
                self.order.retain(|x| *x != id);
                self.not_sampled_early(id);
            } else if too_many {
                self.order.retain(|x| *x != id);
                self.decide_early(id);
            }
            while self.held_bytes > self.max_bytes && !self.order.is_empty() {
                self.decide_oldest_early();
            }
        }
        self.cut_batch(0);
        Ok(())
    }

    /// `span-ingest`: whether `piece` alone (with the trace's span count and size so far)
    /// decides its trace, the Collector's `makeDecisionOnSpanIngest`: a `drop` policy
    /// that matches drops it; one that does not keeps the trace pending (a later piece
    /// could match it), so no other policy can sample it now; otherwise the first policy
    /// that samples decides. The decision is left in `sampled`/`not_sampled`.
    fn judged_on_ingest(&mut self, id: TraceId, piece: &Bytes, spans: usize, bytes: usize) -> bool {
        let (before_spans, before_bytes) =
            self.held.get(&id).map_or((0, 0), |h| (h.spans, h.bytes));
        let pieces = for_policies(std::slice::from_ref(piece), &self.needs);
        let view = TraceView {
            id: &id,
            pieces: &pieces,
            spans: before_spans + spans,
            bytes: before_bytes + bytes,
        };
        let mut drop_pending = false;
        for p in &mut self.policies {
            if !p.is_drop() && drop_pending {
                break;
            }
            match p.evaluate(&view) {
                Decision::Dropped => {
                    self.not_sampled.insert(id);
                    return true;
                }
                _ if p.is_drop() => drop_pending = true,
                Decision::Sampled => {
                    self.sampled.insert(id);
                    return true;
                }
                Decision::NotSampled => {}
            }
        }
        false
    }

    /// `span-ingest`: passes on (or counts) what was held of a trace just decided, and
    /// `piece` with it.
    fn settle_on_ingest(&mut self, id: TraceId, piece: Bytes, spans: usize) {
        let held = self.held.remove(&id);
        if let Some(h) = &held {
            self.held_spans -= h.spans;
            self.held_bytes -= h.bytes;
        }
        let before = held.as_ref().map_or(0, |h| h.spans);
        if self.sampled.contains(&id) {
            for p in held.into_iter().flat_map(|h| h.pieces) {
                self.emit(&p, 0);
            }
            self.out_spans += before;
            self.emit(&piece, spans);
        } else {
            self.counter.add(before + spans);
        }
        // Its entry in `order` (if it was held) is skipped when it reaches the front.
    }

    /// Decides trace `id` (already out of `order`) as not sampled, before its wait is over.
    fn not_sampled_early(&mut self, id: TraceId) {
        if let Some(held) = self.held.remove(&id) {
            self.held_spans -= held.spans;
            self.held_bytes -= held.bytes;
            self.not_sampled.insert(id);
            self.counter.decided_early(held.spans);
            self.counter.add(held.spans);
        }
    }

    fn decide_oldest_early(&mut self) {
        if let Some(id) = self.order.pop_front() {
            self.decide_early(id);
        }
    }

    fn decide_early(&mut self, id: TraceId) {
        let spans = self.held.get(&id).map_or(0, |h| h.spans);
        self.counter.decided_early(spans);
        self.decide(id);
    }

    /// Decides trace `id` (already taken out of `order`) and passes it on or counts it.
    fn decide(&mut self, id: TraceId) -> Option<Decision> {
        let held = self.held.remove(&id)?;
        self.held_spans -= held.spans;
        self.held_bytes -= held.bytes;
        if self.span_ingest {
            // Nothing sampled or dropped it as its pieces came: not sampled, unevaluated.
            self.not_sampled.insert(id);
            self.counter.add(held.spans);
            return Some(Decision::NotSampled);
        }
        let pieces = for_policies(&held.pieces, &self.needs);
        let view = TraceView {
            id: &id,
            pieces: &pieces,
            spans: held.spans,
            bytes: held.bytes,
        };
        let mut decision = Decision::NotSampled;
        let mut dropped = false;
        for p in &mut self.policies[..self.drop_prefix] {
            if p.evaluate(&view) == Decision::Dropped {
                dropped = true;
                break;
            }
        }
        if !dropped {
            let mut sampled = false;
            for p in &mut self.policies[self.drop_prefix..] {
                match p.evaluate(&view) {
                    Decision::Dropped => {
                        dropped = true;
                        break;
                    }
                    Decision::Sampled => {
                        sampled = true;
                        if self.sample_on_first_match {
                            break;
                        }
                    }
                    Decision::NotSampled => {}
                }
            }
            if sampled && !dropped {
                decision = Decision::Sampled;
            }
        }
        if dropped {
            decision = Decision::Dropped;
        }
        if decision == Decision::Sampled {
            self.sampled.insert(id);
            for piece in &held.pieces {
                self.emit(piece, 0);
            }
            self.out_spans += held.spans;
        } else {
            self.not_sampled.insert(id);
            self.counter.add(held.spans);
        }
        Some(decision)
    }

    /// Adds a kept piece, as its bytes, to the request being assembled.
    fn emit(&mut self, piece: &[u8], spans: usize) {
        put_len_prefix(&mut self.out, 1, piece.len());
        self.out.extend_from_slice(piece);
        self.out_spans += spans;
    }

    /// Moves what is waiting to be passed on into a batch once it has `at_least` spans.
    fn cut_batch(&mut self, at_least: usize) {
        if self.out.is_empty() || self.out_spans < at_least {
            return;
        }
        let request = self.out.split().freeze();
        let spans = std::mem::take(&mut self.out_spans);
        self.ready
            .push_back(Batch::Traces(Payload::from_encoded_parts(request, spans)));
    }

    /// Decides every held trace whose wait is over (every one when closing, or drops
    /// them all then with `drop_pending_traces_on_shutdown`).
    pub fn decide_due(&mut self, now: Instant) {
        if self.closing && self.drop_pending {
            let pending = self.held_spans;
            self.held.clear();
            self.order.clear();
            self.sooner.clear();
            (self.held_spans, self.held_bytes) = (0, 0);
            self.dropped.add(pending);
            if pending > 0 {
                tracing::info!(spans = pending, "tail_sampling: traces still waiting for their decision dropped at shutdown (drop_pending_traces_on_shutdown)");
            }
        }
        // Traces whose root span brought their decision forward.
        while let Some(&(at, id)) = self.sooner.first() {
            if !self.closing && at > now {
                break;
            }
            self.sooner.pop_first();
            // Still held with this deadline (not decided some other way meanwhile).
            if self.held.get(&id).is_some_and(|h| h.deadline == at) {
                self.decide(id);
                self.cut_batch(OUT_BATCH_SPANS);
            }
        }
        // Decided ones stay in `order` until they reach its front: skipped there.
        while let Some(id) = self.order.front().copied() {
            let due = self.closing || self.held.get(&id).is_none_or(|h| h.deadline <= now);
            if !due {
                break;
            }
            self.order.pop_front();
            self.decide(id);
            self.cut_batch(OUT_BATCH_SPANS);
        }
        self.cut_batch(0);
    }
}

impl State for TailSampler {
    fn add(&mut self, batch: Batch) -> Result<(), BoxError> {
        if let Batch::Traces(mut p) = batch {
            self.take_encoded(&p.bytes(), Instant::now())?;
        }
        Ok(())
    }

    fn ready(&mut self) -> Option<Batch> {
        self.ready.pop_front()
    }

    fn flush(&mut self) -> Option<Batch> {
        if let Some(b) = self.ready.pop_front() {
            return Some(b);
        }
        self.decide_due(Instant::now());
        self.ready.pop_front()
    }

    fn deadline(&self) -> Option<Instant> {
        let oldest = self
            .order
            .iter()
            .find_map(|id| self.held.get(id))
            .map(|h| h.deadline);
        let sooner = self.sooner.first().map(|(at, _)| *at);
        match (oldest, sooner) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn items(&self) -> usize {
        self.held_spans + self.out_spans + self.ready.iter().map(Batch::items).sum::<usize>()
    }

    fn closing(&mut self) {
        self.closing = true;
    }

    fn full(&self) -> bool {
        self.block_on_overflow && self.held.len() >= self.num_traces
    }
}

/// Held pieces read for the policies (`wire::for_policies`). The pieces were cut from a
/// checked request, so they read; one that would not is left out of the evaluation.
fn for_policies(pieces: &[Bytes], needs: &Needs) -> Vec<ResourceSpans> {
    pieces
        .iter()
        .filter_map(|p| wire::for_policies(p, needs).ok())
        .collect()
}

#[cfg(test)]
mod tests;
