//! llamacol-connectors: the built-in connectors, one module folder per component. A
//! connector is the exporter of one pipeline and the receiver of others.
//!
//! Depends on `llamacol-api` only (never on the engine or other components): the same
//! surface a plugin author has.

pub mod forward;
pub mod genai_metrics;
mod periodic;
pub mod routing;
pub mod span_metrics;
