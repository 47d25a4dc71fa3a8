//! One authenticated HTTPS client for the API server, and its errors.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Where the API server is and how to prove who we are (from a kubeconfig or the
/// mounted service account).
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `https://host:port`, no trailing slash.
    pub server: String,
    /// PEM CA bundle the server's certificate must chain to (else the system roots).
    pub ca_pem: Option<Vec<u8>>,
    /// Do not check the server's certificate (kubeconfig `insecure-skip-tls-verify`).
    pub insecure: bool,
    /// PEM client certificate and key, concatenated.
    pub identity_pem: Option<Vec<u8>>,
    pub credentials: Credentials,
}

#[derive(Debug, Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    Token(String),
    /// Read at every request: projected service account tokens are rotated in place.
    TokenFile(PathBuf),
    Basic {
        username: String,
        password: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The connection settings are unusable (no kubeconfig, no in-cluster address).
    Config(String),
    /// No answer: connect failure, reset, timeout.
    Transport(String),
    /// The server answered with an error status (its `Status` message when it sent one).
    Status { code: u16, message: String },
    /// An answer we could not read.
    Decode(String),
}

impl ApiError {
    /// 401/403: credentials or RBAC; the fix is the operator's, retrying alone won't do.
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            ApiError::Status {
                code: 401 | 403,
                ..
            }
        )
    }

    /// 410 Gone: the resource version asked for was compacted away; list again.
    pub fn is_gone(&self) -> bool {
        matches!(self, ApiError::Status { code: 410, .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Config(m) | ApiError::Transport(m) | ApiError::Decode(m) => f.write_str(m),
            ApiError::Status { code: 401, message } => write!(
                f,
                "401 Unauthorized ({message}): the API server did not accept the credentials; check the token or certificate"
            ),
            ApiError::Status { code: 403, message } => write!(
                f,
                "403 Forbidden ({message}): grant get, list and watch on this resource to the service account (a ClusterRole and its binding)"
            ),
            ApiError::Status { code, message } => write!(f, "HTTP {code}: {message}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// The in-cluster target: `KUBERNETES_SERVICE_HOST`/`PORT`, the account's CA, and its
/// token unless `with_token` is false (`auth_type: none`).
pub(crate) fn in_cluster(account_dir: &Path, with_token: bool) -> Result<Target, ApiError> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    if host.is_empty() {
        return Err(ApiError::Config(
            "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set): use `auth_type: kubeConfig` with `kube_config_path` outside a cluster".into(),
        ));
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let ca = account_dir.join("ca.crt");
    let ca_pem = std::fs::read(&ca).ok();
    let token = account_dir.join("token");
    if with_token && !token.exists() {
        return Err(ApiError::Config(format!(
            "no service account token at `{}`: set `automountServiceAccountToken: true` on the pod (or its service account)",
            token.display()
        )));
    }
    Ok(Target {
        server: format!("https://{host}:{port}"),
        ca_pem,
        insecure: false,
        identity_pem: None,
        credentials: if with_token {
            Credentials::TokenFile(token)
        } else {
            Credentials::None
        },
    })
}

/// An API server connection. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct ApiClient {
    server: String,
    http: reqwest::Client,
    credentials: Credentials,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// How long a list (or any plain GET) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl ApiClient {
    pub fn new(target: Target) -> Result<ApiClient, ApiError> {
        let config =
            |e: reqwest::Error| ApiError::Config(format!("API client for {}: {e}", target.server));
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .danger_accept_invalid_certs(target.insecure);
        if let Some(ca) = &target.ca_pem {
            builder = builder.tls_built_in_root_certs(false);
            for cert in reqwest::Certificate::from_pem_bundle(ca).map_err(config)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(identity) = &target.identity_pem {
            builder = builder.identity(reqwest::Identity::from_pem(identity).map_err(config)?);
        }
        Ok(ApiClient {
            http: builder.build().map_err(config)?,
            server: target.server,
            credentials: target.credentials,
        })
    }

    /// The server's base URL, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// GETs `path` (with its query) and reads the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let response = self.send(path, Some(REQUEST_TIMEOUT)).await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(format!("reading {path}: {e}")))?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::Decode(format!("{path}: unexpected answer: {e}")))
    }

    /// GETs `path` and hands back the open response (a watch's stream of events).
    pub async fn open(&self, path: &str) -> Result<reqwest::Response, ApiError> {
        self.send(path, None).await
    }

    async fn send(
        &self,
        path: &str,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, ApiError> {
        let url = format!("{}{path}", self.server);
        let mut request = self.http.get(&url).header("Accept", "application/json");
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        request = match &self.credentials {
            Credentials::None => request,
            Credentials::Token(token) => request.bearer_auth(token),
            Credentials::TokenFile(file) => {
                let token = std::fs::read_to_string(file).map_err(|e| {
                    ApiError::Config(format!("reading the token `{}`: {e}", file.display()))
                })?;
                request.bearer_auth(token.trim())
            }
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
        };
        let response = request.send().await.map_err(|e| {
            ApiError::Transport(format!("GET {url}: {}", crate::consumer::error_chain(&e)))
        })?;
        let code = response.status().as_u16();
        if (200..300).contains(&code) {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(ApiError::Status {
            code,
            message: status_message(&body).unwrap_or_else(|| format!("GET {path}")),
        })
    }
}

/// The `message` of a `Status` object the server answers errors with.
pub(crate) fn status_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Status {
        message: Option<String>,
    }
    serde_json::from_slice::<Status>(body).ok()?.message
}
