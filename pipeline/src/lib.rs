//! llamacol-pipeline: the data model, component traits, registry, configuration, runtime,
//! admin server and self-telemetry of llamacol.
//!
//! This crate knows nothing about any concrete component: receivers, processors and
//! exporters depend on it, never the reverse. What built-in components use here is
//! exactly the API a plugin author has.

pub mod admin;
pub mod attributes;
pub mod auth;
pub mod batch;
pub mod clock;
pub mod component;
pub mod config;
pub mod consumer;
pub mod extension;
pub mod http;
pub mod live;
pub mod log_once;
pub mod memory;
pub mod net;
pub mod node;
pub mod registry;
pub mod repeated;
pub mod rpc_status;
pub mod runtime;
pub mod signal;
pub mod split;
pub mod stateful;
pub mod task;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tls;
pub mod wire;

pub use batch::{Batch, Logs, Metrics, Payload, SignalMessage, Traces};
pub use component::{
    BuildContext, ComponentError, ComponentId, Connector, ConnectorFactory, DropCounter, Exporter,
    ExporterFactory, Factory, FailureCounter, Kind, Processor, ProcessorFactory, Receiver,
    ReceiverFactory, SampledOutCounter, SignalPair,
};
pub use consumer::{BoxError, ConsumeError, Consumer, ErrorKind, FanOut, RequestTooLarge};
pub use extension::{Extension, ExtensionContext, ExtensionFactory, ServiceStatus};
pub use node::NodeContext;
pub use registry::Registry;
pub use signal::Signal;

/// The OTLP protobuf types (re-exported so components use the same version).
pub use opentelemetry_proto::tonic as otlp;
/// The YAML value type component blocks arrive as.
pub use serde_yaml;
