//! `${env:VAR}`, `${VAR}` (env is the Collector's default scheme), `${env:VAR:-default}`
//! and `${file:path}` substitution in string values; `$$` is a `$`.

use serde_yaml::Value;

use llamacol_api::config::{join, Diagnostic};

/// Expands every string in `value`. A string that is exactly one reference is re-read as a
/// YAML scalar, so `port: ${env:PORT}` becomes a number.
pub fn substitute(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
) {
    match value {
        Value::String(s) if s.contains('$') => match expand(s, lookup) {
            Ok(expanded) => {
                let whole = s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1;
                // A whole-value file reference may hold a map or a list (the Collector
                // embeds the file's YAML); an environment value stays a scalar.
                let structured = s.starts_with("${file:");
                *value = if whole {
                    serde_yaml::from_str::<Value>(&expanded)
                        .ok()
                        .filter(|v| match v {
                            Value::Mapping(_) | Value::Sequence(_) => structured,
                            Value::Null => false,
                            _ => true,
                        })
                        .unwrap_or(Value::String(expanded))
                } else {
                    Value::String(expanded)
                };
            }
            Err(bad) => errors.push(Diagnostic::error(path, bad.to_string())),
        },
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.as_str().map(str::to_string).unwrap_or_default();
                substitute(v, &join(path, &key), lookup, errors);
            }
        }
        Value::Sequence(seq) => {
            for (i, v) in seq.iter_mut().enumerate() {
                substitute(v, &join(path, &format!("[{i}]")), lookup, errors);
            }
        }
        Value::Tagged(t) => substitute(&mut t.value, path, lookup, errors),
        _ => {}
    }
}

/// A `${...}` reference that cannot be expanded.
#[derive(Debug, thiserror::Error)]
enum BadReference {
    #[error("unclosed `${{` in `{0}`")]
    Unclosed(String),
    #[error("unsupported reference `${{{0}}}`: use `${{env:VAR}}`, `${{VAR}}`, `${{env:VAR:-default}}` or `${{file:path}}` (write `$$` for a literal `$`)")]
    Unsupported(String),
    #[error("`${{file:{0}}}`: cannot read the file: {1}")]
    File(String, String),
    #[error("environment variable `{0}` is not set and `${{env:{0}}}` has no default; set it or write `${{env:{0}:-default}}`")]
    Unset(String),
}

/// An environment variable's name: a letter or `_`, then letters, digits, `_`.
fn env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, BadReference> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = rest.strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| BadReference::Unclosed(s.to_string()))?;
            let reference = &body[..end];
            if let Some(path) = reference.strip_prefix("file:") {
                // The Collector's file provider: the file's content (one final newline
                // dropped, as a value read from a file rarely means to end with one).
                let text = std::fs::read_to_string(path)
                    .map_err(|e| BadReference::File(path.to_string(), e.to_string()))?;
                out.push_str(text.strip_suffix('\n').unwrap_or(&text));
                rest = &body[end + 1..];
                continue;
            }
            // `${env:VAR}`, or `${VAR}` as the Collector reads it (env is its default).
            let spec = match reference.strip_prefix("env:") {
                Some(spec) => spec,
                None if env_name(reference.split(":-").next().unwrap_or_default()) => reference,
                None => return Err(BadReference::Unsupported(reference.to_string())),
            };
            let (name, default) = match spec.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            match (lookup(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(BadReference::Unset(name.to_string())),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(yaml: &str, env: &[(&str, &str)]) -> (Value, Vec<String>) {
        let mut value: Value = serde_yaml::from_str(yaml).expect("yaml");
        let mut errors = Vec::new();
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        };
        substitute(&mut value, "", &lookup, &mut errors);
        (value, errors.iter().map(|e| e.to_string()).collect())
    }

    /// The forms the Collector's docs use (confmap: "Environment variables", "Config
    /// providers"): `${env:VAR}`, `${VAR}`, `${env:VAR:-default}`, `${file:path}`.
    #[test]
    fn the_collectors_reference_forms() {
        let (v, errors) = run(
            "a: ${env:PORT}\nb: ${PORT}\nc: ${MISSING:-fallback}\nd: x-${HOST}-y\ne: $$5",
            &[("PORT", "4317"), ("HOST", "h")],
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v["a"], Value::from(4317));
        assert_eq!(v["b"], Value::from(4317));
        assert_eq!(v["c"], Value::from("fallback"));
        assert_eq!(v["d"], Value::from("x-h-y"));
        assert_eq!(v["e"], Value::from("$5"));

        let dir = tempfile::tempdir().expect("tmp");
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret\n").expect("write");
        let tls = dir.path().join("tls.yaml");
        std::fs::write(&tls, "insecure: true\n").expect("write");
        let (v, errors) = run(
            &format!(
                "t: ${{file:{}}}\nm: ${{file:{}}}",
                token.display(),
                tls.display()
            ),
            &[],
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v["t"], Value::from("s3cret"));
        assert_eq!(v["m"]["insecure"], Value::from(true), "a file's YAML map");

        let (_, errors) = run(
            "a: ${http:example.com}\nb: ${file:/no/such}\nc: ${UNSET}",
            &[],
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("unsupported reference"), "{errors:?}");
        assert!(errors[1].contains("cannot read the file"), "{errors:?}");
        assert!(errors[2].contains("`UNSET` is not set"), "{errors:?}");
    }
}
