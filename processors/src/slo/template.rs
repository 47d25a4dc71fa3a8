//! Annotation templates: `{{value}}` and `{{<label>}}` (a `by` attribute by its OTLP
//! name or its label name, a rule label, `alertname`, `severity`, `job`, `instance`),
//! and Prometheus's way of printing `$value`.

use std::collections::BTreeMap;

/// The names `text` refers to, in order.
pub fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push(rest[start + 2..start + end].trim().to_string());
        rest = &rest[start + end + 2..];
    }
    out
}

/// What a rule's annotations may refer to: the built-in names, the rule's `by` keys
/// (as written and as label names) and its extra label names.
pub fn known_names<'a>(by: &[String], labels: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut known: Vec<String> = ["value", "alertname", "severity", "job", "instance"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for key in by {
        known.push(key.clone());
        known.push(label_name(key));
    }
    known.extend(labels.cloned());
    known.dedup();
    known
}

/// Fills `text` in: `labels` are the alert's labels (by label name); an OTLP attribute
/// name is looked up by its label name.
pub fn render(text: &str, value: f64, labels: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = rest[start + 2..start + end].trim();
        if name == "value" {
            out.push_str(&format_value(value));
        } else if let Some(v) = labels.get(name).or_else(|| labels.get(&label_name(name))) {
            out.push_str(v);
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// An attribute name as a Prometheus label name: what our Prometheus exporter makes of
/// it (every character outside `[a-zA-Z0-9_]` becomes `_`; a leading digit gets `_`).
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` prints it, which is how
/// Prometheus renders `{{ $value }}`: the shortest digits that read back exactly, in
/// exponent form when the exponent is below -4 or at least 6 (`90`, `0.97`, `123456`,
/// `1.234567e+06`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, e.g. `1.234e5`.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_prometheus_prints_them() {
        assert_eq!(format_value(90.0), "90");
        assert_eq!(format_value(0.97), "0.97");
        assert_eq!(format_value(123456.0), "123456");
        assert_eq!(format_value(1234567.0), "1.234567e+06");
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(0.00001), "1e-05");
        assert_eq!(format_value(0.0001), "0.0001");
        assert_eq!(format_value(-2.5), "-2.5");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
    }

    #[test]
    fn templates_fill_in_value_and_labels_by_either_name() {
        let labels = BTreeMap::from([("hw_id".to_string(), "GPU-1".to_string())]);
        assert_eq!(
            render("GPU {{hw.id}} at {{ value }} C ({{hw_id}})", 90.0, &labels),
            "GPU GPU-1 at 90 C (GPU-1)"
        );
        assert_eq!(names("a {{x}} b {{ y.z }}"), vec!["x", "y.z"]);
    }
}
