//! Running bound statements over a batch: consecutive statements of one context form a
//! group that visits each item of that context once, all of the group's statements in
//! order on it (the Collector's statement groups); `error_mode` decides what a failure
//! does.

use crate::batch::Batch;
use crate::wire::WireError;

use super::error::RuntimeError;
use super::path::ContextName;
use super::walk;
use super::{ErrorMode, Predicate, Statement};

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Statement failures handled by `ignore`/`silent` (the batch went on).
    pub errors: u64,
    /// Statements whose editor ran (its condition held) on some item.
    pub applied: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Decode(#[from] WireError),
    #[error("statement {statement:?} failed: {error}")]
    Statement {
        statement: String,
        error: RuntimeError,
    },
}

/// Whether statements of `context` apply to `batch`'s signal.
pub fn applies(context: ContextName, batch: &Batch) -> bool {
    matches!(
        (context, batch),
        (ContextName::Resource | ContextName::Scope, _)
            | (ContextName::Span | ContextName::SpanEvent, Batch::Traces(_))
            | (
                ContextName::Metric | ContextName::DataPoint,
                Batch::Metrics(_)
            )
            | (ContextName::Log, Batch::Logs(_))
    )
}

/// Runs `statements` on `batch` (decoding it if any applies), on the items where any of
/// `conditions` holds (all items when there are none). `on_error` sees each failure
/// handled by `ignore`/`silent`.
pub fn run_statements(
    batch: &mut Batch,
    statements: &[Statement],
    conditions: &[Predicate],
    mode: ErrorMode,
    on_error: &mut dyn FnMut(&str, &RuntimeError),
) -> Result<Outcome, RunError> {
    let mut outcome = Outcome::default();
    let mut at = 0;
    while at < statements.len() {
        let context = statements[at].context;
        let end = statements[at..]
            .iter()
            .position(|s| s.context != context)
            .map_or(statements.len(), |n| at + n);
        let group = &statements[at..end];
        at = end;
        if !applies(context, batch) {
            continue;
        }
        let mut failed: Option<(usize, RuntimeError)> = None;
        let mut visit = |item: &mut super::Item| {
            if !conditions.is_empty() {
                let mut any = false;
                for c in conditions.iter().filter(|c| c.context == context) {
                    match c.eval(item) {
                        Ok(true) => {
                            any = true;
                            break;
                        }
                        Ok(false) => {}
                        Err(e) if mode == ErrorMode::Propagate => {
                            failed = Some((usize::MAX, e.clone()));
                            return Err(e);
                        }
                        Err(e) => {
                            outcome.errors += 1;
                            on_error(&c.text, &e);
                        }
                    }
                }
                if !any {
                    return Ok(true);
                }
            }
            for (i, s) in group.iter().enumerate() {
                match s.execute(item) {
                    Ok(true) => outcome.applied += 1,
                    Ok(false) => {}
                    Err(e) => {
                        if mode == ErrorMode::Propagate {
                            failed = Some((i, e.clone()));
                            return Err(e);
                        }
                        outcome.errors += 1;
                        on_error(&s.text, &e);
                    }
                }
            }
            Ok(true)
        };
        let result = match batch {
            Batch::Traces(p) => walk::traces(p.message_mut()?, context, &mut visit),
            Batch::Metrics(p) => walk::metrics(p.message_mut()?, context, &mut visit),
            Batch::Logs(p) => walk::logs(p.message_mut()?, context, &mut visit),
        };
        if let Err(error) = result {
            let statement = failed
                .and_then(|(i, _)| group.get(i))
                .map(|s| s.text.clone())
                .unwrap_or_else(|| "a condition".into());
            return Err(RunError::Statement { statement, error });
        }
    }
    Ok(outcome)
}
