//! The delivered position of a persistent queue: where the first record not yet
//! delivered starts, and the records after it that were delivered already (several
//! workers finish out of order), so a restart sends again only what was not delivered.
//!
//! Two 4 KiB slots written alternately, each `generation`, `count`, the position, then
//! `count` record positions, with a CRC32C over the slot: a write torn by a crash leaves
//! the other slot valid, and the valid slot with the higher generation wins.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

const SLOT: usize = 4096;
const HEAD: usize = 32;
/// Records delivered out of order that one slot can name; more than the workers of any
/// sane config (each holds one record). Past it, the rest may be sent again.
const MAX_AHEAD: usize = (SLOT - HEAD) / 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// What a slot holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saved {
    pub position: Option<Position>,
    /// Records after `position` already delivered.
    pub ahead: Vec<Position>,
}

pub struct PositionFile {
    file: File,
    generation: u64,
}

impl PositionFile {
    /// Opens (or creates) the file and reads what it holds.
    pub fn open(path: &Path) -> io::Result<(PositionFile, Saved)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut best: Option<(u64, Saved)> = None;
        for slot in 0..2u64 {
            let mut buf = vec![0u8; SLOT];
            if file.read_exact_at(&mut buf, slot * SLOT as u64).is_err() {
                continue;
            }
            if let Some((generation, saved)) = decode(&buf) {
                if best.as_ref().is_none_or(|(g, _)| generation > *g) {
                    best = Some((generation, saved));
                }
            }
        }
        let (generation, saved) = best.unwrap_or_default();
        Ok((PositionFile { file, generation }, saved))
    }

    pub fn write(&mut self, position: Position, ahead: &[Position]) -> io::Result<()> {
        self.generation += 1;
        let buf = encode(self.generation, position, ahead);
        self.file
            .write_all_at(&buf, (self.generation % 2) * SLOT as u64)
    }

    pub fn handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }
}

fn encode(generation: u64, p: Position, ahead: &[Position]) -> Vec<u8> {
    let ahead = &ahead[..ahead.len().min(MAX_AHEAD)];
    let mut buf = vec![0u8; SLOT];
    let mut put = |at: usize, v: u64| buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(0, generation);
    put(8, ahead.len() as u64);
    put(16, p.segment);
    put(24, p.offset);
    for (i, a) in ahead.iter().enumerate() {
        put(HEAD + i * 16, a.segment);
        put(HEAD + i * 16 + 8, a.offset);
    }
    let crc = crc32c::crc32c(&buf[..SLOT - 4]);
    buf[SLOT - 4..].copy_from_slice(&crc.to_le_bytes());
    buf
}

fn decode(buf: &[u8]) -> Option<(u64, Saved)> {
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&buf[SLOT - 4..]);
    if crc32c::crc32c(&buf[..SLOT - 4]) != u32::from_le_bytes(crc) || word(0) == 0 {
        return None;
    }
    let count = usize::try_from(word(8)).ok()?.min(MAX_AHEAD);
    let ahead = (0..count)
        .map(|i| Position {
            segment: word(HEAD + i * 16),
            offset: word(HEAD + i * 16 + 8),
        })
        .collect();
    Some((
        word(0),
        Saved {
            position: Some(Position {
                segment: word(16),
                offset: word(24),
            }),
            ahead,
        },
    ))
}
