//! OTTL's tokens, as the Collector's lexer (`grammar.go` `buildLexer`) splits a statement.

use super::error::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Bytes(Vec<u8>),
    Float(f64),
    Int(i64),
    Str(String),
    Nil,
    Not,
    Or,
    And,
    Bool(bool),
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`.
    Compare(&'static str),
    Plus,
    Minus,
    Star,
    Slash,
    Equal,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Colon,
    Comma,
    Dot,
    /// `[A-Z][A-Z0-9_]*` followed by more letters makes a converter name like `IsMatch`;
    /// the lexer keeps the whole word and the parser tells enum from converter.
    Upper(String),
    Lower(String),
    End,
}

impl Tok {
    /// How a message names the token.
    pub fn describe(&self) -> String {
        match self {
            Tok::Bytes(_) => "bytes".into(),
            Tok::Float(f) => format!("{f}"),
            Tok::Int(i) => format!("{i}"),
            Tok::Str(s) => format!("{s:?}"),
            Tok::Nil => "nil".into(),
            Tok::Not => "not".into(),
            Tok::Or => "or".into(),
            Tok::And => "and".into(),
            Tok::Bool(b) => format!("{b}"),
            Tok::Compare(op) => format!("{op:?}"),
            Tok::Plus => "\"+\"".into(),
            Tok::Minus => "\"-\"".into(),
            Tok::Star => "\"*\"".into(),
            Tok::Slash => "\"/\"".into(),
            Tok::Equal => "\"=\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::LBracket => "\"[\"".into(),
            Tok::RBracket => "\"]\"".into(),
            Tok::Colon => "\":\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Dot => "\".\"".into(),
            Tok::Upper(s) | Tok::Lower(s) => format!("{s:?}"),
            Tok::End => "the end of the statement".into(),
        }
    }
}

/// A token and the column (1-based, in characters) it starts at.
#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub column: usize,
}

pub fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (tok, len) = if c == '0'
            && chars.get(i + 1) == Some(&'x')
            && chars.get(i + 2).is_some_and(char::is_ascii_hexdigit)
        {
            let end = scan(&chars, i + 2, |c| c.is_ascii_hexdigit());
            let hex: String = chars[i + 2..end].iter().collect();
            (Tok::Bytes(decode_hex(&hex, column)?), end - i)
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            number(&chars, i)?
        } else if c == '"' {
            string(&chars, i)?
        } else if c.is_ascii_alphabetic() || c == '_' {
            let end = scan(&chars, i, |c| c.is_ascii_alphanumeric() || *c == '_');
            let word: String = chars[i..end].iter().collect();
            let tok = match word.as_str() {
                "nil" => Tok::Nil,
                "not" => Tok::Not,
                "or" => Tok::Or,
                "and" => Tok::And,
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                _ if c.is_ascii_uppercase() => Tok::Upper(word),
                _ => Tok::Lower(word),
            };
            (tok, end - i)
        } else {
            let next = chars.get(i + 1).copied();
            match (c, next) {
                ('=', Some('=')) => (Tok::Compare("=="), 2),
                ('!', Some('=')) => (Tok::Compare("!="), 2),
                ('>', Some('=')) => (Tok::Compare(">="), 2),
                ('<', Some('=')) => (Tok::Compare("<="), 2),
                ('>', _) => (Tok::Compare(">"), 1),
                ('<', _) => (Tok::Compare("<"), 1),
                ('=', _) => (Tok::Equal, 1),
                ('+', _) => (Tok::Plus, 1),
                ('-', _) => (Tok::Minus, 1),
                ('*', _) => (Tok::Star, 1),
                ('/', _) => (Tok::Slash, 1),
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                ('{', _) => (Tok::LBrace, 1),
                ('}', _) => (Tok::RBrace, 1),
                ('[', _) => (Tok::LBracket, 1),
                (']', _) => (Tok::RBracket, 1),
                (':', _) => (Tok::Colon, 1),
                (',', _) => (Tok::Comma, 1),
                ('.', _) => (Tok::Dot, 1),
                _ => {
                    return Err(ParseError::at(
                        column,
                        format!("unexpected character {c:?}"),
                    ))
                }
            }
        };
        tokens.push(Token { tok, column });
        i += len;
    }
    tokens.push(Token {
        tok: Tok::End,
        column: chars.len() + 1,
    });
    Ok(tokens)
}

fn scan(chars: &[char], from: usize, accept: impl Fn(&char) -> bool) -> usize {
    let mut end = from;
    while end < chars.len() && accept(&chars[end]) {
        end += 1;
    }
    end
}

fn decode_hex(hex: &str, column: usize) -> Result<Vec<u8>, ParseError> {
    crate::wire::unhex(hex)
        .ok_or_else(|| ParseError::at(column, "a bytes literal needs an even number of hex digits"))
}

/// `\d+` is an int; `\d+\.\d*` or `\d*\.\d+`, with an optional exponent, is a float.
fn number(chars: &[char], start: usize) -> Result<(Tok, usize), ParseError> {
    let mut end = scan(chars, start, char::is_ascii_digit);
    let mut float = false;
    if chars.get(end) == Some(&'.') {
        float = true;
        end = scan(chars, end + 1, char::is_ascii_digit);
    }
    if float && matches!(chars.get(end), Some('e' | 'E')) {
        let mut exp = end + 1;
        if matches!(chars.get(exp), Some('+' | '-')) {
            exp += 1;
        }
        if chars.get(exp).is_some_and(char::is_ascii_digit) {
            end = scan(chars, exp, char::is_ascii_digit);
        }
    }
    let text: String = chars[start..end].iter().collect();
    let column = start + 1;
    let tok = if float {
        Tok::Float(
            text.parse()
                .map_err(|_| ParseError::at(column, format!("invalid number {text}")))?,
        )
    } else {
        Tok::Int(text.parse().map_err(|_| {
            ParseError::at(column, format!("integer {text} does not fit in 64 bits"))
        })?)
    };
    Ok((tok, end - start))
}

/// A double-quoted string; backslash escapes as Go's `strconv.Unquote`.
fn string(chars: &[char], start: usize) -> Result<(Tok, usize), ParseError> {
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Ok((Tok::Str(out), i + 1 - start)),
            '\\' => {
                let Some(&e) = chars.get(i + 1) else { break };
                i += 2;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let digits = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.iter().skip(i).take(digits).collect();
                        let code = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        let Some(code) = code else {
                            return Err(ParseError::at(i - 1, "invalid escape in string"));
                        };
                        out.push(code);
                        i += digits;
                    }
                    other => {
                        return Err(ParseError::at(
                            i - 1,
                            format!("invalid escape \\{other} in string"),
                        ))
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err(ParseError::at(
        start + 1,
        "string is not closed (missing `\"`)",
    ))
}
