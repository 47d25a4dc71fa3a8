use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::testing::tls::{Leaf, TestCa};

fn config(leaf: &Leaf, client_ca: Option<PathBuf>, reload: Duration) -> ServerTlsConfig {
    ServerTlsConfig {
        cert_file: Some(leaf.cert.clone()),
        key_file: Some(leaf.key.clone()),
        client_ca_file: client_ca,
        min_version: None,
        reload_interval: Some(reload),
        ca_file: None,
    }
}

/// A TLS echo server on `config`; returns its port.
async fn echo(config: &ServerTlsConfig) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let acceptor = acceptor(config, "test").expect("acceptor");
    let mut incoming = TlsIncoming::new(
        listener,
        acceptor,
        "test",
        tokio_util::sync::CancellationToken::new(),
    )
    .expect("incoming");
    tokio::spawn(async move {
        loop {
            let (mut tls, _) = incoming.accept().await;
            tokio::spawn(async move {
                let mut buf = [0u8; 4];
                if tls.read_exact(&mut buf).await.is_ok() {
                    let _ = tls.write_all(&buf).await;
                }
            });
        }
    });
    port
}

/// Connects trusting `ca` (presenting `client` when given); returns the server
/// certificate's DER, or the error.
async fn connect(port: u16, ca: &TestCa, client: Option<&Leaf>) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).expect("ca pem"))
        .expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        Some(leaf) => builder
            .with_client_auth_cert(
                read_certs(&leaf.cert).expect("client cert"),
                PrivateKeyDer::from_pem_file(&leaf.key).expect("client key"),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .map_err(|e| e.to_string())?;
    // Under TLS 1.3 a refused client certificate shows at the first read.
    tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4];
    tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    let (_, session) = tls.get_ref();
    Ok(session.peer_certificates().expect("server cert")[0].to_vec())
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = TestCa::new();
    let first = ca.leaf(dir.path(), "server", &["localhost"], false);
    let first_der = read_certs(&first.cert).expect("cert")[0].to_vec();
    let port = echo(&config(&first, None, Duration::from_millis(50))).await;
    assert_eq!(connect(port, &ca, None).await.expect("TLS"), first_der);

    // cert-manager writes a renewed pair over the same files.
    let renewed_dir = tempfile::tempdir().expect("tmp");
    let renewed = ca.leaf(renewed_dir.path(), "server", &["localhost"], false);
    std::thread::sleep(Duration::from_millis(20));
    std::fs::copy(&renewed.key, &first.key).expect("key");
    std::fs::copy(&renewed.cert, &first.cert).expect("cert");
    let renewed_der = read_certs(&renewed.cert).expect("cert")[0].to_vec();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = connect(port, &ca, None).await; // the check happens at a handshake
    assert_eq!(connect(port, &ca, None).await.expect("TLS"), renewed_der);

    // A half-written file keeps the renewed certificate in service.
    std::fs::write(&first.cert, "-----BEGIN CERTIFICATE-----\ntruncated").expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        connect(port, &ca, None).await.expect("still TLS"),
        renewed_der
    );
}

#[tokio::test]
async fn mtls_refuses_a_client_without_a_certificate_from_the_ca() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = TestCa::new();
    let server = ca.leaf(dir.path(), "server", &["localhost"], false);
    let client = ca.leaf(dir.path(), "client", &["app"], false);
    let other_ca = TestCa::new();
    let stranger = other_ca.leaf(dir.path(), "stranger", &["app"], false);
    let port = echo(&config(
        &server,
        Some(ca.write_ca(dir.path(), "ca.pem")),
        Duration::ZERO,
    ))
    .await;
    connect(port, &ca, Some(&client))
        .await
        .expect("a client the CA signed");
    connect(port, &ca, None)
        .await
        .expect_err("no client certificate");
    connect(port, &ca, Some(&stranger))
        .await
        .expect_err("a certificate of another CA");
}

#[test]
fn startup_errors_name_the_file_and_the_fault() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = TestCa::new();
    let a = ca.leaf(dir.path(), "a", &["localhost"], false);
    let b = ca.leaf(dir.path(), "b", &["localhost"], false);
    let error = |c: &ServerTlsConfig| acceptor(c, "test").err().expect("refused").to_string();

    let mut missing = config(&a, None, Duration::ZERO);
    missing.cert_file = Some(dir.path().join("nope.pem"));
    let e = error(&missing);
    assert!(e.contains("nope.pem") && e.contains("No such file"), "{e}");

    let mut mismatched = config(&a, None, Duration::ZERO);
    mismatched.key_file = Some(b.key.clone());
    let e = error(&mismatched);
    assert!(
        e.contains("b-key.pem")
            && e.contains("is not the key of the certificate in")
            && e.contains("a.pem"),
        "{e}"
    );

    let mut not_pem = config(&a, None, Duration::ZERO);
    std::fs::write(dir.path().join("garbage.pem"), "hello").expect("write");
    not_pem.key_file = Some(dir.path().join("garbage.pem"));
    let e = error(&not_pem);
    assert!(
        e.contains("garbage.pem") && e.contains("no PEM private key"),
        "{e}"
    );

    // An expired certificate only warns: a renewal can still land.
    let old = ca.leaf(dir.path(), "old", &["localhost"], true);
    assert!(acceptor(&config(&old, None, Duration::ZERO), "test").is_ok());

    let mut bad_version = config(&a, None, Duration::ZERO);
    bad_version.min_version = Some("1.1".into());
    let issues = bad_version.issues("protocols.grpc.tls");
    assert!(format!("{issues:?}").contains("min_version"), "{issues:?}");
    let issues = ServerTlsConfig::default().issues("tls");
    assert!(format!("{issues:?}").contains("cert_file"), "{issues:?}");
}
