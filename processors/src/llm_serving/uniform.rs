//! The uniform set: one name, unit and shape per fact, whatever engine served it.
//! `gen_ai.server.*` where the GenAI semantic conventions have the metric, `llm.server.*`
//! for the rest (README, "llm_serving").

/// How the uniform metric is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Gauge,
    /// A monotonic cumulative sum.
    Counter,
    /// An explicit-bucket histogram, cumulative.
    Histogram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uniform {
    RequestsRunning,
    RequestsWaiting,
    KvCacheUsage,
    PrefixCacheHitRatio,
    PromptTokens,
    GenerationTokens,
    TimeToFirstToken,
    TimePerOutputToken,
    RequestDuration,
    QueueDuration,
    Preemptions,
}

impl Uniform {
    pub fn name(self) -> &'static str {
        match self {
            Uniform::RequestsRunning => "llm.server.requests.running",
            Uniform::RequestsWaiting => "llm.server.requests.waiting",
            Uniform::KvCacheUsage => "llm.server.kv_cache.usage",
            Uniform::PrefixCacheHitRatio => "llm.server.prefix_cache.hit_ratio",
            // One metric, told apart by `gen_ai.token.type` as the GenAI conventions do.
            Uniform::PromptTokens | Uniform::GenerationTokens => "llm.server.tokens",
            Uniform::TimeToFirstToken => "gen_ai.server.time_to_first_token",
            Uniform::TimePerOutputToken => "gen_ai.server.time_per_output_token",
            Uniform::RequestDuration => "gen_ai.server.request.duration",
            Uniform::QueueDuration => "llm.server.queue.duration",
            Uniform::Preemptions => "llm.server.preemptions",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Uniform::RequestsRunning | Uniform::RequestsWaiting => "{request}",
            Uniform::KvCacheUsage | Uniform::PrefixCacheHitRatio => "1",
            Uniform::PromptTokens | Uniform::GenerationTokens => "{token}",
            Uniform::Preemptions => "{preemption}",
            _ => "s",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Uniform::RequestsRunning => "Requests being processed (in the running batch)",
            Uniform::RequestsWaiting => "Requests queued, not yet scheduled",
            Uniform::KvCacheUsage => "Share of the KV cache in use, 0 to 1",
            Uniform::PrefixCacheHitRatio => {
                "Share of prompt tokens served from the prefix cache since the previous point, 0 to 1"
            }
            Uniform::PromptTokens | Uniform::GenerationTokens => {
                "Tokens processed: prompt (input) and generated (output)"
            }
            Uniform::TimeToFirstToken => "Time to generate the first token",
            Uniform::TimePerOutputToken => "Time per output token after the first",
            Uniform::RequestDuration => "End-to-end request duration",
            Uniform::QueueDuration => "Time requests spent queued before being scheduled",
            Uniform::Preemptions => "Requests preempted (retracted) to free KV cache",
        }
    }

    pub fn shape(self) -> Shape {
        match self {
            Uniform::RequestsRunning
            | Uniform::RequestsWaiting
            | Uniform::KvCacheUsage
            | Uniform::PrefixCacheHitRatio => Shape::Gauge,
            Uniform::PromptTokens | Uniform::GenerationTokens | Uniform::Preemptions => {
                Shape::Counter
            }
            _ => Shape::Histogram,
        }
    }

    /// `gen_ai.token.type` of a token counter.
    pub fn token_type(self) -> Option<&'static str> {
        match self {
            Uniform::PromptTokens => Some("input"),
            Uniform::GenerationTokens => Some("output"),
            _ => None,
        }
    }
}
