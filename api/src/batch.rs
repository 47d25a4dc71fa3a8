//! The batch types that travel through pipelines: OTLP export requests, decoded lazily.
//!
//! A payload holds the encoded bytes it arrived as, the decoded prost message, or both,
//! and converts only when a component asks. Forwarding pipelines never decode.

use bytes::{Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::client_metadata::Metadata;
use crate::signal::Signal;
use crate::wire::{self, WireError};

/// An OTLP export request type of one signal.
pub trait SignalMessage: Message + Default + Clone + Send + Sync + 'static {
    const SIGNAL: Signal;
    /// Items in a decoded message: spans, metric data points or log records.
    fn count_items(&self) -> usize;
    /// Moves every resource block of `other` into `self`.
    fn append(&mut self, other: Self);
}

impl SignalMessage for ExportTraceServiceRequest {
    const SIGNAL: Signal = Signal::Traces;
    fn count_items(&self) -> usize {
        self.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }
    fn append(&mut self, other: Self) {
        self.resource_spans.extend(other.resource_spans);
    }
}

/// Data points in one metric, of any type: a metric's items.
pub fn data_points(m: &Metric) -> usize {
    match &m.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

impl SignalMessage for ExportMetricsServiceRequest {
    const SIGNAL: Signal = Signal::Metrics;
    fn count_items(&self) -> usize {
        self.resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(data_points)
            .sum()
    }
    fn append(&mut self, other: Self) {
        self.resource_metrics.extend(other.resource_metrics);
    }
}

impl SignalMessage for ExportLogsServiceRequest {
    const SIGNAL: Signal = Signal::Logs;
    fn count_items(&self) -> usize {
        self.resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }
    fn append(&mut self, other: Self) {
        self.resource_logs.extend(other.resource_logs);
    }
}

/// One signal's export request, encoded, decoded, or both (kept in agreement).
#[derive(Debug, Clone)]
pub struct Payload<M> {
    encoded: Option<Bytes>,
    decoded: Option<M>,
    items: usize,
    /// The request's client metadata (`include_metadata`), if a receiver kept it.
    metadata: Metadata,
}

impl<M: SignalMessage> Payload<M> {
    /// Checks that `bytes` is a well-formed request (without allocating) and counts its items.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, WireError> {
        let items = wire::count_items(M::SIGNAL, &bytes)?;
        Ok(Payload {
            encoded: Some(bytes),
            decoded: None,
            items,
            metadata: None,
        })
    }

    /// Wraps bytes the caller encoded itself from already-checked parts, with their item
    /// count (e.g. a batch processor re-assembling requests), skipping the walk.
    /// Debug builds still check.
    pub fn from_encoded_parts(bytes: Bytes, items: usize) -> Self {
        debug_assert_eq!(wire::count_items(M::SIGNAL, &bytes).ok(), Some(items));
        Payload {
            encoded: Some(bytes),
            decoded: None,
            items,
            metadata: None,
        }
    }

    pub fn from_message(message: M) -> Self {
        let items = message.count_items();
        Payload {
            encoded: None,
            decoded: Some(message),
            items,
            metadata: None,
        }
    }

    pub fn items(&self) -> usize {
        self.items
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    pub fn set_metadata(&mut self, metadata: Metadata) {
        self.metadata = metadata;
    }

    /// Size of the encoded request; computed, not encoded, when only decoded.
    pub fn encoded_len(&self) -> usize {
        match (&self.encoded, &self.decoded) {
            (Some(b), _) => b.len(),
            (None, Some(m)) => m.encoded_len(),
            (None, None) => 0,
        }
    }

    /// The decoded request, if the payload holds one (nothing is decoded here): for a
    /// component that only reads and can read either form.
    pub fn decoded(&self) -> Option<&M> {
        self.decoded.as_ref()
    }

    /// The encoded request, if the payload holds one (nothing is encoded here).
    pub fn encoded(&self) -> Option<&Bytes> {
        self.encoded.as_ref()
    }

    /// Whether the payload is empty of items (it may still carry resource blocks).
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// The encoded request; encodes once and keeps the result.
    pub fn bytes(&mut self) -> Bytes {
        if let Some(bytes) = &self.encoded {
            return bytes.clone();
        }
        let bytes = Bytes::from(
            self.decoded
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default(),
        );
        self.encoded = Some(bytes.clone());
        bytes
    }

    /// The decoded request; decodes once and keeps the result.
    pub fn message(&mut self) -> Result<&M, WireError> {
        self.ensure_decoded()?;
        Ok(self.decoded.get_or_insert_with(M::default))
    }

    /// The decoded request for changing; the cached encoding is dropped and item counts
    /// are refreshed on the next [`Payload::items`] after [`Payload::recount`].
    pub fn message_mut(&mut self) -> Result<&mut M, WireError> {
        self.ensure_decoded()?;
        self.encoded = None;
        Ok(self.decoded.get_or_insert_with(M::default))
    }

    /// Gives back the encoding [`Payload::message_mut`] dropped, when the caller changed
    /// nothing after all (a filter that removed nothing, statements whose conditions never
    /// held): the next stage forwards these bytes instead of encoding again. The caller
    /// promises the decoded message is the one `bytes` encode.
    pub fn restore_encoded(&mut self, bytes: Bytes) {
        self.encoded = Some(bytes);
    }

    /// Replaces the request with `bytes` of `items` items, edited on the wire from the
    /// encoding this payload held (a sampler that kept some spans, attributes rewritten in
    /// place); any decoded form is dropped, the client metadata stays.
    pub fn replace_encoded(&mut self, bytes: Bytes, items: usize) {
        debug_assert_eq!(wire::count_items(M::SIGNAL, &bytes).ok(), Some(items));
        self.encoded = Some(bytes);
        self.decoded = None;
        self.items = items;
    }

    /// Recomputes the item count after changes made through [`Payload::message_mut`].
    pub fn recount(&mut self) {
        if let Some(m) = &self.decoded {
            self.items = m.count_items();
        }
    }

    pub fn into_message(mut self) -> Result<M, WireError> {
        self.ensure_decoded()?;
        Ok(self.decoded.take().unwrap_or_default())
    }

    /// Appends `other`. Two encoded requests concatenate into one valid request
    /// (`repeated ... = 1` on the wire), so nothing is decoded when both are encoded.
    pub fn append(&mut self, mut other: Self) -> Result<(), WireError> {
        if self.decoded.is_none() && other.decoded.is_none() {
            if let (Some(a), Some(b)) = (&self.encoded, &other.encoded) {
                let mut joined = BytesMut::with_capacity(a.len() + b.len());
                joined.extend_from_slice(a);
                joined.extend_from_slice(b);
                self.encoded = Some(joined.freeze());
                self.items += other.items;
                return Ok(());
            }
        }
        other.ensure_decoded()?;
        let other_items = other.items;
        let other_message = other.decoded.take().unwrap_or_default();
        self.message_mut()?.append(other_message);
        self.items += other_items;
        Ok(())
    }

    fn ensure_decoded(&mut self) -> Result<(), WireError> {
        if self.decoded.is_none() {
            let bytes = self.encoded.clone().unwrap_or_default();
            let message = M::decode(bytes).map_err(WireError::Decode)?;
            self.decoded = Some(message);
        }
        Ok(())
    }
}

pub type Traces = Payload<ExportTraceServiceRequest>;
pub type Metrics = Payload<ExportMetricsServiceRequest>;
pub type Logs = Payload<ExportLogsServiceRequest>;

/// A batch of one signal: what every consumer takes.
#[derive(Debug, Clone)]
pub enum Batch {
    Traces(Traces),
    Metrics(Metrics),
    Logs(Logs),
}

impl Batch {
    /// Validates and wraps an encoded export request of `signal`.
    pub fn from_bytes(signal: Signal, bytes: Bytes) -> Result<Batch, WireError> {
        Ok(match signal {
            Signal::Traces => Batch::Traces(Payload::from_bytes(bytes)?),
            Signal::Metrics => Batch::Metrics(Payload::from_bytes(bytes)?),
            Signal::Logs => Batch::Logs(Payload::from_bytes(bytes)?),
        })
    }

    /// See [`Payload::from_encoded_parts`].
    pub fn from_encoded_parts(signal: Signal, bytes: Bytes, items: usize) -> Batch {
        match signal {
            Signal::Traces => Batch::Traces(Payload::from_encoded_parts(bytes, items)),
            Signal::Metrics => Batch::Metrics(Payload::from_encoded_parts(bytes, items)),
            Signal::Logs => Batch::Logs(Payload::from_encoded_parts(bytes, items)),
        }
    }

    /// The bytes the batch holds, if any (nothing is encoded here).
    pub fn encoded(&self) -> Option<&Bytes> {
        match self {
            Batch::Traces(p) => p.encoded(),
            Batch::Metrics(p) => p.encoded(),
            Batch::Logs(p) => p.encoded(),
        }
    }

    /// [`Payload::restore_encoded`] for any signal.
    pub fn restore_encoded(&mut self, bytes: Bytes) {
        match self {
            Batch::Traces(p) => p.restore_encoded(bytes),
            Batch::Metrics(p) => p.restore_encoded(bytes),
            Batch::Logs(p) => p.restore_encoded(bytes),
        }
    }

    /// Whether the batch holds its decoded form (a stage before decoded it).
    pub fn is_decoded(&self) -> bool {
        match self {
            Batch::Traces(p) => p.decoded().is_some(),
            Batch::Metrics(p) => p.decoded().is_some(),
            Batch::Logs(p) => p.decoded().is_some(),
        }
    }

    /// Replaces the request with `bytes` holding the same items (a processor that
    /// rewrote resources on the wire); the client metadata stays.
    pub fn replace_encoded_same_items(&mut self, bytes: Bytes) {
        let items = self.items();
        match self {
            Batch::Traces(p) => p.replace_encoded(bytes, items),
            Batch::Metrics(p) => p.replace_encoded(bytes, items),
            Batch::Logs(p) => p.replace_encoded(bytes, items),
        }
    }

    pub fn signal(&self) -> Signal {
        match self {
            Batch::Traces(_) => Signal::Traces,
            Batch::Metrics(_) => Signal::Metrics,
            Batch::Logs(_) => Signal::Logs,
        }
    }

    pub fn items(&self) -> usize {
        match self {
            Batch::Traces(p) => p.items(),
            Batch::Metrics(p) => p.items(),
            Batch::Logs(p) => p.items(),
        }
    }

    /// The client metadata of the request it came in (`include_metadata`).
    pub fn metadata(&self) -> &Metadata {
        match self {
            Batch::Traces(p) => p.metadata(),
            Batch::Metrics(p) => p.metadata(),
            Batch::Logs(p) => p.metadata(),
        }
    }

    pub fn set_metadata(&mut self, metadata: Metadata) {
        match self {
            Batch::Traces(p) => p.set_metadata(metadata),
            Batch::Metrics(p) => p.set_metadata(metadata),
            Batch::Logs(p) => p.set_metadata(metadata),
        }
    }

    /// Size of the encoded request, without encoding it (prost computes decoded sizes).
    pub fn encoded_len(&self) -> usize {
        match self {
            Batch::Traces(p) => p.encoded_len(),
            Batch::Metrics(p) => p.encoded_len(),
            Batch::Logs(p) => p.encoded_len(),
        }
    }

    /// The encoded export request (encoded at most once).
    pub fn bytes(&mut self) -> Bytes {
        match self {
            Batch::Traces(p) => p.bytes(),
            Batch::Metrics(p) => p.bytes(),
            Batch::Logs(p) => p.bytes(),
        }
    }

    /// Calls `f` with every resource block's resource (created empty where absent) and
    /// schema URL, decoding the batch: what processors that stamp or change resources
    /// (`resource`, `resource_detection`) do, once for the three signals.
    pub fn for_each_resource_mut(
        &mut self,
        mut f: impl FnMut(&mut Resource, &mut String),
    ) -> Result<(), WireError> {
        match self {
            Batch::Traces(p) => {
                for rs in &mut p.message_mut()?.resource_spans {
                    f(
                        rs.resource.get_or_insert_with(Resource::default),
                        &mut rs.schema_url,
                    );
                }
            }
            Batch::Metrics(p) => {
                for rm in &mut p.message_mut()?.resource_metrics {
                    f(
                        rm.resource.get_or_insert_with(Resource::default),
                        &mut rm.schema_url,
                    );
                }
            }
            Batch::Logs(p) => {
                for rl in &mut p.message_mut()?.resource_logs {
                    f(
                        rl.resource.get_or_insert_with(Resource::default),
                        &mut rl.schema_url,
                    );
                }
            }
        }
        Ok(())
    }
}

impl From<ExportTraceServiceRequest> for Batch {
    fn from(m: ExportTraceServiceRequest) -> Self {
        Batch::Traces(Payload::from_message(m))
    }
}

impl From<ExportMetricsServiceRequest> for Batch {
    fn from(m: ExportMetricsServiceRequest) -> Self {
        Batch::Metrics(Payload::from_message(m))
    }
}

impl From<ExportLogsServiceRequest> for Batch {
    fn from(m: ExportLogsServiceRequest) -> Self {
        Batch::Logs(Payload::from_message(m))
    }
}
