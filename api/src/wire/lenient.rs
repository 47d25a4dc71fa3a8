//! Reading encoded OTLP in place, leniently: for components that read messages the
//! receiver already checked (`count_items` and `fields` above report where and why bytes
//! are malformed; this only needs to stop, and is several times faster, which matters at a
//! few hundred fields per span). A field that does not read as expected ends that
//! message's walk; nothing here panics. Used by the `parquet` exporter and the
//! `genai_metrics` connector.

/// The fields of a message: (number, wire type, body), up to the first malformed one.
pub fn each(msg: &[u8]) -> Each<'_> {
    Each { buf: msg, pos: 0 }
}

pub struct Each<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Each<'_> {
    #[inline]
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

impl<'a> Iterator for Each<'a> {
    type Item = (u32, u8, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let key = self.varint()?;
        let (number, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let start = self.pos;
        let (from, to) = match wire {
            0 => {
                self.varint()?;
                (start, self.pos)
            }
            1 => (start, start + 8),
            5 => (start, start + 4),
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                (self.pos, self.pos.checked_add(len)?)
            }
            // Groups (deprecated, never in OTLP) or garbage: stop.
            _ => (0, usize::MAX),
        };
        match self.buf.get(from..to) {
            Some(body) => {
                self.pos = to;
                Some((number, wire, body))
            }
            None => {
                self.pos = self.buf.len();
                None
            }
        }
    }
}

/// The bodies of the length-delimited fields numbered `number`.
pub fn repeated(msg: &[u8], number: u32) -> impl Iterator<Item = &[u8]> {
    each(msg).filter_map(move |(n, w, b)| (n == number && w == 2).then_some(b))
}

/// The last length-delimited field `number` (protobuf: the last one wins), or empty.
pub fn single(msg: &[u8], number: u32) -> &[u8] {
    repeated(msg, number).last().unwrap_or_default()
}

pub fn fixed64(b: &[u8]) -> u64 {
    b.try_into().map_or(0, u64::from_le_bytes)
}

pub fn varint(b: &[u8]) -> u64 {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_message_ends_the_walk() {
        // Field 1 (length-delimited) claims 100 bytes but 2 follow.
        assert_eq!(each(&[0x0a, 100, 1, 2]).count(), 0);
        // A varint that never ends, a fixed64 cut short, a group.
        assert_eq!(each(&[0x08, 0xff, 0xff]).count(), 0);
        assert_eq!(each(&[0x09, 1, 2, 3]).count(), 0);
        assert_eq!(each(&[0x0b, 0x0c]).count(), 0);
        // The fields before the bad one are read.
        let fields: Vec<_> = each(&[0x08, 0x96, 0x01, 0x12, 1, b'x', 0x1a, 9]).collect();
        assert_eq!(fields, vec![(1, 0, &[0x96, 0x01][..]), (2, 2, &b"x"[..])]);
        assert_eq!(varint(fields[0].2), 150);
    }
}
