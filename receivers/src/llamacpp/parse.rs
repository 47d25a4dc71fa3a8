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

/// Parses Prometheus text exposition 0.0.4: comments skipped, labels with escapes,
/// `NaN`/`+Inf`/`-Inf`, optional timestamps. Any malformed line is an error.
pub fn prometheus_text(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |what: &str| ParseError::Line {
            line: i + 1,
            what: what.to_string(),
        };
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| err("a sample needs a value"))?;
        let name = &line[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(err("invalid metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(body) = rest.strip_prefix('{') {
            let (parsed, after) = parse_labels(body).map_err(&err)?;
            labels = parsed;
            rest = after;
        }
        let mut parts = rest.split_whitespace();
        let value = parts.next().ok_or_else(|| err("missing value"))?;
        let value = match value {
            "NaN" => f64::NAN,
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse::<f64>().map_err(|_| err("value is not a number"))?,
        };
        if let Some(ts) = parts.next() {
            ts.parse::<i64>()
                .map_err(|_| err("timestamp is not an integer"))?;
        }
        if parts.next().is_some() {
            return Err(err("trailing text after the timestamp"));
        }
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

/// Label pairs of one sample.
type LabelPairs = Vec<(String, String)>;

/// Parses `a="1",b="2"}` and returns the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Result<(LabelPairs, &str), &'static str> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without `=`")?;
        let key = s[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err("invalid label name");
        }
        s = s[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or("label value must be quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated escape"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value"),
            }
        };
        labels.push((key.to_string(), value));
        s = s[end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// One entry of `/slots`. Fields a slot has not got yet (no task so far) are `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slot {
    pub id: i64,
    pub n_ctx: Option<i64>,
    pub processing: Option<bool>,
    pub n_decoded: Option<i64>,
    pub n_remain: Option<i64>,
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
