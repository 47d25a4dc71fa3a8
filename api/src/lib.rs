//! llamacol-api: the plugin surface of llamacol. A component (built in or a user's own)
//! depends on this crate and nothing else of llamacol: the batch and its signals, the
//! consumer, the component and factory traits, typed config and its issues, extension
//! traits (storage, authenticator), the exporter queue's interface, and the helpers
//! components share (wire reading, HTTP clients and their outcome classification, TLS,
//! the stateful worker, the node context). `testing` (behind its feature) holds sample
//! data and capturing components for tests.
//!
//! This crate must never depend on the engine (`llamacol-pipeline`), on any component,
//! on a web framework or on a build script: a plugin author compiles it with cargo alone.

pub mod attraction;
pub mod attributes;
pub mod auth;
pub mod backoff;
pub mod batch;
pub mod client_metadata;
pub mod client_model;
pub mod clock;
pub mod component;
pub mod config;
pub mod consumer;
pub mod exposition;
pub mod extension;
pub mod formats;
pub mod gpu_timeline;
pub mod groups;
pub mod http;
pub mod json;
pub mod kube;
pub mod live;
pub mod log_once;
pub mod memory;
pub mod net;
pub mod node;
pub mod ottl;
pub mod outcome;
pub mod queue;
pub mod repeated;
pub mod rpc_status;
pub mod scrape;
pub mod service_info;
pub mod signal;
pub mod split;
pub mod stateful;
pub mod stateless;
pub mod storage;
pub mod task;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tls;
pub mod tracestate;
pub mod wire;

pub use batch::{Batch, Logs, Metrics, Payload, SignalMessage, Traces};
pub use component::{
    BuildContext, ComponentError, ComponentId, Connector, ConnectorFactory, Exporter,
    ExporterFactory, Factory, Kind, Processor, ProcessorFactory, Receiver, ReceiverFactory,
    SignalPair,
};
pub use consumer::{BoxError, ConsumeError, Consumer, ErrorKind, FanOut, RequestTooLarge};
pub use extension::{Extension, ExtensionContext, ExtensionFactory, ServiceStatus};
pub use node::NodeContext;
pub use outcome::{Outcome, OutcomeCounter};
pub use signal::Signal;

/// The OTLP protobuf types (re-exported so components use the same version).
pub use opentelemetry_proto::tonic as otlp;
/// The YAML value type component blocks arrive as.
pub use serde_yaml;
