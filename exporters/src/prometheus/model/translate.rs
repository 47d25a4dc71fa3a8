//! OTLP names to Prometheus names, exactly as the translator Prometheus and the Collector
//! share (`github.com/prometheus/otlptranslator` v1.0.0, `MetricNamer`/`LabelNamer` with
//! default options): sanitised names, UCUM unit suffixes, `_total` on monotonic counters,
//! `_ratio` on unit-`1` gauges. `tests.rs` checks every case of that translator's own
//! tests (`testdata/otlptranslator-v1.0.0.json`).

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

/// The OTLP kind of a metric, which decides its name's suffixes (upstream's `MetricType`):
/// `_total` on monotonic counters, `_ratio` on unit-`1` gauges only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    MonotonicCounter,
    NonMonotonicCounter,
    Histogram,
    ExponentialHistogram,
    Summary,
}

/// A name that cannot be written in the Prometheus format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("`{0}` is empty after translation to a Prometheus name")]
    Empty(String),
    #[error("`{0}` becomes `{1}`, only underscores, after translation to a Prometheus name")]
    OnlyUnderscores(String, String),
}

/// `[a-zA-Z0-9:]`: what a metric name keeps as it is (`_` is a separator).
fn metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// The non-empty runs of `name` between characters for which `split` holds.
fn fields(name: &str, split: impl Fn(char) -> bool) -> Vec<&str> {
    name.split(split).filter(|f| !f.is_empty()).collect()
}

/// The Prometheus metric family name for an OTLP metric, as the Prometheus/Collector
/// translator `github.com/prometheus/otlptranslator` v1.0.0 builds it (the version the
/// Collector 0.161.0 we test against uses; its cases are our table test).
pub fn metric_name(
    name: &str,
    unit: &str,
    kind: MetricKind,
    namespace: Option<&str>,
    strategy: TranslationStrategy,
) -> Result<String, NameError> {
    let namespace = namespace.filter(|ns| !ns.is_empty());
    let built = match strategy {
        TranslationStrategy::NoTranslation => match namespace {
            Some(ns) => format!("{ns}_{name}"),
            None => name.to_string(),
        },
        // Runs of invalid characters become one `_`; underscores already there stay.
        TranslationStrategy::UnderscoreEscapingWithoutSuffixes => {
            let keep = |c: char| !metric_char(c) && c != '_';
            let body = fields(name, keep).join("_");
            match namespace {
                Some(ns) => format!("{}_{body}", fields(ns, keep).join("_")),
                None if body.starts_with(|c: char| c.is_ascii_digit()) => format!("_{body}"),
                None => body,
            }
        }
        // Words between any invalid characters (underscores included), then the unit,
        // `total` and `ratio` words, each once and last.
        TranslationStrategy::UnderscoreEscapingWithSuffixes => {
            let mut words: Vec<String> = fields(name, |c| !metric_char(c))
                .into_iter()
                .map(str::to_string)
                .collect();
            let (main, per) = unit_suffixes(unit);
            add_unit_words(&mut words, clean_unit(&main), clean_unit(&per));
            if kind == MetricKind::MonotonicCounter {
                words.retain(|w| w != "total");
                words.push("total".into());
            }
            if unit == "1" && kind == MetricKind::Gauge {
                words.retain(|w| w != "ratio");
                words.push("ratio".into());
            }
            if let Some(ns) = namespace {
                words.insert(0, ns.to_string());
            }
            let joined = words.join("_");
            if joined.starts_with(|c: char| c.is_ascii_digit()) {
                format!("_{joined}")
            } else {
                joined
            }
        }
    };
    if built.is_empty() {
        return Err(NameError::Empty(name.to_string()));
    }
    if built != name && built.chars().all(|c| c == '_') {
        return Err(NameError::OnlyUnderscores(name.to_string(), built));
    }
    Ok(built)
}

/// Adds the unit words unless the name has them already; `per_` alone is no unit.
fn add_unit_words(words: &mut Vec<String>, main: String, per: String) {
    let mut main = if words.contains(&main) {
        String::new()
    } else {
        main
    };
    let per = match per.as_str() {
        "per_" => String::new(),
        p => {
            let p = p.strip_suffix('_').unwrap_or(p).to_string();
            if words.contains(&p) {
                String::new()
            } else {
                p
            }
        }
    };
    if !per.is_empty() {
        if let Some(m) = main.strip_suffix('_') {
            main = m.to_string();
        }
    }
    for word in [main, per] {
        if !word.is_empty() {
            words.push(word);
        }
    }
}

/// A Prometheus label name for an OTLP attribute key: runs of characters other than
/// `[a-zA-Z0-9]` become one `_`; a reserved `__name__`-style key keeps its outer `__`;
/// a leading digit gets `key_`. Keys that end up empty or only underscores are refused.
pub fn label_name(key: &str, strategy: TranslationStrategy) -> Result<String, NameError> {
    let only_underscores = |s: &str| s.chars().all(|c| c == '_');
    if key.is_empty() {
        return Err(NameError::Empty(key.to_string()));
    }
    if strategy == TranslationStrategy::NoTranslation {
        if only_underscores(key) {
            return Err(NameError::OnlyUnderscores(key.to_string(), key.to_string()));
        }
        return Ok(key.to_string());
    }
    let reserved = key.len() >= 4 && key.starts_with("__") && key.ends_with("__");
    let inner = if reserved {
        &key[2..key.len() - 2]
    } else {
        key
    };
    let mut out = String::with_capacity(key.len() + 4);
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if reserved {
        out = format!("__{out}__");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    if only_underscores(&out) {
        return Err(NameError::OnlyUnderscores(key.to_string(), out));
    }
    Ok(out)
}

/// The unit as Prometheus metadata names it: the words the name's suffix uses (`s` ->
/// `seconds`, `By/s` -> `bytes_per_second`, `1` and annotations -> nothing).
pub fn prometheus_unit(unit: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let joined = [main, per]
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    clean_unit(&joined)
}

/// The unit's main and "per" words before cleaning (`By/s` -> `bytes`, `per_second`). A
/// part with a `{...}` annotation anywhere gives no word; `1` gives none.
fn unit_suffixes(unit: &str) -> (String, String) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    let word = |part: &str, table: fn(&str) -> Option<&'static str>| {
        let part = part.trim();
        if part.is_empty() || part.contains(['{', '}']) {
            String::new()
        } else {
            table(part).map_or_else(|| part.to_string(), str::to_string)
        }
    };
    let main = word(main, main_unit);
    let per = per
        .filter(|p| !p.is_empty())
        .map(|p| word(p, per_unit))
        .filter(|p| !p.is_empty())
        .map(|p| format!("per_{p}"))
        .unwrap_or_default();
    (main, per)
}

/// Invalid characters become `_`, runs of `_` collapse, a leading `_` goes.
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if metric_char(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out.strip_prefix('_').map(str::to_string).unwrap_or(out)
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
        "1" => "",
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
