//! llamacol-processors: the built-in processors, one module folder per component
//! (`batch`, `memory_limiter`, `sampling`, `genai`, `slo` as they land).
//!
//! Depends on `llamacol-pipeline` only (never on receivers or exporters). The pipeline
//! already calls processors directly and flushes them on shutdown; none is built in yet.

/// The processor factories this crate provides, for the binary's registry table.
pub fn factories() -> Vec<llamacol_pipeline::ProcessorFactory> {
    Vec::new()
}
