//! `pprof` config: the Collector's keys.

use llamacol_api::config::{check_listen, ComponentConfig, Issue, Listen};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PprofConfig {
    /// Where `/debug/pprof/` is served. Default `localhost:1777` (the Collector's).
    pub endpoint: String,
    /// Go's blocking and mutex profiles: Rust has no such runtime hooks; accepted so that
    /// Collector configs load, and said at start when set.
    pub block_profile_fraction: i64,
    pub mutex_profile_fraction: i64,
    /// Profile the CPU from start to shutdown and write it here (pprof format).
    pub save_to_file: String,
}

impl Default for PprofConfig {
    fn default() -> Self {
        PprofConfig {
            endpoint: "localhost:1777".to_string(),
            block_profile_fraction: 0,
            mutex_profile_fraction: 0,
            save_to_file: String::new(),
        }
    }
}

impl ComponentConfig for PprofConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues: Vec<Issue> = check_listen("endpoint", &self.endpoint, 1777)
            .into_iter()
            .collect();
        for (key, value) in [
            ("block_profile_fraction", self.block_profile_fraction),
            ("mutex_profile_fraction", self.mutex_profile_fraction),
        ] {
            if value < 0 {
                issues.push(Issue::new(key, "must be 0 or more"));
            }
        }
        issues
    }

    fn listens(&self) -> Vec<Listen> {
        vec![Listen {
            path: "endpoint".to_string(),
            address: self.endpoint.clone(),
        }]
    }
}
