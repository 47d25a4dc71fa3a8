//! OTTL's functions: editors (lowercase, change the item) and converters (capitalized,
//! give a value), with the Collector's names, parameters and argument rules
//! (`ottlfuncs`). Each function declares its parameters; arguments are matched by
//! position or `name = value`, checked when the statement is bound (a config error),
//! and evaluated per item.

pub mod convert;
pub mod editors;
pub mod hashes;
pub mod lists;
pub mod maps;
pub mod replace;
pub mod strings;
pub mod time;
pub mod types;

use super::ast::{self, Call};
use super::error::Eval;
use super::expr::{Binder, ConverterFn, EditorFn, Expr, Path};
use super::item::Item;
use super::value::Value;

/// A bound function.
pub enum Func {
    Editor(Box<dyn EditorFn>),
    Converter(Box<dyn ConverterFn>),
}

/// A function's name, parameters (an optional one ends in `?`) and builder.
pub struct Spec {
    pub name: &'static str,
    pub params: &'static [&'static str],
    pub build: fn(Args) -> Result<Func, String>,
}

/// The arguments of one call, in parameter order (absent optional ones are `None`).
pub struct Args {
    pub name: &'static str,
    values: Vec<Option<Expr>>,
    raw: Vec<Option<ast::Expr>>,
}

impl Args {
    /// The argument for parameter `i`, taken (each is taken once).
    pub fn take(&mut self, i: usize) -> Option<Expr> {
        self.values.get_mut(i).and_then(Option::take)
    }

    /// A required argument (presence was checked when matching).
    pub fn required(&mut self, i: usize) -> Result<Expr, String> {
        self.take(i)
            .ok_or_else(|| format!("{}: argument {} is missing", self.name, i + 1))
    }

    /// An argument that must be a path (an editor's target).
    pub fn path(&mut self, i: usize) -> Result<Path, String> {
        match self.required(i)? {
            Expr::Path(p) => Ok(p),
            _ => Err(format!("{}: argument {} must be a path", self.name, i + 1)),
        }
    }

    /// An argument that must be a literal string (a regex, a strategy, a format).
    pub fn literal_str(&mut self, i: usize) -> Result<Option<String>, String> {
        match self.take(i) {
            None => Ok(None),
            Some(Expr::Literal(Value::Str(s))) => Ok(Some(s)),
            Some(_) => Err(format!(
                "{}: argument {} must be a literal string",
                self.name,
                i + 1
            )),
        }
    }

    pub fn literal_int(&mut self, i: usize) -> Result<Option<i64>, String> {
        match self.take(i) {
            None => Ok(None),
            Some(Expr::Literal(Value::Int(v))) => Ok(Some(v)),
            Some(_) => Err(format!(
                "{}: argument {} must be a literal integer",
                self.name,
                i + 1
            )),
        }
    }

    pub fn literal_bool(&mut self, i: usize) -> Result<Option<bool>, String> {
        match self.take(i) {
            None => Ok(None),
            Some(Expr::Literal(Value::Bool(v))) => Ok(Some(v)),
            Some(_) => Err(format!(
                "{}: argument {} must be true or false",
                self.name,
                i + 1
            )),
        }
    }

    /// A literal list of strings (`["a", "b"]`).
    pub fn literal_strings(&mut self, i: usize) -> Result<Option<Vec<String>>, String> {
        match self.take(i) {
            None => Ok(None),
            Some(Expr::List(items)) => items
                .into_iter()
                .map(|e| match e {
                    Expr::Literal(Value::Str(s)) => Ok(s),
                    _ => Err(format!(
                        "{}: argument {} must list literal strings",
                        self.name,
                        i + 1
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(format!(
                "{}: argument {} must be a list of strings",
                self.name,
                i + 1
            )),
        }
    }

    /// The argument as written, for parameters that name a function (`SHA256`).
    pub fn raw(&self, i: usize) -> Option<&ast::Expr> {
        self.raw.get(i).and_then(Option::as_ref)
    }

    /// The remaining arguments, for converters that evaluate all of them per item.
    pub fn rest(self) -> Vec<Option<Expr>> {
        self.values
    }

    /// The remaining arguments, to look at before taking them.
    pub fn rest_ref(&self) -> &[Option<Expr>] {
        &self.values
    }
}

const TABLES: &[&[Spec]] = &[
    editors::SPECS,
    maps::SPECS,
    replace::SPECS,
    strings::SPECS,
    convert::SPECS,
    types::SPECS,
    hashes::SPECS,
    lists::SPECS,
    time::SPECS,
];

pub fn spec(name: &str) -> Option<&'static Spec> {
    TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|s| s.name == name)
}

/// Every function's name (documentation, did-you-mean).
pub fn names() -> impl Iterator<Item = &'static str> {
    TABLES.iter().flat_map(|t| t.iter()).map(|s| s.name)
}

pub fn build(binder: &Binder, call: &Call) -> Result<Func, String> {
    let Some(spec) = spec(&call.name) else {
        let hint = names()
            .filter(|n| strsim::levenshtein(n, &call.name) <= 2)
            .map(|n| format!(" (did you mean {n:?}?)"))
            .next()
            .unwrap_or_default();
        return Err(format!("undefined function {:?}{hint}", call.name));
    };
    let params: Vec<(&str, bool)> = spec
        .params
        .iter()
        .map(|p| match p.strip_suffix('?') {
            Some(name) => (name, true),
            None => (*p, false),
        })
        .collect();
    let variadic = params.last().is_some_and(|(n, _)| n.ends_with("..."));
    let mut raw: Vec<Option<ast::Expr>> = vec![None; params.len()];
    let mut extra = Vec::new();
    for (i, arg) in call.args.iter().enumerate() {
        let at = match &arg.name {
            Some(name) => params.iter().position(|(p, _)| p == name).ok_or_else(|| {
                format!(
                    "{}: no parameter named {name:?} (parameters: {})",
                    spec.name,
                    params
                        .iter()
                        .map(|(p, _)| *p)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?,
            None if i < params.len() => i,
            None if variadic => {
                extra.push(arg.value.clone());
                continue;
            }
            None => {
                return Err(format!(
                    "{}: too many arguments ({} given, at most {})",
                    spec.name,
                    call.args.len(),
                    params.len()
                ))
            }
        };
        if raw[at].is_some() {
            return Err(format!(
                "{}: argument {:?} given twice",
                spec.name, params[at].0
            ));
        }
        raw[at] = Some(arg.value.clone());
    }
    for ((name, optional), value) in params.iter().zip(&raw) {
        if value.is_none() && !optional {
            return Err(format!(
                "{}: missing argument {name:?} ({} required)",
                spec.name,
                params.iter().filter(|(_, o)| !o).count()
            ));
        }
    }
    raw.extend(extra.into_iter().map(Some));
    let values = raw
        .iter()
        .map(|r| match r {
            // A bare function name (`SHA256`) is not an enum: the builder reads it raw.
            Some(ast::Expr::Enum { name, .. }) if spec_is_converter(name) => Ok(None),
            Some(e) => binder.expr(e).map(Some),
            None => Ok(None),
        })
        .collect::<Result<_, String>>()?;
    (spec.build)(Args {
        name: spec.name,
        values,
        raw,
    })
}

fn spec_is_converter(name: &str) -> bool {
    spec(name).is_some() && name.starts_with(|c: char| c.is_ascii_uppercase())
}

/// A converter that evaluates its arguments and computes from their values (`None` for
/// an optional argument not given).
pub fn converter<F>(args: Vec<Option<Expr>>, f: F) -> Func
where
    F: Fn(&[Option<Value>]) -> Eval<Value> + Send + Sync + 'static,
{
    Func::Converter(Box::new(Computed { args, f }))
}

struct Computed<F> {
    args: Vec<Option<Expr>>,
    f: F,
}

impl<F> ConverterFn for Computed<F>
where
    F: Fn(&[Option<Value>]) -> Eval<Value> + Send + Sync + 'static,
{
    fn call(&self, item: &Item) -> Eval<Value> {
        let values = self
            .args
            .iter()
            .map(|a| a.as_ref().map(|e| e.eval(item)).transpose())
            .collect::<Eval<Vec<_>>>()?;
        (self.f)(&values)
    }
}

/// A converter that reads the item itself (`IsRootSpan`).
pub fn item_converter<F>(f: F) -> Func
where
    F: Fn(&Item) -> Eval<Value> + Send + Sync + 'static,
{
    struct ItemFn<F>(F);
    impl<F: Fn(&Item) -> Eval<Value> + Send + Sync + 'static> ConverterFn for ItemFn<F> {
        fn call(&self, item: &Item) -> Eval<Value> {
            (self.0)(item)
        }
    }
    Func::Converter(Box::new(ItemFn(f)))
}

/// An editor over a target path and evaluated arguments.
pub fn editor<F>(target: Path, args: Vec<Option<Expr>>, f: F) -> Func
where
    F: Fn(&mut Item, &Path, &[Option<Value>]) -> Eval<()> + Send + Sync + 'static,
{
    struct Edit<F> {
        target: Path,
        args: Vec<Option<Expr>>,
        f: F,
    }
    impl<F> EditorFn for Edit<F>
    where
        F: Fn(&mut Item, &Path, &[Option<Value>]) -> Eval<()> + Send + Sync + 'static,
    {
        fn apply(&self, item: &mut Item) -> Eval<()> {
            let values = self
                .args
                .iter()
                .map(|a| a.as_ref().map(|e| e.eval(item)).transpose())
                .collect::<Eval<Vec<_>>>()?;
            (self.f)(item, &self.target, &values)
        }
    }
    Func::Editor(Box::new(Edit { target, args, f }))
}
