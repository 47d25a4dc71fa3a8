//! Readers for llama-server's endpoints. Versions differ (see the issue and the fixtures),
//! so nothing here relies on `# TYPE` lines or a fixed list of names.

use serde_json::Value as Json;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("line {line}: {what}")]
    Line { line: usize, what: String },
    #[error("not JSON: {0}")]
    Json(String),
    #[error("unexpected shape: {0}")]
    Shape(&'static str),
}

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses Prometheus text exposition 0.0.4 with the `prometheus` receiver's parser (one
/// parser for both receivers), flattened to samples: llama.cpp versions differ, so the
/// caller reads names, not families. Any malformed line is an error.
pub fn prometheus_text(text: &str) -> Result<Vec<Sample>, ParseError> {
    let families = crate::prometheus::parse::parse(text, crate::prometheus::parse::Format::Text)
        .map_err(|e| ParseError::Line {
            line: e.line,
            what: e.what,
        })?;
    Ok(families
        .into_iter()
        .flat_map(|f| f.samples)
        .map(|s| Sample {
            name: s.name,
            labels: s.labels,
            value: s.value,
        })
        .collect())
}

/// One entry of `/slots`. Fields a slot has not got yet (no task so far) are `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slot {
    pub id: i64,
    pub n_ctx: Option<i64>,
    pub processing: Option<bool>,
    pub n_decoded: Option<i64>,
    pub n_remain: Option<i64>,
    /// Tokens of the current task's prompt (cached ones included).
    pub n_prompt_tokens: Option<i64>,
}

pub fn slots(body: &[u8]) -> Result<Vec<Slot>, ParseError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let array = json
        .as_array()
        .ok_or(ParseError::Shape("/slots must be a JSON array"))?;
    array
        .iter()
        .map(|s| {
            let id = s
                .get("id")
                .and_then(Json::as_i64)
                .ok_or(ParseError::Shape("a slot without an `id`"))?;
            // `next_token` is an object in older builds and an array of one object in newer ones.
            let next = match s.get("next_token") {
                Some(Json::Array(a)) => a.first(),
                Some(other) => Some(other),
                None => None,
            };
            Ok(Slot {
                id,
                n_ctx: s.get("n_ctx").and_then(Json::as_i64),
                processing: s
                    .get("is_processing")
                    .and_then(Json::as_bool)
                    .or_else(|| s.get("state").and_then(Json::as_i64).map(|st| st != 0)),
                n_decoded: next.and_then(|n| n.get("n_decoded")).and_then(Json::as_i64),
                // -1 is the server's "no limit / no task" sentinel, not a count: left out.
                n_remain: next
                    .and_then(|n| n.get("n_remain"))
                    .and_then(Json::as_i64)
                    .filter(|n| *n >= 0),
                n_prompt_tokens: s.get("n_prompt_tokens").and_then(Json::as_i64),
            })
        })
        .collect()
}

/// The server's state per `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Loading,
    Error,
    Unreachable,
}

impl Health {
    pub const ALL: [Health; 4] = [
        Health::Ok,
        Health::Loading,
        Health::Error,
        Health::Unreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Loading => "loading",
            Health::Error => "error",
            Health::Unreachable => "unreachable",
        }
    }
}

/// Reads `/health` from its status and body, old and new shapes:
/// `{"status":"ok"}`, `{"status":"loading model"}`, `{"status":"ok","slots_idle":..}`,
/// `{"error":{"code":503,"message":"Loading model"}}`.
pub fn health(status: u16, body: &[u8]) -> Health {
    let json: Option<Json> = serde_json::from_slice(body).ok();
    let text = json
        .as_ref()
        .and_then(|j| {
            j.get("status").and_then(Json::as_str).or_else(|| {
                j.get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Json::as_str)
            })
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    if text.contains("loading") {
        return Health::Loading;
    }
    match status {
        200 if text.is_empty() || text == "ok" || text.contains("no slot") => Health::Ok,
        200 => Health::Ok,
        503 if text.is_empty() => Health::Loading,
        _ => Health::Error,
    }
}

/// What `/props` says about the server.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Props {
    pub model: Option<String>,
    pub total_slots: Option<i64>,
    pub n_ctx: Option<i64>,
    pub build: Option<String>,
    pub endpoints: Vec<String>,
}

pub fn props(body: &[u8]) -> Result<Props, ParseError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    if !json.is_object() {
        return Err(ParseError::Shape("/props must be a JSON object"));
    }
    let text = |k: &str| {
        json.get(k)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let endpoints = ["metrics", "slots", "props"]
        .into_iter()
        .filter(|e| json.get(format!("endpoint_{e}")).and_then(Json::as_bool) == Some(true))
        .map(str::to_string)
        .collect();
    Ok(Props {
        model: text("model_alias").or_else(|| text("model_path")),
        total_slots: json.get("total_slots").and_then(Json::as_i64),
        n_ctx: json
            .get("default_generation_settings")
            .and_then(|d| d.get("n_ctx"))
            .and_then(Json::as_i64),
        build: text("build_info"),
        endpoints,
    })
}
