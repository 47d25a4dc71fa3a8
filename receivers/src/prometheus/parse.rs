//! Prometheus text exposition 0.0.4 and OpenMetrics 1.0 text, into metric families: the
//! `# HELP`, `# TYPE` and `# UNIT` metadata, each sample with its labels, value, optional
//! timestamp and (OpenMetrics) exemplar. A malformed line fails the whole body with its
//! line number, as Prometheus fails the scrape.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "gaugehistogram" => Kind::GaugeHistogram,
            "summary" => Kind::Summary,
            "info" => Kind::Info,
            "stateset" => Kind::StateSet,
            "untyped" | "unknown" => Kind::Unknown,
            _ => return None,
        })
    }

    /// The suffixes a sample of a family of this kind may add to the family's name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Kind::Counter => &["_total", "_created"],
            Kind::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Kind::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            Kind::Summary => &["_sum", "_count", "_created"],
            Kind::Info => &["_info"],
            Kind::Gauge | Kind::StateSet | Kind::Unknown => &[],
        }
    }
}

/// Label pairs in the order written.
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Seconds since the epoch (OpenMetrics), when given.
    pub timestamp_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The full name, suffix included (`x_bucket`, `x_total`).
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the epoch, when the exposition gives one.
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<Exemplar>,
    /// The series' created time (nanoseconds since the epoch), where the protobuf format
    /// carries it on the value; the text formats send a `_created` sample instead.
    pub created_ns: Option<u64>,
}

/// A native (sparse, exponential) histogram of the protobuf format.
#[derive(Debug, Clone, PartialEq)]
pub struct Native {
    /// The bucket resolution: bucket `i` covers `(base^(i-1), base^i]`, base
    /// `2^(2^-schema)`.
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    /// Index of the first positive bucket and the counts from it on (gaps as zeros).
    pub positive: (i32, Vec<f64>),
    pub negative: (i32, Vec<f64>),
    /// A gauge histogram (counts that go up and down), not a cumulative one.
    pub gauge: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NativeSample {
    pub labels: Labels,
    pub timestamp_ms: Option<i64>,
    pub histogram: Native,
    pub created_ns: Option<u64>,
    pub exemplars: Vec<Exemplar>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub help: String,
    pub unit: String,
    pub samples: Vec<Sample>,
    /// The family's native histograms (protobuf format only).
    pub native: Vec<NativeSample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
    /// `io.prometheus.client.MetricFamily`, delimited (`protobuf.rs`).
    Protobuf,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {what}")]
pub struct ParseError {
    pub line: usize,
    pub what: String,
}

/// The families of one body, in order of appearance.
pub fn parse(body: &str, format: Format) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Family> = Vec::new();
    let mut eof = false;
    for (i, raw) in body.lines().enumerate() {
        let err = |what: String| ParseError { line: i + 1, what };
        if eof {
            if raw.trim().is_empty() {
                continue;
            }
            return Err(err("content after `# EOF`".into()));
        }
        let line = match format {
            Format::Text | Format::Protobuf => raw.trim(),
            Format::OpenMetrics => raw,
        };
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if comment.trim_end() == "EOF" && format == Format::OpenMetrics {
                eof = true;
                continue;
            }
            let mut words = comment.splitn(3, ' ');
            let (keyword, name, rest) = (words.next(), words.next(), words.next());
            let (Some(keyword), Some(name)) = (keyword, name) else {
                continue;
            };
            let rest = rest.unwrap_or("");
            match keyword {
                "HELP" => family(&mut families, name).help = unescape_help(rest),
                "TYPE" => {
                    let kind = Kind::parse(rest.trim())
                        .ok_or_else(|| err(format!("unknown metric type `{}`", rest.trim())))?;
                    family(&mut families, name).kind = kind;
                }
                "UNIT" => family(&mut families, name).unit = rest.trim().to_string(),
                // Any other comment is free text in 0.0.4.
                _ => {}
            }
            continue;
        }
        let sample = sample(line, format).map_err(err)?;
        let owner = families
            .last()
            .filter(|f| belongs(f, &sample.name))
            .is_some();
        if !owner {
            families.push(Family {
                name: sample.name.clone(),
                kind: Kind::Unknown,
                help: String::new(),
                unit: String::new(),
                samples: Vec::new(),
                native: Vec::new(),
            });
        }
        if let Some(f) = families.last_mut() {
            f.samples.push(sample);
        }
    }
    if format == Format::OpenMetrics && !eof {
        return Err(ParseError {
            line: body.lines().count(),
            what: "OpenMetrics body without `# EOF`".into(),
        });
    }
    Ok(families)
}

/// The family `name` (metadata lines come before its samples): the last family if it is
/// that one and has no samples yet, else a new one (real bodies declare one name twice: Go
/// clients' `go_memstats_alloc_bytes` gauge, then the counter whose OpenMetrics family
/// name drops `_total`).
fn family<'a>(families: &'a mut Vec<Family>, name: &str) -> &'a mut Family {
    let is_last = families
        .last()
        .is_some_and(|f| f.name == name && f.samples.is_empty());
    if !is_last {
        families.push(Family {
            name: name.to_string(),
            kind: Kind::Unknown,
            help: String::new(),
            unit: String::new(),
            samples: Vec::new(),
            native: Vec::new(),
        });
    }
    let last = families.len() - 1;
    &mut families[last]
}

fn belongs(f: &Family, sample: &str) -> bool {
    if sample == f.name {
        // An OpenMetrics counter's samples all carry a suffix; a 0.0.4 counter is named
        // with its `_total`.
        return true;
    }
    sample
        .strip_prefix(f.name.as_str())
        .is_some_and(|suffix| f.kind.suffixes().contains(&suffix))
}

fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn sample(line: &str, format: Format) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' ', '\t'])
        .ok_or("a sample needs a value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("invalid metric name `{name}`"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(body)?;
        labels = parsed;
        rest = after;
    }
    let (main, exemplar) = match rest.split_once(" # ") {
        Some((main, ex)) if format == Format::OpenMetrics => (main, Some(ex)),
        _ => (rest, None),
    };
    let mut parts = main.split_whitespace();
    let value = number(parts.next().ok_or("missing value")?)?;
    let timestamp_ms = match parts.next() {
        None => None,
        Some(t) => Some(match format {
            Format::Text | Format::Protobuf => t
                .parse::<i64>()
                .map_err(|_| format!("invalid timestamp `{t}`"))?,
            Format::OpenMetrics => {
                let seconds = number(t)?;
                (seconds * 1000.0).round() as i64
            }
        }),
    };
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected `{extra}` after the value"));
    }
    let exemplar = exemplar.map(parse_exemplar).transpose()?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
        exemplar,
        created_ns: None,
    })
}

fn parse_exemplar(text: &str) -> Result<Exemplar, String> {
    let body = text
        .trim_start()
        .strip_prefix('{')
        .ok_or("an exemplar starts with its labels")?;
    let (labels, rest) = label_set(body)?;
    let mut parts = rest.split_whitespace();
    let value = number(parts.next().ok_or("an exemplar needs a value")?)?;
    let timestamp_s = parts.next().map(number).transpose()?;
    Ok(Exemplar {
        labels,
        value,
        timestamp_s,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn number(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("invalid number `{text}`")),
    }
}

/// `name="value",...}` and what follows the closing brace.
fn label_set(body: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = body.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without `=`")?;
        let name = rest[..eq].trim();
        if name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("invalid label name `{name}`"));
        }
        let after_eq = rest[eq + 1..].trim_start();
        let quoted = after_eq
            .strip_prefix('"')
            .ok_or_else(|| format!("label `{name}`: value must be quoted"))?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label `{name}`: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("label `{name}`: unterminated value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label `{name}` given twice"));
        }
        labels.push((name.to_string(), value));
        rest = quoted[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.starts_with('}') {
            return Err("expected `,` or `}` after a label".into());
        }
    }
}

#[cfg(test)]
mod tests;
