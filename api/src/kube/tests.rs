use std::io::Write;

use super::client::Credentials;
use super::watch::{apply_line, Event};
use super::*;

#[derive(Debug, Deserialize)]
struct Thing {
    metadata: ObjectMeta,
}

impl Object for Thing {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
}

fn events(lines: &[&str]) -> (Vec<String>, Option<String>, Option<ApiError>) {
    let mut seen = Vec::new();
    let mut version = None;
    for line in lines {
        match apply_line::<Thing>(line.as_bytes(), &mut |e| {
            seen.push(match e {
                Event::Applied(t) => format!("+{}", t.metadata.name),
                Event::Deleted(t) => format!("-{}", t.metadata.name),
                Event::Listed(l) => format!("={}", l.len()),
            })
        }) {
            Ok(Some(v)) => version = Some(v),
            Ok(None) => {}
            Err(e) => return (seen, version, Some(e)),
        }
    }
    (seen, version, None)
}

#[test]
fn watch_events_move_the_version_and_a_410_error_asks_for_a_list() {
    let (seen, version, error) = events(&[
        r#"{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","resourceVersion":"10"}}}"#,
        "",
        r#"{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"11","labels":{"x":"y"}}}}"#,
        r#"{"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"12"}}}"#,
        r#"{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"20"}}}"#,
    ]);
    assert_eq!(seen, ["+a", "+a", "-a"]);
    assert_eq!(version.as_deref(), Some("20"));
    assert!(error.is_none());

    let (_, _, error) = events(&[
        r#"{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 5 (20)","reason":"Expired","code":410}}"#,
    ]);
    let error = error.expect("an ERROR event is an error");
    assert!(error.is_gone(), "{error:?}");
    assert!(error.to_string().contains("too old resource version"));

    let (_, _, error) = events(&["{not json"]);
    assert!(matches!(error, Some(ApiError::Decode(_))));
}

#[test]
fn forbidden_names_the_fix() {
    let e = ApiError::Status {
        code: 403,
        message: "pods is forbidden: User \"system:serviceaccount:o:llamacol\" cannot list resource \"pods\"".into(),
    };
    assert!(e.is_forbidden());
    assert!(e.to_string().contains("grant get, list and watch"), "{e}");
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write");
    path
}

const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: ca.pem
- name: prod-cluster
  cluster:
    server: https://prod.example:443
    certificate-authority-data: LS0tLS1CRUdJTg==
users:
- name: dev-user
  user:
    token: abc
- name: prod-user
  user:
    tokenFile: secrets/token
- name: plugin-user
  user:
    exec:
      command: aws
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
- name: plugin
  context: {cluster: prod-cluster, user: plugin-user}
"#;

#[test]
fn kubeconfig_contexts_resolve_to_server_ca_and_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "config", KUBECONFIG);
    write(dir.path(), "ca.pem", "PEM");

    let dev = kubeconfig::load(&path, None).expect("current context");
    assert_eq!(dev.server, "https://127.0.0.1:6443");
    assert_eq!(
        dev.ca_pem.as_deref(),
        Some(&b"PEM"[..]),
        "CA read relative to the file"
    );
    assert!(matches!(dev.credentials, Credentials::Token(ref t) if t == "abc"));

    let prod = kubeconfig::load(&path, Some("prod")).expect("named context");
    assert_eq!(prod.ca_pem.as_deref(), Some(&b"-----BEGIN"[..]));
    assert!(
        matches!(prod.credentials, Credentials::TokenFile(ref f) if f == &dir.path().join("secrets/token"))
    );

    let plugin = kubeconfig::load(&path, Some("plugin")).expect_err("exec is refused");
    assert!(
        plugin.to_string().contains("`token` or `tokenFile`"),
        "{plugin}"
    );
    let missing = kubeconfig::load(&path, Some("staging")).expect_err("no such context");
    assert!(
        missing.to_string().contains("no context named `staging`"),
        "{missing}"
    );
}

#[test]
fn config_checks_and_out_of_cluster_message() {
    let config: ApiConfig = serde_yaml::from_str("kube_config_path: /x").expect("parses");
    assert_eq!(config.issues()[0].path, "kube_config_path");
    let config: ApiConfig =
        serde_yaml::from_str("auth_type: kubeConfig\nkube_config_path: /x").expect("parses");
    assert!(config.issues().is_empty());
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        let e = ApiConfig::default().connect().expect_err("not in a pod");
        assert!(e.to_string().contains("auth_type: kubeConfig"), "{e}");
    }
}
