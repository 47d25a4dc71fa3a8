//! llamacol-processors: the built-in processors, one module folder per component.
//!
//! Depends on `llamacol-api` only (never on the engine, receivers or exporters): the
//! same surface a plugin author has.

pub mod attributes;
pub mod batch;
pub mod filter;
pub mod genai;
pub mod k8s_attributes;
pub mod llm_serving;
pub mod memory_limiter;
pub mod probabilistic_sampler;
pub mod resource;
pub mod resource_detection;
pub mod slo;
pub mod tail_sampling;
pub mod transform;
