//! Reading a kubeconfig file (what `kubectl` reads): the context's cluster and user.
//! Tokens, token files, client certificates and basic auth are supported; `exec` and
//! `auth-provider` plugins are refused with the fix (a token), since they run programs.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use super::client::{ApiError, Credentials, Target};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct KubeConfig {
    clusters: Vec<Named<Cluster>>,
    users: Vec<Named<User>>,
    contexts: Vec<Named<Context>>,
    current_context: String,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: Option<T>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<serde_yaml::Value>,
    auth_provider: Option<serde_yaml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

/// `$KUBECONFIG` (its first file), else `~/.kube/config`.
pub(crate) fn default_path() -> Result<PathBuf, ApiError> {
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .as_ref()
        .and_then(|v| std::env::split_paths(v).next())
        .filter(|p| !p.as_os_str().is_empty())
    {
        return Ok(first);
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        ApiError::Config(
            "no kubeconfig: set `kube_config_path` (HOME and KUBECONFIG are unset)".into(),
        )
    })?;
    Ok(Path::new(&home).join(".kube/config"))
}

/// The target of `context` (the file's current context when `None`) in the file at `path`.
pub(crate) fn load(path: &Path, context: Option<&str>) -> Result<Target, ApiError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ApiError::Config(format!("reading the kubeconfig `{}`: {e}", path.display()))
    })?;
    let config: KubeConfig = serde_yaml::from_str(&text).map_err(|e| {
        ApiError::Config(format!(
            "the kubeconfig `{}` is not valid: {e}",
            path.display()
        ))
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    resolve(&config, context, dir)
        .map_err(|e| ApiError::Config(format!("kubeconfig `{}`: {e}", path.display())))
}

fn resolve(config: &KubeConfig, context: Option<&str>, dir: &Path) -> Result<Target, String> {
    let name = context
        .filter(|c| !c.is_empty())
        .unwrap_or(&config.current_context);
    if name.is_empty() {
        return Err("no current-context; set `context`".into());
    }
    let context = find(&config.contexts, name, "context")?;
    let cluster = find(&config.clusters, &context.cluster, "cluster")?;
    let user = if context.user.is_empty() {
        None
    } else {
        Some(find(&config.users, &context.user, "user")?)
    };
    if cluster.server.is_empty() {
        return Err(format!("cluster `{}` has no server", context.cluster));
    }
    let ca_pem = file_or_data(
        cluster.certificate_authority.as_deref(),
        cluster.certificate_authority_data.as_deref(),
        dir,
    )?;
    let mut target = Target {
        server: cluster.server.trim_end_matches('/').to_string(),
        ca_pem,
        insecure: cluster.insecure_skip_tls_verify,
        identity_pem: None,
        credentials: Credentials::None,
    };
    let Some(user) = user else {
        return Ok(target);
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(format!(
            "user `{}` gets its credentials from an `exec`/`auth-provider` plugin, which llamacol does not run; give it a `token` or `tokenFile` (e.g. a service account token)",
            context.user
        ));
    }
    let cert = file_or_data(
        user.client_certificate.as_deref(),
        user.client_certificate_data.as_deref(),
        dir,
    )?;
    let key = file_or_data(
        user.client_key.as_deref(),
        user.client_key_data.as_deref(),
        dir,
    )?;
    target.identity_pem = match (cert, key) {
        (Some(mut cert), Some(key)) => {
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            Some(cert)
        }
        (None, None) => None,
        _ => {
            return Err(format!(
                "user `{}` has a client certificate without its key (or the reverse)",
                context.user
            ))
        }
    };
    target.credentials = if let Some(token) = &user.token {
        Credentials::Token(token.clone())
    } else if let Some(file) = &user.token_file {
        Credentials::TokenFile(dir.join(file))
    } else if let (Some(username), Some(password)) = (&user.username, &user.password) {
        Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }
    } else {
        Credentials::None
    };
    Ok(target)
}

fn find<'a, T>(list: &'a [Named<T>], name: &str, what: &str) -> Result<&'a T, String> {
    list.iter()
        .find(|n| n.name == name)
        .and_then(|n| n.value.as_ref())
        .ok_or_else(|| format!("no {what} named `{name}`"))
}

/// A PEM from a file (relative to the kubeconfig's directory) or inline base64 data.
fn file_or_data(
    file: Option<&Path>,
    data: Option<&str>,
    dir: &Path,
) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        return base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map(Some)
            .map_err(|e| format!("inline certificate data is not base64: {e}"));
    }
    match file.filter(|f| !f.as_os_str().is_empty()) {
        Some(file) => {
            let path = dir.join(file);
            std::fs::read(&path)
                .map(Some)
                .map_err(|e| format!("reading `{}`: {e}", path.display()))
        }
        None => Ok(None),
    }
}
