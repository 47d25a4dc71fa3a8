//! Attribute actions as the Collector's `attributes` and `resource` processors apply them
//! (`internal/coreinternal/attraction`): `insert`, `update`, `upsert`, `delete`, `hash`,
//! `extract`, `convert`, each on one attribute map, in order; values from `value`,
//! `from_attribute`, `from_context` (the request's client metadata) or `default_value`.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use regex::Regex;
use serde::Deserialize;

use crate::client_metadata::ClientMetadata;
use crate::config::Issue;

/// One action as configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute acted on (`delete` and `hash` may give `pattern` instead).
    #[serde(default)]
    pub key: String,
    /// `insert` (only when absent), `update` (only when present), `upsert` (either),
    /// `delete`, `hash` (SHA-256 hex of the value), `extract` (named groups of `pattern`
    /// over the value become attributes), `convert` (to `converted_type`).
    pub action: ActionKind,
    /// The value for insert/update/upsert: a string, number or boolean.
    #[serde(default)]
    pub value: Option<serde_yaml::Value>,
    /// Instead of `value`: the value of this other attribute.
    #[serde(default)]
    pub from_attribute: Option<String>,
    /// Instead of `value`: the request's client metadata (`metadata.<header>`,
    /// `client.address`, or a bare header name); the receiver needs `include_metadata`.
    #[serde(default)]
    pub from_context: Option<String>,
    /// Used when `from_attribute`/`from_context` find nothing.
    #[serde(default)]
    pub default_value: Option<serde_yaml::Value>,
    /// For delete/hash: every key matching it; for extract: the regex with named groups.
    #[serde(default)]
    pub pattern: Option<String>,
    /// For convert: `int`, `double` or `string`.
    #[serde(default)]
    pub converted_type: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    #[default]
    Insert,
    Update,
    Upsert,
    Delete,
    Hash,
    Extract,
    Convert,
}

impl ActionKind {
    fn name(self) -> &'static str {
        match self {
            ActionKind::Insert => "insert",
            ActionKind::Update => "update",
            ActionKind::Upsert => "upsert",
            ActionKind::Delete => "delete",
            ActionKind::Hash => "hash",
            ActionKind::Extract => "extract",
            ActionKind::Convert => "convert",
        }
    }
}

/// Actions ready to apply.
#[derive(Debug, Clone, Default)]
pub struct Actions(Vec<Action>);

#[derive(Debug, Clone)]
struct Action {
    key: String,
    kind: ActionKind,
    value: Option<AnyValue>,
    from_attribute: Option<String>,
    from_context: Option<String>,
    default_value: Option<AnyValue>,
    regex: Option<Regex>,
    /// For extract: the group name of each capture (index 0 unused).
    names: Vec<String>,
    converted_type: String,
}

/// A YAML scalar as an attribute value of its own type.
pub fn yaml_value(v: &serde_yaml::Value) -> Option<AnyValue> {
    let value = match v {
        serde_yaml::Value::Bool(b) => any_value::Value::BoolValue(*b),
        serde_yaml::Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64()?),
        },
        serde_yaml::Value::String(s) => any_value::Value::StringValue(s.clone()),
        _ => return None,
    };
    Some(AnyValue { value: Some(value) })
}

impl Actions {
    /// Checks and prepares `configs`; every problem is an issue under `path[i]`, with the
    /// Collector's rules (which fields each action takes).
    pub fn new(path: &str, configs: &[ActionConfig]) -> Result<Actions, Vec<Issue>> {
        let mut issues = Vec::new();
        let mut out = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let at = |field: &str| format!("{path}[{i}].{field}");
            let mut issue =
                |field: &str, message: String| issues.push(Issue::new(at(field), message));
            let kind = c.kind_name();
            let sources = [
                c.value.is_some(),
                c.from_attribute.is_some(),
                c.from_context.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            let regex = match &c.pattern {
                // Go's regexp (the Collector's) names groups with word characters only;
                // Rust's would also take `.` and brackets.
                Some(p) => match Regex::new(p) {
                    Ok(r)
                        if r.capture_names()
                            .flatten()
                            .any(|n| !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) =>
                    {
                        issue("pattern", format!("invalid pattern {p:?}: group names may hold only letters, digits and `_`"));
                        None
                    }
                    Ok(r) => Some(r),
                    Err(e) => {
                        issue("pattern", format!("invalid pattern {p:?}: {e}"));
                        None
                    }
                },
                None => None,
            };
            if c.key.is_empty()
                && !(matches!(c.action, ActionKind::Delete | ActionKind::Hash)
                    && c.pattern.is_some())
            {
                issue(
                    "key",
                    format!(
                        "is required for `{kind}` (delete and hash may give `pattern` instead)"
                    ),
                );
            }
            let value_like = sources > 0 || c.default_value.is_some();
            match c.action {
                ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
                    if !value_like {
                        issue("value", "give one of `value`, `from_attribute`, `from_context` or `default_value`".into());
                    }
                    if sources > 1 {
                        issue(
                            "value",
                            "give only one of `value`, `from_attribute` and `from_context`".into(),
                        );
                    }
                    if c.pattern.is_some() {
                        issue("pattern", format!("`{kind}` does not use `pattern`"));
                    }
                    if c.converted_type.is_some() {
                        issue(
                            "converted_type",
                            format!("`{kind}` does not use `converted_type`"),
                        );
                    }
                    if let Some(v) = &c.value {
                        if yaml_value(v).is_none() {
                            issue("value", "must be a string, number or boolean".into());
                        }
                    }
                }
                ActionKind::Delete | ActionKind::Hash => {
                    if value_like {
                        issue("value", format!("`{kind}` takes no value source"));
                    }
                    if c.converted_type.is_some() {
                        issue(
                            "converted_type",
                            format!("`{kind}` does not use `converted_type`"),
                        );
                    }
                }
                ActionKind::Extract => {
                    if value_like {
                        issue("value", "`extract` takes no value source".into());
                    }
                    match &regex {
                        None if c.pattern.is_none() => {
                            issue("pattern", "is required for `extract`".into())
                        }
                        Some(r) if r.capture_names().skip(1).all(|n| n.is_none()) => issue(
                            "pattern",
                            "contains no named groups (`(?P<name>...)`)".into(),
                        ),
                        Some(r) if r.capture_names().skip(1).any(|n| n.is_none()) => issue(
                            "pattern",
                            "contains an unnamed group; name every group".into(),
                        ),
                        _ => {}
                    }
                }
                ActionKind::Convert => {
                    if value_like || c.pattern.is_some() {
                        issue(
                            "value",
                            "`convert` takes no value source or `pattern`".into(),
                        );
                    }
                    match c.converted_type.as_deref() {
                        Some("int" | "double" | "string") => {}
                        Some(other) => issue(
                            "converted_type",
                            format!("{other:?} is not one of int, double, string"),
                        ),
                        None => issue(
                            "converted_type",
                            "is required for `convert` (int, double or string)".into(),
                        ),
                    }
                }
            }
            out.push(Action {
                key: c.key.clone(),
                kind: c.action,
                value: c.value.as_ref().and_then(yaml_value),
                from_attribute: c.from_attribute.clone(),
                from_context: c.from_context.clone(),
                default_value: c.default_value.as_ref().and_then(yaml_value),
                names: regex
                    .as_ref()
                    .map(|r| {
                        r.capture_names()
                            .map(|n| n.unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                regex,
                converted_type: c.converted_type.clone().unwrap_or_default(),
            });
        }
        if issues.is_empty() {
            Ok(Actions(out))
        } else {
            Err(issues)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every action, in order, to `attrs`.
    pub fn apply(&self, attrs: &mut Vec<KeyValue>, metadata: Option<&ClientMetadata>) {
        for a in &self.0 {
            match a.kind {
                ActionKind::Delete => {
                    attrs.retain(|kv| {
                        kv.key != a.key && !a.regex.as_ref().is_some_and(|r| r.is_match(&kv.key))
                    });
                }
                ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
                    let Some(value) = a.source(attrs, metadata) else {
                        continue;
                    };
                    match (attrs.iter_mut().find(|kv| kv.key == a.key), a.kind) {
                        (Some(kv), ActionKind::Update | ActionKind::Upsert) => {
                            kv.value = Some(value)
                        }
                        (None, ActionKind::Insert | ActionKind::Upsert) => {
                            attrs.push(crate::attributes::kv_any(&a.key, value))
                        }
                        _ => {}
                    }
                }
                ActionKind::Hash => {
                    for kv in attrs.iter_mut() {
                        if kv.key == a.key || a.regex.as_ref().is_some_and(|r| r.is_match(&kv.key))
                        {
                            hash(kv.value.get_or_insert_with(AnyValue::default));
                        }
                    }
                }
                ActionKind::Extract => a.extract(attrs),
                ActionKind::Convert => {
                    if let Some(kv) = attrs.iter_mut().find(|kv| kv.key == a.key) {
                        convert(
                            kv.value.get_or_insert_with(AnyValue::default),
                            &a.converted_type,
                        );
                    }
                }
            }
        }
    }
}

impl ActionConfig {
    fn kind_name(&self) -> &'static str {
        self.action.name()
    }
}

impl Action {
    fn source(&self, attrs: &[KeyValue], metadata: Option<&ClientMetadata>) -> Option<AnyValue> {
        if let Some(v) = &self.value {
            return Some(v.clone());
        }
        if let Some(key) = &self.from_context {
            if let Some(v) = from_context(key, metadata) {
                return Some(v);
            }
        }
        if let Some(from) = &self.from_attribute {
            if let Some(v) = attrs
                .iter()
                .find(|kv| kv.key == *from)
                .and_then(|kv| kv.value.clone())
            {
                return Some(v);
            }
        }
        self.default_value.clone()
    }

    fn extract(&self, attrs: &mut Vec<KeyValue>) {
        let Some(regex) = &self.regex else { return };
        let text = match attrs
            .iter()
            .find(|kv| kv.key == self.key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            _ => return,
        };
        let Some(caps) = regex.captures(&text) else {
            return;
        };
        for (i, name) in self.names.iter().enumerate().skip(1) {
            let value = caps.get(i).map_or("", |m| m.as_str());
            match attrs.iter_mut().find(|kv| kv.key == *name) {
                Some(kv) => {
                    kv.value = Some(AnyValue {
                        value: Some(any_value::Value::StringValue(value.into())),
                    })
                }
                None => attrs.push(crate::attributes::string(name, value)),
            }
        }
    }
}

/// The client metadata a `from_context` key names: `client.address` is not kept by
/// llamacol's receivers (absent); `metadata.<k>` and a bare `<k>` are header values
/// joined with `;`.
fn from_context(key: &str, metadata: Option<&ClientMetadata>) -> Option<AnyValue> {
    let metadata = metadata?;
    let header = key.strip_prefix("metadata.").unwrap_or(key);
    let values = metadata.get(header);
    if values.is_empty() {
        return None;
    }
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(values.join(";"))),
    })
}

/// SHA-256 of the value's bytes as the Collector hashes them (strings as UTF-8; ints and
/// doubles as 8 little-endian bytes; bools as one byte), lowercase hex; other types
/// become the empty string.
fn hash(v: &mut AnyValue) {
    let bytes: Vec<u8> = match &v.value {
        Some(any_value::Value::StringValue(s)) => s.as_bytes().to_vec(),
        Some(any_value::Value::BoolValue(b)) => vec![u8::from(*b)],
        Some(any_value::Value::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(any_value::Value::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => {
            v.value = Some(any_value::Value::StringValue(String::new()));
            return;
        }
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    v.value = Some(any_value::Value::StringValue(crate::wire::hex(
        digest.as_ref(),
    )));
}

/// `convert` as the Collector's: a value that cannot convert stays as it is.
fn convert(v: &mut AnyValue, to: &str) {
    use any_value::Value as V;
    let new = match (to, &v.value) {
        ("string", Some(V::StringValue(_))) => return,
        ("string", Some(other)) => {
            V::StringValue(crate::ottl::functions::types::as_go_string(&AnyValue {
                value: Some(other.clone()),
            }))
        }
        ("string", None) => V::StringValue(String::new()),
        ("int", Some(V::DoubleValue(d))) => V::IntValue(*d as i64),
        ("int", Some(V::BoolValue(b))) => V::IntValue(i64::from(*b)),
        ("int", Some(V::StringValue(s))) => match s.parse() {
            Ok(i) => V::IntValue(i),
            Err(_) => return,
        },
        ("double", Some(V::IntValue(i))) => V::DoubleValue(*i as f64),
        ("double", Some(V::BoolValue(b))) => V::DoubleValue(f64::from(u8::from(*b))),
        ("double", Some(V::StringValue(s))) => match s.parse() {
            Ok(d) => V::DoubleValue(d),
            Err(_) => return,
        },
        _ => return,
    };
    v.value = Some(new);
}
