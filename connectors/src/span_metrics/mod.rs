//! `span_metrics` connector (traces -> metrics; also accepted as `spanmetrics`, its name
//! before the Collector's v0.14x releases): the Collector's spanmetrics connector, its
//! config keys and defaults, for any span: `traces.span.metrics.calls` and
//! `traces.span.metrics.duration` per service, span name, kind and status code (plus the
//! configured dimensions), and `traces.span.metrics.events` when asked. The same config
//! block gives the same metrics in both collectors (tests/e2e_span_metrics.rs runs both).

mod config;
mod emit;
mod exponential;
mod glob;
mod series;
mod table;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::log_once::LogOnce;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value::Value as AnyValueKind, KeyValue};
use llamacol_api::serde_yaml::Value;
use llamacol_api::task::Background;
use llamacol_api::{
    Batch, BoxError, BuildContext, Connector, ConnectorFactory, ConsumeError, Consumer,
    OutcomeCounter, Signal, SignalPair,
};

pub use config::{Dimension, SpanMetricsConfig};
use exponential::ExponentialHistogram;
use series::{Base, Dims};
use table::{Aggregate, Exemplar, Histogram, Resources, Series};

const PAIRS: [SignalPair; 1] = [SignalPair::new(Signal::Traces, Signal::Metrics)];

/// The factory under the Collector's current type name.
pub fn factory() -> ConnectorFactory {
    ConnectorFactory {
        type_name: "span_metrics",
        pairs: &PAIRS,
        config: ConfigSpec::of::<SpanMetricsConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &Value,
    _pair: SignalPair,
    next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Connector>, BoxError> {
    let config = parse_block::<SpanMetricsConfig>(block)?;
    if config.dimensions_cache_size != 0 {
        tracing::warn!(connector = %ctx.id, "dimensions_cache_size is deprecated (as in the Collector): use aggregation_cardinality_limit");
    }
    let instance = ctx.node.shared::<InstanceId>();
    Ok(Arc::new(SpanMetrics::new(
        ctx.id.to_string(),
        config,
        next,
        ctx.dropped.clone(),
        instance.0.clone(),
    )))
}

/// This process's `collector.instance.id`: one random UUID shared by every span_metrics
/// connector of the process, as the Collector's is its own service instance id.
struct InstanceId(String);

impl Default for InstanceId {
    fn default() -> Self {
        // Two differently keyed hashers (the standard library keys each one from the
        // system's randomness) of the time and process id: 128 random bits.
        let half = || {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(llamacol_api::clock::unix_nanos().into());
            h.write_u32(std::process::id());
            h.finish()
        };
        let (a, b) = (half(), half());
        // Version 4, variant 10.
        let a = (a & !0xf000) | 0x4000;
        let b = (b & !(0xc << 60)) | (0x8 << 60);
        InstanceId(format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        ))
    }
}

pub struct SpanMetrics {
    inner: Arc<Inner>,
    flusher: Background,
}

struct Inner {
    id: String,
    config: SpanMetricsConfig,
    instance_id: String,
    dims: Dims,
    calls_dims: Dims,
    duration_dims: Dims,
    event_dims: Dims,
    /// Explicit boundaries in the histogram's unit (empty for exponential).
    bounds: Vec<f64>,
    state: Mutex<State>,
    next: Arc<dyn Consumer>,
    dropped: OutcomeCounter,
    refused_said: LogOnce,
    overflow_said: LogOnce,
}

struct State {
    resources: Resources,
    /// Delta: when each series was last flushed (at most `metric_timestamp_cache_size`).
    last_flush: HashMap<String, u64>,
    last_flush_order: VecDeque<String>,
    random: u64,
}

impl SpanMetrics {
    pub fn new(
        id: String,
        config: SpanMetricsConfig,
        next: Arc<dyn Consumer>,
        dropped: OutcomeCounter,
        instance_id: String,
    ) -> SpanMetrics {
        let h = &config.histogram;
        let bounds = if h.exponential.is_some() {
            Vec::new()
        } else {
            match h.explicit.as_ref().and_then(|e| e.buckets.as_ref()) {
                Some(buckets) => buckets
                    .iter()
                    .map(|d| d.0.as_nanos() as f64 / h.unit.divider())
                    .collect(),
                None => config::DEFAULT_BUCKETS_MS
                    .iter()
                    .map(|ms| ms * 1e6 / h.unit.divider())
                    .collect(),
            }
        };
        SpanMetrics {
            inner: Arc::new(Inner {
                id,
                dims: Dims::new(&config.dimensions),
                calls_dims: Dims::new(&config.calls_dimensions),
                duration_dims: Dims::new(&config.histogram.dimensions),
                event_dims: Dims::new(&config.events.dimensions),
                bounds,
                state: Mutex::new(State {
                    resources: Resources::new(config.resource_metrics_cache_size),
                    last_flush: HashMap::new(),
                    last_flush_order: VecDeque::new(),
                    random: llamacol_api::clock::unix_nanos() | 1,
                }),
                config,
                instance_id,
                next,
                dropped,
                refused_said: LogOnce::default(),
                overflow_said: LogOnce::default(),
            }),
            flusher: Background::new(),
        }
    }

    /// Adds the spans of `request` (what `consume` does).
    pub fn record(&self, request: &ExportTraceServiceRequest) {
        self.inner.record(request);
    }

    /// Emits the metrics now (what the timer does).
    pub async fn flush(&self) -> Result<(), ConsumeError> {
        self.inner.flush().await
    }
}

impl Inner {
    fn new_histogram(&self) -> Aggregate {
        Aggregate::Histogram(match &self.config.histogram.exponential {
            Some(e) => Histogram::Exponential(ExponentialHistogram::new(e.max_size)),
            None => Histogram::Explicit {
                counts: vec![0; self.bounds.len() + 1],
                count: 0,
                sum: 0.0,
            },
        })
    }

    /// The key of a resource: its attributes (those of `resource_metrics_key_attributes`
    /// when given), in key order.
    fn resource_key(&self, attrs: &[KeyValue]) -> String {
        let keys = &self.config.resource_metrics_key_attributes;
        let mut pairs: Vec<(&str, String)> = attrs
            .iter()
            .filter(|kv| keys.is_empty() || keys.contains(&kv.key))
            .map(|kv| {
                (
                    kv.key.as_str(),
                    table::text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                )
            })
            .collect();
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        let mut key = String::new();
        for (k, v) in pairs {
            key.push_str(k);
            key.push('\u{1}');
            key.push_str(&v);
            key.push('\0');
        }
        key
    }

    fn record(&self, request: &ExportTraceServiceRequest) {
        let c = &self.config;
        let now = llamacol_api::clock::unix_nanos();
        let divider = c.histogram.unit.divider();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut overflowed = false;
        let mut matched = Vec::new();
        for rs in &request.resource_spans {
            let rattrs = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            // The Collector skips a resource without service.name.
            let Some(service) = rattrs.iter().find(|kv| kv.key == config::SERVICE_NAME) else {
                continue;
            };
            let service = match service.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValueKind::StringValue(s)) => s.as_str(),
                _ => "",
            };
            let resource_lookup = table::lookup(rattrs);
            let rkey = self.resource_key(rattrs);
            let State {
                resources, random, ..
            } = &mut *state;
            let resource = resources.get_or_create(&rkey, rattrs, now);
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let duration = if span.end_time_unix_nano > span.start_time_unix_nano {
                        (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / divider
                    } else {
                        0.0
                    };
                    let (count, adjusted) = series::adjusted_count(&span.trace_state, random);
                    let one = OneSpan {
                        config: c,
                        base: Base {
                            service,
                            span,
                            scope: ss.scope.as_ref(),
                            adjusted,
                            instance_id: &self.instance_id,
                        },
                        now,
                        count,
                        exemplar: (c.exemplars.enabled && !span.trace_id.is_empty()).then(|| {
                            Exemplar {
                                trace_id: span.trace_id.clone(),
                                span_id: span.span_id.clone(),
                                value: duration,
                            }
                        }),
                    };
                    matched.clear();
                    self.dims
                        .matched(&span.attributes, &resource_lookup, &mut matched);
                    let common = matched.len();
                    self.calls_dims
                        .matched(&span.attributes, &resource_lookup, &mut matched);
                    overflowed |= one.count(&mut resource.calls, &matched);
                    if !c.histogram.disable {
                        matched.truncate(common);
                        self.duration_dims.matched(
                            &span.attributes,
                            &resource_lookup,
                            &mut matched,
                        );
                        overflowed |= one.add(
                            &mut resource.durations,
                            &matched,
                            || self.new_histogram(),
                            |v| {
                                if let Aggregate::Histogram(h) = v {
                                    h.observe(&self.bounds, duration, count);
                                }
                            },
                        );
                    }
                    // Events: dimensions read from the span, then the resource's and
                    // the event's attributes (the event's win).
                    if c.events.enabled {
                        for event in &span.events {
                            let mut both = resource_lookup.clone();
                            both.extend(event.attributes.iter().map(|kv| (kv.key.as_str(), kv)));
                            let mut event_matched = Vec::new();
                            self.dims
                                .matched(&span.attributes, &both, &mut event_matched);
                            self.event_dims
                                .matched(&span.attributes, &both, &mut event_matched);
                            overflowed |= one.count(&mut resource.events, &event_matched);
                        }
                    }
                }
            }
        }
        drop(state);
        let limit = c.aggregation_cardinality_limit;
        if overflowed && self.overflow_said.is_new("overflow") {
            tracing::warn!(connector = %self.id, limit, "more series than aggregation_cardinality_limit: further ones are counted in one series with otel.metric.overflow=true (logged once)");
        }
    }

    async fn flush(&self) -> Result<(), ConsumeError> {
        let request = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = llamacol_api::clock::unix_nanos();
            let State {
                resources,
                last_flush,
                last_flush_order,
                ..
            } = &mut *state;
            let mut starts = Starts {
                delta: self.config.delta(),
                capacity: self.config.timestamp_cache_size(),
                last_flush,
                order: last_flush_order,
                now,
            };
            let request = emit::request(&self.config, resources, &self.bounds, now, &mut starts);
            self.reset(resources, now);
            request
        };
        if request.resource_metrics.is_empty() {
            return Ok(());
        }
        crate::periodic::hand_on(
            &self.next,
            request,
            &self.refused_said,
            &self.id,
            "span metrics refused downstream",
        )
        .await
    }

    /// After a flush: delta starts over; cumulative clears exemplars and expires what was
    /// not seen for `series_expiration` / `metrics_expiration`.
    fn reset(&self, resources: &mut Resources, now: u64) {
        let c = &self.config;
        if c.delta() {
            resources.live.clear();
            return;
        }
        let ago = |d: std::time::Duration| now.saturating_sub(d.as_nanos() as u64);
        for r in resources.live.values_mut() {
            for map in [&mut r.calls, &mut r.durations, &mut r.events] {
                map.clear_exemplars();
                if !c.series_expiration.is_zero() {
                    map.expire(ago(c.series_expiration));
                }
            }
        }
        if !c.metrics_expiration.is_zero() {
            let oldest = ago(c.metrics_expiration);
            resources.live.retain(|_, r| r.last_seen > oldest);
        }
    }
}

/// One span, as every series it counts in sees it.
struct OneSpan<'a> {
    config: &'a SpanMetricsConfig,
    base: Base<'a>,
    now: u64,
    /// Spans it stands for.
    count: u64,
    exemplar: Option<Exemplar>,
}

impl OneSpan<'_> {
    /// Counts it in the series of `map` that `matched` names; whether that was the
    /// overflow series.
    fn count(&self, map: &mut table::SeriesMap, matched: &[(&str, &AnyValueKind)]) -> bool {
        let count = self.count;
        self.add(
            map,
            matched,
            || Aggregate::Count(0),
            |v| {
                if let Aggregate::Count(n) = v {
                    *n += count;
                }
            },
        )
    }

    /// Adds it to the series of `map` that `matched` names (made by `new` when new).
    fn add(
        &self,
        map: &mut table::SeriesMap,
        matched: &[(&str, &AnyValueKind)],
        new: impl FnOnce() -> Aggregate,
        update: impl FnOnce(&mut Aggregate),
    ) -> bool {
        let c = self.config;
        let (key, _) = series::key_and_attributes(c, &self.base, matched, false);
        let (s, overflow): (&mut Series, bool) =
            map.get_or_create(&key, c.aggregation_cardinality_limit, self.now, || {
                let (_, attributes) = series::key_and_attributes(c, &self.base, matched, true);
                (attributes, new())
            });
        update(&mut s.value);
        let max = usize::try_from(c.exemplars.max_per_data_point).unwrap_or(0);
        if let Some(e) = self.exemplar.as_ref().filter(|_| !overflow) {
            if s.exemplars.len() < max {
                s.exemplars.push(e.clone());
            }
        }
        overflow
    }
}

/// Start times: a series' own start (cumulative), or its previous flush (delta, from a
/// bounded memory; a series it forgot starts at its first span).
struct Starts<'a> {
    delta: bool,
    capacity: usize,
    last_flush: &'a mut HashMap<String, u64>,
    order: &'a mut VecDeque<String>,
    now: u64,
}

impl emit::StartTimes for Starts<'_> {
    fn start(
        &mut self,
        resource: Option<&String>,
        metric: &str,
        key: &str,
        series: &Series,
    ) -> u64 {
        if !self.delta {
            return series.start;
        }
        let id = format!(
            "{}\u{2}{metric}\u{2}{key}",
            resource.map_or("", |r| r.as_str())
        );
        let start = self.last_flush.get(&id).copied().unwrap_or(series.start);
        if self.last_flush.insert(id.clone(), self.now).is_none() {
            self.order.push_back(id);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.last_flush.remove(&old);
                }
            }
        }
        start
    }
}

#[async_trait]
impl Consumer for SpanMetrics {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        if let Batch::Traces(mut p) = batch {
            let request = p.message().map_err(ConsumeError::permanent)?;
            self.inner.record(request);
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for SpanMetrics {
    async fn start(&self) -> Result<(), BoxError> {
        let inner = self.inner.clone();
        let every = inner.config.metrics_flush_interval;
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
        self.flusher.stop().await;
        if let Err(e) = self.inner.flush().await {
            let points = {
                let state = self
                    .inner
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                state
                    .resources
                    .live
                    .values()
                    .map(|r| {
                        r.calls.series.len() + r.durations.series.len() + r.events.series.len()
                    })
                    .sum::<usize>()
            };
            self.inner.dropped.add(points);
            return Err(format!("the final span metrics were refused: {e}").into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
