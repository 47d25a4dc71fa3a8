//! llamacol-connectors: the built-in connectors, one module folder per component. A
//! connector is the exporter of one pipeline and the receiver of others.
//!
//! Depends on `llamacol-pipeline` only, and uses nothing of it that a plugin author could
//! not use.

pub mod forward;
pub mod genai_metrics;
