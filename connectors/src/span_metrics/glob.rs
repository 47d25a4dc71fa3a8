//! Dimension globs, with the syntax and separator the Collector's spanmetrics compiles
//! them with (gobwas/glob, separator `.`): `*` any run of characters but `.`, `**` any
//! run, `?` one character but `.`, `[abc]` / `[a-z]` / `[!abc]` one of (or none of) a
//! set, `{a,b}` one of the alternatives, `\` takes the next character literally.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `*`: any run without the separator.
    Star,
    /// `**`: any run.
    AnyRun,
    /// `?`.
    One,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
    /// `{a,b}`.
    Alternatives(Vec<Vec<Token>>),
}

const SEPARATOR: char = '.';

#[derive(Debug, Clone, PartialEq)]
pub struct Glob(Vec<Token>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError(&'static str);

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut at = 0;
        let tokens = parse(&chars, &mut at, false)?;
        if at != chars.len() {
            return Err(GlobError("unexpected `}` or `,`"));
        }
        Ok(Glob(tokens))
    }

    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        matches(&self.0, &chars)
    }
}

/// Tokens up to the end, or (inside `{}`) up to a `,` or `}` left for the caller.
fn parse(chars: &[char], at: &mut usize, nested: bool) -> Result<Vec<Token>, GlobError> {
    let mut out = Vec::new();
    while let Some(&c) = chars.get(*at) {
        match c {
            ',' | '}' if nested => return Ok(out),
            '\\' => {
                let next = chars.get(*at + 1).ok_or(GlobError("`\\` at the end"))?;
                out.push(Token::Literal(*next));
                *at += 2;
            }
            '*' if chars.get(*at + 1) == Some(&'*') => {
                out.push(Token::AnyRun);
                *at += 2;
            }
            '*' => {
                out.push(Token::Star);
                *at += 1;
            }
            '?' => {
                out.push(Token::One);
                *at += 1;
            }
            '[' => {
                *at += 1;
                let negated = chars.get(*at) == Some(&'!');
                if negated {
                    *at += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    let lo = *chars.get(*at).ok_or(GlobError("unclosed `[`"))?;
                    if lo == ']' && !ranges.is_empty() {
                        *at += 1;
                        break;
                    }
                    if chars.get(*at + 1) == Some(&'-')
                        && chars.get(*at + 2).is_some_and(|c| *c != ']')
                    {
                        let hi = chars[*at + 2];
                        if hi < lo {
                            return Err(GlobError("a range `[a-z]` must go upwards"));
                        }
                        ranges.push((lo, hi));
                        *at += 3;
                    } else {
                        ranges.push((lo, lo));
                        *at += 1;
                    }
                }
                out.push(Token::Class(negated, ranges));
            }
            '{' => {
                *at += 1;
                let mut alternatives = Vec::new();
                loop {
                    alternatives.push(parse(chars, at, true)?);
                    match chars.get(*at) {
                        Some(',') => *at += 1,
                        Some('}') => {
                            *at += 1;
                            break;
                        }
                        _ => return Err(GlobError("unclosed `{`")),
                    }
                }
                out.push(Token::Alternatives(alternatives));
            }
            c => {
                out.push(Token::Literal(c));
                *at += 1;
            }
        }
    }
    if nested {
        return Err(GlobError("unclosed `{`"));
    }
    Ok(out)
}

fn matches(tokens: &[Token], text: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return text.is_empty();
    };
    match first {
        Token::Literal(c) => text.first() == Some(c) && matches(rest, &text[1..]),
        Token::One => text.first().is_some_and(|c| *c != SEPARATOR) && matches(rest, &text[1..]),
        Token::Class(negated, ranges) => {
            text.first().is_some_and(|c| {
                let inside = ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c));
                inside != *negated
            }) && matches(rest, &text[1..])
        }
        Token::Star | Token::AnyRun => {
            let stop = if *first == Token::Star {
                text.iter()
                    .position(|c| *c == SEPARATOR)
                    .unwrap_or(text.len())
            } else {
                text.len()
            };
            (0..=stop).any(|n| matches(rest, &text[n..]))
        }
        Token::Alternatives(alternatives) => alternatives.iter().any(|alt| {
            let joined: Vec<Token> = alt.iter().chain(rest).cloned().collect();
            matches(&joined, text)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    /// Cases of gobwas/glob's own tests (glob_test.go) with separator `.`, and the
    /// spanmetrics README's examples.
    #[test]
    fn matches_as_the_collector_does() {
        let cases: &[(&str, &str, bool)] = &[
            ("http.*", "http.method", true),
            ("http.*", "http.request.method", false),
            ("http.**", "http.request.method", true),
            ("*.method", "http.method", true),
            ("?.b", "a.b", true),
            ("?.b", "..b", false),
            ("[abc].x", "b.x", true),
            ("[!abc].x", "b.x", false),
            ("[a-c]*", "cat", true),
            ("{http,rpc}.method", "rpc.method", true),
            ("{http,rpc}.method", "db.method", false),
            ("k8s.{pod,node}.name", "k8s.node.name", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("*", "", true),
            ("abc", "abcd", false),
        ];
        for (pattern, text, expected) in cases {
            let g = Glob::new(pattern).expect(pattern);
            assert_eq!(g.matches(text), *expected, "{pattern} ~ {text}");
        }
        for bad in ["[abc", "{a,b", "a\\"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }
}
