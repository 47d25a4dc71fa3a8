//! Configuration: the OpenTelemetry Collector's YAML shape, validated whole before
//! anything starts, with every error reported at once.
//!
//! Parsing has two phases: the top level is read here, keeping each component's block as
//! a raw YAML value; each factory then parses its own typed config (`deny_unknown_fields`).

mod connections;
mod env;
mod load;
mod service;
mod telemetry;

pub use connections::{Graph, Instance};
pub use llamacol_api::config::*;
pub use load::{load, ConfigText};
pub use service::{
    Config, ExporterConfig, PipelineConfig, QueueBatch, QueueSettings, RetrySettings, Sizer,
};
pub use telemetry::{
    AdminConfig, LogFormat, LogProcessor, LogSampling, LogsConfig, MetricsConfig, MetricsLevel,
    OtlpPush, PeriodicReader, PushExporter, PushProtocol, TelemetryConfig, TelemetryResource,
};
