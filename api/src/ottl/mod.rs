//! OTTL, the OpenTelemetry Transformation Language, as the Collector defines it
//! (`pkg/ottl`): statements (`set(span.attributes["x"], "y") where span.name == "z"`)
//! and conditions over the contexts `resource`, `scope`, `span`, `spanevent`, `metric`,
//! `datapoint` and `log`. Here so that every component (the `transform`, `filter` and
//! `routing` components, tail sampling, a user's plugin) binds and runs it the same way.
//!
//! Statements are parsed and bound once (unknown paths, functions and arguments are
//! config errors naming the statement and the column); running one on an item never
//! panics: a failure is a [`RuntimeError`] that the caller's [`ErrorMode`] handles.

pub mod ast;
mod enums;
pub mod error;
pub mod expr;
pub mod functions;
pub mod item;
pub mod keys;
pub mod lexer;
pub mod parser;
pub mod path;
pub mod run;
pub mod value;
pub mod walk;

#[cfg(test)]
mod tests;

use serde::Deserialize;

pub use error::{Eval, OttlError, ParseError, RuntimeError};
pub use item::Item;
pub use path::ContextName;
pub use run::{run_statements, Outcome};
pub use value::Value;

use expr::{Binder, Condition, EditorFn};
use functions::Func;

/// What happens when a statement or condition fails on an item (the Collector's
/// `error_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// The batch is refused (permanently) with the error.
    #[default]
    Propagate,
    /// The error is logged and counted; the item goes on unchanged by that statement.
    Ignore,
    /// As `ignore`, without the log line.
    Silent,
}

/// A bound statement.
pub struct Statement {
    pub text: String,
    pub context: ContextName,
    editor: Box<dyn EditorFn>,
    condition: Option<Condition>,
}

impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Statement({:?} in {})", self.text, self.context.name())
    }
}

impl Statement {
    /// Parses and binds `text`. With a `context` (the `context:` groups), paths may omit
    /// the context name; without, every path names its context and the statement runs in
    /// the narrowest one it names (the flat `statements:` form).
    pub fn parse(text: &str, context: Option<ContextName>) -> Result<Statement, OttlError> {
        let fail = |message: String| OttlError {
            what: "statement",
            text: text.to_string(),
            message,
        };
        let parsed = parser::parse_statement(text).map_err(|e| fail(e.to_string()))?;
        let (context, prefixed) = match context {
            Some(c) => (c, false),
            None => (infer_statement(&parsed).map_err(fail)?, true),
        };
        let binder = Binder { context, prefixed };
        let editor = match functions::build(&binder, &parsed.editor).map_err(fail)? {
            Func::Editor(e) => e,
            Func::Converter(_) => {
                return Err(fail(format!(
                    "{:?} is a converter; a statement starts with an editor such as `set`",
                    parsed.editor.name
                )))
            }
        };
        let condition = parsed
            .condition
            .as_ref()
            .map(|c| binder.condition(c))
            .transpose()
            .map_err(fail)?;
        Ok(Statement {
            text: text.to_string(),
            context,
            editor,
            condition,
        })
    }

    /// Runs on one item; `Ok(false)` when the condition did not hold.
    pub fn execute(&self, item: &mut Item) -> Eval<bool> {
        if let Some(c) = &self.condition {
            if !c.eval(item)? {
                return Ok(false);
            }
        }
        self.editor.apply(item)?;
        Ok(true)
    }
}

/// A bound condition (`filter`, `routing`, tail sampling).
pub struct Predicate {
    pub text: String,
    pub context: ContextName,
    condition: Condition,
}

impl std::fmt::Debug for Predicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Predicate({:?} in {})", self.text, self.context.name())
    }
}

impl Predicate {
    /// As [`Statement::parse`], for a condition.
    pub fn parse(text: &str, context: Option<ContextName>) -> Result<Predicate, OttlError> {
        let fail = |message: String| OttlError {
            what: "condition",
            text: text.to_string(),
            message,
        };
        let parsed = parser::parse_condition(text).map_err(|e| fail(e.to_string()))?;
        let (context, prefixed) = match context {
            Some(c) => (c, false),
            None => {
                let mut named = Vec::new();
                collect_bool(&parsed, &mut named);
                (narrowest(&named).map_err(fail)?, true)
            }
        };
        let binder = Binder { context, prefixed };
        let condition = binder.condition(&parsed).map_err(fail)?;
        Ok(Predicate {
            text: text.to_string(),
            context,
            condition,
        })
    }

    pub fn eval(&self, item: &Item) -> Eval<bool> {
        self.condition.eval(item)
    }
}

fn infer_statement(s: &ast::Statement) -> Result<ContextName, String> {
    let mut named = Vec::new();
    collect_call(&s.editor, &mut named);
    if let Some(c) = &s.condition {
        collect_bool(c, &mut named);
    }
    narrowest(&named)
}

/// The narrowest context among those a statement names; they must lie on one line
/// (span and log paths cannot meet in one statement).
fn narrowest(named: &[ContextName]) -> Result<ContextName, String> {
    let depth = |c: ContextName| match c {
        ContextName::Resource => 0,
        ContextName::Scope => 1,
        ContextName::Span | ContextName::Metric | ContextName::Log => 2,
        ContextName::SpanEvent | ContextName::DataPoint => 3,
    };
    let Some(deepest) = named.iter().copied().max_by_key(|c| depth(*c)) else {
        return Err(
            "no path names a context; write paths with their context, e.g. `span.attributes[\"k\"]`"
                .into(),
        );
    };
    if let Some(other) = named.iter().find(|c| !deepest.reaches(**c)) {
        return Err(format!(
            "paths of the {} and {} contexts cannot meet in one statement",
            other.name(),
            deepest.name()
        ));
    }
    Ok(deepest)
}

fn collect_call(call: &ast::Call, out: &mut Vec<ContextName>) {
    if call.name == "IsRootSpan" {
        out.push(ContextName::Span);
    }
    for a in &call.args {
        collect_expr(&a.value, out);
    }
    for k in &call.keys {
        collect_expr(k, out);
    }
}

fn collect_expr(e: &ast::Expr, out: &mut Vec<ContextName>) {
    match e {
        ast::Expr::Path { names, keys, .. } => {
            if let Some(c) = path::named_context(names) {
                out.push(c);
            }
            keys.iter().for_each(|k| collect_expr(k, out));
        }
        ast::Expr::Call(c) => collect_call(c, out),
        ast::Expr::List(items) => items.iter().for_each(|i| collect_expr(i, out)),
        ast::Expr::Map(entries) => entries.iter().for_each(|(_, v)| collect_expr(v, out)),
        ast::Expr::Math(a, _, b) => {
            collect_expr(a, out);
            collect_expr(b, out);
        }
        ast::Expr::Literal(_) | ast::Expr::Enum { .. } => {}
    }
}

fn collect_bool(b: &ast::BoolExpr, out: &mut Vec<ContextName>) {
    match b {
        ast::BoolExpr::Or(t) | ast::BoolExpr::And(t) => t.iter().for_each(|c| collect_bool(c, out)),
        ast::BoolExpr::Not(inner) => collect_bool(inner, out),
        ast::BoolExpr::Compare(a, _, c) => {
            collect_expr(a, out);
            collect_expr(c, out);
        }
        ast::BoolExpr::Value(e) => collect_expr(e, out),
    }
}
