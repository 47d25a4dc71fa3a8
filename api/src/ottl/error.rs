//! OTTL's errors: a statement that does not parse or compile (a config error, with the
//! statement and the column), and a statement that fails on one item (runtime, handled
//! by `error_mode`).

/// Where a statement fails to parse, and what was expected there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

impl ParseError {
    pub fn at(column: usize, message: impl Into<String>) -> Self {
        ParseError {
            column,
            message: message.into(),
        }
    }
}

/// A statement or condition that cannot be used: it does not parse, or names a path,
/// function or argument that does not exist in its context.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unable to parse OTTL {what} {text:?}: {message}")]
pub struct OttlError {
    /// `statement` or `condition`.
    pub what: &'static str,
    pub text: String,
    pub message: String,
}

/// A statement that failed on one item (a type mismatch, a bad regex argument, an index
/// out of range): the processor's `error_mode` decides what happens.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RuntimeError(pub String);

impl RuntimeError {
    pub fn new(message: impl Into<String>) -> Self {
        RuntimeError(message.into())
    }
}

pub type Eval<T> = Result<T, RuntimeError>;
