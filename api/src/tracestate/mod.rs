//! W3C `tracestate` and its OpenTelemetry `ot` entry (`rv`, `th`, other sub-keys), read
//! and written as the Collector's `pkg/sampling` reads and writes them: the same
//! validation (a malformed value is an error, never a panic), the same partial result
//! next to an error, and the same output order (`ot` first, then `rv`, `th`, the other
//! `ot` sub-keys, then the other vendors' entries as they came). Head and tail sampling
//! both read it; [`threshold`] is the OTEP 235 arithmetic behind `rv` and `th`.

pub mod threshold;

use threshold::{Randomness, Threshold, TraceStateError};

const MAX_PAIRS: usize = 32;
const MAX_W3C_LENGTH: usize = 1024;
const MAX_KEY_LENGTH: usize = 256;
const MAX_TENANT_LENGTH: usize = 241;
const MAX_SYSTEM_LENGTH: usize = 14;
const MAX_OTEL_LENGTH: usize = 256;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct W3cTraceState {
    pub ot: OtelTraceState,
    /// Other vendors' entries, in order.
    pub others: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtelTraceState {
    rnd: Randomness,
    rvalue: String,
    threshold: Threshold,
    tvalue: String,
    extras: Vec<(String, String)>,
}

impl W3cTraceState {
    /// Parses `input`; on an error the state read so far comes with it.
    pub fn parse(input: &str) -> (W3cTraceState, Option<TraceStateError>) {
        let mut state = W3cTraceState::default();
        if input.is_empty() {
            return (state, None);
        }
        if input.len() > MAX_W3C_LENGTH {
            return (state, Some(TraceStateError::Size));
        }
        if !valid_w3c(input) {
            return (state, Some(TraceStateError::Syntax));
        }
        let mut error = None;
        let mut items = 0;
        for member in input.split(',') {
            items += 1;
            // The Collector refuses from the 32nd member on (its counter is checked
            // before the member is read).
            if items >= MAX_PAIRS {
                return (state, Some(TraceStateError::Size));
            }
            let member = member.trim_matches([' ', '\t']);
            let Some((key, value)) = member.split_once('=') else {
                continue;
            };
            if key.len() > MAX_KEY_LENGTH {
                error.get_or_insert(TraceStateError::Size);
                continue;
            }
            if let Some((tenant, system)) = key.split_once('@') {
                if tenant.len() > MAX_TENANT_LENGTH || system.len() > MAX_SYSTEM_LENGTH {
                    error.get_or_insert(TraceStateError::Size);
                    continue;
                }
            }
            if key == "ot" {
                let (ot, e) = OtelTraceState::parse(value);
                state.ot = ot;
                if let Some(e) = e {
                    error.get_or_insert(e);
                }
            } else {
                state.others.push((key.to_string(), value.to_string()));
            }
        }
        (state, error)
    }

    pub fn serialize(&self) -> String {
        let mut parts = Vec::with_capacity(self.others.len() + 1);
        if self.ot.has_any_value() {
            parts.push(format!("ot={}", self.ot.serialize()));
        }
        parts.extend(self.others.iter().map(|(k, v)| format!("{k}={v}")));
        parts.join(",")
    }
}

impl OtelTraceState {
    pub fn parse(input: &str) -> (OtelTraceState, Option<TraceStateError>) {
        let mut ot = OtelTraceState::default();
        if input.len() > MAX_OTEL_LENGTH {
            return (ot, Some(TraceStateError::Size));
        }
        if !valid_otel(input) {
            return (ot, Some(TraceStateError::Syntax));
        }
        let mut error = None;
        for member in input.split(';') {
            let Some((key, value)) = member.split_once(':') else {
                continue;
            };
            match key {
                "rv" => match Randomness::parse(value) {
                    Ok(r) => {
                        ot.rnd = r;
                        ot.rvalue = value.to_string();
                    }
                    Err(e) => {
                        ot.rnd = Randomness(0);
                        ot.rvalue.clear();
                        error.get_or_insert(e);
                    }
                },
                "th" => match Threshold::parse(value) {
                    Ok(t) => {
                        ot.threshold = t;
                        ot.tvalue = value.to_string();
                    }
                    Err(e) => {
                        ot.threshold = Threshold::ALWAYS;
                        ot.tvalue.clear();
                        error.get_or_insert(e);
                    }
                },
                _ => ot.extras.push((key.to_string(), value.to_string())),
            }
        }
        (ot, error)
    }

    pub fn randomness(&self) -> Option<Randomness> {
        (!self.rvalue.is_empty()).then_some(self.rnd)
    }

    pub fn threshold(&self) -> Option<Threshold> {
        (!self.tvalue.is_empty()).then_some(self.threshold)
    }

    pub fn set_randomness(&mut self, r: Randomness) {
        self.rnd = r;
        self.rvalue = r.rvalue();
    }

    pub fn clear_threshold(&mut self) {
        self.tvalue.clear();
        self.threshold = Threshold::ALWAYS;
    }

    /// Records the threshold an item was kept at; one that would raise an existing
    /// threshold's probability is refused.
    pub fn update_threshold(&mut self, sampled: Threshold) -> Result<(), TraceStateError> {
        if !self.tvalue.is_empty() && self.threshold > sampled {
            return Err(TraceStateError::InconsistentSampling);
        }
        self.threshold = sampled;
        self.tvalue = sampled.tvalue();
        Ok(())
    }

    fn has_any_value(&self) -> bool {
        !self.rvalue.is_empty() || !self.tvalue.is_empty() || !self.extras.is_empty()
    }

    fn serialize(&self) -> String {
        let mut parts = Vec::with_capacity(self.extras.len() + 2);
        if !self.rvalue.is_empty() {
            parts.push(format!("rv:{}", self.rvalue));
        }
        if !self.tvalue.is_empty() {
            parts.push(format!("th:{}", self.tvalue));
        }
        parts.extend(self.extras.iter().map(|(k, v)| format!("{k}:{v}")));
        parts.join(";")
    }
}

fn lc_alpha(c: u8) -> bool {
    c.is_ascii_lowercase()
}

fn lc_alnum(c: u8) -> bool {
    lc_alpha(c) || c.is_ascii_digit()
}

fn key_char(c: u8) -> bool {
    lc_alnum(c) || matches!(c, b'_' | b'-' | b'*' | b'/')
}

fn valid_w3c(input: &str) -> bool {
    input.split(',').all(|member| {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            return true;
        }
        match member.find('=') {
            Some(eq) if eq >= 1 => {
                valid_w3c_key(&member[..eq]) && valid_w3c_value(&member[eq + 1..])
            }
            _ => false,
        }
    })
}

fn valid_w3c_key(key: &str) -> bool {
    let b = key.as_bytes();
    if let Some((tenant, system)) = key.split_once('@') {
        let (t, s) = (tenant.as_bytes(), system.as_bytes());
        return !t.is_empty()
            && !s.is_empty()
            && lc_alnum(t[0])
            && lc_alpha(s[0])
            && t[1..].iter().all(|&c| key_char(c))
            && s[1..].iter().all(|&c| key_char(c));
    }
    !b.is_empty() && lc_alpha(b[0]) && b[1..].iter().all(|&c| key_char(c))
}

fn non_blank_value_char(c: u8) -> bool {
    matches!(c, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e)
}

fn valid_w3c_value(value: &str) -> bool {
    let b = value.as_bytes();
    match b.split_last() {
        Some((last, rest)) if b.len() <= 256 => {
            non_blank_value_char(*last)
                && rest.iter().all(|&c| c == 0x20 || non_blank_value_char(c))
        }
        _ => false,
    }
}

fn valid_otel(input: &str) -> bool {
    if input.is_empty() || input.ends_with(';') {
        return false;
    }
    input.split(';').all(|member| match member.find(':') {
        Some(colon) if colon >= 1 => {
            let (key, value) = (&member.as_bytes()[..colon], &member.as_bytes()[colon + 1..]);
            lc_alpha(key[0])
                && key[1..].iter().all(|&c| lc_alnum(c))
                && value
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        }
        _ => false,
    })
}

/// The value of `key` in a W3C tracestate (`ot` included, as written); `None` when the
/// tracestate is invalid (the Collector's `tail_sampling` and OTTL see no members then).
pub fn member<'a>(state: &'a str, key: &str) -> Option<&'a str> {
    if W3cTraceState::parse(state).1.is_some() {
        return None;
    }
    members(state).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The tracestate with `key` set to `value`, moved to the front as W3C asks of an updated
/// member (Go's `TraceState.Insert`, what OTTL's `set(trace_state["k"], ...)` uses).
pub fn with_member(state: &str, key: &str, value: &str) -> String {
    std::iter::once(format!("{key}={value}"))
        .chain(
            members(state)
                .filter(|(k, _)| *k != key)
                .map(|(k, v)| format!("{k}={v}")),
        )
        .collect::<Vec<_>>()
        .join(",")
}

fn members(state: &str) -> impl Iterator<Item = (&str, &str)> {
    state
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter_map(|m| m.split_once('='))
}
