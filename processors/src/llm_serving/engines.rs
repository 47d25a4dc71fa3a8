//! Where each engine keeps each fact of the uniform set. Names as the engines expose them
//! (counters without their `_total`, which lookups ignore); candidates best first, so a
//! renamed metric maps whichever version is scraped, and a version that exposes both (vLLM
//! with `--show-hidden-metrics-for-version`) is not counted twice. Sources: each engine's
//! own code and docs (testdata/llm-serving/README.md).

use super::config::Engine;
use super::uniform::Uniform;

/// One candidate source of a uniform metric.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    /// Only the points whose label has this value (the label is dropped).
    pub select: Option<(&'static str, &'static str)>,
    pub how: How,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum How {
    /// The points as they are, values (and histogram bounds) times the factor.
    Scale(f64),
    /// A ratio that older builds gave in percent: divided by 100 on points that carry
    /// this label (SGLang labelled its model `name` in those builds, `model_name` after).
    PercentWhenLabelled(&'static str),
    /// A counter from a histogram's sum (TGI counts tokens only as per-request histograms).
    HistogramSum,
    /// This counter plus another one with the same attributes.
    Plus(&'static str),
    /// This gauge divided by another selection of the same metric at the same instant.
    Over(&'static str, &'static str),
    /// A hit ratio over the interval since the previous point: Δthis / Δ`total`.
    DeltaRatio(&'static str),
    /// A hit ratio over the interval: Δthis / (Δthis + Δ`misses`).
    DeltaRatioWithMisses(&'static str),
}

const fn plain(name: &'static str) -> Source {
    Source {
        name,
        select: None,
        how: How::Scale(1.0),
    }
}

const fn with(name: &'static str, how: How) -> Source {
    Source {
        name,
        select: None,
        how,
    }
}

const fn selected(name: &'static str, label: &'static str, value: &'static str) -> Source {
    Source {
        name,
        select: Some((label, value)),
        how: How::Scale(1.0),
    }
}

pub struct Rule {
    pub engine: Engine,
    pub uniform: Uniform,
    pub sources: &'static [Source],
}

const fn rule(engine: Engine, uniform: Uniform, sources: &'static [Source]) -> Rule {
    Rule {
        engine,
        uniform,
        sources,
    }
}

/// The point label (or, for llama.cpp, resource attribute) that names the model.
pub fn model_labels(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Vllm => &["model_name"],
        Engine::Sglang => &["model_name", "name"],
        Engine::Triton => &["model"],
        Engine::Tgi => &[],
        Engine::LlamaCpp => &["llamacpp.model"],
    }
}

use Engine::{LlamaCpp, Sglang, Tgi, Triton, Vllm};
use Uniform::*;

pub const RULES: &[Rule] = &[
    // llama.cpp: llama-server's /metrics scraped by the `prometheus` receiver
    // (`llamacpp:`), or the `llamacpp` receiver's own names (`llamacpp.`), whose
    // `llamacpp.kv_cache.usage` comes from /slots.
    rule(
        LlamaCpp,
        RequestsRunning,
        &[
            plain("llamacpp:requests_processing"),
            plain("llamacpp.requests_processing"),
        ],
    ),
    rule(
        LlamaCpp,
        RequestsWaiting,
        &[
            plain("llamacpp:requests_deferred"),
            plain("llamacpp.requests_deferred"),
        ],
    ),
    rule(
        LlamaCpp,
        KvCacheUsage,
        &[
            plain("llamacpp.kv_cache.usage"),
            plain("llamacpp:kv_cache_usage_ratio"),
            plain("llamacpp.kv_cache_usage_ratio"),
        ],
    ),
    // `prompt_tokens` excludes the tokens reused from the cache: the two make the prompt.
    rule(
        LlamaCpp,
        PrefixCacheHitRatio,
        &[
            with(
                "llamacpp:prompt_tokens_cached",
                How::DeltaRatioWithMisses("llamacpp:prompt_tokens"),
            ),
            with(
                "llamacpp.prompt_tokens_cached",
                How::DeltaRatioWithMisses("llamacpp.prompt_tokens"),
            ),
        ],
    ),
    rule(
        LlamaCpp,
        PromptTokens,
        &[
            with(
                "llamacpp:prompt_tokens",
                How::Plus("llamacpp:prompt_tokens_cached"),
            ),
            with(
                "llamacpp.prompt_tokens",
                How::Plus("llamacpp.prompt_tokens_cached"),
            ),
        ],
    ),
    rule(
        LlamaCpp,
        GenerationTokens,
        &[
            plain("llamacpp:tokens_predicted"),
            plain("llamacpp.tokens_predicted"),
        ],
    ),
    // vLLM: v1 names first, then the ones they replaced (gpu_cache_usage_perc,
    // gpu_prefix_cache_*, time_per_output_token_seconds), then v0's hit-rate gauge.
    rule(Vllm, RequestsRunning, &[plain("vllm:num_requests_running")]),
    rule(Vllm, RequestsWaiting, &[plain("vllm:num_requests_waiting")]),
    rule(
        Vllm,
        KvCacheUsage,
        &[
            plain("vllm:kv_cache_usage_perc"),
            plain("vllm:gpu_cache_usage_perc"),
        ],
    ),
    rule(
        Vllm,
        PrefixCacheHitRatio,
        &[
            with(
                "vllm:prefix_cache_hits",
                How::DeltaRatio("vllm:prefix_cache_queries"),
            ),
            with(
                "vllm:gpu_prefix_cache_hits",
                How::DeltaRatio("vllm:gpu_prefix_cache_queries"),
            ),
            plain("vllm:gpu_prefix_cache_hit_rate"),
        ],
    ),
    rule(Vllm, PromptTokens, &[plain("vllm:prompt_tokens")]),
    rule(Vllm, GenerationTokens, &[plain("vllm:generation_tokens")]),
    rule(
        Vllm,
        TimeToFirstToken,
        &[plain("vllm:time_to_first_token_seconds")],
    ),
    rule(
        Vllm,
        TimePerOutputToken,
        &[
            plain("vllm:inter_token_latency_seconds"),
            plain("vllm:time_per_output_token_seconds"),
        ],
    ),
    rule(
        Vllm,
        RequestDuration,
        &[plain("vllm:e2e_request_latency_seconds")],
    ),
    rule(
        Vllm,
        QueueDuration,
        &[plain("vllm:request_queue_time_seconds")],
    ),
    rule(Vllm, Preemptions, &[plain("vllm:num_preemptions")]),
    // SGLang: current names first, then those of the builds that labelled `name`.
    rule(
        Sglang,
        RequestsRunning,
        &[
            plain("sglang:num_running_reqs"),
            plain("sglang:num_requests_running"),
        ],
    ),
    rule(
        Sglang,
        RequestsWaiting,
        &[
            plain("sglang:num_queue_reqs"),
            plain("sglang:num_requests_waiting"),
        ],
    ),
    rule(Sglang, KvCacheUsage, &[plain("sglang:token_usage")]),
    rule(
        Sglang,
        PrefixCacheHitRatio,
        &[with(
            "sglang:cache_hit_rate",
            How::PercentWhenLabelled("name"),
        )],
    ),
    rule(Sglang, PromptTokens, &[plain("sglang:prompt_tokens")]),
    rule(
        Sglang,
        GenerationTokens,
        &[plain("sglang:generation_tokens")],
    ),
    rule(
        Sglang,
        TimeToFirstToken,
        &[plain("sglang:time_to_first_token_seconds")],
    ),
    rule(
        Sglang,
        TimePerOutputToken,
        &[plain("sglang:time_per_output_token_seconds")],
    ),
    rule(
        Sglang,
        RequestDuration,
        &[plain("sglang:e2e_request_latency_seconds")],
    ),
    rule(
        Sglang,
        QueueDuration,
        &[
            plain("sglang:queue_time_seconds"),
            plain("sglang:waiting_request_latency_seconds"),
        ],
    ),
    rule(
        Sglang,
        Preemptions,
        &[plain("sglang:num_retracted_requests")],
    ),
    // TGI: no KV cache, prefix cache or first-token metric; tokens only as histograms.
    rule(Tgi, RequestsRunning, &[plain("tgi_batch_current_size")]),
    rule(Tgi, RequestsWaiting, &[plain("tgi_queue_size")]),
    rule(
        Tgi,
        PromptTokens,
        &[with("tgi_request_input_length", How::HistogramSum)],
    ),
    rule(
        Tgi,
        GenerationTokens,
        &[with("tgi_request_generated_tokens", How::HistogramSum)],
    ),
    rule(
        Tgi,
        TimePerOutputToken,
        &[plain("tgi_request_mean_time_per_token_duration")],
    ),
    rule(Tgi, RequestDuration, &[plain("tgi_request_duration")]),
    rule(Tgi, QueueDuration, &[plain("tgi_request_queue_duration")]),
    // Triton: the TensorRT-LLM backend's batch-manager gauges (running = `scheduled`, as
    // the Gateway API Inference Extension reads it), the core's pending count, and the
    // first-response histogram (milliseconds). Triton's request and queue times are
    // cumulative microsecond counters, not histograms: not mapped.
    rule(
        Triton,
        RequestsRunning,
        &[selected(
            "nv_trt_llm_request_metrics",
            "request_type",
            "scheduled",
        )],
    ),
    rule(
        Triton,
        RequestsWaiting,
        &[
            selected("nv_trt_llm_request_metrics", "request_type", "waiting"),
            plain("nv_inference_pending_request_count"),
        ],
    ),
    rule(
        Triton,
        KvCacheUsage,
        &[
            selected(
                "nv_trt_llm_kv_cache_block_metrics",
                "kv_cache_block_type",
                "fraction",
            ),
            Source {
                name: "nv_trt_llm_kv_cache_block_metrics",
                select: Some(("kv_cache_block_type", "used")),
                how: How::Over("kv_cache_block_type", "max"),
            },
        ],
    ),
    rule(
        Triton,
        TimeToFirstToken,
        &[with(
            "nv_inference_first_response_histogram_ms",
            How::Scale(0.001),
        )],
    ),
];
