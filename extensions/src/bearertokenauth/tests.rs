use axum::http::HeaderMap;

use super::*;

fn auth(yaml: &str) -> Arc<dyn Authenticator> {
    crate::test_support::authenticator(factory(), yaml)
}

fn with(header: &str, value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HeaderName::from_bytes(header.as_bytes()).expect("name"),
        HeaderValue::from_str(value).expect("value"),
    );
    h
}

#[test]
fn the_token_is_checked_with_its_scheme_and_sent_by_clients() {
    let a = auth("{token: s3cr3t}");
    assert!(a.check(&with("authorization", "Bearer s3cr3t")).is_ok());
    assert_eq!(
        a.check(&with("authorization", "Bearer wrong"))
            .err()
            .map(|e| e.0),
        Some("invalid token")
    );
    assert_eq!(
        a.check(&with("authorization", "Basic s3cr3t"))
            .err()
            .map(|e| e.0),
        Some("wrong authentication scheme")
    );
    assert_eq!(
        a.check(&HeaderMap::new()).err().map(|e| e.0),
        Some("no credentials")
    );
    let (name, value) = a.client_header().expect("client header");
    assert_eq!(
        (name.as_str(), value.to_str().expect("ascii")),
        ("authorization", "Bearer s3cr3t")
    );
    assert!(value.is_sensitive(), "kept out of debug output");
    assert_eq!(a.challenge(), "Bearer realm=\"llamacol\"");
}

#[test]
fn several_tokens_a_custom_header_and_scheme() {
    let a = auth("{tokens: [old, new], header: X-Api-Key, scheme: Token}");
    assert!(a.check(&with("x-api-key", "Token old")).is_ok());
    assert!(a.check(&with("x-api-key", "Token new")).is_ok());
    assert!(a.check(&with("authorization", "Token new")).is_err());
}

#[test]
fn a_token_file_is_read_again_when_it_changes() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("token");
    std::fs::write(&path, "first\n").expect("write");
    let a = auth(&format!("{{filename: \"{}\"}}", path.display()));
    assert!(a.check(&with("authorization", "Bearer first")).is_ok());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&path, "second\n").expect("write");
    assert!(
        a.check(&with("authorization", "Bearer second")).is_ok(),
        "reloaded"
    );
    assert!(
        a.check(&with("authorization", "Bearer first")).is_err(),
        "the old token is gone"
    );
    assert_eq!(
        a.client_header()
            .map(|(_, v)| v.to_str().map(String::from).ok()),
        Some(Some("Bearer second".into()))
    );
}

#[test]
fn config_needs_exactly_one_source_and_never_prints_the_token() {
    let parse = |yaml: &str| -> BearerTokenAuthConfig {
        let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
        llamacol_api::config::parse(&block).expect("parse")
    };
    let issues = |c: &BearerTokenAuthConfig| {
        format!(
            "{:?}",
            <BearerTokenAuthConfig as llamacol_api::config::ComponentConfig>::validate(c)
        )
    };
    assert!(issues(&parse("{}")).contains("exactly one of"));
    assert!(issues(&parse("{token: a, filename: /x}")).contains("exactly one of"));
    assert!(issues(&parse("{token: ''}")).contains("is empty"));
    assert!(!format!("{:?}", parse("{token: marker-9f2}")).contains("marker-9f2"));
}
