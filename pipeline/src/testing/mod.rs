//! The conformance kit (every factory meets one contract) and a registry of the test
//! components, on top of `llamacol_api::testing` (sample data, capturing sinks, a test
//! CA), which this module re-exports so engine tests reach everything in one place.

pub mod conformance;

pub use conformance::{
    check_connector, check_exporter, check_extension, check_processor, check_receiver, Flow,
};
pub use llamacol_api::testing::*;

use crate::registry::Registry;

/// A registry of the test components of `llamacol_api::testing`.
pub fn registry() -> Registry {
    Registry::new()
        .receiver(source_factory())
        .processor(hold_factory())
        .exporter(sink_factory())
}
