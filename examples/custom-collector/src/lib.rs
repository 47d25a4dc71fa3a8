//! Two components written against llamacol's public API, exactly as the built-in ones are:
//! a `redact` processor and a `jsonl_webhook` exporter.

pub mod jsonl_webhook;
pub mod redact;
