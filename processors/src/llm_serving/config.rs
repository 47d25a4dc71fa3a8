//! `processors.llm_serving` config: which serving engines to map, and whether their own
//! metrics stay beside the uniform ones.

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmServingConfig {
    /// The engines whose metrics are mapped. Default: all of them. A metric of an engine
    /// left out passes untouched.
    pub engines: Vec<Engine>,
    /// Keep each engine's own metrics beside the uniform ones (default `true`). Set
    /// `false` to forward only the uniform set for the metrics it maps (metrics it does
    /// not map always pass), e.g. to halve the series a gateway writes.
    pub keep_original: bool,
}

impl Default for LlmServingConfig {
    fn default() -> Self {
        LlmServingConfig {
            engines: Engine::ALL.to_vec(),
            keep_original: true,
        }
    }
}

/// A serving engine, as named in `llm.server.engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Engine {
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
    #[serde(rename = "vllm")]
    Vllm,
    #[serde(rename = "sglang")]
    Sglang,
    #[serde(rename = "tgi")]
    Tgi,
    #[serde(rename = "triton")]
    Triton,
}

impl Engine {
    pub const ALL: [Engine; 5] = [
        Engine::LlamaCpp,
        Engine::Vllm,
        Engine::Sglang,
        Engine::Tgi,
        Engine::Triton,
    ];

    /// The value of `llm.server.engine`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::LlamaCpp => "llama.cpp",
            Engine::Vllm => "vllm",
            Engine::Sglang => "sglang",
            Engine::Tgi => "tgi",
            Engine::Triton => "triton",
        }
    }
}

impl ComponentConfig for LlmServingConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.engines.is_empty() {
            issues.push(Issue::new(
                "engines",
                "lists no engine, so nothing would be mapped; leave it out for all of \
                 `llama.cpp`, `vllm`, `sglang`, `tgi`, `triton`",
            ));
        }
        for (i, e) in self.engines.iter().enumerate() {
            if self.engines[..i].contains(e) {
                issues.push(Issue::new(
                    format!("engines[{i}]"),
                    format!("`{}` is listed twice", e.name()),
                ));
            }
        }
        issues
    }
}
