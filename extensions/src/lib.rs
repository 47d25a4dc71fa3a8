//! llamacol-extensions: components outside pipelines that others use by id, one module
//! folder per component (`file_storage` for persistent exporter queues, `health_check`,
//! the authenticators `bearertokenauth` and `basicauth`, `headers_setter` (headers from
//! client metadata), the `zpages` debug pages, `pprof` CPU profiles).
//!
//! Depends on `llamacol-api` only (never on the engine, receivers, processors or
//! exporters): an extension offers what the API's traits ask for (`QueueStorage`,
//! `Authenticator`), nothing more.

pub mod basicauth;
pub mod bearertokenauth;
pub mod file_storage;
pub mod headers_setter;
pub mod health_check;
mod http_server;
pub mod pprof;
#[cfg(test)]
mod test_support;
mod watched;
pub mod zpages;
