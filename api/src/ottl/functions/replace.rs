//! The `replace_*` editors (`replace_pattern`, `replace_all_patterns`, `replace_match`,
//! `replace_all_matches`) with their optional hash `function` and `replacementFormat`,
//! and the regex/glob arguments other functions share.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use regex::Regex;

use super::maps::modify_map;
use super::types::{arg, string};
use super::{editor, Args, Func, Spec};
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
