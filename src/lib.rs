//! The `llamacol` binary's library half: the component table and the CLI commands, kept
//! here so tests can call them. A custom build adds its factories to [`registry`]'s table.

mod cli;
mod run;

pub use cli::{main_with_args, Cli, Command};

use llamacol_pipeline::Registry;

/// Every built-in component, in one explicit table. To add your own, copy this function
/// into your binary and chain `.receiver(my::factory())` (see `examples/`).
pub fn registry() -> Registry {
    let mut registry = Registry::new()
        .receiver(llamacol_receivers::otlp::factory())
        .receiver(llamacol_receivers::llamacpp::factory())
        .receiver(llamacol_receivers::nvml::factory())
        .exporter(llamacol_exporters::otlp::factory())
        .exporter(llamacol_exporters::prometheus::factory())
        .exporter(llamacol_exporters::prometheusremotewrite::factory())
        .exporter(llamacol_exporters::debug::factory())
        .exporter(llamacol_exporters::file::factory())
        .extension(llamacol_extensions::file_storage::factory())
        .extension(llamacol_extensions::health_check::factory());
    for processor in llamacol_processors::factories() {
        registry = registry.processor(processor);
    }
    for connector in llamacol_connectors::factories() {
        registry = registry.connector(connector);
    }
    registry
}

/// The config `llamacol` runs when given none.
pub const DEFAULT_CONFIG: &str = include_str!("../configs/default.yaml");
