//! llamacol-extensions: components outside pipelines that others use by id, one module
//! folder per component (`file_storage` for persistent exporter queues, `health_check`).
//!
//! Depends on `llamacol-pipeline` only (never on receivers, processors or exporters):
//! an extension offers what the pipeline's traits ask for (`QueueStorage`), nothing more.

pub mod file_storage;
pub mod health_check;
