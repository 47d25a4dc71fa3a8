//! The Prometheus exporters, over one model (`model/`: OTLP metrics translated into
//! Prometheus series and the store they accumulate in): `pull/` serves them for scraping
//! (`prometheus`), `remote_write/` pushes them (`prometheusremotewrite`).

pub mod model;
pub mod pull;
pub mod remote_write;
