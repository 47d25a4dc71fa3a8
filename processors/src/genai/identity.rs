//! User and session identifiers (`identities`): kept, replaced by a keyed hash (the
//! default: the same user still groups together, but the id cannot be read back without
//! the salt), or dropped. The schemes' own keys are mapped to `user.id` and
//! `gen_ai.conversation.id` first (mapping.rs); an empty identifier is always removed.

use llamacol_api::otlp::common::v1::any_value::Value;
use llamacol_api::wire::attrs::Attrs;
use ring::hmac;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Identities {
    Keep,
    /// HMAC-SHA256 with `identity_salt`, first 16 bytes in hex.
    #[default]
    Hash,
    Drop,
}

/// Identifier keys, after mapping.
pub const IDENTITY_KEYS: [&str; 9] = [
    "user.id",
    "user.email",
    "user.name",
    "user.full_name",
    "enduser.id",
    "enduser.pseudo.id",
    "gen_ai.conversation.id",
    "gen_ai.memory.user_id",
    "gen_ai.memory.session_id",
];

/// Traceloop's association properties are the application's own labels; these are the
/// names its documentation gives user and session ids.
pub const ASSOCIATION_PREFIX: &str = "traceloop.association.properties.";
const ASSOCIATION_IDENTITIES: [&str; 4] = ["user_id", "session_id", "chat_id", "conversation_id"];

pub fn is_identity(key: &str) -> bool {
    IDENTITY_KEYS.contains(&key)
        || key
            .strip_prefix(ASSOCIATION_PREFIX)
            .is_some_and(|name| ASSOCIATION_IDENTITIES.contains(&name))
}

/// What is done to identifiers, with the hash key.
pub struct IdentityPolicy {
    mode: Identities,
    key: hmac::Key,
}

impl IdentityPolicy {
    /// `salt`: the configured one; none gives a random one for this process (hashes then
    /// differ between restarts and between collectors).
    pub fn new(mode: Identities, salt: Option<&str>) -> IdentityPolicy {
        let key = match salt {
            Some(salt) => hmac::Key::new(hmac::HMAC_SHA256, salt.as_bytes()),
            None => hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
                .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &process_entropy())),
        };
        IdentityPolicy { mode, key }
    }

    /// Hashes, keeps or drops the identifiers of `attrs` (the caller classified the keys
    /// already and calls this only when some are identifiers).
    pub fn apply(&self, attrs: &mut impl Attrs) {
        let identity = |key: &str| super::keys::class(key) & super::keys::IDENTITY != 0;
        // Which identifiers go: indexes (identifiers are few).
        let mut gone: Vec<usize> = Vec::new();
        for i in 0..attrs.len() {
            if !identity(attrs.key(i)) {
                continue;
            }
            let text = match attrs.value(i).as_deref() {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                _ => String::new(),
            };
            match self.mode {
                _ if text.is_empty() => gone.push(i),
                Identities::Keep => {}
                Identities::Drop => gone.push(i),
                Identities::Hash => attrs.replace(i, None, Value::StringValue(self.hash(&text))),
            }
        }
        if !gone.is_empty() {
            attrs.remove_where(|i, _| gone.contains(&i));
        }
    }

    fn hash(&self, text: &str) -> String {
        let tag = hmac::sign(&self.key, text.as_bytes());
        llamacol_api::wire::hex(&tag.as_ref()[..16])
    }
}

/// A key when the system's random source fails (it does not on Linux): the clock and
/// the process id, different for every process all the same.
fn process_entropy() -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    [
        now.to_le_bytes().as_slice(),
        &std::process::id().to_le_bytes(),
    ]
    .concat()
}
