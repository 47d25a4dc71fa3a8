//! Jaeger's span model: its protobuf messages (`model.rs`, api_v2), its Thrift structs
//! (`thrift.rs`), and both directions to OTLP as the Collector translates them.

pub mod from_otlp;
pub mod model;
pub mod thrift;
pub mod to_otlp;

pub use from_otlp::NO_SERVICE_NAME;

/// Which of Jaeger's encodings a batch arrived in: the Collector's translator treats
/// them a little differently (see `to_otlp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// api_v2 protobuf (gRPC `PostSpans`).
    Proto,
    /// `jaeger.thrift` (agents' UDP ports, the HTTP `/api/traces` endpoint).
    Thrift,
}

#[cfg(test)]
mod tests;
