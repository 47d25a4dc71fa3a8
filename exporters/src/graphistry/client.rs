//! Graphistry's REST API (api=3), as its docs and pygraphistry use it: a JWT from
//! `POST /api-token-auth/` (username/password) or `GET /api/v2/auth/pkey/jwt/`
//! (`Authorization: PersonalKey id:secret`), refreshed before it expires
//! (`POST /api/v2/auth/token/refresh`); then per graph `POST /api/v2/upload/datasets/`,
//! the node and edge tables as Arrow IPC files to `.../{id}/nodes/arrow` and
//! `.../{id}/edges/arrow`, and the share settings to `POST /api/v2/share/link/`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use llamacol_api::http::HttpError;
use llamacol_api::ConsumeError;
use serde_json::{json, Value};

use super::config::{Credentials, GraphistryConfig, PrivacyMode};
use super::graph::{dataset_json, ipc_file, Built};

/// A token is refreshed when it has less than this left.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// How long a token whose expiry cannot be read is used (Graphistry's last about 1 h).
const UNKNOWN_LIFETIME: Duration = Duration::from_secs(45 * 60);

pub struct Client {
    http: reqwest::Client,
    base: String,
    config: GraphistryConfig,
    jwt: tokio::sync::Mutex<Option<Jwt>>,
    /// Set once the server answered the share call with 404.
    share_unsupported: AtomicBool,
}

/// The HTTP status a refusal carries, if it is one.
fn http_status(e: &ConsumeError) -> Option<u16> {
    std::error::Error::source(e)?
        .downcast_ref::<HttpError>()
        .map(|h| h.status)
}

#[derive(Clone)]
struct Jwt {
    token: String,
    refresh_at: SystemTime,
}

#[derive(Debug, thiserror::Error)]
#[error("graphistry: {0}")]
struct GraphistryError(String);

fn permanent(message: String) -> ConsumeError {
    ConsumeError::permanent(GraphistryError(message))
}

fn retryable(message: String) -> ConsumeError {
    ConsumeError::retryable(GraphistryError(message))
}

/// A refused request, classified by the rule every HTTP client shares
/// ([`llamacol_api::http::classify`]: 429, 502, 503, 504 retried after `Retry-After`).
fn refused(status: u16, retry_after: Option<&str>, what: &str, body: &str) -> ConsumeError {
    llamacol_api::http::classify(status, retry_after, format!("{what}: {}", body.trim()))
}

impl Client {
    pub fn new(config: &GraphistryConfig) -> Result<Client, llamacol_api::BoxError> {
        let http = llamacol_api::http::client(
            config.timeout,
            &config.tls,
            &llamacol_api::http::Headers::default(),
        )?;
        Ok(Client {
            http,
            base: config.base_url(),
            config: config.clone(),
            jwt: tokio::sync::Mutex::new(None),
            share_unsupported: AtomicBool::new(false),
        })
    }

    /// Uploads one graph; returns the dataset id.
    pub async fn upload(&self, built: &Built, name: &str) -> Result<String, ConsumeError> {
        let dataset = dataset_json(name, self.config.org_name.as_deref());
        let body = serde_json::to_vec(&dataset).map_err(|e| permanent(e.to_string()))?;
        let created = self
            .call("creating the dataset", |c, token| {
                c.http
                    .post(format!("{}/api/v2/upload/datasets/", c.base))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body.clone())
            })
            .await?;
        let id = created["data"]["dataset_id"]
            .as_str()
            .ok_or_else(|| {
                permanent(format!(
                    "no `data.dataset_id` in the answer to creating the dataset: {created}"
                ))
            })?
            .to_string();
        for (table, batch) in [("edges", &built.edges), ("nodes", &built.nodes)] {
            let arrow =
                ipc_file(batch).map_err(|e| permanent(format!("writing {table} as Arrow: {e}")))?;
            let url = format!("{}/api/v2/upload/datasets/{id}/{table}/arrow", self.base);
            self.call(&format!("uploading the {table}"), |c, token| {
                c.http.post(&url).bearer_auth(token).body(arrow.clone())
            })
            .await?;
        }
        let privacy = &self.config.privacy;
        let share = serde_json::to_vec(&json!({
            "obj_pk": id,
            "obj_type": "dataset",
            "mode": privacy.mode.as_str(),
            "notify": privacy.notify,
            "invited_users": privacy.invited_users,
            // pygraphistry's defaults: private datasets are shared for editing (20) with
            // the invited users, others for viewing (10).
            "mode_action": if privacy.mode == PrivacyMode::Private { "20" } else { "10" },
            "message": privacy.message,
        }))
        .map_err(|e| permanent(e.to_string()))?;
        let shared = self
            .call("setting the dataset's sharing", |c, token| {
                c.http
                    .post(format!("{}/api/v2/share/link/", c.base))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(share.clone())
            })
            .await;
        match shared {
            Ok(_) => {}
            // A server without the share API: the dataset is uploaded and keeps the
            // server's default sharing.
            Err(e) if http_status(&e) == Some(404) => {
                if !self.share_unsupported.swap(true, Ordering::Relaxed) {
                    tracing::warn!(server = %self.base, "graphistry: this server has no sharing API (POST /api/v2/share/link/ answered 404); datasets are uploaded with its default sharing and `privacy` is not applied (logged once)");
                }
            }
            Err(e) => return Err(e),
        }
        Ok(id)
    }

    /// The dataset's URL, as Graphistry serves it.
    pub fn dataset_url(&self, id: &str) -> String {
        format!("{}/graph/graph.html?dataset={id}", self.base)
    }

    /// One authenticated call; a 401 re-authenticates once and tries again.
    async fn call(
        &self,
        what: &str,
        request: impl Fn(&Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<Value, ConsumeError> {
        let mut token = self.token(false).await?;
        for attempt in 0..2 {
            let response = request(self, &token)
                .send()
                .await
                .map_err(|e| retryable(format!("{what}: {e}")))?;
            let status = response.status().as_u16();
            let retry_after = llamacol_api::http::retry_after_header(response.headers());
            let text = response.text().await.unwrap_or_default();
            if status == 401 && attempt == 0 {
                token = self.token(true).await?;
                continue;
            }
            if status == 401 {
                return Err(permanent(format!("{what}: the server refused a fresh token (HTTP 401) right after logging in; check that the account may upload (and `org_name`)")));
            }
            if !(200..300).contains(&status) {
                return Err(refused(status, retry_after.as_deref(), what, &text));
            }
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            // Upload answers say `success`; the share answer need not.
            if answer
                .get("success")
                .is_some_and(|s| s != &Value::Bool(true))
            {
                return Err(permanent(format!(
                    "{what}: the server answered without success: {text}"
                )));
            }
            return Ok(answer);
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// A valid JWT: the one held, refreshed when it is about to expire, or a new login
    /// (`force`: after a 401).
    async fn token(&self, force: bool) -> Result<String, ConsumeError> {
        let mut held = self.jwt.lock().await;
        let now = SystemTime::now();
        if let (false, Some(jwt)) = (force, held.as_ref()) {
            if now < jwt.refresh_at {
                return Ok(jwt.token.clone());
            }
            if let Ok(fresh) = self.refresh(&jwt.token).await {
                *held = Some(fresh.clone());
                return Ok(fresh.token);
            }
        }
        let fresh = self.login().await?;
        *held = Some(fresh.clone());
        Ok(fresh.token)
    }

    async fn refresh(&self, token: &str) -> Result<Jwt, ConsumeError> {
        let body =
            serde_json::to_vec(&json!({ "token": token })).map_err(|e| permanent(e.to_string()))?;
        let response = self
            .http
            .post(format!("{}/api/v2/auth/token/refresh", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| retryable(format!("refreshing the token: {e}")))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(refused(status, None, "refreshing the token", &text));
        }
        jwt_from(&text, None)
    }

    async fn login(&self) -> Result<Jwt, ConsumeError> {
        let org = self.config.org_name.as_deref();
        let mut body = serde_json::Map::new();
        if let Some(org) = org {
            body.insert("org_name".into(), Value::from(org));
        }
        let (request, how) = match self.config.credentials() {
            Some(Credentials::Password(user, password)) => {
                body.insert("username".into(), Value::from(user));
                body.insert("password".into(), Value::from(password.expose()));
                (
                    self.http.post(format!("{}/api-token-auth/", self.base)),
                    "`username`/`password`",
                )
            }
            Some(Credentials::PersonalKey(id, secret)) => (
                self.http
                    .get(format!("{}/api/v2/auth/pkey/jwt/", self.base))
                    .header(
                        "authorization",
                        format!("PersonalKey {id}:{}", secret.expose()),
                    ),
                "`personal_key_id`/`personal_key_secret`",
            ),
            None => return Err(permanent("no credentials configured".into())),
        };
        let body =
            serde_json::to_vec(&Value::Object(body)).map_err(|e| permanent(e.to_string()))?;
        let response = request
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| retryable(format!("logging in to {}: {e}", self.base)))?;
        let status = response.status().as_u16();
        let retry_after = llamacol_api::http::retry_after_header(response.headers());
        let text = response.text().await.unwrap_or_default();
        if matches!(status, 400 | 401 | 403) {
            return Err(permanent(format!("{} refused the login with {how} (HTTP {status}); check them (the password or key secret is never logged)", self.base)));
        }
        if !(200..300).contains(&status) {
            return Err(refused(status, retry_after.as_deref(), "logging in", &text));
        }
        jwt_from(&text, org)
    }
}

/// The token of a login or refresh answer, and when to refresh it (its `exp` claim less
/// [`REFRESH_BEFORE`]). With `org`, the answer's active organization must be it.
fn jwt_from(text: &str, org: Option<&str>) -> Result<Jwt, ConsumeError> {
    let answer: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let Some(token) = answer["token"].as_str() else {
        return Err(permanent(format!(
            "no `token` in the login answer: {}",
            text.chars().take(200).collect::<String>()
        )));
    };
    if let Some(org) = org {
        let active = &answer["active_organization"];
        if active["slug"].as_str() != Some(org) || active["is_member"] == Value::Bool(false) {
            return Err(permanent(format!("the login is not a member of organization `{org}` (the server made `{}` active); fix `org_name` or leave it out", active["slug"].as_str().unwrap_or("none"))));
        }
    }
    let now = SystemTime::now();
    // REFRESH_BEFORE ahead of the expiry, or half way for short-lived tokens.
    let refresh_at = expiry(token).map_or(now + UNKNOWN_LIFETIME, |exp| {
        let left = exp.duration_since(now).unwrap_or_default();
        exp.checked_sub(REFRESH_BEFORE.min(left / 2))
            .unwrap_or(now)
            .max(now)
    });
    Ok(Jwt {
        token: token.to_string(),
        refresh_at,
    })
}

/// The `exp` claim of a JWT (not verified: the server checks its own tokens).
pub fn expiry(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims["exp"].as_u64()?;
    Some(UNIX_EPOCH + Duration::from_secs(exp))
}
