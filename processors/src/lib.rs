//! llamacol-processors: the built-in processors, one module folder per component.
//!
//! Depends on `llamacol-pipeline` only (never on receivers or exporters), and uses
//! nothing of it that a plugin author could not use.

pub mod batch;
pub mod genai;
pub mod memory_limiter;

/// The processor factories this crate provides, for the binary's registry table.
pub fn factories() -> Vec<llamacol_pipeline::ProcessorFactory> {
    vec![
        batch::factory(),
        memory_limiter::factory(),
        genai::factory(),
    ]
}
