//! `exporters.debug` config.

use llamacol_api::config::ComponentConfig;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// `basic` (default): one line per batch with its item count; `normal`: one line per
    /// span, data point or log record; `detailed`: the whole batch as indented OTLP/JSON.
    pub verbosity: Verbosity,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    #[default]
    Basic,
    Normal,
    Detailed,
}

impl ComponentConfig for DebugConfig {}
