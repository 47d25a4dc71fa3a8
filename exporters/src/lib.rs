//! llamacol-exporters: the built-in exporters, one module folder per component.
//!
//! Depends on `llamacol-api` only (never on the engine, receivers or processors). The engine
//! puts a queue and retry loop in front of each exporter; exporters only send.

pub mod debug;
pub mod file;
pub mod graphistry;
pub mod jaeger;
pub mod loadbalancing;
pub mod otlp;
pub mod parquet;
pub mod prometheus;
pub mod zipkin;
