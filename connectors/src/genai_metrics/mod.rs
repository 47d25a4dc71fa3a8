//! `genai_metrics` connector (traces -> metrics): from every span with
//! `gen_ai.operation.name` (run the `genai` processor first to name legacy spans), the
//! GenAI conventions' metrics: `gen_ai.client.token.usage`,
//! `gen_ai.client.operation.duration`, `gen_ai.server.time_to_first_token`,
//! `gen_ai.server.time_per_output_token`, `gen_ai.requests` and, when spans carry a
//! cost, `gen_ai.usage.cost`. Cumulative, emitted every `metrics_flush_interval` and at
//! shutdown; series are bounded by `max_series`, the rest share one overflow series.

mod config;
mod emit;
mod facts;
mod live;
mod raw;
mod series;

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use live::{Board, GenAiTotals};
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::log_once::LogOnce;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::serde_yaml::Value;
use llamacol_api::task::Background;
use llamacol_api::{
    Batch, BoxError, BuildContext, Connector, ConnectorFactory, ConsumeError, Consumer,
    NodeContext, OutcomeCounter, Signal, SignalPair,
};

pub use config::{Buckets, Dimension, GenaiMetricsConfig};
use facts::Facts;
use series::Table;

const PAIRS: [SignalPair; 1] = [SignalPair::new(Signal::Traces, Signal::Metrics)];

pub fn factory() -> ConnectorFactory {
    ConnectorFactory {
        type_name: "genai_metrics",
        pairs: &PAIRS,
        config: ConfigSpec::of::<GenaiMetricsConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &Value,
    _pair: SignalPair,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Connector>, BoxError> {
    let config = parse_block::<GenaiMetricsConfig>(block)?;
    ctx.node.live().feeds(live::PANEL, &ctx.id.to_string());
    Ok(Arc::new(
        GenaiMetrics::new(ctx.id.to_string(), config, next, ctx.dropped.clone())
            .publishing_to(ctx.node.clone()),
    ))
}

pub struct GenaiMetrics {
    inner: Arc<Inner>,
    flusher: Background,
    /// Records the live page's GenAI row once a second.
    live_rows: Background,
}

struct Inner {
    id: String,
    config: GenaiMetricsConfig,
    table: Mutex<Table>,
    next: Arc<dyn Consumer>,
    dropped: OutcomeCounter,
    overflow_said: LogOnce,
    refused_said: LogOnce,
    /// The live page's board (the service's node context).
    node: NodeContext,
    /// The GenAI panel's totals, shared by the service's `genai_metrics` connectors.
    board: Arc<Board>,
}

impl GenaiMetrics {
    pub fn new(
        id: String,
        config: GenaiMetricsConfig,
        next: Arc<dyn Consumer>,
        dropped: OutcomeCounter,
    ) -> GenaiMetrics {
        GenaiMetrics {
            inner: Arc::new(Inner {
                id,
                table: Mutex::new(Table::new(config.max_series)),
                config,
                next,
                dropped,
                overflow_said: LogOnce::default(),
                refused_said: LogOnce::default(),
                node: NodeContext::default(),
                board: Arc::default(),
            }),
            flusher: Background::new(),
            live_rows: Background::new(),
        }
    }

    /// Adds the live page's GenAI totals to `node` (the service's, in a pipeline).
    pub fn publishing_to(mut self, node: NodeContext) -> GenaiMetrics {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.board = node.shared::<Board>();
            inner.node = node;
        }
        self
    }

    /// Adds the GenAI spans of `request` (what `consume` does with a decoded batch).
    pub fn record(&self, request: &ExportTraceServiceRequest) {
        self.inner.record(request);
    }

    /// Adds the GenAI spans of an encoded request (what `consume` does with one).
    pub fn record_encoded(&self, bytes: &[u8]) {
        self.inner.record_encoded(bytes);
    }

    /// Distinct series held now (at most `max_series`, plus the overflow series).
    pub fn series(&self) -> usize {
        let table = self
            .inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table.series.len() + usize::from(table.overflow.is_some())
    }

    /// Emits the metrics now (what the timer does).
    pub async fn flush(&self) -> Result<(), ConsumeError> {
        self.inner.flush().await
    }
}

impl Inner {
    fn record(&self, request: &ExportTraceServiceRequest) {
        let now = llamacol_api::clock::unix_nanos();
        let c = &self.config;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let before = table.overflowed_spans;
        let mut facts = Facts::default();
        let mut totals = GenAiTotals::default();
        for rs in &request.resource_spans {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            let resource_key = facts::resource_key(resource);
            for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                if facts.of_span(span, resource, &resource_key, &c.dimensions) {
                    let call = series::call(&facts);
                    table.record(&facts, &call, &c.buckets, now);
                    totals.record(&call);
                }
            }
        }
        self.said_overflow(&table, before);
        drop(table);
        self.board.add(&totals);
    }

    /// The same from an encoded request, read in place.
    fn record_encoded(&self, bytes: &[u8]) {
        let now = llamacol_api::clock::unix_nanos();
        let c = &self.config;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let before = table.overflowed_spans;
        let mut facts = Facts::default();
        let mut totals = GenAiTotals::default();
        raw::spans(bytes, &c.dimensions, &mut facts, |f| {
            let call = series::call(f);
            table.record(f, &call, &c.buckets, now);
            totals.record(&call);
        });
        self.said_overflow(&table, before);
        drop(table);
        self.board.add(&totals);
    }

    /// Data points a flush would emit now.
    fn points(&self) -> usize {
        use llamacol_api::SignalMessage;
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        emit::request(&table, &self.config.dimensions, &self.config.buckets, 0).count_items()
    }

    fn said_overflow(&self, table: &Table, before: u64) {
        if table.overflowed_spans > before && self.overflow_said.is_new("overflow") {
            tracing::warn!(component = %self.id, max_series = self.config.max_series, "more distinct series than `max_series`, or their keys past 64 MiB: further ones are counted in one series with otel.metric.overflow=true (logged once)");
        }
    }

    async fn flush(&self) -> Result<(), ConsumeError> {
        let request = {
            let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            if table.series.is_empty() && table.overflow.is_none() {
                return Ok(());
            }
            emit::request(
                &table,
                &self.config.dimensions,
                &self.config.buckets,
                llamacol_api::clock::unix_nanos(),
            )
        };
        // Cumulative: a refused flush loses nothing, the next one carries the totals.
        crate::periodic::hand_on(
            &self.next,
            request,
            &self.refused_said,
            &self.id,
            "GenAI metrics refused downstream; the next flush carries the totals",
        )
        .await
    }
}

#[async_trait]
impl Consumer for GenaiMetrics {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        // Read whichever form the batch holds; decoding only to read would cost more
        // than the metrics themselves.
        if let Batch::Traces(p) = batch {
            match p.decoded() {
                Some(request) => self.inner.record(request),
                None => self
                    .inner
                    .record_encoded(p.encoded().map_or(&[][..], |b| &b[..])),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for GenaiMetrics {
    async fn start(&self) -> Result<(), BoxError> {
        let inner = self.inner.clone();
        let every = inner.config.metrics_flush_interval;
        let (board, node) = (inner.board.clone(), inner.node.clone());
        board.start(llamacol_api::clock::unix_seconds());
        self.live_rows.spawn(move |cancel| async move {
            let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = ticker.tick() => board.record_row(node.live(), llamacol_api::clock::unix_seconds()),
                    () = cancel.cancelled() => return,
                }
            }
        });
        crate::periodic::flush_every(&self.flusher, every, move || {
            let inner = inner.clone();
            async move {
                let _ = inner.flush().await;
            }
        });
        Ok(())
    }

    /// The last flush: what was aggregated since the previous one is handed on now.
    async fn shutdown(&self) -> Result<(), BoxError> {
        self.live_rows.stop().await;
        self.flusher.stop().await;
        if let Err(e) = self.inner.flush().await {
            // Cumulative points not handed on: what the last flush would have carried.
            self.inner.dropped.add(self.inner.points());
            return Err(format!("the final GenAI metrics were refused: {e}").into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
