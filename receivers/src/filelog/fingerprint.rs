//! A file's identity: its first `fingerprint_size` bytes (all of it while shorter). A
//! file that grew keeps its identity: the shorter fingerprint is a prefix of the longer
//! (the Collector's `fingerprint.StartsWith`).

use std::fs::File;
use std::io::Read;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(pub Vec<u8>);

impl Fingerprint {
    /// Reads the first `size` bytes of `file` (from its start, whatever its position).
    pub fn read(file: &File, size: usize) -> std::io::Result<Fingerprint> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0; size];
        let mut filled = 0;
        while filled < size {
            let n = file.read_at(&mut buf[filled..], filled as u64)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(Fingerprint(buf))
    }

    /// `self` is the same file as `older` seen before (equal, or grown from it).
    pub fn continues(&self, older: &Fingerprint) -> bool {
        !older.0.is_empty() && self.0.starts_with(&older.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<Fingerprint> {
        if !text.len().is_multiple_of(2) {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()
            .map(Fingerprint)
    }
}

/// Whether the first bytes are gzip's magic (`compression: auto`).
pub fn is_gzip(file: &mut File) -> bool {
    use std::io::{Seek, SeekFrom};
    let mut magic = [0u8; 2];
    let ok = file.seek(SeekFrom::Start(0)).is_ok() && file.read_exact(&mut magic).is_ok();
    ok && magic == [0x1f, 0x8b]
}
