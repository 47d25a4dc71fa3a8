//! `llamacpp_parser` (llamacol's operator): llama.cpp `llama-server`'s own log lines as
//! structured records. Each line is `<elapsed> <level> <module> <function>: <message>`
//! (llama.cpp's `common/log.cpp` layout: minutes.seconds.milliseconds.microseconds since
//! start, level `D`/`I`/`W`/`E`); slot messages carry `id <slot> | task <task> |`. The
//! patterns follow the real server's output (captured in
//! `testdata/llamacpp/server-log-*.txt`); lines without the elapsed/level prefix (older
//! builds, `--log-disable-prefix`) are read too.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::entry::Entry;
use super::field::Field;

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?P<min>\d+)\.(?P<sec>\d{2})\.(?P<ms>\d{3})\.(?P<us>\d{3}) (?P<level>[DIWE]) )?(?:(?P<module>[a-z]{2,5})\s+)?(?:(?P<func>[A-Za-z_][\w()]*):\s?)?(?P<msg>.*)$")
        .expect("a valid pattern")
});
static SLOT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^id\s+(?P<slot>\d+) \| task (?P<task>-?\d+) \| (?P<rest>.*)$")
        .expect("a valid pattern")
});
static TIMING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?P<phase>prompt eval|eval|total) time =\s+(?P<ms>[\d.]+) ms /\s+(?P<tokens>\d+) tokens(?: \(\s*(?P<per_token>[\d.]+) ms per token,\s+(?P<tps>[\d.]+) tokens per second\))?")
        .expect("a valid pattern")
});
static PROGRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^prompt processing, n_tokens =\s*(?P<n>\d+), progress = (?P<p>[\d.]+), t =\s*(?P<s>[\d.]+) s / (?P<tps>[\d.]+) tokens per second")
        .expect("a valid pattern")
});
static RELEASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"stop processing: n_tokens = (?P<n>\d+), truncated = (?P<t>\d+)")
        .expect("a valid pattern")
});
static NEW_PROMPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"new prompt, n_ctx_slot = (?P<ctx>\d+), n_keep = (?P<keep>\d+), task\.n_tokens = (?P<n>\d+)").expect("a valid pattern")
});

pub struct LlamaCppParser {
    pub from: Field,
}

impl LlamaCppParser {
    pub fn apply(&self, entry: &mut Entry) -> Result<(), String> {
        let text = self
            .from
            .get(entry)
            .and_then(Value::as_str)
            .ok_or("the field to parse is not a string")?
            .to_string();
        let line = LINE.captures(&text).filter(|l| {
            l.name("level").is_some() || (l.name("module").is_some() && l.name("func").is_some())
        });
        let Some(line) = line else {
            // Older builds print the timings as continuation lines without a prefix.
            let timing = TIMING
                .captures(&text)
                .ok_or("not a llama-server log line")?;
            set_timing(entry, &timing);
            entry.body = Value::String(text.trim().to_string());
            return Ok(());
        };
        let mut set = |k: &str, v: Value| {
            entry.attributes.insert(format!("llamacpp.{k}"), v);
        };
        let num = |s: &str| {
            s.parse::<f64>()
                .ok()
                .map(Value::from)
                .unwrap_or(Value::Null)
        };
        let int = |s: &str| {
            s.parse::<i64>()
                .ok()
                .map(Value::from)
                .unwrap_or(Value::Null)
        };
        if let Some(m) = line.name("module") {
            set("log.module", Value::from(m.as_str()));
        }
        if let Some(f) = line.name("func") {
            set(
                "log.function",
                Value::from(f.as_str().trim_end_matches("()")),
            );
        }
        if let (Some(m), Some(s), Some(ms), Some(us)) = (
            line.name("min"),
            line.name("sec"),
            line.name("ms"),
            line.name("us"),
        ) {
            let micros = int(m.as_str()).as_i64().unwrap_or(0) * 60_000_000
                + int(s.as_str()).as_i64().unwrap_or(0) * 1_000_000
                + int(ms.as_str()).as_i64().unwrap_or(0) * 1_000
                + int(us.as_str()).as_i64().unwrap_or(0);
            set("log.elapsed_us", Value::from(micros));
        }
        let mut message = line["msg"].to_string();
        if let Some(slot) = SLOT.captures(&message.clone()) {
            set("slot.id", int(&slot["slot"]));
            let task = int(&slot["task"]);
            if task.as_i64().is_some_and(|t| t >= 0) {
                set("task.id", task);
            }
            message = slot["rest"].to_string();
        }
        if let Some(t) = TIMING.captures(&message) {
            set_timing(entry, &t);
        } else if let Some(p) = PROGRESS.captures(&message) {
            set("prompt.tokens_processed", int(&p["n"]));
            set("prompt.progress", num(&p["p"]));
            set("prompt.tokens_per_second", num(&p["tps"]));
        } else if let Some(r) = RELEASE.captures(&message) {
            set("slot.n_tokens", int(&r["n"]));
            set("slot.truncated", Value::from(&r["t"] != "0"));
        } else if let Some(p) = NEW_PROMPT.captures(&message) {
            set("slot.n_ctx", int(&p["ctx"]));
            set("prompt.n_keep", int(&p["keep"]));
            set("prompt.tokens", int(&p["n"]));
        }
        if let Some(level) = line.name("level") {
            let (n, text) = match level.as_str() {
                "D" => (5, "DEBUG"),
                "W" => (13, "WARN"),
                "E" => (17, "ERROR"),
                _ => (9, "INFO"),
            };
            entry.severity = n;
            entry.severity_text = text.to_string();
        }
        entry.body = Value::String(message);
        Ok(())
    }
}

/// `llamacpp.timing.*` from a `prompt eval` / `eval` / `total time` line.
fn set_timing(entry: &mut Entry, t: &regex::Captures) {
    let num = |s: &str| {
        s.parse::<f64>()
            .ok()
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let int = |s: &str| {
        s.parse::<i64>()
            .ok()
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let mut set = |k: &str, v: Value| {
        entry.attributes.insert(format!("llamacpp.timing.{k}"), v);
    };
    set("phase", Value::from(t["phase"].replace(' ', "_")));
    set("duration_ms", num(&t["ms"]));
    set("tokens", int(&t["tokens"]));
    if let (Some(p), Some(tps)) = (t.name("per_token"), t.name("tps")) {
        set("ms_per_token", num(p.as_str()));
        set("tokens_per_second", num(tps.as_str()));
    }
}
