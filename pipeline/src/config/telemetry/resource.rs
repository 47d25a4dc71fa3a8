//! `service.telemetry.resource`: the attributes of llamacol's own telemetry.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

/// `service.telemetry.resource`: the Collector's map form (`service.name: x`; a null
/// value removes a default attribute) and the declarative form (`attributes:
/// [{name, value}]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TelemetryResource {
    /// In order; `None` removes the attribute.
    pub attributes: Vec<(String, Option<String>)>,
    pub schema_url: Option<String>,
}

impl<'de> Deserialize<'de> for TelemetryResource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = BTreeMap::<String, Value>::deserialize(d)?;
        let text = |key: &str, v: &Value| -> Result<Option<String>, D::Error> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                Value::Number(n) => Ok(Some(n.to_string())),
                Value::Bool(b) => Ok(Some(b.to_string())),
                _ => Err(D::Error::custom(format!(
                    "resource attribute `{key}` must be a string, number or boolean"
                ))),
            }
        };
        let mut out = TelemetryResource::default();
        for (key, value) in &map {
            match key.as_str() {
                "attributes" => {
                    let Value::Sequence(list) = value else {
                        return Err(D::Error::custom(
                            "`attributes` is a list of `{name: ..., value: ...}`",
                        ));
                    };
                    for a in list {
                        let name = a.get("name").and_then(Value::as_str).ok_or_else(|| {
                            D::Error::custom("each of `attributes` needs a `name`")
                        })?;
                        let value = text(name, a.get("value").unwrap_or(&Value::Null))?;
                        out.attributes.push((name.to_string(), value));
                    }
                }
                "schema_url" => out.schema_url = text(key, value)?,
                "attributes_list" | "detectors" | "detection/development" => {
                    return Err(D::Error::custom(format!(
                        "`{key}` is not supported here; list the attributes under `attributes` (or as `name: value`)"
                    )))
                }
                _ => out.attributes.push((key.clone(), text(key, value)?)),
            }
        }
        Ok(out)
    }
}

impl TelemetryResource {
    /// llamacol's own resource: `service.name` `llamacol`, `service.version`, a
    /// `service.instance.id` (given), then this block's attributes over them.
    pub fn resolve(&self, instance_id: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, Option<String>)> = vec![
            ("service.name".into(), Some("llamacol".into())),
            (
                "service.version".into(),
                Some(env!("CARGO_PKG_VERSION").into()),
            ),
            ("service.instance.id".into(), Some(instance_id.into())),
        ];
        for (key, value) in &self.attributes {
            match out.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => out.push((key.clone(), value.clone())),
            }
        }
        out.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }
}
