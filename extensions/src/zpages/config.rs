//! `zpages` config: the Collector's `endpoint` and `expvar`.

use llamacol_api::config::{check_listen, ComponentConfig, Issue, Listen};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ZpagesConfig {
    /// Where the pages are served. Default `localhost:55679` (the Collector's).
    pub endpoint: String,
    /// `/debug/expvarz`: the process's variables as JSON (off by default, as there).
    pub expvar: Expvar,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Expvar {
    pub enabled: bool,
}

impl Default for ZpagesConfig {
    fn default() -> Self {
        ZpagesConfig {
            endpoint: "localhost:55679".to_string(),
            expvar: Expvar::default(),
        }
    }
}

impl ComponentConfig for ZpagesConfig {
    fn validate(&self) -> Vec<Issue> {
        check_listen("endpoint", &self.endpoint, 55679)
            .into_iter()
            .collect()
    }

    fn listens(&self) -> Vec<Listen> {
        vec![Listen {
            path: "endpoint".to_string(),
            address: self.endpoint.clone(),
        }]
    }
}
