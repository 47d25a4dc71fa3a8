//! `file_log` receiver (alias `filelog`, the Collector's previous name): tails files matched by globs, as the Collector's `filelog`
//! (stanza's fileconsumer) does. Files are known by fingerprint (their first bytes), so a
//! rename (rotation) keeps the offset; a file renamed out of the patterns or deleted is
//! read to its end from the handle kept open since the last poll; a copy-truncated file
//! is found by its shrinking. Each chunk of entries goes downstream before its offset
//! moves: a refused chunk is read again at the next poll, so nothing read is lost, and
//! with `storage` the offsets survive a restart (written after each poll's deliveries).

mod config;
mod decode;
mod emit;
mod fingerprint;
mod matcher;
pub mod operators;
mod reader;
mod split;
mod tracker;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::log_once::LogOnce;
use llamacol_api::serde_yaml::Value as Yaml;
use llamacol_api::storage::StorageClient;
use llamacol_api::task::Background;
use llamacol_api::{
    Batch, BoxError, BuildContext, Consumer, Kind, OutcomeCounter, Receiver, ReceiverFactory,
    Signal,
};
use prost::Message;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

pub use config::{Compression, FilelogConfig, OnTruncate, StartAt};
use decode::Decoder;
use fingerprint::Fingerprint;
use operators::Operators;
use reader::Reader;
use split::Splitter;
use tracker::{Checkpoint, Tracker};

/// The storage key of the checkpoint.
const CHECKPOINT_KEY: &str = "file_input.knownFiles";

pub fn factory() -> ReceiverFactory {
    ReceiverFactory {
        type_name: "file_log",
        signals: &[Signal::Logs],
        config: ConfigSpec::of::<FilelogConfig>(),
        build,
    }
}

fn build(ctx: &BuildContext, block: &Yaml) -> Result<Box<dyn Receiver>, BoxError> {
    let config = parse_block::<FilelogConfig>(block)?;
    let storage = match &config.storage {
        Some(name) => Some(ctx.storage.client(name, Kind::Receiver, &ctx.id)?),
        None => None,
    };
    Ok(Box::new(FilelogReceiver::new(
        ctx.id.to_string(),
        config,
        storage,
        ctx.failures.clone(),
    )?))
}

pub struct FilelogReceiver {
    state: Option<Poller>,
    task: Background,
}

impl FilelogReceiver {
    pub fn new(
        id: String,
        config: FilelogConfig,
        storage: Option<Arc<dyn StorageClient>>,
        failures: OutcomeCounter,
    ) -> Result<FilelogReceiver, BoxError> {
        let decoder = Decoder::new(&config.encoding).ok_or("unknown encoding")?;
        let operators = Operators::build(&config.operators)?;
        let splitter = Splitter::new(&config, decoder);
        Ok(FilelogReceiver {
            state: Some(Poller {
                id,
                splitter,
                decoder,
                operators,
                storage,
                failures,
                tracker: Tracker::default(),
                first_poll: true,
                unreadable: LogOnce::default(),
                attributes: to_map(&config.attributes),
                resource: to_map(&config.resource),
                config,
            }),
            task: Background::new(),
        })
    }
}

fn to_map(m: &std::collections::BTreeMap<String, String>) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

#[async_trait]
impl Receiver for FilelogReceiver {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError> {
        let mut poller = self.state.take().ok_or("filelog receiver started twice")?;
        if let Some(storage) = &poller.storage {
            if let Some(bytes) = storage.get(CHECKPOINT_KEY).await? {
                let checkpoint: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| {
                    format!(
                        "filelog `{}`: the stored offsets are unreadable: {e}",
                        poller.id
                    )
                })?;
                tracing::info!(receiver = %poller.id, files = checkpoint.files.len(), "resuming from stored offsets; `start_at` does not apply to them");
                poller.first_poll = checkpoint.files.is_empty();
                poller.tracker = Tracker::restore(checkpoint);
            }
        }
        let every = poller.config.poll_interval;
        self.task.spawn(move |cancel| async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => poller.poll(next.as_ref(), &cancel).await,
                    () = cancel.cancelled() => break,
                }
            }
            poller.save(std::iter::empty()).await;
        });
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), BoxError> {
        self.task.stop().await;
        Ok(())
    }
}

/// The polling state, owned by the receiver's task.
struct Poller {
    id: String,
    config: FilelogConfig,
    splitter: Splitter,
    decoder: Decoder,
    operators: Operators,
    storage: Option<Arc<dyn StorageClient>>,
    failures: OutcomeCounter,
    tracker: Tracker,
    first_poll: bool,
    unreadable: LogOnce,
    attributes: Map<String, Value>,
    resource: Map<String, Value>,
}

impl Poller {
    async fn poll(&mut self, next: &dyn Consumer, cancel: &CancellationToken) {
        let paths = matcher::find(&self.config);
        let fingerprint_size = usize::try_from(self.config.fingerprint_size.0).unwrap_or(1000);
        let mut current: Vec<Reader> = Vec::new();
        let mut seen: Vec<Fingerprint> = Vec::new();
        for batch in paths.chunks(self.config.max_concurrent_files.max(1)) {
            for path in batch {
                let file = match File::open(path) {
                    Ok(f) => f,
                    Err(e) => {
                        let message = format!("{}: {e}", path.display());
                        if self.unreadable.is_new(&message) {
                            tracing::warn!(receiver = %self.id, error = %message, "cannot open a matched file");
                        }
                        continue;
                    }
                };
                let Ok(fp) = Fingerprint::read(&file, fingerprint_size) else {
                    continue;
                };
                // Empty files wait; a copy being made of a file already matched this poll
                // (copy-truncate) is read once.
                if fp.is_empty() || seen.iter().any(|s| fp.continues(s) || s.continues(&fp)) {
                    continue;
                }
                seen.push(fp.clone());
                current.push(self.reader_for(file, fp, path));
            }
        }
        // Files of the last poll no longer matched (moved out of the patterns or
        // deleted) are read to the end from their open handles, then this poll's files.
        let lost = std::mem::take(&mut self.tracker.previous);
        let lost_count = lost.len();
        let mut work: Vec<Reader> = lost.into_iter().chain(current).collect();
        for i in 0..work.len() {
            let final_read = i < lost_count;
            if !final_read {
                work[i].refresh_fingerprint(fingerprint_size);
            }
            while let Step::Sent { more } = self
                .read_and_send(&mut work[i], next, final_read, cancel)
                .await
            {
                if self.storage.is_some() {
                    self.save(work.iter().map(|r| &r.state)).await;
                }
                if !more {
                    break;
                }
            }
        }
        let mut current = work.split_off(lost_count);
        self.tracker.previous = work;
        if self.config.delete_after_read {
            current.retain(|r| {
                let done = r.state.gzip || r.size() <= r.state.offset;
                if done {
                    if let Err(e) = std::fs::remove_file(r.path()) {
                        tracing::warn!(receiver = %self.id, file = %r.state.path, error = %e, "delete_after_read: cannot delete");
                    }
                }
                !done
            });
        }
        self.tracker.end_poll(current);
        self.first_poll = false;
        self.save(std::iter::empty()).await;
    }

    /// The reader of a matched file: the same file seen before keeps its offset.
    fn reader_for(&mut self, mut file: File, fp: Fingerprint, path: &Path) -> Reader {
        let gzip = match self.config.compression {
            Compression::Gzip => true,
            Compression::Auto => fingerprint::is_gzip(&mut file),
            Compression::None => false,
        };
        let previous = self.tracker.take_previous(&fp);
        let known = match previous {
            Some(_) => None,
            None => self.tracker.take_known(&fp),
        };
        let mut reader = match (previous, known) {
            (Some(open), _) => open.reopen(file, fp, path),
            (None, Some(state)) => Reader::resume(file, fp, path, &state),
            (None, None) => {
                let start = if self.first_poll && self.config.start_at == StartAt::End && !gzip {
                    file.metadata().map(|m| m.len()).unwrap_or(0)
                } else {
                    0
                };
                Reader::new(file, fp, path, start, gzip)
            }
        };
        let size = reader.size();
        if !gzip && size < reader.state.offset {
            // Shorter than what was read: truncated in place (copy-truncate rotation).
            reader.state.offset = match self.config.on_truncate {
                OnTruncate::Ignore => reader.state.offset,
                OnTruncate::ReadWholeFile => 0,
                OnTruncate::ReadNew => size,
            };
        }
        reader.attributes = file_attributes(&self.config, &self.attributes, path);
        reader
    }

    /// Reads the next chunk of `reader` and sends it; its offset moves once the chunk
    /// was taken (or refused for good, counted).
    async fn read_and_send(
        &self,
        reader: &mut Reader,
        next: &dyn Consumer,
        final_read: bool,
        cancel: &CancellationToken,
    ) -> Step {
        if cancel.is_cancelled() {
            return Step::Done;
        }
        let max_entry = usize::try_from(self.config.max_log_size.0).unwrap_or(usize::MAX);
        let chunk = match reader.read_chunk(
            &self.splitter,
            max_entry,
            self.config.force_flush_period,
            final_read,
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(receiver = %self.id, file = %reader.state.path, error = %e, "reading failed");
                return Step::Done;
            }
        };
        if chunk.entries.is_empty() {
            // Bytes skipped (a truncated entry's rest) move the offset too.
            reader.commit(&chunk);
            return Step::Done;
        }
        let template = emit::Template {
            decoder: self.decoder,
            attributes: &reader.attributes,
            resource: &self.resource,
            record_number: self.config.include_file_record_number,
            record_offset: self.config.include_file_record_offset,
        };
        let mut failed_ops = |id: &str, e: String| tracing::debug!(receiver = %self.id, operator = id, error = %e, "operator failed; entry sent as it was");
        let request = emit::request(
            &template,
            &chunk,
            reader.state.record_number,
            &self.operators,
            &mut failed_ops,
        );
        // Encoded here (the exporter needs the bytes anyway): a queue behind a slow
        // backend then holds compact requests, not decoded records.
        let items = llamacol_api::SignalMessage::count_items(&request);
        let batch = Batch::from_encoded_parts(Signal::Logs, request.encode_to_vec().into(), items);
        match next.consume(batch).await {
            Ok(()) => reader.commit(&chunk),
            Err(e) if e.is_retryable() => {
                // The chunk stays in the file and is read again next poll.
                tracing::debug!(receiver = %self.id, error = %e, "refused for now; reading again next poll");
                return Step::Done;
            }
            Err(e) => {
                self.failures.add(chunk.entries.len());
                tracing::warn!(receiver = %self.id, file = %reader.state.path, entries = chunk.entries.len(), error = %e, "refused for good; these entries are dropped");
                reader.commit(&chunk);
            }
        }
        Step::Sent { more: chunk.more }
    }

    /// Writes the offsets: the tracker's, and `reading` (the readers of a poll under way).
    async fn save<'s>(&self, reading: impl Iterator<Item = &'s reader::FileState>) {
        let Some(storage) = &self.storage else { return };
        let mut checkpoint = self.tracker.checkpoint();
        checkpoint.files.extend(reading.cloned());
        let Ok(bytes) = serde_json::to_vec(&checkpoint) else {
            return;
        };
        if let Err(e) = storage.set(CHECKPOINT_KEY, &bytes).await {
            tracing::warn!(receiver = %self.id, error = %e, "saving file offsets failed; a restart now would read some entries again");
        }
    }
}

/// What one read-and-send did.
enum Step {
    Sent { more: bool },
    Done,
}

/// `log.file.*` attributes of a file, then the configured ones.
fn file_attributes(
    config: &FilelogConfig,
    configured: &Map<String, Value>,
    path: &Path,
) -> Map<String, Value> {
    let mut out = configured.clone();
    let text = |p: &Path| Value::String(p.display().to_string());
    let name = |p: &Path| {
        Value::String(
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    };
    if config.include_file_name {
        out.insert("log.file.name".into(), name(path));
    }
    if config.include_file_path {
        out.insert("log.file.path".into(), text(path));
    }
    if config.include_file_name_resolved || config.include_file_path_resolved {
        let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
        if config.include_file_name_resolved {
            out.insert("log.file.name_resolved".into(), name(&resolved));
        }
        if config.include_file_path_resolved {
            out.insert("log.file.path_resolved".into(), text(&resolved));
        }
    }
    if config.include_file_owner_name
        || config.include_file_owner_group_name
        || config.include_file_permissions
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if config.include_file_owner_name {
                let owner = matcher::name_of("/etc/passwd", meta.uid())
                    .unwrap_or_else(|| meta.uid().to_string());
                out.insert("log.file.owner.name".into(), Value::String(owner));
            }
            if config.include_file_owner_group_name {
                let group = matcher::name_of("/etc/group", meta.gid())
                    .unwrap_or_else(|| meta.gid().to_string());
                out.insert("log.file.owner.group.name".into(), Value::String(group));
            }
            if config.include_file_permissions {
                out.insert(
                    "log.file.permissions".into(),
                    Value::String(format!("{:03o}", meta.mode() & 0o777)),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
