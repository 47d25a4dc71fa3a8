//! Hash converters: `SHA1`, `SHA256`, `SHA512`, `MD5`, `Murmur3Hash`, `Murmur3Hash128`,
//! `XXH3`, `XXH128` (lowercase hex, byte orders as the Collector's) and `FNV` (an int);
//! the cryptographic ones are also the `function` argument of the `replace_*` editors.

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
    Spec {
        name: "Murmur3Hash",
        params: &["target"],
        build: |a| hashing(a, |b| crate::wire::hex(&murmur3_32(b).to_le_bytes())),
    },
    Spec {
        name: "Murmur3Hash128",
        params: &["target"],
        build: |a| hashing(a, murmur3_128_hex),
    },
    Spec {
        name: "XXH3",
        params: &["target"],
        build: |a| {
            hashing(a, |b| {
                crate::wire::hex(&twox_hash::XxHash3_64::oneshot(b).to_be_bytes())
            })
        },
    },
    Spec {
        name: "XXH128",
        params: &["target"],
        build: |a| {
            hashing(a, |b| {
                crate::wire::hex(&twox_hash::XxHash3_128::oneshot(b).to_be_bytes())
            })
        },
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

/// MurmurHash3 x86_32, seed 0 (Austin Appleby's public-domain algorithm).
fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h: u32 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k: u32 = 0;
        for (i, b) in tail.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// MurmurHash3 x64_128, seed 0: both halves little-endian, h1 first (the Collector's).
fn murmur3_128_hex(data: &[u8]) -> String {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let (mut h1, mut h2) = (0u64, 0u64);
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        let mut k1 = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
        let mut k2 = u64::from_le_bytes(c[8..].try_into().unwrap_or_default());
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = chunks.remainder();
    let (mut k1, mut k2) = (0u64, 0u64);
    for (i, b) in tail.iter().enumerate() {
        if i < 8 {
            k1 |= u64::from(*b) << (8 * i);
        } else {
            k2 |= u64::from(*b) << (8 * (i - 8));
        }
    }
    if tail.len() > 8 {
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    }
    if !tail.is_empty() {
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    let mut out = h1.to_le_bytes().to_vec();
    out.extend_from_slice(&h2.to_le_bytes());
    crate::wire::hex(&out)
}
