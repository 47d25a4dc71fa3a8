//! What a receiver knew about the request a batch came in, as the Collector's
//! `client.Info`: the peer's address (always, when the connection has one) and, with
//! `include_metadata: true`, its headers (gRPC metadata, keys lower-cased). It travels
//! with the batch to components that read it: `k8s_attributes` finds the sending pod by
//! the address, a `batch` processor with `metadata_keys` keeps batches of different
//! header values apart, and the `headers_setter` extension sends values on as headers
//! (`from_context`). A component that merges batches (`batch`, `tail_sampling`) keeps
//! only the headers it partitions by, never the address (as the Collector).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientMetadata {
    /// Header name (lower-case) -> its values, in arrival order.
    headers: BTreeMap<String, Vec<String>>,
    /// The peer's IP address.
    addr: Option<IpAddr>,
}

impl ClientMetadata {
    /// Only the peer address (a receiver that keeps no headers).
    pub fn from_addr(addr: IpAddr) -> ClientMetadata {
        ClientMetadata {
            headers: BTreeMap::new(),
            addr: Some(addr),
        }
    }

    /// The same, with the peer address set.
    pub fn with_addr(mut self, addr: Option<IpAddr>) -> ClientMetadata {
        self.addr = addr;
        self
    }

    /// The IP address of the connection the request came on (the Collector's
    /// `client.Info.Addr`); `None` on a unix socket or for data made inside llamacol.
    pub fn addr(&self) -> Option<IpAddr> {
        self.addr
    }

    /// From (name, value) pairs; names are case-insensitive, so kept lower-case.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ClientMetadata {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in pairs {
            map.entry(name.to_ascii_lowercase())
                .or_default()
                .push(value.to_string());
        }
        ClientMetadata {
            headers: map,
            addr: None,
        }
    }

    /// The values of `key` (any case); empty when absent.
    pub fn get(&self, key: &str) -> &[String] {
        self.headers
            .get(&key.to_ascii_lowercase())
            .map_or(&[][..], Vec::as_slice)
    }

    /// Only `keys` (what a `batch` processor's `metadata_keys` keeps), absent ones absent.
    pub fn only(&self, keys: &[String]) -> ClientMetadata {
        ClientMetadata {
            headers: keys
                .iter()
                .filter_map(|k| {
                    let k = k.to_ascii_lowercase();
                    self.headers.get(&k).map(|v| (k, v.clone()))
                })
                .collect(),
            addr: None,
        }
    }

    /// No headers (an address alone does not count).
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

/// A batch's metadata: shared, and absent for batches no receiver annotated.
pub type Metadata = Option<Arc<ClientMetadata>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_only_keeps_the_asked_ones() {
        let m = ClientMetadata::from_pairs([
            ("X-Scope-OrgID", "tenant-a"),
            ("Authorization", "Bearer x"),
            ("x-scope-orgid", "tenant-b"),
        ]);
        assert_eq!(m.get("x-scope-orgid"), ["tenant-a", "tenant-b"]);
        assert_eq!(m.get("X-SCOPE-ORGID").len(), 2);
        assert!(m.get("missing").is_empty());
        let kept = m.only(&["X-Scope-OrgID".to_string(), "absent".to_string()]);
        assert_eq!(kept.get("x-scope-orgid").len(), 2);
        assert!(kept.get("authorization").is_empty());
    }
}
