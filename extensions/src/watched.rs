//! A small file read again when it changes (checked at most once a second, when used):
//! a token file or an htpasswd file rotated by a Secret update takes effect without a
//! restart. A read that fails keeps the previous contents and logs why, once.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use llamacol_api::log_once::LogOnce;

pub struct Watched<T, E> {
    path: PathBuf,
    parse: fn(&str) -> Result<T, E>,
    state: Mutex<State<T>>,
    failures: LogOnce,
    component: String,
}

struct State<T> {
    value: Arc<T>,
    modified: Option<SystemTime>,
    checked: Instant,
}

const CHECK_EVERY: Duration = Duration::from_secs(1);

fn modified(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A watched file that cannot be used at start (named, never its contents).
#[derive(Debug, thiserror::Error)]
pub enum WatchedError<E: std::error::Error + 'static> {
    #[error("reading `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}`: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: E,
    },
}

impl<T, E: std::error::Error + 'static> Watched<T, E> {
    /// Reads and parses `path` now; an error names the file (never its contents).
    pub fn open(
        path: PathBuf,
        parse: fn(&str) -> Result<T, E>,
        component: &str,
    ) -> Result<Watched<T, E>, WatchedError<E>> {
        let text = std::fs::read_to_string(&path).map_err(|source| WatchedError::Read {
            path: path.clone(),
            source,
        })?;
        let value = parse(&text).map_err(|source| WatchedError::Parse {
            path: path.clone(),
            source,
        })?;
        Ok(Watched {
            state: Mutex::new(State {
                value: Arc::new(value),
                modified: modified(&path),
                checked: Instant::now(),
            }),
            path,
            parse,
            failures: LogOnce::new(),
            component: component.to_string(),
        })
    }

    /// The current contents, read again first if the file changed.
    pub fn get(&self) -> Arc<T> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= CHECK_EVERY {
            state.checked = Instant::now();
            let now = modified(&self.path);
            if now != state.modified {
                let read = std::fs::read_to_string(&self.path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| (self.parse)(&t).map_err(|e| e.to_string()));
                match read {
                    Ok(value) => {
                        state.value = Arc::new(value);
                        state.modified = now;
                        self.failures.cleared();
                        tracing::info!(component = %self.component, file = %self.path.display(), "credentials file reloaded");
                    }
                    Err(e) => {
                        if self.failures.is_new(&e) {
                            tracing::warn!(component = %self.component, file = %self.path.display(), error = %e, "credentials file changed but could not be read; keeping the previous contents");
                        }
                    }
                }
            }
        }
        state.value.clone()
    }
}
