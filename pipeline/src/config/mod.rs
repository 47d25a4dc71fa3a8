//! Configuration: the OpenTelemetry Collector's YAML shape, validated whole before
//! anything starts, with every error reported at once.
//!
//! Parsing has two phases: the top level is read here, keeping each component's block as
//! a raw YAML value; each factory then parses its own typed config (`deny_unknown_fields`).

mod connections;
mod diagnostic;
mod env;
mod fields;
mod load;
mod positions;
mod service;
mod typed;

pub use connections::{Graph, Instance};
pub use diagnostic::{did_you_mean, join, ConfigErrors, Diagnostic, Severity};
pub use fields::{check_listen, duration, is_http_url, ByteSize, Secret};
pub use load::{load, Source};
pub use positions::Positions;
pub use service::{
    AdminConfig, Config, ExporterConfig, LogFormat, LogsConfig, MetricsConfig, MetricsLevel,
    PipelineConfig, QueueSettings, RetrySettings, TelemetryConfig,
};
pub use typed::{parse, parse_block, Claims, ComponentConfig, ConfigSpec, Issue, Listen};
