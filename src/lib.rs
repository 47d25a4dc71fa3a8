//! The `llamacol` binary's library half: the built-in component table and the whole
//! command line as a function of a registry, so that a custom collector is three lines:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let registry = llamacol::builtins(); // .processor(my_processor::factory()) ...
//!     llamacol::main(registry)
//! }
//! ```

pub mod admin;
mod cli;
pub mod fuzzing;
mod run;
mod self_telemetry;

pub use cli::{main_with_args, Cli, Command};

use llamacol_api::Kind;
use llamacol_pipeline::Registry;

/// Every built-in component: the one registration table, one line per factory, kind by
/// kind. A custom build starts from it and chains its own (see `examples/custom-collector`).
pub fn builtins() -> Registry {
    Registry::new()
        // receivers
        .receiver(llamacol_receivers::otlp::factory())
        .receiver(llamacol_receivers::llamacpp::factory())
        .receiver(llamacol_receivers::nvml::factory())
        .receiver(llamacol_receivers::prometheus::factory())
        .receiver(llamacol_receivers::filelog::factory())
        .alias(Kind::Receiver, "filelog", "file_log")
        .receiver(llamacol_receivers::hostmetrics::factory())
        .alias(Kind::Receiver, "hostmetrics", "host_metrics")
        .receiver(llamacol_receivers::jaeger::factory())
        .receiver(llamacol_receivers::zipkin::factory())
        // processors
        .processor(llamacol_processors::batch::factory())
        .processor(llamacol_processors::memory_limiter::factory())
        .processor(llamacol_processors::slo::factory())
        .processor(llamacol_processors::probabilistic_sampler::factory())
        .processor(llamacol_processors::tail_sampling::factory())
        .processor(llamacol_processors::genai::factory())
        .processor(llamacol_processors::resource::factory())
        .processor(llamacol_processors::transform::factory())
        .processor(llamacol_processors::filter::factory())
        .processor(llamacol_processors::attributes::factory())
        .processor(llamacol_processors::resource_detection::factory())
        .alias(Kind::Processor, "resourcedetection", "resource_detection")
        .processor(llamacol_processors::llm_serving::factory())
        .processor(llamacol_processors::k8s_attributes::factory())
        .alias(Kind::Processor, "k8sattributes", "k8s_attributes")
        // exporters
        .exporter(llamacol_exporters::otlp::factory())
        .alias(Kind::Exporter, "otlp_grpc", "otlp")
        .exporter(llamacol_exporters::otlp::factory_http())
        .alias(Kind::Exporter, "otlphttp", "otlp_http")
        .exporter(llamacol_exporters::jaeger::factory())
        .exporter(llamacol_exporters::graphistry::factory())
        .exporter(llamacol_exporters::loadbalancing::factory())
        .alias(Kind::Exporter, "load_balancing", "loadbalancing")
        .exporter(llamacol_exporters::parquet::factory())
        .exporter(llamacol_exporters::prometheus::pull::factory())
        .exporter(llamacol_exporters::prometheus::remote_write::factory())
        .alias(
            Kind::Exporter,
            "prometheus_remote_write",
            "prometheusremotewrite",
        )
        .exporter(llamacol_exporters::debug::factory())
        .exporter(llamacol_exporters::debug::factory_logging())
        .exporter(llamacol_exporters::file::factory())
        .exporter(llamacol_exporters::zipkin::factory())
        // connectors
        .connector(llamacol_connectors::forward::factory())
        .connector(llamacol_connectors::genai_metrics::factory())
        .connector(llamacol_connectors::routing::factory())
        .connector(llamacol_connectors::span_metrics::factory())
        .alias(Kind::Connector, "spanmetrics", "span_metrics")
        // extensions
        .extension(llamacol_extensions::file_storage::factory())
        .extension(llamacol_extensions::health_check::factory())
        .extension(llamacol_extensions::bearertokenauth::factory())
        .extension(llamacol_extensions::basicauth::factory())
        .extension(llamacol_extensions::headers_setter::factory())
        .extension(llamacol_extensions::zpages::factory())
        .extension(llamacol_extensions::pprof::factory())
}

/// Parses the command line and runs it (`run`, `validate`, `components`) over `registry`:
/// what the `llamacol` binary does with [`builtins`], and what a custom collector does
/// with its own table. Returns the process exit code.
pub fn main(registry: Registry) -> std::process::ExitCode {
    use clap::Parser;
    main_with_args(Cli::parse(), registry)
}

/// The config `llamacol` runs when given none.
pub const DEFAULT_CONFIG: &str = include_str!("../configs/default.yaml");
