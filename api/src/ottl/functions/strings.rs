//! String editors and converters: the `replace_*` family, `Concat`, `Split`,
//! `Substring`, case conversion, `IsMatch`, `HasPrefix`/`HasSuffix`, `ExtractPatterns`,
//! `Format`, `Index`.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use regex::Regex;

use super::maps::modify_map;
use super::types::{arg, int, string, string_like};
use super::{converter, editor, Args, Func, Spec};
use crate::ottl::error::{Eval, RuntimeError};
use crate::ottl::expr::Expr;
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "replace_pattern",
        params: &[
            "target",
            "regex",
            "replacement",
            "function?",
            "replacementFormat?",
        ],
        build: replace_pattern,
    },
    Spec {
        name: "replace_all_patterns",
        params: &[
            "target",
            "mode",
            "regex",
            "replacement",
            "function?",
            "replacementFormat?",
        ],
        build: replace_all_patterns,
    },
    Spec {
        name: "replace_match",
        params: &[
            "target",
            "pattern",
            "replacement",
            "function?",
            "replacementFormat?",
        ],
        build: replace_match,
    },
    Spec {
        name: "replace_all_matches",
        params: &[
            "target",
            "pattern",
            "replacement",
            "function?",
            "replacementFormat?",
        ],
        build: replace_all_matches,
    },
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

/// A regex (or glob) argument: compiled once when it is a literal, per item otherwise
/// (the Collector's dynamic patterns, e.g. `Concat(["^", "http"], "")`).
pub enum Pattern {
    Fixed(Regex),
    Dynamic { glob: bool },
}

fn pattern(args: &Args, expr: &Option<Expr>) -> Result<Pattern, String> {
    Pattern::new(args, expr)
}

impl Pattern {
    pub fn new(args: &Args, expr: &Option<Expr>) -> Result<Pattern, String> {
        match expr {
            Some(Expr::Literal(Value::Str(p))) => Regex::new(p).map(Pattern::Fixed).map_err(|e| {
                format!(
                    "{}: the regex pattern supplied cannot be compiled: {e}",
                    args.name
                )
            }),
            Some(Expr::Literal(_)) => Err(format!("{}: the pattern must be a string", args.name)),
            _ => Ok(Pattern::Dynamic { glob: false }),
        }
    }

    fn new_glob(args: &Args, expr: &Option<Expr>) -> Result<Pattern, String> {
        match expr {
            Some(Expr::Literal(Value::Str(p))) => glob(p)
                .map(Pattern::Fixed)
                .map_err(|e| format!("{}: invalid glob pattern: {e}", args.name)),
            Some(Expr::Literal(_)) => Err(format!("{}: the pattern must be a string", args.name)),
            _ => Ok(Pattern::Dynamic { glob: true }),
        }
    }

    pub fn get(&self, value: &Value) -> Eval<std::borrow::Cow<'_, Regex>> {
        match self {
            Pattern::Fixed(r) => Ok(std::borrow::Cow::Borrowed(r)),
            Pattern::Dynamic { glob: g } => {
                let text = string(value)?;
                let compiled = if *g { glob(text) } else { Regex::new(text) };
                compiled.map(std::borrow::Cow::Owned).map_err(|e| {
                    RuntimeError::new(format!("the pattern supplied cannot be compiled: {e}"))
                })
            }
        }
    }
}

/// The replacement with `$1`/`${name}` expanded, hashed by the optional function and
/// formatted by the optional `%s` format.
struct Replacement {
    hash: Option<fn(&[u8]) -> String>,
}

impl Replacement {
    fn new(args: &Args, function_at: usize) -> Result<Self, String> {
        let hash = match args.raw(function_at) {
            None => None,
            Some(crate::ottl::ast::Expr::Enum { name, .. }) => {
                Some(super::hashes::by_name(name).ok_or_else(|| {
                    format!(
                        "{}: {name:?} cannot be used as the replacement function",
                        args.name
                    )
                })?)
            }
            Some(_) => {
                return Err(format!(
                    "{}: the function must be a hash converter name such as SHA256",
                    args.name
                ))
            }
        };
        Ok(Replacement { hash })
    }

    fn finish(&self, text: String, format: Option<&Value>) -> Eval<String> {
        let text = match self.hash {
            Some(h) => h(text.as_bytes()),
            None => return Ok(text),
        };
        match format {
            Some(Value::Str(f)) => {
                if f.matches("%s").count() != 1 || f.replace("%s", "").contains('%') {
                    return Err(RuntimeError::new(
                        "replacementFormat must be format string containing a single %s and no other format specifiers",
                    ));
                }
                Ok(f.replacen("%s", &text, 1))
            }
            _ => Ok(text),
        }
    }
}

fn replace_regex(
    re: &Regex,
    text: &str,
    replacement: &str,
    r: &Replacement,
    format: Option<&Value>,
) -> Eval<String> {
    if r.hash.is_none() {
        return Ok(re.replace_all(text, replacement).into_owned());
    }
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(text) {
        let whole = caps.get(0).map_or(0..0, |m| m.range());
        out.push_str(&text[last..whole.start]);
        let mut expanded = String::new();
        caps.expand(replacement, &mut expanded);
        out.push_str(&r.finish(expanded, format)?);
        last = whole.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

fn replace_pattern(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let rest_view = args.rest_ref();
    let re = pattern(&args, &rest_view[1])?;
    let r = Replacement::new(&args, 3)?;
    Ok(editor(target, args.rest(), move |item, target, v| {
        let Value::Str(text) = target.get(item)? else {
            return Ok(());
        };
        let re = re.get(arg(v, 1))?;
        let replacement = string(arg(v, 2))?;
        let out = replace_regex(&re, &text, replacement, &r, v[4].as_ref())?;
        target.set(item, Value::Str(out))
    }))
}

fn replace_all_patterns(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let mode = match args.raw(1) {
        Some(crate::ottl::ast::Expr::Literal(Value::Str(m))) if m == "key" || m == "value" => {
            m.clone()
        }
        _ => {
            return Err(
                "replace_all_patterns: invalid mode, must be either 'key' or 'value'".into(),
            )
        }
    };
    let rest_view = args.rest_ref();
    let re = pattern(&args, &rest_view[2])?;
    let r = Replacement::new(&args, 4)?;
    Ok(editor(target, args.rest(), move |item, target, v| {
        let re = re.get(arg(v, 2))?.into_owned();
        let replacement = string(arg(v, 3))?.to_string();
        let format = v[5].clone();
        modify_map(item, target, |m| {
            for kv in m.iter_mut() {
                if mode == "key" {
                    if re.is_match(&kv.key) {
                        kv.key = replace_regex(&re, &kv.key, &replacement, &r, format.as_ref())?;
                    }
                } else if let Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s)),
                }) = &mut kv.value
                {
                    if re.is_match(s) {
                        *s = replace_regex(&re, s, &replacement, &r, format.as_ref())?;
                    }
                }
            }
            Ok(())
        })
    }))
}

/// A glob (`*`, `?`, `[abc]`, `{a,b}`) as an anchored regex, as gobwas/glob matches
/// without separators.
fn glob(pattern: &str) -> Result<Regex, regex::Error> {
    let mut re = String::from("^(?s:");
    let mut chars = pattern.chars().peekable();
    let mut in_alt = false;
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'!') {
                    chars.next();
                    re.push('^');
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if c == '\\' || c == '[' {
                        re.push('\\');
                    }
                    re.push(c);
                }
                re.push(']');
            }
            '{' => {
                in_alt = true;
                re.push_str("(?:");
            }
            '}' if in_alt => {
                in_alt = false;
                re.push(')');
            }
            ',' if in_alt => re.push('|'),
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push_str(")$");
    Regex::new(&re)
}

fn replace_match(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let rest_view = args.rest_ref();
    let g = Pattern::new_glob(&args, &rest_view[1])?;
    let r = Replacement::new(&args, 3)?;
    Ok(editor(target, args.rest(), move |item, target, v| {
        let Value::Str(text) = target.get(item)? else {
            return Ok(());
        };
        if !g.get(arg(v, 1))?.is_match(&text) {
            return Ok(());
        }
        let out = r.finish(string(arg(v, 2))?.to_string(), v[4].as_ref())?;
        target.set(item, Value::Str(out))
    }))
}

fn replace_all_matches(mut args: Args) -> Result<Func, String> {
    let target = args.path(0)?;
    let rest_view = args.rest_ref();
    let g = Pattern::new_glob(&args, &rest_view[1])?;
    let r = Replacement::new(&args, 3)?;
    Ok(editor(target, args.rest(), move |item, target, v| {
        let g = g.get(arg(v, 1))?.into_owned();
        let replacement = r.finish(string(arg(v, 2))?.to_string(), v[4].as_ref())?;
        modify_map(item, target, |m| {
            for kv in m.iter_mut() {
                if let Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s)),
                }) = &mut kv.value
                {
                    if g.is_match(s) {
                        *s = replacement.clone();
                    }
                }
            }
            Ok(())
        })
    }))
}

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
    let re = pattern(&args, &rest[1])?;
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
    let re = pattern(&args, &rest[1])?;
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
