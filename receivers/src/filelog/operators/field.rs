//! Field references (`body`, `body.message`, `attributes.level`,
//! `attributes["log.file.name"]`, `resource.host`), as the Collector's stanza writes them.

use serde_json::{Map, Value};

use super::entry::Entry;

#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    Body,
    Attributes,
    Resource,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub root: Root,
    pub keys: Vec<String>,
}

impl Field {
    pub fn body() -> Field {
        Field {
            root: Root::Body,
            keys: Vec::new(),
        }
    }

    pub fn attributes() -> Field {
        Field {
            root: Root::Attributes,
            keys: Vec::new(),
        }
    }

    pub fn parse(text: &str) -> Result<Field, String> {
        let mut parts = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix("[\"") {
                let end = inner
                    .find("\"]")
                    .ok_or_else(|| format!("`{text}`: unclosed `[\"`"))?;
                parts.push(inner[..end].to_string());
                rest = &inner[end + 2..];
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                if end > 0 {
                    parts.push(rest[..end].to_string());
                }
                rest = &rest[end..];
            }
            rest = rest.strip_prefix('.').unwrap_or(rest);
        }
        let mut parts = parts.into_iter();
        let root = match parts.next().as_deref() {
            Some("body") => Root::Body,
            Some("attributes") => Root::Attributes,
            Some("resource") => Root::Resource,
            other => {
                return Err(format!(
                    "`{text}` is not a field: start with `body`, `attributes` or `resource` (found `{}`)",
                    other.unwrap_or_default()
                ))
            }
        };
        let keys: Vec<String> = parts.collect();
        if root != Root::Body && keys.is_empty() {
            return Err(format!("`{text}` names no key; e.g. `attributes.level`"));
        }
        Ok(Field { root, keys })
    }

    pub fn get<'e>(&self, entry: &'e Entry) -> Option<&'e Value> {
        let (first, rest) = match self.root {
            Root::Body => {
                let mut v = &entry.body;
                for k in &self.keys {
                    v = v.as_object()?.get(k)?;
                }
                return Some(v);
            }
            Root::Attributes => (entry.attributes.get(self.keys.first()?)?, &self.keys[1..]),
            Root::Resource => (entry.resource.get(self.keys.first()?)?, &self.keys[1..]),
        };
        rest.iter().try_fold(first, |v, k| v.as_object()?.get(k))
    }

    /// Sets the value, creating maps on the way (replacing a non-map in the way).
    pub fn set(&self, entry: &mut Entry, value: Value) {
        let (map, keys) = match self.root {
            Root::Body => {
                if self.keys.is_empty() {
                    entry.body = value;
                    return;
                }
                if !entry.body.is_object() {
                    entry.body = Value::Object(Map::new());
                }
                let Value::Object(map) = &mut entry.body else {
                    return;
                };
                (map, &self.keys[..])
            }
            Root::Attributes => (&mut entry.attributes, &self.keys[..]),
            Root::Resource => (&mut entry.resource, &self.keys[..]),
        };
        set_in(map, keys, value);
    }

    pub fn remove(&self, entry: &mut Entry) -> Option<Value> {
        let (map, keys) = match self.root {
            Root::Body if self.keys.is_empty() => return Some(std::mem::take(&mut entry.body)),
            Root::Body => (entry.body.as_object_mut()?, &self.keys[..]),
            Root::Attributes => (&mut entry.attributes, &self.keys[..]),
            Root::Resource => (&mut entry.resource, &self.keys[..]),
        };
        let (last, path) = keys.split_last()?;
        let mut map = map;
        for k in path {
            map = map.get_mut(k)?.as_object_mut()?;
        }
        map.remove(last)
    }
}

fn set_in(map: &mut Map<String, Value>, keys: &[String], value: Value) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.insert(first.clone(), value);
        return;
    }
    let slot = map
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(inner) = slot {
        set_in(inner, rest, value);
    }
}
