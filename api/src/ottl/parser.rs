//! Recursive-descent parser for OTTL statements and conditions, following the Collector's
//! grammar (`grammar.go`): a statement is an editor invocation with an optional `where`
//! condition; a condition is `or` of `and` of optionally negated comparisons, booleans,
//! converters and parenthesized conditions; values are literals, paths, enums, lists,
//! maps, converters and `+ - * /` arithmetic.

use super::ast::{Arg, BoolExpr, Call, Expr, MathOp, Statement};
use super::error::ParseError;
use super::lexer::{tokenize, Tok, Token};
use super::value::{CompareOp, Value};

pub fn parse_statement(text: &str) -> Result<Statement, ParseError> {
    let mut p = Parser::new(text)?;
    let editor = match p.peek().clone() {
        Tok::Lower(name) if p.peek_at(1) == &Tok::LParen => {
            let column = p.column();
            p.next();
            p.call(name, column)?
        }
        Tok::Upper(name) if p.peek_at(1) == &Tok::LParen => {
            return Err(ParseError::at(
                p.column(),
                format!("a statement starts with an editor (lowercase, e.g. `set`); {name:?} is a converter"),
            ))
        }
        other => return Err(p.expected("an editor invocation such as `set(...)`", &other)),
    };
    if !editor.keys.is_empty() {
        return Err(ParseError::at(
            editor.column,
            "an editor's result cannot be indexed",
        ));
    }
    let condition = match p.peek() {
        Tok::Lower(w) if w == "where" => {
            p.next();
            Some(p.bool_expr()?)
        }
        _ => None,
    };
    p.end()?;
    Ok(Statement { editor, condition })
}

pub fn parse_condition(text: &str) -> Result<BoolExpr, ParseError> {
    let mut p = Parser::new(text)?;
    let condition = p.bool_expr()?;
    p.end()?;
    Ok(condition)
}

/// A value expression alone (`ParseValueExpression`), e.g. a routing statement's value.
pub fn parse_value(text: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(text)?;
    let value = p.value()?;
    p.end()?;
    Ok(value)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Nesting of values and conditions, bounded so a hostile statement cannot exhaust
    /// the stack.
    depth: usize,
}

const MAX_DEPTH: usize = 100;

impl Parser {
    fn new(text: &str) -> Result<Self, ParseError> {
        Ok(Parser {
            tokens: tokenize(text)?,
            at: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        let i = (self.at + ahead).min(self.tokens.len() - 1);
        &self.tokens[i].tok
    }

    fn column(&self) -> usize {
        self.tokens[self.at.min(self.tokens.len() - 1)].column
    }

    fn next(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        tok
    }

    fn expected(&self, what: &str, found: &Tok) -> ParseError {
        expected_at(self.column(), what, found)
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if *self.peek() == tok {
            self.next();
            Ok(())
        } else {
            Err(self.expected(what, &self.peek().clone()))
        }
    }

    fn end(&self) -> Result<(), ParseError> {
        match self.peek() {
            Tok::End => Ok(()),
            other => Err(self.expected("the end of the statement or `where`", other)),
        }
    }

    /// After the name: `(args)` and any `[key]`s.
    fn call(&mut self, name: String, column: usize) -> Result<Call, ParseError> {
        self.expect(Tok::LParen, "\"(\"")?;
        let mut args = Vec::new();
        if *self.peek() != Tok::RParen {
            loop {
                let column = self.column();
                let named = match (self.peek().clone(), self.peek_at(1)) {
                    (Tok::Lower(n), Tok::Equal) => Some(n),
                    _ => None,
                };
                if named.is_some() {
                    self.next();
                    self.next();
                }
                let value = self.value()?;
                args.push(Arg {
                    name: named,
                    value,
                    column,
                });
                let column = self.column();
                match self.next() {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    other => return Err(expected_at(column, "\",\" or \")\"", &other)),
                }
            }
        } else {
            self.next();
        }
        let keys = self.keys()?;
        Ok(Call {
            name,
            args,
            keys,
            column,
        })
    }

    fn keys(&mut self) -> Result<Vec<Expr>, ParseError> {
        let mut keys = Vec::new();
        while *self.peek() == Tok::LBracket {
            self.next();
            keys.push(self.value()?);
            self.expect(Tok::RBracket, "\"]\"")?;
        }
        Ok(keys)
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::at(
                self.column(),
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn bool_expr(&mut self) -> Result<BoolExpr, ParseError> {
        self.enter()?;
        let result = self.bool_expr_inner();
        self.depth -= 1;
        result
    }

    fn bool_expr_inner(&mut self) -> Result<BoolExpr, ParseError> {
        let mut terms = vec![self.bool_term()?];
        while *self.peek() == Tok::Or {
            self.next();
            terms.push(self.bool_term()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            BoolExpr::Or(terms)
        })
    }

    fn bool_term(&mut self) -> Result<BoolExpr, ParseError> {
        let mut factors = vec![self.bool_factor()?];
        while *self.peek() == Tok::And {
            self.next();
            factors.push(self.bool_factor()?);
        }
        Ok(if factors.len() == 1 {
            factors.remove(0)
        } else {
            BoolExpr::And(factors)
        })
    }

    fn bool_factor(&mut self) -> Result<BoolExpr, ParseError> {
        if *self.peek() == Tok::Not {
            self.next();
            self.enter()?;
            let inner = self.bool_factor();
            self.depth -= 1;
            return Ok(BoolExpr::Not(Box::new(inner?)));
        }
        // `( condition )` or `(a + b) > c`: try the condition first, fall back to a value.
        if *self.peek() == Tok::LParen {
            let start = self.at;
            self.next();
            if let Ok(inner) = self.bool_expr() {
                if *self.peek() == Tok::RParen {
                    self.next();
                    if !matches!(
                        self.peek(),
                        Tok::Compare(_) | Tok::Plus | Tok::Minus | Tok::Star | Tok::Slash
                    ) {
                        return Ok(inner);
                    }
                }
            }
            self.at = start;
        }
        let left = self.value()?;
        if let Tok::Compare(op) = self.peek().clone() {
            self.next();
            let right = self.value()?;
            return Ok(BoolExpr::Compare(left, compare_op(op), right));
        }
        match &left {
            Expr::Literal(Value::Bool(_)) | Expr::Call(_) => Ok(BoolExpr::Value(left)),
            _ => Err(ParseError::at(
                self.column(),
                format!(
                    "a condition needs a comparison, a boolean or a converter; found {} (expected a comparison operator)",
                    self.peek().describe()
                ),
            )),
        }
    }

    fn value(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let result = self.value_inner();
        self.depth -= 1;
        result
    }

    fn value_inner(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => MathOp::Add,
                Tok::Minus => MathOp::Sub,
                _ => return Ok(left),
            };
            self.next();
            let right = self.term()?;
            left = Expr::Math(Box::new(left), op, Box::new(right));
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.factor()?;
        loop {
            let op = match self.peek() {
                Tok::Star => MathOp::Mul,
                Tok::Slash => MathOp::Div,
                _ => return Ok(left),
            };
            self.next();
            let right = self.factor()?;
            left = Expr::Math(Box::new(left), op, Box::new(right));
        }
    }

    fn factor(&mut self) -> Result<Expr, ParseError> {
        let column = self.column();
        match self.next() {
            Tok::Nil => Ok(Expr::Literal(Value::Nil)),
            Tok::Bool(b) => Ok(Expr::Literal(Value::Bool(b))),
            Tok::Int(i) => Ok(Expr::Literal(Value::Int(i))),
            Tok::Float(f) => Ok(Expr::Literal(Value::Double(f))),
            Tok::Str(s) => Ok(Expr::Literal(Value::Str(s))),
            Tok::Bytes(b) => Ok(Expr::Literal(Value::Bytes(b))),
            Tok::Minus | Tok::Plus if matches!(self.peek(), Tok::Int(_) | Tok::Float(_)) => {
                let negative = self.tokens[self.at - 1].tok == Tok::Minus;
                let at = self.column();
                match self.next() {
                    Tok::Int(i) if negative => Ok(Expr::Literal(Value::Int(-i))),
                    Tok::Float(f) if negative => Ok(Expr::Literal(Value::Double(-f))),
                    Tok::Int(i) => Ok(Expr::Literal(Value::Int(i))),
                    Tok::Float(f) => Ok(Expr::Literal(Value::Double(f))),
                    other => Err(expected_at(at, "a number", &other)),
                }
            }
            Tok::LParen => {
                let inner = self.value()?;
                self.expect(Tok::RParen, "\")\"")?;
                Ok(inner)
            }
            Tok::LBracket => {
                let mut items = Vec::new();
                if *self.peek() == Tok::RBracket {
                    self.next();
                    return Ok(Expr::List(items));
                }
                loop {
                    items.push(self.value()?);
                    let column = self.column();
                    match self.next() {
                        Tok::Comma => continue,
                        Tok::RBracket => return Ok(Expr::List(items)),
                        other => return Err(expected_at(column, "\",\" or \"]\"", &other)),
                    }
                }
            }
            Tok::LBrace => {
                let mut entries = Vec::new();
                if *self.peek() == Tok::RBrace {
                    self.next();
                    return Ok(Expr::Map(entries));
                }
                loop {
                    let key = match self.next() {
                        Tok::Str(s) => s,
                        other => return Err(expected_at(column, "a string map key", &other)),
                    };
                    self.expect(Tok::Colon, "\":\"")?;
                    entries.push((key, self.value()?));
                    let column = self.column();
                    match self.next() {
                        Tok::Comma => continue,
                        Tok::RBrace => return Ok(Expr::Map(entries)),
                        other => return Err(expected_at(column, "\",\" or \"}\"", &other)),
                    }
                }
            }
            Tok::Upper(name) => {
                if *self.peek() == Tok::LParen {
                    Ok(Expr::Call(self.call(name, column)?))
                } else if name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    Ok(Expr::Enum { name, column })
                } else {
                    Err(ParseError::at(
                        self.column(),
                        format!("{name:?} is not an enum; a converter needs \"(\""),
                    ))
                }
            }
            Tok::Lower(first) => {
                if *self.peek() == Tok::LParen {
                    return Err(ParseError::at(
                        column,
                        format!("editor {first:?} cannot be used as a value; converters start with a capital letter"),
                    ));
                }
                let mut names = vec![first];
                while *self.peek() == Tok::Dot {
                    self.next();
                    let column = self.column();
                    match self.next() {
                        Tok::Lower(n) | Tok::Upper(n) => names.push(n),
                        other => {
                            return Err(expected_at(column, "a path segment after \".\"", &other))
                        }
                    }
                }
                let keys = self.keys()?;
                Ok(Expr::Path {
                    names,
                    keys,
                    column,
                })
            }
            other => {
                self.at = self.at.saturating_sub(usize::from(other != Tok::End));
                Err(ParseError::at(
                    column,
                    format!("unexpected token {} (expected a value)", other.describe()),
                ))
            }
        }
    }
}

fn expected_at(column: usize, what: &str, found: &Tok) -> ParseError {
    ParseError::at(
        column,
        format!("unexpected token {} (expected {what})", found.describe()),
    )
}

fn compare_op(op: &str) -> CompareOp {
    match op {
        "==" => CompareOp::Eq,
        "!=" => CompareOp::Ne,
        "<" => CompareOp::Lt,
        "<=" => CompareOp::Le,
        ">" => CompareOp::Gt,
        _ => CompareOp::Ge,
    }
}
