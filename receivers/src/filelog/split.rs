//! Cutting a file's bytes into entries, as the Collector's stanza `split` and `trim`
//! functions do: by line end, or by a multiline start or end pattern (searched with
//! the same unanchored semantics: `^` matches only where the search begins), then cut
//! to `max_log_size`, then trimmed of spaces.

use regex::bytes::Regex;

use super::config::{FilelogConfig, MaxLogSizeBehavior};
use super::decode::Decoder;

#[derive(Debug, Clone)]
enum Mode {
    Lines,
    Start(Regex),
    End(Regex),
}

#[derive(Debug, Clone)]
pub struct Splitter {
    mode: Mode,
    omit_pattern: bool,
    newline: &'static [u8],
    carriage_return: &'static [u8],
    max: usize,
    truncate: bool,
    trim_leading: bool,
    trim_trailing: bool,
}

/// The next entry: its bytes are `data[start..end]`; the reader moves `advance` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub advance: usize,
    /// The entry was cut at `max_log_size` with `truncate`: what follows up to the next
    /// entry boundary is dropped.
    pub truncated: bool,
}

impl Splitter {
    pub fn new(config: &FilelogConfig, decoder: Decoder) -> Splitter {
        // Multi-line mode, as the Collector compiles them: `^` and `$` match at line
        // starts and ends.
        let pattern = |p: &Option<String>| {
            p.as_deref()
                .and_then(|p| Regex::new(&format!("(?m){p}")).ok())
        };
        let mode = match &config.multiline {
            Some(m) => match (pattern(&m.line_start_pattern), pattern(&m.line_end_pattern)) {
                (Some(re), _) => Mode::Start(re),
                (None, Some(re)) => Mode::End(re),
                (None, None) => Mode::Lines,
            },
            None => Mode::Lines,
        };
        Splitter {
            mode,
            omit_pattern: config.multiline.as_ref().is_some_and(|m| m.omit_pattern),
            newline: decoder.newline(),
            carriage_return: decoder.carriage_return(),
            max: usize::try_from(config.max_log_size.0).unwrap_or(usize::MAX),
            truncate: config.max_log_size_behavior == MaxLogSizeBehavior::Truncate,
            trim_leading: !config.preserve_leading_whitespaces,
            trim_trailing: !config.preserve_trailing_whitespaces,
        }
    }

    /// The next entry in `data`, or `None` when more bytes are needed. `at_eof`: `data`
    /// reaches the file's current end; with `flush` too (the file has not grown for
    /// `force_flush_period`, or will not be read again) what is left is an entry.
    pub fn next(&self, data: &[u8], at_eof: bool, flush: bool) -> Option<Token> {
        if data.is_empty() {
            return None;
        }
        let found = match &self.mode {
            Mode::Lines => self.line(data, flush),
            Mode::Start(re) => self.starting(re, data, flush),
            Mode::End(re) => self.ending(re, data, at_eof, flush),
        };
        let token = match found {
            Some(t) if t.end - t.start > self.max => Token {
                start: t.start,
                end: t.start + self.max,
                advance: if self.truncate {
                    t.advance
                } else {
                    t.start + self.max
                },
                truncated: false,
            },
            Some(t) => t,
            // No boundary within `max_log_size` bytes: an entry of that size.
            None if data.len() >= self.max => Token {
                start: 0,
                end: self.max,
                advance: self.max,
                truncated: self.truncate,
            },
            None => return None,
        };
        Some(self.trim(data, token))
    }

    fn line(&self, data: &[u8], flush: bool) -> Option<Token> {
        let nl = self.newline;
        match find(data, nl, nl.len()) {
            Some(at) => {
                let mut end = at;
                let cr = self.carriage_return;
                if end >= cr.len() && &data[end - cr.len()..end] == cr {
                    end -= cr.len();
                }
                Some(Token {
                    start: 0,
                    end,
                    advance: at + nl.len(),
                    truncated: false,
                })
            }
            None if flush => Some(Token {
                start: 0,
                end: data.len(),
                advance: data.len(),
                truncated: false,
            }),
            None => None,
        }
    }

    fn starting(&self, re: &Regex, data: &[u8], flush: bool) -> Option<Token> {
        let mut matches = re.find_iter(data).take(3);
        let Some(first) = matches.next() else {
            return flush.then_some(Token {
                start: 0,
                end: data.len(),
                advance: data.len(),
                truncated: false,
            });
        };
        if first.start() != 0 {
            // What precedes the first start is an entry of its own, so nothing is lost.
            return Some(Token {
                start: 0,
                end: first.start(),
                advance: first.start(),
                truncated: false,
            });
        }
        if first.end() == data.len() {
            return None;
        }
        let body_start = if self.omit_pattern {
            first.end()
        } else {
            first.start()
        };
        match matches.find(|m| m.start() > first.end()) {
            Some(second) => Some(Token {
                start: body_start,
                end: second.start(),
                advance: second.start(),
                truncated: false,
            }),
            // The last entry ends where the file ends, once nothing more is coming.
            None => flush.then_some(Token {
                start: body_start,
                end: data.len(),
                advance: data.len(),
                truncated: false,
            }),
        }
    }

    fn ending(&self, re: &Regex, data: &[u8], at_eof: bool, flush: bool) -> Option<Token> {
        let Some(m) = re.find(data) else {
            return flush.then_some(Token {
                start: 0,
                end: data.len(),
                advance: data.len(),
                truncated: false,
            });
        };
        // A match reaching the end of what was read may continue: read more first.
        if m.end() + 1 == data.len() && !at_eof {
            return None;
        }
        let end = if self.omit_pattern {
            m.start()
        } else {
            m.end()
        };
        Some(Token {
            start: 0,
            end,
            advance: m.end(),
            truncated: false,
        })
    }

    fn trim(&self, data: &[u8], mut t: Token) -> Token {
        let space = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        if self.trim_trailing {
            while t.end > t.start && space(data[t.end - 1]) {
                t.end -= 1;
            }
        }
        if self.trim_leading {
            while t.start < t.end && space(data[t.start]) {
                t.start += 1;
            }
        }
        t
    }

    /// Where an entry cut by `truncate` really ends: past the next boundary in `data`, or
    /// `None` while none has been read yet (the bytes so far are dropped).
    pub fn skip_rest(&self, data: &[u8]) -> Option<usize> {
        match &self.mode {
            Mode::Lines => {
                find(data, self.newline, self.newline.len()).map(|at| at + self.newline.len())
            }
            Mode::Start(re) => re.find(data).map(|m| m.start()),
            Mode::End(re) => re.find(data).map(|m| m.end()),
        }
    }
}

/// The first `needle` in `hay` at a multiple of `step` (a UTF-16 newline starts on an
/// even byte).
fn find(hay: &[u8], needle: &[u8], step: usize) -> Option<usize> {
    if needle.len() == 1 {
        return memchr(needle[0], hay);
    }
    (0..hay.len().saturating_sub(needle.len() - 1))
        .step_by(step)
        .find(|&i| &hay[i..i + needle.len()] == needle)
}

fn memchr(byte: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == byte)
}
