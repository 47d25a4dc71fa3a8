//! `headers_setter` extension (the Collector's): an exporter naming it in
//! `auth.authenticator` sends, with each request, headers set from fixed values or from
//! the client metadata of the batch (`from_context`: what a receiver with
//! `include_metadata: true` kept, carried through a `batch` processor by its
//! `metadata_keys`). The multi-tenant case: forward each app's `X-Scope-OrgID` to the
//! backend.

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use llamacol_api::auth::{Authenticator, Refusal};
use llamacol_api::client_metadata::Metadata;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::{BoxError, Extension, ExtensionContext, ExtensionFactory};

pub use config::{Action, HeaderRule, HeadersSetterConfig};

pub fn factory() -> ExtensionFactory {
    ExtensionFactory {
        type_name: "headers_setter",
        config: ConfigSpec::of::<HeadersSetterConfig>(),
        storage: false,
        authenticator: true,
        build,
    }
}

fn build(_ctx: &ExtensionContext, block: &Value) -> Result<Arc<dyn Extension>, BoxError> {
    let config = parse_block::<HeadersSetterConfig>(block)?;
    let rules = config
        .headers
        .into_iter()
        .map(|rule| {
            let name = HeaderName::from_bytes(rule.key.as_bytes())?;
            Ok((name, rule))
        })
        .collect::<Result<Vec<_>, BoxError>>()?;
    Ok(Arc::new(HeadersSetter(Arc::new(Rules(rules)))))
}

struct Rules(Vec<(HeaderName, HeaderRule)>);

struct HeadersSetter(Arc<Rules>);

impl Rules {
    /// The value `rule` sends for a batch of `metadata`, if any.
    fn value(rule: &HeaderRule, metadata: &Metadata) -> Option<HeaderValue> {
        let text = match (&rule.value, &rule.from_context) {
            (Some(fixed), _) => Some(fixed.as_str()),
            (None, Some(key)) => metadata
                .as_ref()
                .and_then(|m| m.get(key).first())
                .map(String::as_str)
                .or(rule.default_value.as_deref()),
            (None, None) => None,
        }?;
        let mut value = HeaderValue::from_str(text).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl Authenticator for Rules {
    /// Not a server authenticator: a receiver naming it refuses every request, saying so.
    fn check(&self, _headers: &HeaderMap) -> Result<(), Refusal> {
        Err(Refusal(
            "headers_setter sets headers on exporters' requests; it does not authenticate receivers",
        ))
    }

    fn challenge(&self) -> &str {
        "headers_setter"
    }

    fn client_header(&self) -> Option<(HeaderName, HeaderValue)> {
        None
    }

    fn apply_headers(&self, headers: &mut HeaderMap, metadata: &Metadata) {
        for (name, rule) in &self.0 {
            let present = headers.contains_key(name);
            match rule.action {
                Action::Delete => {
                    headers.remove(name);
                }
                Action::Insert if present => {}
                Action::Update if !present => {}
                Action::Insert | Action::Update | Action::Upsert => {
                    if let Some(value) = Self::value(rule, metadata) {
                        headers.insert(name.clone(), value);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Extension for HeadersSetter {
    fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llamacol_api::client_metadata::ClientMetadata;

    fn rules(yaml: &str) -> Rules {
        let config: HeadersSetterConfig =
            parse_block(&llamacol_api::serde_yaml::from_str(yaml).expect("yaml")).expect("config");
        Rules(
            config
                .headers
                .into_iter()
                .map(|r| (HeaderName::from_bytes(r.key.as_bytes()).expect("name"), r))
                .collect(),
        )
    }

    /// The Collector's README example: the tenant from the request, a default when the
    /// request had none, a fixed header, and the four actions.
    #[test]
    fn headers_come_from_the_batchs_metadata_and_follow_their_action() {
        let setter = rules(
            "headers:\n  - {action: upsert, key: X-Scope-OrgID, from_context: tenant_id, default_value: Org-ID-Default}\n  - {action: insert, key: User-ID, value: user_id}\n  - {action: update, key: X-Existing, value: updated}\n  - {action: delete, key: X-Remove}\n",
        );
        let tenant: Metadata = Some(Arc::new(ClientMetadata::from_pairs([(
            "Tenant_ID",
            "acme",
        )])));
        let mut headers = HeaderMap::new();
        headers.insert("user-id", HeaderValue::from_static("kept"));
        headers.insert("x-remove", HeaderValue::from_static("gone"));
        setter.apply_headers(&mut headers, &tenant);
        assert_eq!(headers["x-scope-orgid"], "acme");
        assert_eq!(headers["user-id"], "kept", "insert leaves a present header");
        assert!(
            !headers.contains_key("x-existing"),
            "update sets only a present header"
        );
        assert!(!headers.contains_key("x-remove"));

        let mut headers = HeaderMap::new();
        setter.apply_headers(&mut headers, &None);
        assert_eq!(headers["x-scope-orgid"], "Org-ID-Default");
        assert_eq!(headers["user-id"], "user_id");
    }

    #[test]
    fn config_mistakes_are_named() {
        use llamacol_api::config::ComponentConfig;
        let issues = |yaml: &str| {
            let config: HeadersSetterConfig =
                parse_block(&llamacol_api::serde_yaml::from_str(yaml).expect("yaml"))
                    .expect("config");
            config
                .validate()
                .into_iter()
                .map(|i| i.path)
                .collect::<Vec<_>>()
        };
        assert_eq!(issues("headers: []"), ["headers"]);
        assert_eq!(
            issues("headers: [{key: a, value: x, from_context: y}]"),
            ["headers[0]"]
        );
        assert_eq!(
            issues("headers: [{key: a, value: x, default_value: z}]"),
            ["headers[0].default_value"]
        );
        assert_eq!(
            issues("headers: [{key: 'bad key', value: x}]"),
            ["headers[0].key"]
        );
        assert!(issues("headers: [{key: a, action: delete}]").is_empty());
    }
}
