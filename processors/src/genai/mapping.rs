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
    // OpenLLMetry (Traceloop).
    rule(OPENLLMETRY, "llm.request.model", "gen_ai.request.model", Same),
    rule(OPENLLMETRY, "llm.response.model", "gen_ai.response.model", Same),
    rule(OPENLLMETRY, "llm.is_streaming", "gen_ai.request.stream", Bool),
    rule(OPENLLMETRY, "llm.top_k", "gen_ai.request.top_k", Int),
    rule(OPENLLMETRY, "llm.frequency_penalty", "gen_ai.request.frequency_penalty", Double),
    rule(OPENLLMETRY, "llm.presence_penalty", "gen_ai.request.presence_penalty", Double),
    rule(OPENLLMETRY, "llm.chat.stop_sequences", "gen_ai.request.stop_sequences", StringArray),
    rule(OPENLLMETRY, "llm.response.stop_reason", "gen_ai.response.finish_reasons", OneElementArray),
    rule(OPENLLMETRY, "gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_read.input_tokens", Int),
    rule(OPENLLMETRY, "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.cache_creation.input_tokens", Int),
    rule(OPENLLMETRY, "llm.request.type", "", Derive),
    rule(OPENLLMETRY, "llm.usage.total_tokens", "", Derive),
    // OpenInference (Arize).
    rule(OPENINFERENCE, "llm.provider", "gen_ai.provider.name", Provider),
    rule(OPENINFERENCE, "llm.model_name", "gen_ai.request.model", Same),
    rule(OPENINFERENCE, "llm.token_count.prompt", "gen_ai.usage.input_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.completion", "gen_ai.usage.output_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.prompt_details.cache_read", "gen_ai.usage.cache_read.input_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.completion_details.reasoning", "gen_ai.usage.reasoning.output_tokens", Int),
    rule(OPENINFERENCE, "llm.token_count.total", "", Derive),
    rule(OPENINFERENCE, "openinference.span.kind", "", Derive),
    rule(OPENINFERENCE, "llm.invocation_parameters", "", Derive),
];

/// Open-addressing table of the rows' keys (FNV-1a, linear probing): every attribute of
/// every span is looked up, and most are not legacy keys, so a miss must be cheap.
const SLOTS: usize = 128;

fn fnv(key: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h as usize
}

/// Slot -> row + 1 (0: empty).
static TABLE: std::sync::LazyLock<[u8; SLOTS]> = std::sync::LazyLock::new(|| {
    let mut table = [0u8; SLOTS];
    for (row, rule) in RULES.iter().enumerate() {
        let mut slot = fnv(rule.from) % SLOTS;
        while table[slot] != 0 {
            slot = (slot + 1) % SLOTS;
        }
        table[slot] = u8::try_from(row + 1).unwrap_or(0);
    }
    table
});

/// The row for `key`, if it is a legacy key.
pub fn lookup(key: &str) -> Option<(usize, &'static Rule)> {
    // Every legacy key starts with one of these: a cheap test before hashing.
    if !(key.starts_with("llm.") || key.starts_with("gen_ai.") || key.starts_with("openinference."))
    {
        return None;
    }
    let table = &*TABLE;
    let mut slot = fnv(key) % SLOTS;
    loop {
        let row = usize::from(table[slot]).checked_sub(1)?;
        if RULES[row].from == key {
            return Some((row, &RULES[row]));
        }
        slot = (slot + 1) % SLOTS;
    }
}

/// `llm.invocation_parameters` (OpenInference: the request's JSON parameters): key in
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

/// The operation name a span gets when it has none, from OpenLLMetry's
/// `llm.request.type` or OpenInference's span kind (`chat` otherwise).
pub fn operation_from(request_type: Option<&str>, span_kind: Option<&str>) -> &'static str {
    match (request_type, span_kind) {
        (Some("completion"), _) => "text_completion",
        (Some("embedding"), _) => "embeddings",
        (_, Some("EMBEDDING")) => "embeddings",
        _ => "chat",
    }
}
