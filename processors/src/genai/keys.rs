//! Which attribute keys are content or identifiers, answered with one hash per key:
//! every attribute of every span is asked, and nearly none is either, so a miss must be
//! cheap (a sorted-list search compared strings several times per attribute).

use std::sync::LazyLock;

use super::content::{CONTENT_KEYS, CONTENT_PREFIXES};
use super::identity::IDENTITY_KEYS;

pub const CONTENT: u8 = 1;
pub const IDENTITY: u8 = 2;

const SLOTS: usize = 512;

/// A hash of a key's length and its first and last eight bytes: two loads and a
/// multiply, where hashing every byte cost more than the lookup saves. Keys alike in
/// all three share a slot run, and the probe compares them whole.
pub fn key_hash(key: &[u8]) -> usize {
    let n = key.len();
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let (head, tail) = if n >= 8 {
        (word(&key[..8]), word(&key[n - 8..]))
    } else {
        (word(key), 0)
    };
    let h = (head ^ tail.rotate_left(29) ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 32) as usize
}

/// Open addressing, linear probing: (key, flags) per slot.
static TABLE: LazyLock<Vec<Option<(&'static str, u8)>>> = LazyLock::new(|| {
    let mut table = vec![None; SLOTS];
    let entries = CONTENT_KEYS
        .iter()
        .map(|k| (*k, CONTENT))
        .chain(IDENTITY_KEYS.iter().map(|k| (*k, IDENTITY)));
    for (key, flag) in entries {
        let mut slot = key_hash(key.as_bytes()) % SLOTS;
        loop {
            match &mut table[slot] {
                Some((k, flags)) if *k == key => {
                    *flags |= flag;
                    break;
                }
                Some(_) => slot = (slot + 1) % SLOTS,
                empty @ None => {
                    *empty = Some((key, flag));
                    break;
                }
            }
        }
    }
    table
});

/// The flags of an exact key.
fn exact(key: &str) -> u8 {
    let table = &*TABLE;
    let mut slot = key_hash(key.as_bytes()) % SLOTS;
    loop {
        match &table[slot] {
            None => return 0,
            Some((k, flags)) if *k == key => return *flags,
            Some(_) => slot = (slot + 1) % SLOTS,
        }
    }
}

/// `CONTENT` and/or `IDENTITY` for `key`, else 0.
pub fn class(key: &str) -> u8 {
    let mut flags = exact(key);
    // Indexed and nested content: only keys starting with these letters can be.
    if flags & CONTENT == 0 {
        let indexed_content = match key.as_bytes().first() {
            // Most keys are `gen_ai.*`: only the two indexed forms can be content there.
            Some(b'g') => indexed(key, "gen_ai.prompt.") || indexed(key, "gen_ai.completion."),
            Some(&first @ (b'l' | b'e' | b'r' | b'i' | b'o')) => CONTENT_PREFIXES
                .iter()
                .any(|p| p.as_bytes()[0] == first && key.starts_with(p)),
            _ => false,
        };
        if indexed_content {
            flags |= CONTENT;
        }
    }
    if key.starts_with(super::identity::ASSOCIATION_PREFIX) && super::identity::is_identity(key) {
        flags |= IDENTITY;
    }
    flags
}

/// `<prefix><digit>...`: OpenLLMetry's indexed prompts and completions (and not, say, the
/// conventions' `gen_ai.prompt.name`).
fn indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|rest| rest.as_bytes().first().is_some_and(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_answers_as_the_lists() {
        for key in CONTENT_KEYS {
            assert_eq!(class(key) & CONTENT, CONTENT, "{key}");
        }
        for key in IDENTITY_KEYS {
            assert_eq!(class(key) & IDENTITY, IDENTITY, "{key}");
        }
        assert_eq!(class("llm.input_messages.0.message.content"), CONTENT);
        assert_eq!(class("gen_ai.prompt.3.content"), CONTENT);
        assert_eq!(class("gen_ai.prompt.name"), 0);
        assert_eq!(class("traceloop.association.properties.user_id"), IDENTITY);
        assert_eq!(class("traceloop.association.properties.team"), 0);
        assert_eq!(class("http.method"), 0);
        assert!(
            CONTENT_KEYS.len() + IDENTITY_KEYS.len() < SLOTS / 2,
            "keep it half empty"
        );
    }
}
