//! String converters: `Concat`, `Split`, `Substring`, case conversion, `IsMatch`,
//! `HasPrefix`/`HasSuffix`, `ExtractPatterns`, `Format`, `Index`, `Trim`.

use opentelemetry_proto::tonic::common::v1::AnyValue;

use super::replace::Pattern;
use super::types::{arg, int, string, string_like};
use super::{converter, Args, Func, Spec};
use crate::ottl::error::RuntimeError;
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "Concat",
        params: &["vals", "delimiter"],
        build: concat,
    },
    Spec {
        name: "Split",
        params: &["target", "delimiter"],
        build: split,
    },
    Spec {
        name: "Substring",
        params: &["target", "start", "length", "utf8_safe?"],
        build: substring,
    },
    Spec {
        name: "ConvertCase",
        params: &["target", "toCase"],
        build: convert_case,
    },
    Spec {
        name: "ToLowerCase",
        params: &["target"],
        build: |a| case_fn(a, "lower"),
    },
    Spec {
        name: "ToUpperCase",
        params: &["target"],
        build: |a| case_fn(a, "upper"),
    },
    Spec {
        name: "ToSnakeCase",
        params: &["target"],
        build: |a| case_fn(a, "snake"),
    },
    Spec {
        name: "ToCamelCase",
        params: &["target"],
        build: |a| case_fn(a, "camel"),
    },
    Spec {
        name: "IsMatch",
        params: &["target", "pattern"],
        build: is_match,
    },
    Spec {
        name: "HasPrefix",
        params: &["target", "prefix"],
        build: |a| affix(a, true),
    },
    Spec {
        name: "HasSuffix",
        params: &["target", "suffix"],
        build: |a| affix(a, false),
    },
    Spec {
        name: "ExtractPatterns",
        params: &["target", "pattern"],
        build: extract_patterns,
    },
    Spec {
        name: "Format",
        params: &["format", "vals"],
        build: format,
    },
    Spec {
        name: "Index",
        params: &["target", "value"],
        build: index,
    },
    Spec {
        name: "Trim",
        params: &["target", "replacement?"],
        build: trim,
    },
];

fn concat(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let delimiter = string(arg(v, 1))?;
        let Value::List(items) = arg(v, 0) else {
            return Err(RuntimeError::new("Concat: vals must be a list"));
        };
        let parts: Vec<String> = items
            .iter()
            .map(|i| string_like(&Value::from_any(i)).unwrap_or_else(|| "<nil>".into()))
            .collect();
        Ok(Value::Str(parts.join(delimiter)))
    }))
}

fn split(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let text = string(arg(v, 0))?;
        let delimiter = string(arg(v, 1))?;
        let parts: Vec<AnyValue> = if delimiter.is_empty() {
            text.chars()
                .map(|c| Value::Str(c.to_string()).into_any())
                .collect()
        } else {
            text.split(delimiter)
                .map(|p| Value::from(p).into_any())
                .collect()
        };
        Ok(Value::List(parts))
    }))
}

fn substring(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let start = int(arg(v, 1))?;
        if start < 0 {
            return Err(RuntimeError::new(format!(
                "invalid start for substring function, {start} cannot be negative"
            )));
        }
        let length = int(arg(v, 2))?;
        if length <= 0 {
            return Err(RuntimeError::new(format!(
                "invalid length for substring function, {length} cannot be negative or zero"
            )));
        }
        let text = string(arg(v, 0))?;
        let n = text.len() as i64;
        if start > n || length > n - start {
            return Err(RuntimeError::new(format!(
                "invalid range for substring function, start({start})+length({length}) cannot be greater than the length of target string({n})"
            )));
        }
        let (mut from, mut to) = (start as usize, (start + length) as usize);
        while from < text.len() && !text.is_char_boundary(from) {
            from += 1;
        }
        while to > from && !text.is_char_boundary(to) {
            to -= 1;
        }
        let to = to.max(from);
        Ok(Value::Str(text[from..to].to_string()))
    }))
}

fn convert_case(mut args: Args) -> Result<Func, String> {
    let to = args.literal_str(1)?.unwrap_or_default();
    if !matches!(to.as_str(), "lower" | "upper" | "snake" | "camel") {
        return Err(format!(
            "invalid case: {to}, allowed cases are: lower, upper, snake, camel"
        ));
    }
    case_fn(args, to)
}

fn case_fn(args: Args, to: impl Into<String>) -> Result<Func, String> {
    let to: String = to.into();
    Ok(converter(args.rest(), move |v| {
        let text = match arg(v, 0) {
            Value::Nil => return Ok(Value::Nil),
            other => string(other)?,
        };
        Ok(Value::Str(match to.as_str() {
            "lower" => text.to_lowercase(),
            "upper" => text.to_uppercase(),
            "snake" => words(text).join("_").to_lowercase(),
            _ => words(text)
                .iter()
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| {
                            f.to_uppercase()
                                .chain(c.flat_map(char::to_lowercase))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .concat(),
        }))
    }))
}

/// Words of an identifier as iancoleman/strcase finds them: separators (space, `_`, `-`,
/// `.`) split, and so does a lower-to-upper change and the end of an upper-case run.
fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if matches!(c, ' ' | '_' | '-' | '.') {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn is_match(args: Args) -> Result<Func, String> {
    let rest = args.rest_ref();
    let re = Pattern::new(&args, &rest[1])?;
    Ok(converter(args.rest(), move |v| {
        let Some(text) = string_like(arg(v, 0)) else {
            return Ok(Value::Bool(false));
        };
        Ok(Value::Bool(re.get(arg(v, 1))?.is_match(&text)))
    }))
}

fn affix(args: Args, prefix: bool) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        let text = string(arg(v, 0))?;
        let part = string(arg(v, 1))?;
        Ok(Value::Bool(if prefix {
            text.starts_with(part)
        } else {
            text.ends_with(part)
        }))
    }))
}

fn extract_patterns(args: Args) -> Result<Func, String> {
    let rest = args.rest_ref();
    let re = Pattern::new(&args, &rest[1])?;
    if let Pattern::Fixed(r) = &re {
        if r.capture_names().flatten().next().is_none() {
            return Err(
                "at least 1 named capture group must be supplied in the given regex".into(),
            );
        }
    }
    Ok(converter(args.rest(), move |v| {
        let re = re.get(arg(v, 1))?;
        let text = string(arg(v, 0))?;
        let mut out = Vec::new();
        if let Some(caps) = re.captures(text) {
            for name in re.capture_names().flatten() {
                let value = caps.name(name).map_or("", |m| m.as_str());
                out.push(crate::attributes::string(name, value));
            }
        }
        Ok(Value::Map(out))
    }))
}

/// The widest field `Format` pads to, and the most decimals it writes.
const MAX_WIDTH: usize = 4096;

/// `Format("%s-%d", [a, b])`: Go's verbs `%s`, `%d`, `%v`, `%f`, `%x`, `%q`, `%%`.
fn format(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let f = string(arg(v, 0))?;
        let Value::List(items) = arg(v, 1) else {
            return Err(RuntimeError::new("Format: vals must be a list"));
        };
        let mut items = items.iter().map(Value::from_any);
        let mut out = String::new();
        let mut chars = f.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut spec = String::new();
            let mut verb = None;
            for c in chars.by_ref() {
                if c.is_ascii_digit() || matches!(c, '-' | '+' | ' ' | '#' | '.') {
                    spec.push(c);
                } else {
                    verb = Some(c);
                    break;
                }
            }
            let Some(verb) = verb else {
                out.push_str("%!(NOVERB)");
                break;
            };
            if verb == '%' {
                out.push('%');
                continue;
            }
            let Some(value) = items.next() else {
                out.push_str(&format!("%!{verb}(MISSING)"));
                continue;
            };
            let (left, zero) = (spec.contains('-'), spec.starts_with('0'));
            let (width, precision) = match spec
                .trim_start_matches(['-', '+', ' ', '#', '0'])
                .split_once('.')
            {
                Some((w, p)) => (w.parse::<usize>().unwrap_or(0), p.parse::<usize>().ok()),
                None => (
                    spec.trim_start_matches(['-', '+', ' ', '#', '0'])
                        .parse::<usize>()
                        .unwrap_or(0),
                    None,
                ),
            };
            let text = match (verb, &value) {
                ('d', Value::Int(i)) => i.to_string(),
                ('f', Value::Double(d)) => format!("{d:.*}", precision.unwrap_or(6).min(MAX_WIDTH)),
                ('x', Value::Int(i)) => format!("{i:x}"),
                ('q', Value::Str(s)) => format!("{s:?}"),
                (_, Value::Nil) => "<nil>".into(),
                _ => string_like(&value).unwrap_or_default(),
            };
            // Bounded, so a statement cannot ask for gigabytes of padding.
            let pad = width.min(MAX_WIDTH).saturating_sub(text.chars().count());
            out.push_str(&match (left, zero) {
                (true, _) => format!("{text}{}", " ".repeat(pad)),
                (false, true) if text.starts_with('-') => {
                    format!("-{}{}", "0".repeat(pad), &text[1..])
                }
                (false, true) => format!("{}{text}", "0".repeat(pad)),
                (false, false) => format!("{}{text}", " ".repeat(pad)),
            });
        }
        Ok(Value::Str(out))
    }))
}

fn index(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| match arg(v, 0) {
        Value::Str(s) => {
            let needle = string(arg(v, 1))?;
            Ok(Value::Int(s.find(needle).map_or(-1, |i| i as i64)))
        }
        Value::List(l) => {
            let wanted = arg(v, 1);
            Ok(Value::Int(
                l.iter()
                    .position(|e| {
                        Value::from_any(e).compare(wanted, crate::ottl::value::CompareOp::Eq)
                    })
                    .map_or(-1, |i| i as i64),
            ))
        }
        other => Err(RuntimeError::new(format!(
            "Index: unsupported target type {}",
            other.type_name()
        ))),
    }))
}

fn trim(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let text = string(arg(v, 0))?;
        let cut = match &v[1] {
            Some(c) => string(c)?.to_string(),
            None => " ".into(),
        };
        Ok(Value::Str(
            text.trim_matches(|c| cut.contains(c)).to_string(),
        ))
    }))
}
