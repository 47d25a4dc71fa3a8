//! A parsed statement or condition before it is bound to a context (`grammar.go`).

use super::value::{CompareOp, Value};

/// `editor(args) where condition`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub editor: Call,
    pub condition: Option<BoolExpr>,
}

/// An editor (lowercase) or converter (capitalized) invocation, with the keys that index
/// a converter's result (`Split(body, ",")[0]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
    pub keys: Vec<Expr>,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// `name = value` arguments; positional ones have none.
    pub name: Option<String>,
    pub value: Expr,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    /// `a.b.c["k"][0]`: the dotted names and the keys after them.
    Path {
        names: Vec<String>,
        keys: Vec<Expr>,
        column: usize,
    },
    Call(Call),
    /// An uppercase word: `SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`.
    Enum {
        name: String,
        column: usize,
    },
    List(Vec<Expr>),
    Map(Vec<(String, Expr)>),
    Math(Box<Expr>, MathOp, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum BoolExpr {
    Or(Vec<BoolExpr>),
    And(Vec<BoolExpr>),
    Not(Box<BoolExpr>),
    Compare(Expr, CompareOp, Expr),
    /// `true`, `false`, or a converter returning a bool (`IsMatch(...)`).
    Value(Expr),
}
