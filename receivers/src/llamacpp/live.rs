//! The llama.cpp panel of the admin server's live page: one row per target per scrape,
//! read from the metrics the scrape just made, so the page shows exactly what is exported.

use llamacol_api::live::{Live, Panel};
use llamacol_api::otlp::common::v1::any_value::Value;
use llamacol_api::otlp::metrics::v1::{metric::Data, number_data_point, Metric};

/// The live page's llama.cpp panel (its key in `/api/live`).
pub const PANEL: Panel = Panel::new("llamacpp");

pub const COLUMNS: &[&str] = &[
    "up",
    "prompt_tokens_per_s",
    "generated_tokens_per_s",
    "slots_busy",
    "slots_total",
    "requests_processing",
    "requests_deferred",
];

/// The first point's value of the gauge or sum `name`.
fn value(metrics: &[Metric], name: &str) -> Option<f64> {
    let points = match metrics.iter().find(|m| m.name == name)?.data.as_ref()? {
        Data::Gauge(g) => &g.data_points,
        Data::Sum(s) => &s.data_points,
        _ => return None,
    };
    match points.first()?.value? {
        number_data_point::Value::AsDouble(v) => Some(v),
        number_data_point::Value::AsInt(v) => Some(v as f64),
    }
}

/// The state whose `llamacpp.health.status` point is 1 (`ok`, `loading`, ...).
fn health(metrics: &[Metric]) -> Option<String> {
    let Some(Data::Gauge(g)) = metrics
        .iter()
        .find(|m| m.name == "llamacpp.health.status")?
        .data
        .as_ref()
    else {
        return None;
    };
    g.data_points
        .iter()
        .find(|p| p.value == Some(number_data_point::Value::AsDouble(1.0)))?
        .attributes
        .first()
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

pub struct Target<'a> {
    pub name: &'a str,
    pub endpoint: &'a str,
    pub model: Option<&'a str>,
}

pub fn record(live: &Live, target: &Target<'_>, metrics: &[Metric], now: f64) {
    let info = serde_json::json!({
        "name": target.name,
        "endpoint": target.endpoint,
        "model": target.model,
        "health": health(metrics).unwrap_or_else(|| "unknown".into()),
    });
    let row = [
        value(metrics, "llamacpp.up"),
        value(metrics, "llamacpp.prompt_tokens.rate"),
        value(metrics, "llamacpp.generated_tokens.rate"),
        value(metrics, "llamacpp.slots.busy"),
        value(metrics, "llamacpp.slots.total"),
        value(metrics, "llamacpp.requests_processing"),
        value(metrics, "llamacpp.requests_deferred"),
    ];
    live.record(PANEL, target.endpoint, info, COLUMNS, now, &row);
}
