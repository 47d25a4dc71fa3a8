//! Logging a repeated failure once, not once per attempt: remembers the last message
//! said, so a caller logs only when it changes, and once more when it clears.

use std::sync::{Mutex, PoisonError};

#[derive(Default)]
pub struct LogOnce {
    last: Mutex<Option<String>>,
}

impl LogOnce {
    pub fn new() -> LogOnce {
        LogOnce::default()
    }

    /// True when `message` differs from the last one noted: log it now.
    pub fn is_new(&self, message: &str) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.as_deref() == Some(message) {
            return false;
        }
        *last = Some(message.to_string());
        true
    }

    /// True when a failure had been noted and is now over: log the recovery now.
    pub fn cleared(&self) -> bool {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .is_some()
    }
}
