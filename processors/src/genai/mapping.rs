//! The one table of legacy GenAI attribute names and what each becomes in the current
//! GenAI semantic conventions (README "genai processor" lists the same rows; a test
//! keeps the two equal). Rows are tried in order: when two legacy keys on one span map
//! to the same attribute, the earlier row wins, and an attribute already in current
//! form always wins over every legacy one.

/// How a legacy value becomes the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convert {
    /// Copied as it is.
    Same,
    /// An integer (a token count or a limit sent as a string or a float is converted).
    Int,
    /// A floating-point number (an integer is converted).
    Double,
    /// A boolean (`"true"` / `"false"` strings are converted).
    Bool,
    /// A provider name, with the conventions' renames (`vertex_ai` -> `gcp.vertex_ai`,
    /// `az.ai.openai` -> `azure.ai.openai`, ...) and OpenInference's provider names.
    Provider,
    /// A single string becomes a one-element array (`finish_reason` -> `finish_reasons`).
    OneElementArray,
    /// A string array (a single string becomes one element).
    StringArray,
    /// Read only to derive others (operation name, request parameters, totals); removed
    /// unless `keep_original`.
    Derive,
}

/// One legacy attribute.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub from: &'static str,
    /// Empty for [`Convert::Derive`].
    pub to: &'static str,
    pub convert: Convert,
    /// Which naming scheme uses it (documentation and test names).
    pub scheme: &'static str,
}

const fn rule(
    scheme: &'static str,
    from: &'static str,
    to: &'static str,
    convert: Convert,
) -> Rule {
    Rule {
        from,
        to,
        convert,
        scheme,
    }
}

use Convert::*;

const LLAMATELEMETRY: &str = "llamatelemetry";
const OLD_SEMCONV: &str = "older GenAI semconv";
const OPENLLMETRY: &str = "OpenLLMetry";
const OPENINFERENCE: &str = "OpenInference";
const OPENLIT: &str = "OpenLIT";

#[rustfmt::skip]
pub static RULES: &[Rule] = &[
    // Home-made `llm.*` names of the llamatelemetry notebooks (OpenInference shares
    // `llm.system`).
    rule(LLAMATELEMETRY, "llm.system", "gen_ai.provider.name", Provider),
    rule(LLAMATELEMETRY, "llm.model", "gen_ai.request.model", Same),
    rule(LLAMATELEMETRY, "llm.request.max_tokens", "gen_ai.request.max_tokens", Int),
    rule(LLAMATELEMETRY, "llm.request.temperature", "gen_ai.request.temperature", Double),
    rule(LLAMATELEMETRY, "llm.response.finish_reason", "gen_ai.response.finish_reasons", OneElementArray),
    rule(LLAMATELEMETRY, "llm.usage.input_tokens", "gen_ai.usage.input_tokens", Int),
    rule(LLAMATELEMETRY, "llm.usage.output_tokens", "gen_ai.usage.output_tokens", Int),
    // GenAI semantic conventions before `gen_ai.provider.name` (v1.36 and earlier).
    rule(OLD_SEMCONV, "gen_ai.system", "gen_ai.provider.name", Provider),
    rule(OLD_SEMCONV, "gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens", Int),
    rule(OLD_SEMCONV, "gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens", Int),
    rule(OLD_SEMCONV, "gen_ai.openai.request.seed", "gen_ai.request.seed", Int),
    rule(OLD_SEMCONV, "gen_ai.openai.request.service_tier", "openai.request.service_tier", Same),
    rule(OLD_SEMCONV, "gen_ai.openai.response.service_tier", "openai.response.service_tier", Same),
    rule(OLD_SEMCONV, "gen_ai.openai.response.system_fingerprint", "openai.response.system_fingerprint", Same),
    // OpenLLMetry (Traceloop; opentelemetry-semantic-conventions-ai).
    rule(OPENLLMETRY, "llm.request.model", "gen_ai.request.model", Same),
    rule(OPENLLMETRY, "llm.response.model", "gen_ai.response.model", Same),
    rule(OPENLLMETRY, "gen_ai.is_streaming", "gen_ai.request.stream", Bool),
    rule(OPENLLMETRY, "llm.is_streaming", "gen_ai.request.stream", Bool),
    rule(OPENLLMETRY, "llm.top_k", "gen_ai.request.top_k", Int),
    rule(OPENLLMETRY, "llm.frequency_penalty", "gen_ai.request.frequency_penalty", Double),
    rule(OPENLLMETRY, "llm.presence_penalty", "gen_ai.request.presence_penalty", Double),
    rule(OPENLLMETRY, "llm.chat.stop_sequences", "gen_ai.request.stop_sequences", StringArray),
    rule(OPENLLMETRY, "gen_ai.request.n", "gen_ai.request.choice.count", Int),
    rule(OPENLLMETRY, "gen_ai.request.max_completion_tokens", "gen_ai.request.max_tokens", Int),
    rule(OPENLLMETRY, "gen_ai.response.finish_reason", "gen_ai.response.finish_reasons", OneElementArray),
    rule(OPENLLMETRY, "gen_ai.response.stop_reason", "gen_ai.response.finish_reasons", OneElementArray),
    rule(OPENLLMETRY, "llm.response.stop_reason", "gen_ai.response.finish_reasons", OneElementArray),
    rule(OPENLLMETRY, "gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_read.input_tokens", Int),
    rule(OPENLLMETRY, "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.cache_creation.input_tokens", Int),
    rule(OPENLLMETRY, "gen_ai.usage.reasoning_tokens", "gen_ai.usage.reasoning.output_tokens", Int),
    rule(OPENLLMETRY, "llm.usage.reasoning_tokens", "gen_ai.usage.reasoning.output_tokens", Int),
    rule(OPENLLMETRY, "gen_ai.openai.system_fingerprint", "openai.response.system_fingerprint", Same),
    rule(OPENLLMETRY, "gen_ai.user", "user.id", Same),
    rule(OPENLLMETRY, "llm.user", "user.id", Same),
    rule(OPENLLMETRY, "llm.request.type", "", Derive),
    rule(OPENLLMETRY, "traceloop.span.kind", "", Derive),
    rule(OPENLLMETRY, "gen_ai.openai.api_base", "", Derive),
    rule(OPENLLMETRY, "llm.usage.total_tokens", "", Derive),
    rule(OPENLLMETRY, "gen_ai.usage.total_tokens", "", Derive),
    // OpenInference (Arize; openinference-semantic-conventions). `llm.model_name` is the
    // model that answered (its OpenAI instrumentation reads it from the response); the
    // requested one comes from `llm.invocation_parameters` (or, when no request model is
    // found anywhere, from `llm.model_name` too: see normalize.rs).
    rule(OPENINFERENCE, "llm.provider", "gen_ai.provider.name", Provider),
    rule(OPENINFERENCE, "llm.request.model_name", "gen_ai.request.model", Same),
    rule(OPENINFERENCE, "llm.response.model_name", "gen_ai.response.model", Same),
    rule(OPENINFERENCE, "llm.model_name", "gen_ai.response.model", Same),
    rule(OPENINFERENCE, "embedding.model_name", "gen_ai.request.model", Same),
    rule(OPENINFERENCE, "reranker.model_name", "gen_ai.request.model", Same),
    rule(OPENINFERENCE, "llm.token_count.prompt", "gen_ai.usage.input_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.completion", "gen_ai.usage.output_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.prompt_details.cache_read", "gen_ai.usage.cache_read.input_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.prompt_details.cache_write", "gen_ai.usage.cache_creation.input_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.prompt_details.audio", "gen_ai.usage.audio.input_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.completion_details.reasoning", "gen_ai.usage.reasoning.output_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.completion_details.audio", "gen_ai.usage.audio.output_tokens", Int),
    rule(OPENINFERENCE, "llm.finish_reason", "gen_ai.response.finish_reasons", OneElementArray),
    rule(OPENINFERENCE, "llm.cost.total", "gen_ai.usage.cost", Double),
    rule(OPENINFERENCE, "tool.name", "gen_ai.tool.name", Same),
    rule(OPENINFERENCE, "tool.description", "gen_ai.tool.description", Same),
    rule(OPENINFERENCE, "tool.id", "gen_ai.tool.call.id", Same),
    rule(OPENINFERENCE, "agent.name", "gen_ai.agent.name", Same),
    rule(OPENINFERENCE, "session.id", "gen_ai.conversation.id", Same),
    rule(OPENINFERENCE, "llm.token_count.total", "", Derive),
    rule(OPENINFERENCE, "openinference.span.kind", "", Derive),
    rule(OPENINFERENCE, "llm.invocation_parameters", "", Derive),
    rule(OPENINFERENCE, "embedding.invocation_parameters", "", Derive),
    // OpenLIT (openlit.semcov). Its `gen_ai.server.*` timings are attributes of the
    // client span, set on non-streaming calls too (then equal to the whole latency):
    // read only to derive the time to first chunk of a streaming call.
    rule(OPENLIT, "gen_ai.request.user", "user.id", Same),
    rule(OPENLIT, "gen_ai.user.id", "user.id", Same),
    rule(OPENLIT, "gen_ai.session.id", "gen_ai.conversation.id", Same),
    rule(OPENLIT, "gen_ai.request.embedding_dimension", "gen_ai.embeddings.dimension.count", Int),
    rule(OPENLIT, "gen_ai.usage.completion_tokens_details.reasoning_tokens", "gen_ai.usage.reasoning.output_tokens", Int),
    rule(OPENLIT, "gen_ai.usage.completion_tokens_details.audio_tokens", "gen_ai.usage.audio.output_tokens", Int),
    rule(OPENLIT, "gen_ai.usage.prompt_tokens_details.cached_tokens", "gen_ai.usage.cache_read.input_tokens", Int),
    rule(OPENLIT, "gen_ai.usage.prompt_tokens_details.cache_creation_tokens", "gen_ai.usage.cache_creation.input_tokens", Int),
    rule(OPENLIT, "gen_ai.server.time_to_first_token", "", Derive),
    rule(OPENLIT, "gen_ai.server.ttft", "", Derive),
    rule(OPENLIT, "gen_ai.server.time_per_output_token", "", Derive),
    rule(OPENLIT, "gen_ai.server.tbt", "", Derive),
    rule(OPENLIT, "gen_ai.client.token.usage", "", Derive),
];

/// Open-addressing table of the rows' keys (`keys::key_hash`, linear probing): every
/// attribute of every span is looked up, and most are not legacy keys, so a miss must be
/// cheap.
const SLOTS: usize = 256;

/// Slot -> row + 1 (0: empty).
static TABLE: std::sync::LazyLock<[u8; SLOTS]> = std::sync::LazyLock::new(|| {
    let mut table = [0u8; SLOTS];
    for (row, rule) in RULES.iter().enumerate() {
        let mut slot = super::keys::key_hash(rule.from.as_bytes()) % SLOTS;
        while table[slot] != 0 {
            slot = (slot + 1) % SLOTS;
        }
        table[slot] = u8::try_from(row + 1).unwrap_or(0);
    }
    table
});

/// The row for `key`, if it is a legacy key.
pub fn lookup(key: &str) -> Option<(usize, &'static Rule)> {
    // Every legacy key starts with one of these letters (the lookup test finds every
    // row): a cheaper test than hashing.
    if !matches!(
        key.as_bytes().first(),
        Some(b'g' | b'l' | b'o' | b'e' | b'r' | b't' | b'a' | b's')
    ) {
        return None;
    }
    let table = &*TABLE;
    let mut slot = super::keys::key_hash(key.as_bytes()) % SLOTS;
    loop {
        let row = usize::from(table[slot]).checked_sub(1)?;
        if RULES[row].from == key {
            return Some((row, &RULES[row]));
        }
        slot = (slot + 1) % SLOTS;
    }
}

/// `llm.invocation_parameters` and `embedding.invocation_parameters` (OpenInference: the
/// request's JSON parameters): key in
/// the JSON object, current attribute, conversion.
pub static INVOCATION_PARAMETERS: &[(&str, &str, Convert)] = &[
    ("temperature", "gen_ai.request.temperature", Double),
    ("max_tokens", "gen_ai.request.max_tokens", Int),
    ("max_completion_tokens", "gen_ai.request.max_tokens", Int),
    ("top_p", "gen_ai.request.top_p", Double),
    ("top_k", "gen_ai.request.top_k", Int),
    (
        "frequency_penalty",
        "gen_ai.request.frequency_penalty",
        Double,
    ),
    (
        "presence_penalty",
        "gen_ai.request.presence_penalty",
        Double,
    ),
    ("seed", "gen_ai.request.seed", Int),
    ("stop", "gen_ai.request.stop_sequences", StringArray),
    ("n", "gen_ai.request.choice.count", Int),
    ("stream", "gen_ai.request.stream", Bool),
    ("model", "gen_ai.request.model", Same),
    // LangChain's parameters name the model so.
    ("model_name", "gen_ai.request.model", Same),
    (
        "encoding_format",
        "gen_ai.request.encoding_formats",
        StringArray,
    ),
    ("dimensions", "gen_ai.embeddings.dimension.count", Int),
];

/// Provider names: the conventions' renames of `gen_ai.system` values, and the names
/// OpenInference's `llm.provider` uses. Anything else is kept, lower-cased.
pub static PROVIDER_RENAMES: &[(&str, &str)] = &[
    ("vertex_ai", "gcp.vertex_ai"),
    ("gemini", "gcp.gemini"),
    ("google", "gcp.gen_ai"),
    ("az.ai.openai", "azure.ai.openai"),
    ("az.ai.inference", "azure.ai.inference"),
    ("azure", "azure.ai.openai"),
    ("aws", "aws.bedrock"),
    ("bedrock", "aws.bedrock"),
    ("xai", "x_ai"),
    ("mistralai", "mistral_ai"),
];

/// What the schemes say a span is, beside its attributes: OpenLLMetry's
/// `llm.request.type` and `traceloop.span.kind`, OpenInference's span kind.
#[derive(Debug, Default)]
pub struct Hints {
    pub request_type: Option<String>,
    pub traceloop_kind: Option<String>,
    pub openinference_kind: Option<String>,
    /// The span has no parent: a chain at the root is the workflow.
    pub root: bool,
}

/// The operation a span without `gen_ai.operation.name` performs, by its hints: `Some`
/// when the hints name one; `None` when they name none (an OpenInference CHAIN below
/// the root, a PROMPT, a Traceloop task, ...).
pub fn operation_from(hints: &Hints) -> Option<&'static str> {
    if let Some(kind) = hints.openinference_kind.as_deref() {
        return match kind {
            "LLM" => Some(match hints.request_type.as_deref() {
                Some("completion") => "text_completion",
                _ => "chat",
            }),
            "EMBEDDING" => Some("embeddings"),
            "RETRIEVER" => Some("retrieval"),
            "TOOL" => Some("execute_tool"),
            "AGENT" => Some("invoke_agent"),
            "CHAIN" if hints.root => Some("invoke_workflow"),
            _ => None,
        };
    }
    if let Some(kind) = hints.traceloop_kind.as_deref() {
        match kind {
            "workflow" => return Some("invoke_workflow"),
            "agent" => return Some("invoke_agent"),
            "tool" => return Some("execute_tool"),
            // A task is any decorated function; an LLM call inside one has its own span.
            _ => {}
        }
    }
    match hints.request_type.as_deref() {
        Some("completion") => Some("text_completion"),
        Some("embedding") => Some("embeddings"),
        Some("chat") => Some("chat"),
        _ => None,
    }
}

/// Whether an operation is a call to a model (the one kind of span that a model or
/// token usage alone makes a GenAI span).
pub fn calls_a_model(operation: &str) -> bool {
    matches!(
        operation,
        "chat" | "text_completion" | "embeddings" | "generate_content"
    )
}
