//! List, then watch from the list's resource version, for as long as the component
//! runs (client-go's reflector). Every broken watch ends in a fresh list handed over
//! whole ([`Event::Listed`]), so the caller replaces its copy and nothing deleted while
//! the connection was down lingers: an API server restart, a compacted history (410
//! Gone) or a network cut costs one list, never a lost object.

use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::client::{status_message, ApiClient, ApiError};
use super::Object;
use crate::backoff::{Backoff, BackoffPolicy};

/// What to keep current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// The collection: `/api/v1/pods`, `/api/v1/namespaces/ns/pods`,
    /// `/apis/apps/v1/replicasets`.
    pub path: String,
    /// `fieldSelector` (`spec.nodeName=node-1`), empty for none.
    pub field_selector: String,
    /// `labelSelector` (`app=x,tier!=db`), empty for none.
    pub label_selector: String,
}

impl Watch {
    pub fn all(path: impl Into<String>) -> Watch {
        Watch {
            path: path.into(),
            field_selector: String::new(),
            label_selector: String::new(),
        }
    }

    fn query(&self, extra: &str) -> String {
        let mut query = format!("{}?{extra}", self.path);
        for (key, value) in [
            ("fieldSelector", &self.field_selector),
            ("labelSelector", &self.label_selector),
        ] {
            if !value.is_empty() {
                query.push_str(&format!("&{key}={}", encode(value)));
            }
        }
        query
    }
}

/// What the caller's copy must do.
#[derive(Debug)]
pub enum Event<T> {
    /// Every object there is now: replace the copy with these.
    Listed(Vec<T>),
    /// Added or changed.
    Applied(T),
    Deleted(T),
}

/// Objects per list page (the API server's chunking; a big cluster lists in pages).
const PAGE: usize = 500;
/// The server ends a watch after about this long; we then watch again from where we were.
const WATCH_SECONDS: u64 = 290;
/// No byte for this long (bookmarks come about every minute) means a dead connection.
const IDLE: Duration = Duration::from_secs(WATCH_SECONDS + 60);
/// One event larger than this is refused (a runaway object must not take all memory).
const MAX_EVENT_BYTES: usize = 64 << 20;

/// Keeps `watch` current into `on_event` until `cancel`. `what` names the watch in log
/// lines (`k8s_attributes pods`). Failures are logged when they start and when they end,
/// and retried with a doubling wait up to 30 s.
pub async fn run<T: Object>(
    client: ApiClient,
    watch: Watch,
    what: String,
    cancel: CancellationToken,
    mut on_event: impl FnMut(Event<T>) + Send,
) {
    let mut backoff = Backoff::new(BackoffPolicy::doubling(
        Duration::from_millis(500),
        Duration::from_secs(30),
    ));
    let mut failing: Option<String> = None;
    loop {
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            outcome = list_then_watch(&client, &watch, &mut on_event, &mut failing, &mut backoff, &what) => outcome,
        };
        let error = match outcome {
            Ok(()) => continue,
            Err(e) => e,
        };
        let message = error.to_string();
        if failing.as_deref() != Some(message.as_str()) {
            tracing::warn!(watch = %what, server = %client.server(), error = %message,
                "Kubernetes watch failed; listing again after a wait");
            failing = Some(message);
        }
        let wait = if error.is_gone() {
            Duration::ZERO
        } else {
            backoff.failed(None)
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One list and the watches that follow it, until one breaks.
async fn list_then_watch<T: Object>(
    client: &ApiClient,
    watch: &Watch,
    on_event: &mut (impl FnMut(Event<T>) + Send),
    failing: &mut Option<String>,
    backoff: &mut Backoff,
    what: &str,
) -> Result<(), ApiError> {
    let (items, mut version) = list(client, watch).await?;
    backoff.reset();
    if failing.take().is_some() {
        tracing::info!(watch = %what, count = items.len(), "Kubernetes watch recovered");
    }
    on_event(Event::Listed(items));
    loop {
        let path = watch.query(&format!(
            "watch=1&allowWatchBookmarks=true&timeoutSeconds={WATCH_SECONDS}&resourceVersion={}",
            encode(&version)
        ));
        let mut response = client.open(&path).await?;
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let chunk = match tokio::time::timeout(IDLE, response.chunk()).await {
                Err(_) => {
                    return Err(ApiError::Transport(format!(
                        "{what}: no event or bookmark for {}s",
                        IDLE.as_secs()
                    )))
                }
                Ok(Err(e)) => {
                    return Err(ApiError::Transport(format!(
                        "{what}: watch stream broke: {e}"
                    )))
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Some(v) = apply_line(&line, on_event)? {
                    version = v;
                }
            }
            if pending.len() > MAX_EVENT_BYTES {
                return Err(ApiError::Decode(format!(
                    "{what}: one watch event over {MAX_EVENT_BYTES} bytes"
                )));
            }
        }
        // The server closed the watch at its timeout: watch again from where we are.
    }
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct VersionOnly {
    metadata: ListMeta,
}

/// One line of a watch: hands the event on; returns the resource version it moves to.
pub(crate) fn apply_line<T: Object>(
    line: &[u8],
    on_event: &mut (impl FnMut(Event<T>) + Send),
) -> Result<Option<String>, ApiError> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(None);
    }
    let event: RawEvent = serde_json::from_slice(line)
        .map_err(|e| ApiError::Decode(format!("unreadable watch event: {e}")))?;
    let decode = |value: serde_json::Value| {
        serde_json::from_value::<T>(value)
            .map_err(|e| ApiError::Decode(format!("unreadable object in a watch event: {e}")))
    };
    match event.kind.as_str() {
        "ADDED" | "MODIFIED" => {
            let object = decode(event.object)?;
            let version = object.metadata().resource_version.clone();
            on_event(Event::Applied(object));
            Ok(Some(version))
        }
        "DELETED" => {
            let object = decode(event.object)?;
            let version = object.metadata().resource_version.clone();
            on_event(Event::Deleted(object));
            Ok(Some(version))
        }
        "BOOKMARK" => {
            let only: VersionOnly = serde_json::from_value(event.object).unwrap_or_default();
            Ok(Some(only.metadata.resource_version).filter(|v| !v.is_empty()))
        }
        "ERROR" => {
            let code = event
                .object
                .get("code")
                .and_then(|c| c.as_u64())
                .unwrap_or(500) as u16;
            let bytes = serde_json::to_vec(&event.object).unwrap_or_default();
            Err(ApiError::Status {
                code,
                message: status_message(&bytes).unwrap_or_else(|| "watch error".into()),
            })
        }
        other => Err(ApiError::Decode(format!(
            "unknown watch event type `{other}`"
        ))),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
    #[serde(rename = "continue")]
    next: String,
}

#[derive(Deserialize)]
#[serde(bound = "T: Object")]
struct List<T> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

/// Every object, page by page, and the version to watch from.
async fn list<T: Object>(client: &ApiClient, watch: &Watch) -> Result<(Vec<T>, String), ApiError> {
    let mut items = Vec::new();
    let mut next = String::new();
    loop {
        let mut extra = format!("limit={PAGE}");
        if !next.is_empty() {
            extra.push_str(&format!("&continue={}", encode(&next)));
        }
        let page: List<T> = client.get(&watch.query(&extra)).await?;
        items.extend(page.items);
        if page.metadata.next.is_empty() {
            return Ok((items, page.metadata.resource_version));
        }
        next = page.metadata.next;
    }
}

/// Percent-encodes a query value (selectors hold `=`, `!`, `,`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
