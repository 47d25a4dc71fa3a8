//! The part of the Collector's operator expressions (expr-lang, as stanza's `if` and
//! `router` use it) that routing and conditions need: fields (`body`, `body.key`,
//! `attributes.key`, `attributes["log.file.name"]`, `resource.key`), string, number,
//! boolean and `nil` literals, `==`, `!=`, `<`, `<=`, `>`, `>=`, `matches`, `contains`,
//! `startsWith`, `endsWith`, `in`, `and`/`&&`, `or`/`||`, `not`/`!`, and parentheses.

use regex::Regex;
use serde_json::Value;

use super::entry::Entry;
use super::field::Field;

#[derive(Debug, Clone)]
pub enum Expr {
    Literal(Value),
    Field(Field),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Op, Box<Expr>),
    /// `x matches "re"` with the pattern compiled once.
    Matches(Box<Expr>, Regex),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
    In,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Num(f64),
    Ident(String),
    Sym(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                    s.push(match chars[i] {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    s.push(chars[i]);
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err(format!("unclosed string in `{text}`"));
            }
            i += 1;
            out.push(Token::Str(s));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            out.push(Token::Num(
                n.parse().map_err(|_| format!("`{n}` is not a number"))?,
            ));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = ["==", "!=", "<=", ">=", "&&", "||"]
                .into_iter()
                .find(|s| *s == two)
                .or_else(|| {
                    ["<", ">", "!", "(", ")", "[", "]", "."]
                        .into_iter()
                        .find(|s| s.starts_with(c))
                })
                .ok_or_else(|| format!("unexpected `{c}` in `{text}`"))?;
            i += sym.len();
            out.push(Token::Sym(sym));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    text: String,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn is(&self, words: &[&str]) -> bool {
        match self.peek() {
            Some(Token::Ident(w)) => words.contains(&w.as_str()),
            Some(Token::Sym(s)) => words.contains(s),
            _ => false,
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.is(&["or", "||"]) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.not()?;
        while self.is(&["and", "&&"]) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.is(&["not", "!"]) {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, String> {
        let left = self.primary()?;
        let op = match self.peek() {
            Some(Token::Sym("==")) => Op::Eq,
            Some(Token::Sym("!=")) => Op::Ne,
            Some(Token::Sym("<")) => Op::Lt,
            Some(Token::Sym("<=")) => Op::Le,
            Some(Token::Sym(">")) => Op::Gt,
            Some(Token::Sym(">=")) => Op::Ge,
            Some(Token::Ident(w)) if w == "matches" => {
                self.at += 1;
                let Some(Token::Str(pattern)) = self.peek().cloned() else {
                    return Err(format!(
                        "`matches` needs a string pattern in `{}`",
                        self.text
                    ));
                };
                self.at += 1;
                let re =
                    Regex::new(&pattern).map_err(|e| format!("`{pattern}` is not a regex: {e}"))?;
                return Ok(Expr::Matches(Box::new(left), re));
            }
            Some(Token::Ident(w)) if w == "contains" => Op::Contains,
            Some(Token::Ident(w)) if w == "startsWith" => Op::StartsWith,
            Some(Token::Ident(w)) if w == "endsWith" => Op::EndsWith,
            Some(Token::Ident(w)) if w == "in" => Op::In,
            _ => return Ok(left),
        };
        self.at += 1;
        let right = self.primary()?;
        Ok(Expr::Compare(Box::new(left), op, Box::new(right)))
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let token = self
            .peek()
            .cloned()
            .ok_or_else(|| format!("`{}` ends too soon", self.text))?;
        self.at += 1;
        match token {
            Token::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Token::Num(n) => Ok(Expr::Literal(
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            )),
            Token::Sym("(") => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::Sym(")")) {
                    return Err(format!("missing `)` in `{}`", self.text));
                }
                self.at += 1;
                Ok(inner)
            }
            Token::Ident(w) if w == "true" || w == "false" => {
                Ok(Expr::Literal(Value::Bool(w == "true")))
            }
            Token::Ident(w) if w == "nil" => Ok(Expr::Literal(Value::Null)),
            Token::Ident(root) => {
                let mut path = root;
                loop {
                    match (self.peek().cloned(), self.tokens.get(self.at + 1).cloned()) {
                        (Some(Token::Sym(".")), Some(Token::Ident(k))) => {
                            path.push('.');
                            path.push_str(&k);
                            self.at += 2;
                        }
                        (Some(Token::Sym("[")), Some(Token::Str(k))) => {
                            path.push_str(&format!("[\"{k}\"]"));
                            self.at += 2;
                            if self.peek() != Some(&Token::Sym("]")) {
                                return Err(format!("missing `]` in `{}`", self.text));
                            }
                            self.at += 1;
                        }
                        _ => break,
                    }
                }
                Ok(Expr::Field(Field::parse(&path)?))
            }
            Token::Sym(s) => Err(format!("unexpected `{s}` in `{}`", self.text)),
        }
    }
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, String> {
        let mut p = Parser {
            tokens: tokens(text)?,
            at: 0,
            text: text.to_string(),
        };
        let expr = p.or()?;
        if p.at != p.tokens.len() {
            return Err(format!("unexpected text after the expression in `{text}`"));
        }
        Ok(expr)
    }

    fn value(&self, entry: &Entry) -> Value {
        match self {
            Expr::Literal(v) => v.clone(),
            Expr::Field(f) => f.get(entry).cloned().unwrap_or(Value::Null),
            other => Value::Bool(other.test(entry)),
        }
    }

    /// Whether the expression holds for `entry` (a non-boolean value: whether it is set).
    pub fn test(&self, entry: &Entry) -> bool {
        match self {
            Expr::Not(e) => !e.test(entry),
            Expr::And(a, b) => a.test(entry) && b.test(entry),
            Expr::Or(a, b) => a.test(entry) || b.test(entry),
            Expr::Matches(e, re) => e.value(entry).as_str().is_some_and(|s| re.is_match(s)),
            Expr::Compare(a, op, b) => compare(&a.value(entry), *op, &b.value(entry)),
            Expr::Literal(Value::Bool(b)) => *b,
            other => !other.value(entry).is_null(),
        }
    }
}

fn compare(a: &Value, op: Op, b: &Value) -> bool {
    let num = |v: &Value| v.as_f64();
    match op {
        Op::Eq => equal(a, b),
        Op::Ne => !equal(a, b),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ordering = match (num(a), num(b), a.as_str(), b.as_str()) {
                (Some(x), Some(y), _, _) => x.partial_cmp(&y),
                (_, _, Some(x), Some(y)) => Some(x.cmp(y)),
                _ => None,
            };
            ordering.is_some_and(|o| match op {
                Op::Lt => o.is_lt(),
                Op::Le => o.is_le(),
                Op::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        Op::Contains => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x.contains(y),
            _ => false,
        },
        Op::StartsWith => {
            matches!((a.as_str(), b.as_str()), (Some(x), Some(y)) if x.starts_with(y))
        }
        Op::EndsWith => matches!((a.as_str(), b.as_str()), (Some(x), Some(y)) if x.ends_with(y)),
        Op::In => match b {
            Value::Object(m) => a.as_str().is_some_and(|k| m.contains_key(k)),
            Value::Array(items) => items.iter().any(|i| equal(a, i)),
            _ => false,
        },
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}
