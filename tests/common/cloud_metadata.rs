//! FAKES of the cloud metadata services and the Docker daemon, for the
//! `resource_detection` tests: they cannot run here (no cloud, no Docker). Each follows
//! its provider's documented API field for field: paths, required request headers, the
//! refusal when a header is missing, and documents taken from the providers' own examples
//! (`testdata/resource_detection/`, origins in `testdata/README.md`).

use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use axum::Router;

fn testdata(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/resource_detection")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `serve` on a runtime of its own thread, for the rest of the test.
fn in_background<F: std::future::Future<Output = ()> + Send + 'static>(
    serve: impl FnOnce() -> F + Send + 'static,
) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(serve());
    });
}

/// Serves `app` on a loopback port; returns the port.
fn serve(app: Router) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    in_background(move || async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        axum::serve(listener, app).await.expect("serve");
    });
    port
}

const EC2_TOKEN: &str = "AQAEAFAKE-imdsv2-session-token==";

/// EC2 instance metadata with IMDSv2 required (`HttpTokens=required`): `PUT
/// /latest/api/token` with a TTL header gives a token; every GET without it is 401.
/// <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html>
pub fn ec2() -> u16 {
    let token = put(|headers: HeaderMap| async move {
        match headers
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|v| v.to_str().ok()?.parse::<u32>().ok())
        {
            // The service names the token's TTL in the answer too (the AWS SDK reads it).
            Some(ttl @ 1..=21600) => (
                StatusCode::OK,
                [("x-aws-ec2-metadata-token-ttl-seconds", ttl.to_string())],
                EC2_TOKEN,
            )
                .into_response(),
            _ => StatusCode::BAD_REQUEST.into_response(),
        }
    });
    let document = testdata("ec2_identity_document.json");
    let answer = move |body: String| {
        get(move |headers: HeaderMap| {
            let body = body.clone();
            async move {
                if headers
                    .get("x-aws-ec2-metadata-token")
                    .and_then(|v| v.to_str().ok())
                    != Some(EC2_TOKEN)
                {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                (StatusCode::OK, body).into_response()
            }
        })
    };
    let app = Router::new()
        .route("/latest/api/token", token)
        .route(
            "/latest/meta-data/instance-id",
            answer("i-1234567890abcdef0".into()),
        )
        .route(
            "/latest/meta-data/hostname",
            answer("ip-10-158-112-84.us-west-2.compute.internal".into()),
        )
        .route(
            "/latest/dynamic/instance-identity/document",
            answer(document),
        )
        .route(
            "/latest/meta-data/tags/instance",
            answer("Name\nteam".into()),
        )
        .route(
            "/latest/meta-data/tags/instance/Name",
            answer("gpu-node-7".into()),
        )
        .route(
            "/latest/meta-data/tags/instance/team",
            answer("inference".into()),
        );
    serve(app)
}

/// The Compute Engine metadata server: `Metadata-Flavor: Google` required (403 without),
/// sent back on every answer; an undefined key is 404.
/// <https://cloud.google.com/compute/docs/metadata/querying-metadata>
pub fn gce() -> u16 {
    let values: &[(&str, &str)] = &[
        ("project/project-id", "my-sample-project-191923"),
        ("instance/id", "4520031799277581759"),
        ("instance/zone", "projects/329880894298/zones/us-central1-a"),
        (
            "instance/machine-type",
            "projects/329880894298/machineTypes/a2-highgpu-1g",
        ),
        ("instance/name", "gpu-node-7"),
        (
            "instance/hostname",
            "gpu-node-7.us-central1-a.c.my-sample-project-191923.internal",
        ),
        (
            "instance/attributes/created-by",
            "projects/329880894298/zones/us-central1-a/instanceGroupManagers/gpu-pool",
        ),
    ];
    let app = Router::new().fallback(any(
        move |headers: HeaderMap, uri: axum::http::Uri| async move {
            let flavor = [("metadata-flavor", "Google")];
            if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
                return (
                    StatusCode::FORBIDDEN,
                    flavor,
                    "Missing Metadata-Flavor:Google header.",
                )
                    .into_response();
            }
            let path = uri.path();
            if path == "/" {
                return (StatusCode::OK, flavor, "computeMetadata/\n").into_response();
            }
            let key = path.trim_start_matches("/computeMetadata/v1/");
            match values.iter().find(|(k, _)| *k == key) {
                Some((_, v)) => (StatusCode::OK, flavor, *v).into_response(),
                None => (StatusCode::NOT_FOUND, flavor, "Not Found").into_response(),
            }
        },
    ));
    serve(app)
}

/// Azure's Instance Metadata Service: `Metadata: true` and an `api-version` required (400
/// with the documented error otherwise); the documentation's compute sample.
/// <https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service>
pub fn azure() -> u16 {
    let compute = testdata("azure_compute.json");
    let app = Router::new().route(
        "/metadata/instance/compute",
        get(move |headers: HeaderMap, uri: axum::http::Uri| {
            let compute = compute.clone();
            async move {
                if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
                    return (
                        StatusCode::BAD_REQUEST,
                        r#"{"error":"Bad request. Required metadata header not specified"}"#,
                    )
                        .into_response();
                }
                if !uri.query().unwrap_or_default().contains("api-version=") {
                    return (
                        StatusCode::BAD_REQUEST,
                        r#"{"error":"Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds","newest-versions":["2020-10-01","2020-09-01","2020-07-15"]}"#,
                    )
                        .into_response();
                }
                ([("content-type", "application/json; charset=utf-8")], compute).into_response()
            }
        }),
    );
    serve(app)
}

/// The Docker Engine API on a Unix socket: `/_ping`, `/info` and
/// `/containers/{id}/json`, with or without the `/v1.NN` version prefix.
/// <https://docs.docker.com/reference/api/engine/version/v1.47/>
pub fn docker(dir: &Path, container: String) -> PathBuf {
    let socket = dir.join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind socket");
    listener.set_nonblocking(true).expect("nonblocking");
    let app = Router::new().fallback(any(move |uri: axum::http::Uri| {
        let container = container.clone();
        async move {
        let path = uri.path();
        let path = match path.strip_prefix("/v1.") {
            Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
            None => path,
        };
        let json = |body: serde_json::Value| -> Response {
            ([("api-version", "1.47"), ("content-type", "application/json")], body.to_string())
                .into_response()
        };
        match path {
            "/_ping" => ([("api-version", "1.47"), ("ostype", "linux")], "OK").into_response(),
            "/version" => json(serde_json::json!({"ApiVersion": "1.47", "MinAPIVersion": "1.24", "Os": "linux", "Version": "27.5.1"})),
            "/info" => json(serde_json::json!({
                "ID": "7TRN:IPZB:QYBB:VPBQ:UWYJ:6BM3:4WBE:XVHA:U4ON:WHGD:FQBX:DYBL",
                "Containers": 14,
                "ContainersRunning": 3,
                "Images": 508,
                "Driver": "overlay2",
                "KernelVersion": "6.8.0-31-generic",
                "OperatingSystem": "Ubuntu 24.04 LTS",
                "OSVersion": "24.04",
                "OSType": "linux",
                "Architecture": "x86_64",
                "NCPU": 4,
                "MemTotal": 2095882240,
                "Name": "gpu-node-7",
                "ServerVersion": "27.5.1"
            })),
            p if p == format!("/containers/{container}/json") => json(serde_json::json!({
                "Id": "ba033ac4401106a3b513bc9d639eee123ad78ca3616b921167cd74b20e25ed39",
                "Name": "/llamacol-agent",
                "Image": "sha256:3b0fd22fa2d8b4d3f8c2c8c0f1a6b1e5d2f3c4b5a6978877665544332211aabb",
                "Config": {"Hostname": container, "Image": "ghcr.io/llamacol/llamacol:0.1.0"},
                "State": {"Status": "running", "Running": true}
            })),
            _ => (StatusCode::NOT_FOUND, r#"{"message":"page not found"}"#).into_response(),
        }
        }
    }));
    in_background(move || async move {
        let listener = tokio::net::UnixListener::from_std(listener).expect("listener");
        axum::serve(listener, app).await.expect("serve");
    });
    socket
}
