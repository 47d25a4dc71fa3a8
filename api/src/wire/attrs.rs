//! An attribute list to read and edit without decoding it: [`Attrs`] is what rules that
//! rename, convert, add and remove attributes need, implemented by a decoded
//! `Vec<KeyValue>` and by [`WireAttrs`], the attributes of an encoded message read in
//! place. In a `WireAttrs` an attribute no rule touched stays the bytes it came as; only
//! the changed ones are written anew. The same rule code runs on both, so the decoded and
//! the encoded path give the same answers.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use prost::Message;

use super::{fields, put_len_prefix, WireError};
use crate::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};

/// An ordered list of attributes (duplicates allowed, as on the wire).
pub trait Attrs {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn key(&self, i: usize) -> &str;
    /// The value of attribute `i`; `None` when it has none. Decoded on each call for an
    /// attribute still in its bytes: ask for the few values a rule reads.
    fn value(&self, i: usize) -> Option<Cow<'_, Value>>;
    /// Takes the value of attribute `i` out (the caller puts one back with `replace`).
    fn take_value(&mut self, i: usize) -> Option<Value>;
    /// Gives attribute `i` a new value, and a new key when `key` is given.
    fn replace(&mut self, i: usize, key: Option<&str>, value: Value);
    /// Gives attribute `i` a new key, its value unchanged (on the wire: its bytes).
    fn rename(&mut self, i: usize, key: &'static str);
    fn add(&mut self, key: &str, value: Value);
    /// Removes every attribute `remove(index, key)` is true for (indexes as before).
    fn remove_where(&mut self, remove: impl FnMut(usize, &str) -> bool);
}

/// The index of the first attribute named `key`.
pub fn find(attrs: &impl Attrs, key: &str) -> Option<usize> {
    (0..attrs.len()).find(|&i| attrs.key(i) == key)
}

pub fn has(attrs: &impl Attrs, key: &str) -> bool {
    find(attrs, key).is_some()
}

/// The value of the first attribute named `key`.
pub fn get<'a>(attrs: &'a impl Attrs, key: &str) -> Option<Cow<'a, Value>> {
    find(attrs, key).and_then(|i| attrs.value(i))
}

/// The text of the first attribute named `key`, when it is a string.
pub fn get_str<'a>(attrs: &'a impl Attrs, key: &str) -> Option<Cow<'a, str>> {
    match get(attrs, key)? {
        Cow::Borrowed(Value::StringValue(s)) => Some(Cow::Borrowed(s.as_str())),
        Cow::Owned(Value::StringValue(s)) => Some(Cow::Owned(s)),
        _ => None,
    }
}

fn key_value(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

impl Attrs for Vec<KeyValue> {
    fn len(&self) -> usize {
        <[KeyValue]>::len(self)
    }

    fn key(&self, i: usize) -> &str {
        &self[i].key
    }

    fn value(&self, i: usize) -> Option<Cow<'_, Value>> {
        self[i]
            .value
            .as_ref()
            .and_then(|v| v.value.as_ref())
            .map(Cow::Borrowed)
    }

    fn take_value(&mut self, i: usize) -> Option<Value> {
        self[i].value.take().and_then(|v| v.value)
    }

    fn replace(&mut self, i: usize, key: Option<&str>, value: Value) {
        let kv = &mut self[i];
        if let Some(key) = key {
            kv.key.clear();
            kv.key.push_str(key);
        }
        kv.value = Some(AnyValue { value: Some(value) });
    }

    fn rename(&mut self, i: usize, key: &'static str) {
        let kv = &mut self[i];
        kv.key.clear();
        kv.key.push_str(key);
    }

    fn add(&mut self, key: &str, value: Value) {
        Vec::push(self, key_value(key, value));
    }

    fn remove_where(&mut self, mut remove: impl FnMut(usize, &str) -> bool) {
        let mut at = 0;
        self.retain(|kv| {
            let keep = !remove(at, &kv.key);
            at += 1;
            keep
        });
    }
}

/// One attribute of a [`WireAttrs`].
enum Entry<'a> {
    /// As it came: the key, the `AnyValue` body (`None`: no value field) and the whole
    /// `KeyValue` body to copy.
    Raw {
        key: &'a str,
        value: Option<&'a [u8]>,
        whole: &'a [u8],
    },
    /// Renamed: the new key and the value's bytes as they came.
    Renamed {
        key: &'static str,
        value: Option<&'a [u8]>,
    },
    /// Changed or added (boxed: raw entries, the many, stay small).
    Owned(Box<KeyValue>),
}

impl Entry<'_> {
    fn key(&self) -> &str {
        match self {
            Entry::Raw { key, .. } => key,
            Entry::Renamed { key, .. } => key,
            Entry::Owned(kv) => &kv.key,
        }
    }

    /// Length of the `KeyValue` body.
    fn body_len(&self) -> usize {
        match self {
            Entry::Raw { whole, .. } => whole.len(),
            Entry::Renamed { key, value } => {
                super::len_field_size(key.len())
                    + value.map_or(0, |v| super::len_field_size(v.len()))
            }
            Entry::Owned(kv) => kv.encoded_len(),
        }
    }
}

/// The attributes of an encoded message, read in place.
#[derive(Default)]
pub struct WireAttrs<'a> {
    entries: Vec<Entry<'a>>,
    changed: bool,
}

/// Key and value body of a key-value laid out as every encoder writes it (the key, a
/// short one, then the value, to the end), without the field walk; `None` otherwise.
fn plain_key_value(kv: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (&tag, rest) = kv.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if tag != 0x0a || len >= 0x80 || rest.len() < usize::from(len) {
        return None;
    }
    let (key, rest) = rest.split_at(usize::from(len));
    let Some((&tag, rest)) = rest.split_first() else {
        return Some((key, None));
    };
    if tag != 0x12 {
        return None;
    }
    // A one- or two-byte length that reaches exactly to the end.
    let (len, body) = match rest {
        [l, body @ ..] if *l < 0x80 => (usize::from(*l), body),
        [l0, l1, body @ ..] if *l0 >= 0x80 && *l1 < 0x80 => {
            (usize::from(l0 & 0x7f) | usize::from(*l1) << 7, body)
        }
        _ => return None,
    };
    (len == body.len()).then_some((key, Some(body)))
}

/// The key of an encoded `KeyValue`, read in place (the last key field, as a decoder
/// reads it).
pub fn key_of(kv: &[u8]) -> Result<&str, WireError> {
    let key = match plain_key_value(kv) {
        Some((key, _)) => key,
        None => {
            let mut key: &[u8] = &[];
            for f in fields(kv) {
                let f = f?;
                if (f.number, f.wire_type) == (1, 2) {
                    key = &kv[f.value];
                }
            }
            key
        }
    };
    std::str::from_utf8(key).map_err(|_| WireError::Malformed {
        offset: 0,
        what: "attribute key is not UTF-8",
    })
}

impl<'a> WireAttrs<'a> {
    pub fn new() -> Self {
        WireAttrs::default()
    }

    /// Room for `n` attributes without growing (spans carry tens).
    pub fn with_capacity(n: usize) -> Self {
        WireAttrs {
            entries: Vec::with_capacity(n),
            changed: false,
        }
    }

    /// Adds one encoded `KeyValue` (the body of an attributes field). A key-value laid
    /// out in an unusual way (a field twice, unknown fields) is decoded whole instead.
    pub fn add_encoded(&mut self, whole: &'a [u8]) -> Result<(), WireError> {
        if let Some((key, value)) = plain_key_value(whole) {
            let key = std::str::from_utf8(key).map_err(|_| WireError::Malformed {
                offset: 2,
                what: "attribute key is not UTF-8",
            })?;
            self.entries.push(Entry::Raw { key, value, whole });
            return Ok(());
        }
        let (mut key, mut value, mut plain) = (None, None, true);
        for f in fields(whole) {
            let f = f?;
            match (f.number, f.wire_type) {
                (1, 2) if key.is_none() => {
                    key = Some(std::str::from_utf8(&whole[f.value.clone()]).map_err(|_| {
                        WireError::Malformed {
                            offset: f.value.start,
                            what: "attribute key is not UTF-8",
                        }
                    })?)
                }
                (2, 2) if value.is_none() => value = Some(&whole[f.value]),
                _ => plain = false,
            }
        }
        let entry = if plain {
            Entry::Raw {
                key: key.unwrap_or_default(),
                value,
                whole,
            }
        } else {
            Entry::Owned(Box::new(
                KeyValue::decode(whole).map_err(WireError::Decode)?,
            ))
        };
        self.entries.push(entry);
        Ok(())
    }

    /// Whether any attribute was changed, added or removed since it was read.
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// Writes every attribute as field `number` of the enclosing message: the untouched
    /// ones as their bytes.
    pub fn write(&self, number: u32, out: &mut BytesMut) {
        for entry in &self.entries {
            put_len_prefix(out, number, entry.body_len());
            match entry {
                Entry::Raw { whole, .. } => out.put_slice(whole),
                Entry::Renamed { key, value } => {
                    put_len_prefix(out, 1, key.len());
                    out.put_slice(key.as_bytes());
                    if let Some(v) = value {
                        put_len_prefix(out, 2, v.len());
                        out.put_slice(v);
                    }
                }
                // Cannot fail: `out` grows.
                Entry::Owned(kv) => drop(kv.encode(out)),
            }
        }
    }

    /// Bytes [`WireAttrs::write`] writes.
    pub fn encoded_len(&self) -> usize {
        self.entries
            .iter()
            .map(|e| super::len_field_size(e.body_len()))
            .sum()
    }

    /// The entry `i` as an owned key-value, decoding it if still raw.
    fn owned(&mut self, i: usize) -> &mut KeyValue {
        let raw = match self.entries[i] {
            Entry::Raw { key, value, .. } => Some((key, value)),
            Entry::Renamed { key, value } => Some((key, value)),
            Entry::Owned(_) => None,
        };
        if let Some((key, value)) = raw {
            // The receivers checked these bytes; an unreadable value reads as none.
            let value = value.map(|v| AnyValue::decode(v).unwrap_or_default());
            self.entries[i] = Entry::Owned(Box::new(KeyValue {
                key: key.to_string(),
                value,
                ..Default::default()
            }));
        }
        match &mut self.entries[i] {
            Entry::Owned(kv) => kv,
            _ => unreachable!("made owned above"),
        }
    }
}

impl Attrs for WireAttrs<'_> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn key(&self, i: usize) -> &str {
        self.entries[i].key()
    }

    fn value(&self, i: usize) -> Option<Cow<'_, Value>> {
        match &self.entries[i] {
            // The receivers checked these bytes; an unreadable value reads as none.
            Entry::Raw { value, .. } | Entry::Renamed { value, .. } => {
                AnyValue::decode((*value)?).ok()?.value.map(Cow::Owned)
            }
            Entry::Owned(kv) => kv
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref())
                .map(Cow::Borrowed),
        }
    }

    fn take_value(&mut self, i: usize) -> Option<Value> {
        self.changed = true;
        self.owned(i).value.take().and_then(|v| v.value)
    }

    fn replace(&mut self, i: usize, key: Option<&str>, value: Value) {
        self.changed = true;
        let kv = self.owned(i);
        if let Some(key) = key {
            kv.key.clear();
            kv.key.push_str(key);
        }
        kv.value = Some(AnyValue { value: Some(value) });
    }

    fn rename(&mut self, i: usize, key: &'static str) {
        self.changed = true;
        match &mut self.entries[i] {
            Entry::Raw { value, .. } | Entry::Renamed { value, .. } => {
                self.entries[i] = Entry::Renamed { key, value: *value }
            }
            Entry::Owned(kv) => {
                kv.key.clear();
                kv.key.push_str(key);
            }
        }
    }

    fn add(&mut self, key: &str, value: Value) {
        self.changed = true;
        self.entries
            .push(Entry::Owned(Box::new(key_value(key, value))));
    }

    fn remove_where(&mut self, mut remove: impl FnMut(usize, &str) -> bool) {
        let mut at = 0;
        let before = self.entries.len();
        self.entries.retain(|e| {
            let keep = !remove(at, e.key());
            at += 1;
            keep
        });
        self.changed |= self.entries.len() != before;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(attrs: &[KeyValue]) -> Vec<Vec<u8>> {
        attrs.iter().map(Message::encode_to_vec).collect()
    }

    #[test]
    fn untouched_attributes_are_written_as_they_came_and_edits_as_the_decoded_list() {
        let mut decoded = vec![
            key_value("a", Value::StringValue("x".into())),
            key_value("b", Value::IntValue(3)),
            KeyValue {
                key: "c".into(),
                value: None,
                ..Default::default()
            },
        ];
        let bytes = encoded(&decoded);
        let mut wire = WireAttrs::new();
        for b in &bytes {
            wire.add_encoded(b).expect("valid key-value");
        }
        let mut out = BytesMut::new();
        wire.write(9, &mut out);
        assert!(!wire.changed());
        assert_eq!(out.len(), wire.encoded_len());
        assert_eq!(get(&wire, "b").as_deref(), Some(&Value::IntValue(3)));
        assert_eq!(get(&wire, "c"), None);
        assert_eq!(get_str(&wire, "a").as_deref(), Some("x"));

        // Value before key: not the usual layout, decoded whole, read alike.
        let value = AnyValue {
            value: Some(Value::IntValue(5)),
        }
        .encode_to_vec();
        let mut reversed = vec![0x12, value.len() as u8];
        reversed.extend_from_slice(&value);
        reversed.extend_from_slice(&[0x0a, 1, b'z']);
        let mut odd = WireAttrs::new();
        odd.add_encoded(&reversed).expect("valid key-value");
        assert_eq!(get(&odd, "z").as_deref(), Some(&Value::IntValue(5)));

        fn edit(a: &mut impl Attrs) {
            let v = a.take_value(1).expect("b has a value");
            a.replace(1, Some("b2"), v);
            a.replace(0, None, Value::BoolValue(true));
            a.rename(0, "a2");
            a.rename(2, "c2");
            a.add("d", Value::DoubleValue(1.5));
            a.remove_where(|i, k| i == 3 || k == "nothing");
        }
        edit(&mut decoded);
        edit(&mut wire);
        assert!(wire.changed());
        let mut out = BytesMut::new();
        wire.write(1, &mut out);
        // A KeyValueList is `repeated KeyValue values = 1`: the same shape.
        let list = crate::otlp::common::v1::KeyValueList::decode(&out[..]).expect("valid list");
        assert_eq!(list.values, decoded);
    }
}
