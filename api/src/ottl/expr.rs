//! Statements and conditions bound to a context: paths resolved to fields, functions
//! to their implementations, enums to numbers. Evaluation reads an [`Item`].

use super::ast::{self, MathOp};
use super::enums;
use super::error::{Eval, RuntimeError};
use super::functions::{self, Func};
use super::item::Item;
use super::keys::Key;
use super::path::{resolve, ContextName, Field};
use super::value::{CompareOp, Value};

/// A value expression.
pub enum Expr {
    Literal(Value),
    Path(Path),
    Converter(Box<Converter>),
    List(Vec<Expr>),
    Map(Vec<(String, Expr)>),
    Math(Box<Expr>, MathOp, Box<Expr>),
}

/// A resolved path with its (unevaluated) keys.
pub struct Path {
    pub field: Field,
    pub keys: Vec<Expr>,
    /// As written, for messages.
    pub text: String,
}

/// What a converter computes from its arguments.
pub trait ConverterFn: Send + Sync {
    fn call(&self, item: &Item) -> Eval<Value>;
}

/// What an editor does to the item.
pub trait EditorFn: Send + Sync {
    fn apply(&self, item: &mut Item) -> Eval<()>;
}

pub struct Converter {
    pub func: Box<dyn ConverterFn>,
    pub keys: Vec<Expr>,
}

pub enum Condition {
    Or(Vec<Condition>),
    And(Vec<Condition>),
    Not(Box<Condition>),
    Compare(Expr, CompareOp, Expr),
    Value(Expr),
}

impl Path {
    pub fn eval_keys(&self, item: &Item) -> Eval<Vec<Key>> {
        self.keys.iter().map(|k| key(k, item)).collect()
    }

    pub fn get(&self, item: &Item) -> Eval<Value> {
        item.get(self.field, &self.eval_keys(item)?)
    }

    pub fn set(&self, item: &mut Item, v: Value) -> Eval<()> {
        let keys = self.eval_keys(item)?;
        item.set(self.field, &keys, v)
    }
}

fn key(expr: &Expr, item: &Item) -> Eval<Key> {
    match expr.eval(item)? {
        Value::Str(s) => Ok(Key::Str(s)),
        Value::Int(i) => Ok(Key::Int(i)),
        other => Err(RuntimeError::new(format!(
            "a key must be a string or an int, found {}",
            other.type_name()
        ))),
    }
}

impl Expr {
    pub fn eval(&self, item: &Item) -> Eval<Value> {
        match self {
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Path(p) => p.get(item),
            Expr::Converter(c) => {
                let v = c.func.call(item)?;
                if c.keys.is_empty() {
                    return Ok(v);
                }
                let keys: Vec<Key> = c.keys.iter().map(|k| key(k, item)).collect::<Eval<_>>()?;
                super::keys::get_in_value(&v.into_any(), &keys)
            }
            Expr::List(items) => Ok(Value::List(
                items
                    .iter()
                    .map(|e| Ok(e.eval(item)?.into_any()))
                    .collect::<Eval<_>>()?,
            )),
            Expr::Map(entries) => Ok(Value::Map(
                entries
                    .iter()
                    .map(|(k, e)| Ok(crate::attributes::kv_any(k, e.eval(item)?.into_any())))
                    .collect::<Eval<_>>()?,
            )),
            Expr::Math(a, op, b) => math(a.eval(item)?, *op, b.eval(item)?),
        }
    }

    /// The path this expression is, if it is one (editors' targets must be paths).
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            Expr::Path(p) => Some(p),
            _ => None,
        }
    }

    pub fn literal(&self) -> Option<&Value> {
        match self {
            Expr::Literal(v) => Some(v),
            _ => None,
        }
    }
}

fn math(a: Value, op: MathOp, b: Value) -> Eval<Value> {
    use Value::*;
    let float = |x: f64, y: f64| match op {
        MathOp::Add => x + y,
        MathOp::Sub => x - y,
        MathOp::Mul => x * y,
        MathOp::Div => x / y,
    };
    let overflow = || RuntimeError::new("integer overflow");
    Ok(match (a, b) {
        (Int(x), Int(y)) => Int(match op {
            MathOp::Add => x.wrapping_add(y),
            MathOp::Sub => x.wrapping_sub(y),
            MathOp::Mul => x.wrapping_mul(y),
            MathOp::Div if y == 0 => return Err(RuntimeError::new("attempted to divide by 0")),
            MathOp::Div => x.wrapping_div(y),
        }),
        (Int(x), Double(y)) => Double(float(x as f64, y)),
        (Double(x), Int(y)) => Double(float(x, y as f64)),
        (Double(x), Double(y)) => Double(float(x, y)),
        (Time(t), Duration(d)) if op == MathOp::Add => Time(t.checked_add(d).ok_or_else(overflow)?),
        (Time(t), Duration(d)) if op == MathOp::Sub => Time(t.checked_sub(d).ok_or_else(overflow)?),
        (Time(t), Time(u)) if op == MathOp::Sub => Duration(t.checked_sub(u).ok_or_else(overflow)?),
        (Duration(d), Duration(e)) if op == MathOp::Add => {
            Duration(d.checked_add(e).ok_or_else(overflow)?)
        }
        (Duration(d), Duration(e)) if op == MathOp::Sub => {
            Duration(d.checked_sub(e).ok_or_else(overflow)?)
        }
        (x, y) => {
            return Err(RuntimeError::new(format!(
                "unsupported arithmetic between {} and {}",
                x.type_name(),
                y.type_name()
            )))
        }
    })
}

impl Condition {
    pub fn eval(&self, item: &Item) -> Eval<bool> {
        match self {
            Condition::Or(terms) => {
                for t in terms {
                    if t.eval(item)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::And(terms) => {
                for t in terms {
                    if !t.eval(item)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Not(inner) => Ok(!inner.eval(item)?),
            Condition::Compare(a, op, b) => Ok(a.eval(item)?.compare(&b.eval(item)?, *op)),
            Condition::Value(e) => match e.eval(item)? {
                Value::Bool(b) => Ok(b),
                other => Err(RuntimeError::new(format!(
                    "expected a bool from the condition, got {}",
                    other.type_name()
                ))),
            },
        }
    }
}

/// Binds parsed expressions to one context.
pub struct Binder {
    pub context: ContextName,
    /// Paths must name their context (the flat `statements:` form).
    pub prefixed: bool,
}

impl Binder {
    pub fn expr(&self, expr: &ast::Expr) -> Result<Expr, String> {
        Ok(match expr {
            ast::Expr::Literal(v) => Expr::Literal(v.clone()),
            ast::Expr::Path { names, keys, .. } => Expr::Path(self.path(names, keys)?),
            ast::Expr::Enum { name, .. } => Expr::Literal(Value::Int(
                enums::value(name).ok_or_else(|| format!("enum {name:?} is not defined"))?,
            )),
            ast::Expr::List(items) => Expr::List(
                items
                    .iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<_, _>>()?,
            ),
            ast::Expr::Map(entries) => Expr::Map(
                entries
                    .iter()
                    .map(|(k, e)| Ok((k.clone(), self.expr(e)?)))
                    .collect::<Result<_, String>>()?,
            ),
            ast::Expr::Math(a, op, b) => {
                Expr::Math(Box::new(self.expr(a)?), *op, Box::new(self.expr(b)?))
            }
            ast::Expr::Call(call) => {
                let func = functions::build(self, call)?;
                let Func::Converter(func) = func else {
                    return Err(format!(
                        "{:?} is an editor; only converters (capitalized) give values",
                        call.name
                    ));
                };
                let keys = call
                    .keys
                    .iter()
                    .map(|k| self.expr(k))
                    .collect::<Result<_, _>>()?;
                Expr::Converter(Box::new(Converter { func, keys }))
            }
        })
    }

    pub fn path(&self, names: &[String], keys: &[ast::Expr]) -> Result<Path, String> {
        let (_, field) = resolve(self.context, names, self.prefixed)?;
        if !keys.is_empty() && !field.takes_keys() {
            return Err(format!(
                "path {:?} cannot be indexed with keys",
                names.join(".")
            ));
        }
        Ok(Path {
            field,
            keys: keys
                .iter()
                .map(|k| self.expr(k))
                .collect::<Result<_, _>>()?,
            text: names.join("."),
        })
    }

    pub fn condition(&self, c: &ast::BoolExpr) -> Result<Condition, String> {
        Ok(match c {
            ast::BoolExpr::Or(t) => Condition::Or(
                t.iter()
                    .map(|c| self.condition(c))
                    .collect::<Result<_, _>>()?,
            ),
            ast::BoolExpr::And(t) => Condition::And(
                t.iter()
                    .map(|c| self.condition(c))
                    .collect::<Result<_, _>>()?,
            ),
            ast::BoolExpr::Not(inner) => Condition::Not(Box::new(self.condition(inner)?)),
            ast::BoolExpr::Compare(a, op, b) => {
                Condition::Compare(self.expr(a)?, *op, self.expr(b)?)
            }
            ast::BoolExpr::Value(e) => Condition::Value(self.expr(e)?),
        })
    }
}
