//! llamacol-receivers: the built-in receivers, one module folder per component.
//!
//! Depends on `llamacol-pipeline` only (never on processors or exporters), and uses
//! nothing of it that a plugin author could not use.

pub mod llamacpp;
pub use llamacol_pipeline::net;
pub mod nvml;
pub mod otlp;
