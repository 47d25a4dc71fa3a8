//! `${env:VAR}` and `${env:VAR:-default}` substitution in string values; `$$` is a `$`.

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
                *value = if whole {
                    serde_yaml::from_str::<Value>(&expanded)
                        .ok()
                        .filter(|v| {
                            !matches!(v, Value::Mapping(_) | Value::Sequence(_) | Value::Null)
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
    #[error("unsupported reference `${{{0}}}`: use `${{env:VAR}}` or `${{env:VAR:-default}}` (write `$$` for a literal `$`)")]
    Unsupported(String),
    #[error("environment variable `{0}` is not set and `${{env:{0}}}` has no default; set it or write `${{env:{0}:-default}}`")]
    Unset(String),
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
            let spec = reference
                .strip_prefix("env:")
                .ok_or_else(|| BadReference::Unsupported(reference.to_string()))?;
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
