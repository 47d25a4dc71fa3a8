//! Which file is which from one poll to the next (the Collector's fileconsumer
//! tracker): the readers of the last poll stay open until the next, so a file renamed
//! out of the patterns or deleted is read to its end; files seen in the last three polls
//! are remembered by fingerprint, so a renamed or rotated file keeps its offset; and all
//! of it is what is checkpointed.

use serde::{Deserialize, Serialize};

use super::fingerprint::Fingerprint;
use super::reader::{FileState, Reader};

/// Polls a closed file's state is remembered for (the Collector keeps three
/// generations).
const GENERATIONS: u32 = 3;

#[derive(Default)]
pub struct Tracker {
    /// Readers of the last poll, still open.
    pub previous: Vec<Reader>,
    /// Closed files' states with the polls since they were last seen.
    known: Vec<(FileState, u32)>,
}

/// The checkpoint: every file state remembered.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub files: Vec<FileState>,
}

impl Tracker {
    pub fn restore(checkpoint: Checkpoint) -> Tracker {
        Tracker {
            previous: Vec::new(),
            known: checkpoint.files.into_iter().map(|f| (f, 0)).collect(),
        }
    }

    /// The open reader of the last poll that this fingerprint continues, taken out.
    pub fn take_previous(&mut self, fp: &Fingerprint) -> Option<Reader> {
        let at = self
            .previous
            .iter()
            .position(|r| fp.continues(&r.fingerprint))?;
        Some(self.previous.remove(at))
    }

    /// The remembered state this fingerprint continues, taken out (the longest match:
    /// the most recent state of the file).
    pub fn take_known(&mut self, fp: &Fingerprint) -> Option<FileState> {
        let at = self
            .known
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| fp.continues(&s.fingerprint()))
            .max_by_key(|(_, (s, _))| s.fingerprint.len())
            .map(|(i, _)| i)?;
        Some(self.known.remove(at).0)
    }

    /// At the end of a poll: the last poll's readers (read to their end and closed by
    /// now) are remembered, the current readers become the previous, and what is too old
    /// is forgotten.
    pub fn end_poll(&mut self, current: Vec<Reader>) {
        for (_, age) in &mut self.known {
            *age += 1;
        }
        let closed = std::mem::replace(&mut self.previous, current);
        self.known.extend(closed.into_iter().map(|r| (r.state, 0)));
        self.known.retain(|(_, age)| *age < GENERATIONS);
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            files: self
                .previous
                .iter()
                .map(|r| r.state.clone())
                .chain(self.known.iter().map(|(s, _)| s.clone()))
                .collect(),
        }
    }
}
