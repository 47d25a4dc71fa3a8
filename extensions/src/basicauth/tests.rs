use axum::http::HeaderMap;

use super::*;

fn auth(yaml: &str) -> Arc<dyn Authenticator> {
    crate::test_support::authenticator(factory(), yaml)
}

fn basic(user: &str, password: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {v}")).expect("value"),
    );
    h
}

#[test]
fn bcrypt_sha_and_plain_htpasswd_lines_are_checked() {
    let bcrypt_hash = bcrypt::hash("b-pass", 4).expect("hash");
    // `htpasswd -s`: {SHA} + base64(sha1(password)).
    let sha = {
        use sha1::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"s-pass"))
    };
    let a = auth(&format!(
        "htpasswd: {{inline: \"# users\\nbee:{bcrypt_hash}\\nsha:{{SHA}}{sha}\\nplain:p-pass\\n\"}}"
    ));
    assert!(a.check(&basic("bee", "b-pass")).is_ok());
    assert!(a.check(&basic("sha", "s-pass")).is_ok());
    assert!(a.check(&basic("plain", "p-pass")).is_ok());
    for (user, password) in [
        ("bee", "nope"),
        ("sha", "nope"),
        ("plain", "nope"),
        ("nobody", "p-pass"),
    ] {
        assert_eq!(
            a.check(&basic(user, password)).err().map(|e| e.0),
            Some("invalid username or password")
        );
    }
    assert_eq!(
        a.check(&HeaderMap::new()).err().map(|e| e.0),
        Some("no credentials")
    );
    assert!(a.client_header().is_none(), "no client_auth configured");
}

#[test]
fn an_htpasswd_file_is_read_again_when_it_changes() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("htpasswd");
    std::fs::write(&path, "ann:one\n").expect("write");
    let a = auth(&format!("htpasswd: {{file: \"{}\"}}", path.display()));
    assert!(a.check(&basic("ann", "one")).is_ok());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&path, "ann:two\n").expect("write");
    assert!(a.check(&basic("ann", "two")).is_ok());
    assert!(a.check(&basic("ann", "one")).is_err());
}

#[test]
fn client_auth_is_sent_as_basic_credentials() {
    let a = auth("client_auth: {username: exporter, password: pw}");
    let (name, value) = a.client_header().expect("header");
    assert_eq!(name, header::AUTHORIZATION);
    assert_eq!(
        value.to_str().expect("ascii"),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("exporter:pw")
        )
    );
    assert!(value.is_sensitive());
}

#[test]
fn unsupported_hashes_are_named_by_line_without_their_contents() {
    let e = parse_htpasswd("a:x\nb:$apr1$salt$hashhash\n")
        .expect_err("apr1")
        .to_string();
    assert!(
        e.contains("line 2") && e.contains("apr1") && !e.contains("hashhash"),
        "{e}"
    );
    let e = parse_htpasswd("no colon here")
        .expect_err("format")
        .to_string();
    assert!(e.contains("line 1") && !e.contains("colon here"), "{e}");
}
