//! llamacol-processors: the built-in processors, one module folder per component.
//!
//! Depends on `llamacol-pipeline` only (never on receivers or exporters), and uses
//! nothing of it that a plugin author could not use.

pub mod batch;
pub mod genai;
pub mod memory_limiter;
pub mod probabilistic_sampler;
pub mod resource;
pub mod slo;
pub mod tail_sampling;
