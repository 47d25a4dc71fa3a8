//! The persistent exporter queue: append-only segment files of CRC-checked records, a
//! consumer position written after the backend acknowledges, segments deleted once
//! every record in them was delivered. Room is bounded like the in-memory queue (the
//! pipeline's [`Room`]), counting the bytes on disk not yet delivered.
//!
//! A record is written (to the kernel) before `push` returns, so a crash of the process
//! loses nothing; fsync makes it survive power loss, per the storage's `fsync` policy.
//! On open, everything after the position is sent again: at-least-once.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use llamacol_api::log_once::LogOnce;
use llamacol_api::queue::{Queue, QueueSpec, Queued, Refused, Reservation, Room};
use llamacol_api::Batch;

use super::config::Fsync;
use super::position::{Position, PositionFile};
use super::record::{self, Found, FRAMING};

/// How a queue writes: from the storage's config.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub fsync: Fsync,
    pub segment_size: u64,
    /// How long to wait for another process to let go of the directory's lock.
    pub lock_timeout: std::time::Duration,
}

pub struct PersistentQueue {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    dir: PathBuf,
    options: Options,
    room: Arc<Room>,
    state: Mutex<State>,
    /// One token per record written and not yet handed out.
    tokens: (async_channel::Sender<()>, async_channel::Receiver<()>),
    corrupt: AtomicU64,
    /// A full disk is said once, not per batch.
    write_errors: LogOnce,
    /// Held (locked) while the queue is open: a second process is refused.
    _lock: File,
}

struct Segment {
    id: u64,
    /// Bytes of whole records.
    len: u64,
}

struct State {
    segments: VecDeque<Segment>,
    /// The last segment, where records are appended.
    writer: File,
    read: Position,
    reader: Option<(u64, File)>,
    /// Records after the position that an earlier run delivered: passed over, not sent.
    delivered: HashSet<Position>,
    /// The room of each record not yet handed out, in order.
    waiting: VecDeque<Reservation>,
    /// Handed out, in order; the position advances over the acknowledged prefix.
    in_flight: VecDeque<InFlight>,
    next_seq: u64,
    committed: Position,
    positions: PositionFile,
    /// Written since the last fsync.
    dirty: bool,
    /// Closed segments (and the directory, for new files) still to fsync.
    unsynced: Vec<File>,
}

struct InFlight {
    seq: u64,
    start: Position,
    /// Where the record after this one starts.
    next: Position,
    acked: bool,
}

impl PersistentQueue {
    /// Opens the queue in `dir` (created if missing), with whatever an earlier run left
    /// unacknowledged.
    pub fn open(dir: &Path, options: Options, spec: &QueueSpec) -> io::Result<PersistentQueue> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("lock"))?;
        let waited = std::time::Instant::now();
        while lock.try_lock().is_err() {
            if waited.elapsed() >= options.lock_timeout {
                return Err(io::Error::other(format!(
                    "queue directory `{}` is in use by another llamacol process (waited {:?}, `file_storage.timeout`); give each process its own `file_storage.directory`",
                    dir.display(),
                    options.lock_timeout
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (positions, saved) = PositionFile::open(&dir.join("position"))?;
        let delivered: HashSet<Position> = saved.ahead.into_iter().collect();
        let mut ids = segment_ids(dir)?;
        let mut committed = saved.position.unwrap_or(Position {
            segment: ids.first().copied().unwrap_or(1),
            offset: 0,
        });
        // Segments wholly before the position were delivered (deleted late by a crash).
        while ids.first().is_some_and(|&id| id < committed.segment) {
            let _ = fs::remove_file(segment_path(dir, ids.remove(0)));
        }
        if ids.first().is_some_and(|&id| id > committed.segment) {
            committed = Position {
                segment: ids[0],
                offset: 0,
            };
        }
        let room = Room::new(spec.batches, spec.max_bytes);
        let tokens = async_channel::unbounded();
        let corrupt = AtomicU64::new(0);
        let mut segments = VecDeque::new();
        let mut waiting = VecDeque::new();
        for &id in &ids {
            let path = segment_path(dir, id);
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let mut len = file.metadata()?.len();
            let mut offset = if id == committed.segment {
                committed.offset.min(len)
            } else {
                0
            };
            loop {
                match record::read(&file, offset, len)? {
                    Found::Record { next, .. } => {
                        let here = Position {
                            segment: id,
                            offset,
                        };
                        if !delivered.contains(&here) {
                            waiting.push_back(room.recovered(1, next - offset));
                        }
                        offset = next;
                    }
                    Found::End => break,
                    Found::Corrupt(why) => {
                        tracing::warn!(file = %path.display(), offset, bytes = len - offset, reason = why, "persistent queue: corrupt or cut-short data skipped (counted in llamacol_exporter_queue_corrupt_bytes_total)");
                        corrupt.fetch_add(len - offset, Ordering::Relaxed);
                        file.set_len(offset)?;
                        len = offset;
                        break;
                    }
                }
            }
            segments.push_back(Segment { id, len });
        }
        if segments.is_empty() {
            let id = committed.segment;
            File::create(segment_path(dir, id))?;
            segments.push_back(Segment { id, len: 0 });
        }
        let last = segments.back().map_or(committed.segment, |s| s.id);
        let writer = OpenOptions::new()
            .read(true)
            .write(true)
            .open(segment_path(dir, last))?;
        for _ in 0..waiting.len() {
            let _ = tokens.0.try_send(());
        }
        if !waiting.is_empty() {
            tracing::info!(dir = %dir.display(), batches = waiting.len(), bytes = room.held_bytes(), "persistent queue: batches from an earlier run will be sent again");
        }
        let state = State {
            segments,
            writer,
            read: committed,
            reader: None,
            delivered,
            waiting,
            in_flight: VecDeque::new(),
            next_seq: 0,
            committed,
            positions,
            dirty: false,
            unsynced: Vec::new(),
        };
        Ok(PersistentQueue {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                options,
                room,
                state: Mutex::new(state),
                tokens,
                corrupt,
                write_errors: LogOnce::new(),
                _lock: lock,
            }),
        })
    }

    pub(super) fn inner(&self) -> Arc<Inner> {
        self.inner.clone()
    }
}

#[async_trait]
impl Queue for PersistentQueue {
    async fn push(&self, mut batch: Batch, wait: Duration) -> Result<(), (Refused, Batch)> {
        let inner = &self.inner;
        if inner.tokens.0.is_closed() {
            return Err((Refused::Closed, batch));
        }
        let size = batch.encoded_len() as u64 + FRAMING;
        let held = match inner.room.reserve(1, size, wait).await {
            Ok(h) => h,
            Err(refused) => return Err((refused, batch)),
        };
        let payload = batch.bytes();
        let mut state = inner.lock();
        if let Err(e) = inner.append(&mut state, &batch, &payload) {
            drop(state);
            inner.note_write_error(&e);
            return Err((Refused::Storage, batch));
        }
        state.waiting.push_back(held);
        drop(state);
        inner.note_write_ok();
        let _ = inner.tokens.0.try_send(());
        Ok(())
    }

    async fn pop(&self) -> Option<Queued> {
        let inner = &self.inner;
        loop {
            inner.tokens.1.recv().await.ok()?;
            let mut state = inner.lock();
            // None only when data went bad underneath us (logged and counted): that
            // token's record is gone, wait for the next.
            let Some((start, batch)) = inner.next_record(&mut state) else {
                continue;
            };
            let held = state.waiting.pop_front();
            let seq = state.push_in_flight(start, false);
            drop(state);
            let me = inner.clone();
            return Some(Queued::new(batch, move |acked| {
                if acked {
                    me.ack(seq);
                }
                drop(held);
            }));
        }
    }

    fn take_all(&self) -> Vec<Batch> {
        // What is left stays on disk for the next start.
        Vec::new()
    }

    fn close(&self) {
        self.inner.tokens.0.close();
        self.inner.room.close();
    }

    fn len(&self) -> usize {
        self.inner.tokens.1.len()
    }

    fn bytes(&self) -> u64 {
        self.inner.room.held_bytes()
    }

    fn persistent(&self) -> bool {
        true
    }

    fn corrupt_bytes(&self) -> u64 {
        self.inner.corrupt.load(Ordering::Relaxed)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one record, starting a new segment when this one is full. A failed write
    /// is cut off again, so the file never keeps half a record.
    fn append(&self, state: &mut State, batch: &Batch, payload: &[u8]) -> io::Result<()> {
        let (head, total) = record::frame(batch.signal(), batch.items(), payload);
        let (id, len) = state.segments.back().map_or((1, 0), |s| (s.id, s.len));
        if len > 0 && len + total > self.options.segment_size {
            let next = id + 1;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(segment_path(&self.dir, next))?;
            let old = std::mem::replace(&mut state.writer, file);
            if self.options.fsync != Fsync::Never {
                state.unsynced.push(old);
                state.unsynced.push(File::open(&self.dir)?);
            }
            state.segments.push_back(Segment { id: next, len: 0 });
        }
        let at = state.segments.back().map_or(0, |s| s.len);
        let written = state
            .writer
            .write_all_at(&head, at)
            .and_then(|()| state.writer.write_all_at(payload, at + head.len() as u64));
        if let Err(e) = written {
            let _ = state.writer.set_len(at);
            return Err(e);
        }
        if self.options.fsync == Fsync::Always {
            state.writer.sync_data()?;
        }
        if let Some(last) = state.segments.back_mut() {
            last.len += total;
        }
        state.dirty = true;
        Ok(())
    }

    /// Reads the record at the read position and moves past it, passing over records
    /// an earlier run delivered; returns where it starts.
    fn next_record(&self, state: &mut State) -> Option<(Position, Batch)> {
        loop {
            let read = state.read;
            let index = state.segments.iter().position(|s| s.id == read.segment)?;
            let len = state.segments[index].len;
            if state
                .reader
                .as_ref()
                .is_none_or(|(id, _)| *id != read.segment)
            {
                match File::open(segment_path(&self.dir, read.segment)) {
                    Ok(f) => state.reader = Some((read.segment, f)),
                    Err(e) => {
                        tracing::error!(dir = %self.dir.display(), segment = read.segment, error = %e, "persistent queue: cannot open a segment to read");
                        return None;
                    }
                }
            }
            let (_, file) = state.reader.as_ref()?;
            let found =
                record::read(file, read.offset, len).unwrap_or(Found::Corrupt("read failed"));
            match found {
                Found::Record { batch, next } => {
                    state.read.offset = next;
                    if state.delivered.remove(&read) {
                        state.push_in_flight(read, true);
                        continue;
                    }
                    return Some((read, batch));
                }
                Found::End => {}
                Found::Corrupt(why) => {
                    tracing::warn!(dir = %self.dir.display(), segment = read.segment, offset = read.offset, reason = why, "persistent queue: corrupt record skipped with the rest of its segment");
                    self.corrupt.fetch_add(len - read.offset, Ordering::Relaxed);
                    // The record's room is released with it.
                    state.waiting.pop_front();
                }
            }
            let later = state.segments.get(index + 1)?.id;
            state.read = Position {
                segment: later,
                offset: 0,
            };
        }
    }

    /// Marks record `seq` delivered; writes the position past the delivered prefix and
    /// deletes the segments behind it.
    fn ack(&self, seq: u64) {
        let mut state = self.lock();
        let Some(first) = state.in_flight.front().map(|f| f.seq) else {
            return;
        };
        if let Some(entry) = usize::try_from(seq - first)
            .ok()
            .and_then(|i| state.in_flight.get_mut(i))
        {
            entry.acked = true;
        }
        while state.in_flight.front().is_some_and(|f| f.acked) {
            if let Some(done) = state.in_flight.pop_front() {
                state.committed = done.next;
            }
        }
        let committed = state.committed;
        // Delivered after the position: this run's, and an earlier run's not yet passed.
        let ahead: Vec<Position> = state
            .in_flight
            .iter()
            .filter(|f| f.acked)
            .map(|f| f.start)
            .chain(state.delivered.iter().copied())
            .collect();
        if let Err(e) = state.positions.write(committed, &ahead) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "persistent queue: cannot save the delivered position; delivered batches may be sent again after a restart");
        }
        state.dirty = true;
        while state.segments.len() > 1
            && state
                .segments
                .front()
                .is_some_and(|s| s.id < committed.segment)
        {
            if let Some(done) = state.segments.pop_front() {
                let _ = fs::remove_file(segment_path(&self.dir, done.id));
            }
        }
    }

    /// Forces what was written to disk (segments, position, new directory entries).
    /// The lock is held only to collect the handles.
    pub(super) fn sync(&self) -> io::Result<()> {
        let mut files = {
            let mut state = self.lock();
            if !state.dirty && state.unsynced.is_empty() {
                return Ok(());
            }
            state.dirty = false;
            let mut files = std::mem::take(&mut state.unsynced);
            files.push(state.writer.try_clone()?);
            files.push(state.positions.handle()?);
            files
        };
        for file in files.drain(..) {
            file.sync_data()?;
        }
        Ok(())
    }

    fn note_write_error(&self, error: &io::Error) {
        let message = error.to_string();
        if self.write_errors.is_new(&message) {
            tracing::warn!(dir = %self.dir.display(), error = %message, "persistent queue cannot write; batches are refused retryably until it can (repeats are not logged)");
        }
    }

    fn note_write_ok(&self) {
        if self.write_errors.cleared() {
            tracing::info!(dir = %self.dir.display(), "persistent queue writes again");
        }
    }
}

impl State {
    /// Records a handed-out (or passed-over, `acked`) record; returns its sequence number.
    fn push_in_flight(&mut self, start: Position, acked: bool) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.push_back(InFlight {
            seq,
            start,
            next: self.read,
            acked,
        });
        seq
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn segment_ids(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}
