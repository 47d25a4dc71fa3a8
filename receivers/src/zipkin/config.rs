//! `receivers.zipkin` config: the Collector's `zipkinreceiver` keys and defaults (an
//! HTTP server block, default endpoint `localhost:9411`, and `parse_string_tags`).

use llamacol_api::config::{ComponentConfig, Issue, Listen};
use llamacol_api::serde_yaml::Value;
use serde::{Deserialize, Deserializer};

use crate::server::config::{split_block, HttpServerConfig, Transport, ZipkinPort};

#[derive(Debug, Clone, Default)]
pub struct ZipkinConfig {
    /// `endpoint`, `max_request_body_size`, `tls`, `auth`, `cors`, `transport`,
    /// `include_metadata`, as in the Collector's `confighttp` (beside the key below).
    pub server: HttpServerConfig<ZipkinPort>,
    /// Tag values that look like integers, decimals or booleans become attributes of
    /// that type (Zipkin tags are strings). Default false: every tag a string.
    pub parse_string_tags: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Own {
    parse_string_tags: bool,
}

impl<'de> Deserialize<'de> for ZipkinConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (server, own) =
            split_block::<D, HttpServerConfig<ZipkinPort>>(d, &["parse_string_tags"])?;
        let own = Own::deserialize(Value::Mapping(own)).map_err(serde::de::Error::custom)?;
        Ok(ZipkinConfig {
            server,
            parse_string_tags: own.parse_string_tags,
        })
    }
}

impl ComponentConfig for ZipkinConfig {
    fn validate(&self) -> Vec<Issue> {
        self.server
            .issues("")
            .into_iter()
            .map(|mut i| {
                i.path = i.path.trim_start_matches('.').to_string();
                i
            })
            .collect()
    }

    fn authenticators(&self) -> Vec<Listen> {
        self.server
            .auth
            .iter()
            .map(|a| Listen {
                path: "auth.authenticator".into(),
                address: a.authenticator.clone(),
            })
            .collect()
    }

    fn listens(&self) -> Vec<Listen> {
        if self.server.transport != Transport::Tcp {
            return Vec::new();
        }
        vec![Listen {
            path: "endpoint".into(),
            address: self.server.endpoint.clone(),
        }]
    }
}
