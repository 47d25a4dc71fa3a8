//! Prometheus text exposition (0.0.4; OpenMetrics shares its sample lines), written one
//! way wherever llamacol serves it: the engine's `/metrics` and the `prometheus`
//! exporter. Escaping follows the format: label values escape `\`, `"` and newlines;
//! help text escapes `\` and newlines.

use std::borrow::Cow;
use std::fmt::{Display, Write as _};

/// `# HELP` (left out when `help` is empty) and `# TYPE` of one family.
pub fn write_family(out: &mut String, name: &str, kind: &str, help: &str) {
    if !help.is_empty() {
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    }
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line without a timestamp: `name{labels} value`.
pub fn write_sample<'a>(
    out: &mut String,
    name: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: impl Display,
) {
    out.push_str(name);
    write_labels(out, labels);
    let _ = writeln!(out, " {value}");
}

/// `{k="v",...}`, or nothing when there are no labels.
pub fn write_labels<'a>(out: &mut String, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
    let mut first = true;
    for (k, v) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
    }
    if !first {
        out.push('}');
    }
}

/// Floats as Prometheus writes them: `+Inf`, `-Inf`, `NaN`, else the shortest form.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

pub fn escape_label_value(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(v);
    }
    Cow::Owned(
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n"),
    )
}

pub fn escape_help(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '\n']) {
        return Cow::Borrowed(v);
    }
    Cow::Owned(v.replace('\\', "\\\\").replace('\n', "\\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_and_samples_with_escaping() {
        let mut out = String::new();
        write_family(&mut out, "x_total", "counter", "a \\ b\nc");
        write_sample(&mut out, "x_total", [("a", "q\"\\\n"), ("b", "2")], 7);
        write_sample(&mut out, "y", [], number(f64::INFINITY));
        write_family(&mut out, "z", "gauge", "");
        assert_eq!(
            out,
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{a=\"q\\\"\\\\\\n\",b=\"2\"} 7\ny +Inf\n# TYPE z gauge\n"
        );
    }

    #[test]
    fn numbers_as_prometheus_writes_them() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(3.0), "3");
    }
}
