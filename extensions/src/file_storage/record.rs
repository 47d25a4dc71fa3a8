//! One record of a segment file: `len: u32 LE`, `crc: u32 LE` (CRC32C of the body), then
//! the body of `len` bytes: the signal (`u8`), the item count (`u64 LE`) and the encoded
//! OTLP export request. A torn or flipped record fails its length or CRC check.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use llamacol_api::{Batch, Signal};

const HEADER: usize = 8;
const META: usize = 9;
/// Bytes of header and metadata before each payload.
pub const FRAMING: u64 = (HEADER + META) as u64;
/// The body of one record is at most this (far above any batch we make).
const MAX_BODY: u64 = 1 << 31;

/// What was found at an offset of a segment.
#[derive(Debug)]
pub enum Found {
    Record {
        batch: Batch,
        next: u64,
    },
    /// The segment ends here cleanly.
    End,
    /// A record that cannot be trusted starts here (why).
    Corrupt(&'static str),
}

/// Header and metadata to write before `payload`, and the record's total size.
pub fn frame(signal: Signal, items: usize, payload: &[u8]) -> ([u8; HEADER + META], u64) {
    let mut head = [0u8; HEADER + META];
    let body_len = (META + payload.len()) as u32;
    head[8] = signal as u8;
    head[9..17].copy_from_slice(&(items as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head[8..]), payload);
    head[0..4].copy_from_slice(&body_len.to_le_bytes());
    head[4..8].copy_from_slice(&crc.to_le_bytes());
    (head, (HEADER + META + payload.len()) as u64)
}

/// Reads the record at `offset` of `file`, whose valid length is `len`.
pub fn read(file: &File, offset: u64, len: u64) -> io::Result<Found> {
    if offset == len {
        return Ok(Found::End);
    }
    if len - offset < (HEADER + META) as u64 {
        return Ok(Found::Corrupt("cut short inside a record header"));
    }
    let mut head = [0u8; HEADER];
    file.read_exact_at(&mut head, offset)?;
    let body_len = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if body_len < META as u64 || body_len > MAX_BODY {
        return Ok(Found::Corrupt("impossible record length"));
    }
    let next = offset + HEADER as u64 + body_len;
    if next > len {
        return Ok(Found::Corrupt(
            "cut short: the record runs past the end of the file",
        ));
    }
    let mut body = vec![0u8; body_len as usize];
    file.read_exact_at(&mut body, offset + HEADER as u64)?;
    if crc32c::crc32c(&body) != crc {
        return Ok(Found::Corrupt("CRC mismatch"));
    }
    let Some(signal) = Signal::ALL.get(usize::from(body[0])).copied() else {
        return Ok(Found::Corrupt("unknown signal"));
    };
    let mut count = [0u8; 8];
    count.copy_from_slice(&body[1..META]);
    let items = usize::try_from(u64::from_le_bytes(count)).unwrap_or(usize::MAX);
    let payload = Bytes::from(body).slice(META..);
    Ok(Found::Record {
        batch: Batch::from_encoded_parts(signal, payload, items),
        next,
    })
}
