//! Typed component configs: what every factory's config struct implements.

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::diagnostic::{join, suggestion};

/// A problem inside one component's block; `path` is relative to the block.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

impl Issue {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// An address a component listens on, for the port-clash check.
#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    /// Relative path of the option, e.g. `protocols.grpc.endpoint`.
    pub path: String,
    pub address: String,
}

/// Implemented by every component's config struct (which must also
/// `#[serde(deny_unknown_fields)]` and give every field a default where one makes sense).
pub trait ComponentConfig: DeserializeOwned + Default {
    /// Checks that need more than the types: ranges, exclusive options.
    fn validate(&self) -> Vec<Issue> {
        Vec::new()
    }
    /// The addresses this component would bind.
    fn listens(&self) -> Vec<Listen> {
        Vec::new()
    }
    /// Directories this component needs for itself (a storage extension's), checked so
    /// that no two components share one.
    fn directories(&self) -> Vec<Listen> {
        Vec::new()
    }
    /// The authenticator extensions this component names (`auth.authenticator`):
    /// `path` is the option, `address` the extension id.
    fn authenticators(&self) -> Vec<Listen> {
        Vec::new()
    }
    /// The storage extensions this component keeps state in (`storage`): `path` is the
    /// option, `address` the extension id.
    fn storages(&self) -> Vec<Listen> {
        Vec::new()
    }
}

/// What a valid block claims for itself, checked across components.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    pub listens: Vec<Listen>,
    /// `path` is the option, `address` the directory.
    pub directories: Vec<Listen>,
    /// `path` is the option, `address` the authenticator extension's id.
    pub authenticators: Vec<Listen>,
    /// `path` is the option, `address` the storage extension's id.
    pub storages: Vec<Listen>,
}

/// How the pipeline checks a factory's config without building it.
#[derive(Clone, Copy)]
pub struct ConfigSpec {
    pub check: fn(&Value) -> Result<Claims, Vec<Issue>>,
}

impl ConfigSpec {
    pub const fn of<C: ComponentConfig>() -> ConfigSpec {
        ConfigSpec { check: check::<C> }
    }
}

fn check<C: ComponentConfig>(value: &Value) -> Result<Claims, Vec<Issue>> {
    let config = parse::<C>(value)?;
    let issues = config.validate();
    if issues.is_empty() {
        Ok(Claims {
            listens: config.listens(),
            directories: config.directories(),
            authenticators: config.authenticators(),
            storages: config.storages(),
        })
    } else {
        Err(issues)
    }
}

/// Parses a component block into its typed config; an empty block is the default.
pub fn parse<C: ComponentConfig>(value: &Value) -> Result<C, Vec<Issue>> {
    if value.is_null() {
        return Ok(C::default());
    }
    serde_path_to_error::deserialize::<_, C>(value.clone()).map_err(|e| {
        let mut path = e.path().to_string();
        if path == "." {
            path.clear();
        }
        vec![describe_error(path, &e.into_inner().to_string())]
    })
}

/// [`parse`] for build functions: the block was validated already, so a failure here is
/// reported as one error naming every issue.
pub fn parse_block<C: ComponentConfig>(value: &Value) -> Result<C, crate::consumer::BoxError> {
    parse::<C>(value).map_err(issues_error)
}

/// Issues a build function meets (a block that passed `validate` has none) as one error
/// naming each with its path.
pub fn issues_error(issues: Vec<Issue>) -> crate::consumer::BoxError {
    let all: Vec<String> = issues
        .iter()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect();
    format!("invalid config: {}", all.join("; ")).into()
}

/// Turns serde's messages into ours: unknown keys get a did-you-mean from the expected list.
pub fn describe_error(path: String, message: &str) -> Issue {
    let ticks: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let key = ticks.first().copied().unwrap_or_default();
        let expected = &ticks[1.min(ticks.len())..];
        let hint = suggestion(key, expected.iter().copied());
        let options = if expected.is_empty() {
            "this block takes no keys".to_string()
        } else {
            format!("valid keys: {}", expected.join(", "))
        };
        let _ = rest;
        // serde_path_to_error stops at the parent of an unknown key; name the key itself.
        let path = if path.ends_with(key) {
            path
        } else {
            join(&path, key)
        };
        return Issue::new(path, format!("unknown key `{key}`{hint}; {options}"));
    }
    if message.starts_with("unknown variant ") {
        let value = ticks.first().copied().unwrap_or_default();
        let expected = &ticks[1.min(ticks.len())..];
        let hint = suggestion(value, expected.iter().copied());
        return Issue::new(
            path,
            format!(
                "unknown value `{value}`{hint}; valid values: {}",
                expected.join(", ")
            ),
        );
    }
    Issue::new(path, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug)]
    #[serde(deny_unknown_fields, default)]
    struct Demo {
        endpoint: String,
        inner: Inner,
    }
    #[derive(serde::Deserialize, Default, Debug)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        verbosity: Option<Level>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    enum Level {
        Basic,
        Detailed,
    }
    impl ComponentConfig for Demo {}

    #[test]
    fn unknown_key_names_path_and_suggests() {
        let v: Value = serde_yaml::from_str("inner: {verbosty: basic}").expect("yaml");
        let issues = parse::<Demo>(&v).expect_err("unknown key");
        assert_eq!(issues[0].path, "inner.verbosty");
        assert_eq!(
            issues[0].message,
            "unknown key `verbosty` (did you mean `verbosity`?); valid keys: verbosity"
        );
    }

    #[test]
    fn unknown_variant_suggests() {
        let v: Value = serde_yaml::from_str("inner: {verbosity: detaild}").expect("yaml");
        let issues = parse::<Demo>(&v).expect_err("bad value");
        assert_eq!(issues[0].path, "inner.verbosity");
        assert_eq!(
            issues[0].message,
            "unknown value `detaild` (did you mean `detailed`?); valid values: basic, detailed"
        );
    }

    #[test]
    fn null_block_is_default() {
        let demo = parse::<Demo>(&Value::Null).expect("default");
        assert!(demo.endpoint.is_empty());
    }
}
