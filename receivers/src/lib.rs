//! llamacol-receivers: the built-in receivers, one module folder per component.
//!
//! Depends on `llamacol-api` only (never on the engine, processors or exporters): the
//! same surface a plugin author has.

pub mod filelog;
pub mod hostmetrics;
pub mod jaeger;
pub mod llamacpp;
pub use llamacol_api::net;
pub mod nvml;
pub mod otlp;
pub mod prometheus;
pub mod server;
#[cfg(test)]
mod test_service;
pub mod zipkin;
