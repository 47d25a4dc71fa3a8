//! OTLP names to Prometheus names, per the OpenTelemetry compatibility spec
//! (prometheus_and_openmetrics.md) and the Collector's translator: sanitised names,
//! UCUM unit suffixes, `_total` on counters, `_ratio` for unit `1` gauges.

use serde::Deserialize;

/// How metric and label names are translated (the Collector's `translation_strategy`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum TranslationStrategy {
    /// Invalid characters become `_`; unit and type suffixes are added. The default.
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Invalid characters become `_`; no suffixes.
    UnderscoreEscapingWithoutSuffixes,
    /// Names and label keys are kept as they are (needs a UTF-8-aware scraper, e.g.
    /// Prometheus 3); no suffixes.
    NoTranslation,
}

/// What kind of Prometheus family an OTLP metric becomes; decides the suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FamilyType {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

impl FamilyType {
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyType::Gauge => "gauge",
            FamilyType::Counter => "counter",
            FamilyType::Histogram => "histogram",
            FamilyType::Summary => "summary",
        }
    }
}

fn valid_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

/// Replaces runs of invalid characters with one `_` (the spec's "multiple consecutive `_`
/// MUST be replaced with a single `_`"), keeping `:` (legal in metric names).
fn escape(name: &str, allow_colon: bool) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':');
        let c = if ok { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The Prometheus metric family name for an OTLP metric.
pub fn metric_name(
    name: &str,
    unit: &str,
    family: FamilyType,
    namespace: Option<&str>,
    strategy: TranslationStrategy,
) -> String {
    if strategy == TranslationStrategy::NoTranslation {
        return match namespace {
            Some(ns) if !ns.is_empty() => format!("{ns}_{name}"),
            _ => name.to_string(),
        };
    }
    let mut full = match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}_{name}"),
        _ => name.to_string(),
    };
    if strategy == TranslationStrategy::UnderscoreEscapingWithSuffixes {
        let (main, per) = unit_words(unit, family);
        let mut tokens: Vec<String> = escape(&full, true)
            .split('_')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        let has = |tokens: &[String], word: &str| {
            let words: Vec<&str> = word.split('_').collect();
            tokens
                .windows(words.len())
                .any(|w| w.iter().zip(&words).all(|(a, b)| a == b))
        };
        if family == FamilyType::Counter {
            tokens.retain(|t| t != "total");
        }
        if let Some(main) = main.filter(|m| !has(&tokens, m)) {
            tokens.extend(main.split('_').map(str::to_string));
        }
        if let Some(per) = per.filter(|p| !has(&tokens, &format!("per_{p}"))) {
            tokens.push("per".into());
            tokens.push(per);
        }
        if family == FamilyType::Counter {
            tokens.push("total".into());
        }
        full = tokens.join("_");
    }
    let mut out = escape(&full, true);
    if out
        .chars()
        .next()
        .is_some_and(|c| !valid_name_char(c, true))
        || out.is_empty()
    {
        out.insert(0, '_');
    }
    out
}

/// A Prometheus label name for an OTLP attribute key.
pub fn label_name(key: &str, strategy: TranslationStrategy) -> String {
    if strategy == TranslationStrategy::NoTranslation {
        return key.to_string();
    }
    let mut out = escape(key, false);
    if out.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.is_empty() {
        out.push_str("key_");
    }
    out
}

/// The unit suffix words: the main unit and the "per" unit (`By/s` -> bytes, second).
/// `{...}` annotations are dropped; `1` becomes `ratio` on gauges only.
fn unit_words(unit: &str, family: FamilyType) -> (Option<String>, Option<String>) {
    let stripped = strip_annotations(unit);
    let (main, per) = match stripped.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (stripped.trim(), None),
    };
    let main = match main {
        "" => None,
        "1" if family == FamilyType::Gauge && per.is_none() => Some("ratio".to_string()),
        "1" => None,
        m => Some(
            main_unit(m)
                .map(str::to_string)
                .unwrap_or_else(|| escape(m, false).trim_matches('_').to_string()),
        )
        .filter(|m| !m.is_empty()),
    };
    let per = per
        .filter(|p| !p.is_empty())
        .map(|p| {
            per_unit(p)
                .map(str::to_string)
                .unwrap_or_else(|| escape(p, false).trim_matches('_').to_string())
        })
        .filter(|p| !p.is_empty());
    (main, per)
}

fn strip_annotations(unit: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// UCUM codes to Prometheus base-unit words (the Collector's table).
fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}
