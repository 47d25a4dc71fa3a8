//! One file being read: its identity and offset (what is checkpointed), its open handle,
//! and reading the next chunk of entries from the offset. A chunk does not move the
//! offset: the receiver commits it once the entries were accepted downstream, so a
//! refused chunk is read again at the next poll and nothing read is lost.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

use super::fingerprint::Fingerprint;
use super::split::Splitter;

/// What is remembered of a file across polls and restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileState {
    /// Hex of the fingerprint bytes.
    pub fingerprint: String,
    /// Bytes consumed (of the decompressed stream for a gzip file).
    pub offset: u64,
    /// Entries emitted so far (`log.file.record_number` of the last one).
    pub record_number: u64,
    pub path: String,
    #[serde(default)]
    pub gzip: bool,
    /// The last entry was cut by `truncate`; its rest is skipped up to the next boundary.
    #[serde(default)]
    pub skipping: bool,
}

impl FileState {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::from_hex(&self.fingerprint).unwrap_or_default()
    }
}

/// Entries read from a file, not yet committed.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The bytes read; each entry is a range of them and the file offset it starts at.
    pub buf: Vec<u8>,
    pub entries: Vec<(std::ops::Range<usize>, u64)>,
    /// The state once these entries are delivered.
    pub offset: u64,
    pub record_number: u64,
    pub skipping: bool,
    /// More may be read at once (the chunk stopped at its size or entry bound).
    pub more: bool,
}

pub struct Reader {
    pub state: FileState,
    /// The `log.file.*` and configured attributes of its entries, set when the file was
    /// matched (a file renamed out of the patterns keeps the ones of its old name).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub fingerprint: Fingerprint,
    file: File,
    gz: Option<GzState>,
    last_size: u64,
    last_growth: Instant,
}

/// A gzip file's stream and the bytes of the last read (decompressed).
struct GzState {
    decoder: MultiGzDecoder<File>,
    /// Decompressed bytes taken from the decoder.
    pos: u64,
    kept_from: u64,
    kept: Vec<u8>,
}

/// Bytes read per chunk (an entry may be up to `max_log_size` beyond this).
const CHUNK_BYTES: usize = 1 << 20;
/// Entries per chunk, so a batch stays a few MiB.
const CHUNK_ENTRIES: usize = 4096;

impl Reader {
    pub fn new(
        file: File,
        fingerprint: Fingerprint,
        path: &Path,
        offset: u64,
        gzip: bool,
    ) -> Reader {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Reader {
            state: FileState {
                fingerprint: fingerprint.to_hex(),
                offset,
                record_number: 0,
                path: path.display().to_string(),
                gzip,
                skipping: false,
            },
            attributes: serde_json::Map::new(),
            fingerprint,
            file,
            gz: None,
            last_size: size,
            last_growth: Instant::now(),
        }
    }

    /// A reader for `file` that continues `known` (the same file, renamed or grown).
    pub fn resume(file: File, fingerprint: Fingerprint, path: &Path, known: &FileState) -> Reader {
        let mut r = Reader::new(file, fingerprint, path, known.offset, known.gzip);
        r.state.record_number = known.record_number;
        r.state.skipping = known.skipping;
        r
    }

    /// This reader on the handle the latest poll opened (the same file, perhaps renamed),
    /// keeping when the file last grew.
    pub fn reopen(self, file: File, fingerprint: Fingerprint, path: &Path) -> Reader {
        let mut r = Reader::resume(file, fingerprint, path, &self.state);
        r.last_size = self.last_size;
        r.last_growth = self.last_growth;
        r
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.state.path)
    }

    /// The file's size now (its on-disk, compressed size for gzip).
    pub fn size(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    /// The fingerprint as the file is now, when it was shorter than `size` bytes before
    /// (a growing file's identity grows with it).
    pub fn refresh_fingerprint(&mut self, size: usize) {
        if self.fingerprint.0.len() < size {
            if let Ok(fp) = Fingerprint::read(&self.file, size) {
                if fp.continues(&self.fingerprint) {
                    self.state.fingerprint = fp.to_hex();
                    self.fingerprint = fp;
                }
            }
        }
    }

    /// The next entries from the offset. `final_read`: the file will not be read again
    /// (moved out of the patterns, or deleted), so an unterminated last entry is emitted
    /// now; otherwise it waits until the file has not grown for `flush_after`.
    pub fn read_chunk(
        &mut self,
        splitter: &Splitter,
        max_entry: usize,
        flush_after: Duration,
        final_read: bool,
    ) -> std::io::Result<Chunk> {
        let size = self.size();
        if size != self.last_size {
            self.last_size = size;
            self.last_growth = Instant::now();
        }
        let want = CHUNK_BYTES + max_entry;
        // A plain file is read no further than its size now (an idle file costs no
        // buffer); one byte more tells the end was reached.
        let ask = if self.state.gzip {
            want
        } else {
            usize::try_from(size.saturating_sub(self.state.offset))
                .unwrap_or(usize::MAX)
                .saturating_add(1)
                .min(want)
        };
        let buf = self.read_from(self.state.offset, ask)?;
        let at_eof = buf.len() < ask;
        let flush = at_eof && (final_read || self.last_growth.elapsed() >= flush_after);
        let mut chunk = Chunk {
            offset: self.state.offset,
            record_number: self.state.record_number,
            skipping: self.state.skipping,
            ..Chunk::default()
        };
        let mut pos = 0;
        while pos < buf.len() {
            if chunk.entries.len() >= CHUNK_ENTRIES {
                chunk.more = true;
                break;
            }
            let rest = &buf[pos..];
            if chunk.skipping {
                match splitter.skip_rest(rest) {
                    Some(n) => {
                        pos += n;
                        chunk.skipping = false;
                    }
                    None => pos = buf.len(),
                }
                continue;
            }
            let Some(token) = splitter.next(rest, at_eof, flush) else {
                break;
            };
            if token.advance == 0 {
                break;
            }
            chunk.entries.push((
                pos + token.start..pos + token.end,
                self.state.offset + pos as u64,
            ));
            chunk.record_number += 1;
            chunk.skipping = token.truncated;
            pos += token.advance;
        }
        chunk.offset = self.state.offset + pos as u64;
        if !at_eof && !chunk.more {
            chunk.more = true;
        }
        chunk.buf = buf;
        Ok(chunk)
    }

    /// After the chunk's entries were delivered.
    pub fn commit(&mut self, chunk: &Chunk) {
        self.state.offset = chunk.offset;
        self.state.record_number = chunk.record_number;
        self.state.skipping = chunk.skipping;
    }

    /// Up to `want` bytes from `offset` (of the decompressed stream for gzip).
    fn read_from(&mut self, offset: u64, want: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0; want];
        let mut filled = 0;
        if !self.state.gzip {
            while filled < want {
                let n = self
                    .file
                    .read_at(&mut buf[filled..], offset + filled as u64)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            buf.truncate(filled);
            return Ok(buf);
        }
        // A gzip stream is read forward only: what the last read returned is kept, so a
        // partly consumed chunk continues without decompressing again; an earlier offset
        // (never, in practice) starts the stream over.
        let restart = self.gz.as_ref().is_none_or(|g| g.kept_from > offset);
        if restart {
            let mut file = self.file.try_clone()?;
            use std::io::{Seek, SeekFrom};
            file.seek(SeekFrom::Start(0))?;
            self.gz = Some(GzState {
                decoder: MultiGzDecoder::new(file),
                pos: 0,
                kept_from: 0,
                kept: Vec::new(),
            });
        }
        let Some(gz) = &mut self.gz else {
            return Ok(Vec::new());
        };
        let kept_end = gz.kept_from + gz.kept.len() as u64;
        if offset <= kept_end {
            let from = (offset - gz.kept_from) as usize;
            let kept = &gz.kept[from..];
            let n = kept.len().min(want);
            buf[..n].copy_from_slice(&kept[..n]);
            filled = n;
        } else if gz.pos < offset {
            let skipped = std::io::copy(
                &mut gz.decoder.by_ref().take(offset - gz.pos),
                &mut std::io::sink(),
            )?;
            gz.pos += skipped;
        }
        while filled < want {
            let n = gz.decoder.read(&mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
            gz.pos += n as u64;
        }
        buf.truncate(filled);
        gz.kept_from = offset;
        gz.kept.clone_from(&buf);
        Ok(buf)
    }
}
