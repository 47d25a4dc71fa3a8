//! Hash converters: `SHA1`, `SHA256`, `SHA512`, `MD5`, `FNV` (lowercase hex, as the
//! Collector's), also usable as the `function` argument of the `replace_*` editors.

use ring::digest;

use super::types::{arg, string};
use super::{converter, Args, Func, Spec};
use crate::ottl::value::Value;

pub const SPECS: &[Spec] = &[
    Spec {
        name: "SHA1",
        params: &["value"],
        build: |a| hashing(a, sha1),
    },
    Spec {
        name: "SHA256",
        params: &["value"],
        build: |a| hashing(a, sha256),
    },
    Spec {
        name: "SHA512",
        params: &["value"],
        build: |a| hashing(a, sha512),
    },
    Spec {
        name: "MD5",
        params: &["value"],
        build: |a| hashing(a, md5),
    },
    Spec {
        name: "FNV",
        params: &["value"],
        build: fnv,
    },
];

fn hashing(args: Args, f: fn(&[u8]) -> String) -> Result<Func, String> {
    Ok(converter(args.rest(), move |v| {
        Ok(Value::Str(f(string(arg(v, 0))?.as_bytes())))
    }))
}

fn sha1(b: &[u8]) -> String {
    crate::wire::hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, b).as_ref())
}

fn sha256(b: &[u8]) -> String {
    crate::wire::hex(digest::digest(&digest::SHA256, b).as_ref())
}

fn sha512(b: &[u8]) -> String {
    crate::wire::hex(digest::digest(&digest::SHA512, b).as_ref())
}

fn md5(b: &[u8]) -> String {
    use md5::Digest;
    crate::wire::hex(&md5::Md5::digest(b))
}

/// `FNV(value)`: FNV-1a 64-bit as an int.
fn fnv(args: Args) -> Result<Func, String> {
    Ok(converter(args.rest(), |v| {
        let text = string(arg(v, 0))?;
        let mut h: u64 = 0xcbf29ce484222325;
        for b in text.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        Ok(Value::Int(h as i64))
    }))
}

/// A hash by its converter name, for `replace_pattern(..., SHA256)`.
pub fn by_name(name: &str) -> Option<fn(&[u8]) -> String> {
    Some(match name {
        "SHA1" => sha1,
        "SHA256" => sha256,
        "SHA512" => sha512,
        "MD5" => md5,
        _ => return None,
    })
}
