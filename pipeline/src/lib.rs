//! llamacol-pipeline: the engine. Loads and checks a config, builds the running graph
//! from a [`Registry`] of factories, runs it (exporter queues, retries, the drain on
//! shutdown), counts what every component does, and samples the pipeline's rates for the
//! live page (the admin server that serves them is the binary's, `src/admin/`).
//!
//! The plugin surface components are written against is `llamacol-api`; this crate
//! depends on it and knows nothing about any concrete component: receivers, processors
//! and exporters never depend on the engine (only their tests do, for the conformance kit).

pub mod config;
mod live_sampler;
pub mod registry;
pub mod runtime;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

// The API's modules under the paths the engine's files use (`crate::batch::Batch`).
use llamacol_api::{
    auth, batch, clock, component, consumer, extension, live, log_once, memory, node, signal,
    storage, wire,
};

pub use live_sampler::sample_every_second;
pub use registry::Registry;
