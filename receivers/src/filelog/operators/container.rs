//! `container`: Docker (`{"log":...,"stream":...,"time":...}`), CRI-O and containerd
//! (`<time> <stream> <P|F> <log>`) log lines, as the Collector's stanza `container`
//! parser reads them (its patterns, v0.160.0): the log as body, `log.iostream`, `logtag`,
//! the time as timestamp; CRI partial lines (`P`) joined with the line that finishes
//! them (`F`), per file; and, from a `/var/log/pods/<namespace>_<pod>_<uid>/<container>/
//! <restart>.log` path (`include_file_path: true`), the pod's `k8s.*` resource
//! attributes.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use regex::Regex;
use serde_json::Value;

use super::entry::Entry;
use super::field::Field;

static CRIO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<time>[^ Z]+) (?P<stream>stdout|stderr) (?P<logtag>[^ ]*) ?(?P<log>.*)$")
        .expect("a valid pattern")
});
static CONTAINERD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<time>[^ ^Z]+Z) (?P<stream>stdout|stderr) (?P<logtag>[^ ]*) ?(?P<log>.*)$")
        .expect("a valid pattern")
});
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^.*(/|\\)(?P<namespace>[^_]+)_(?P<pod_name>[^_]+)_(?P<uid>[a-f0-9\-]+)(/|\\)(?P<container_name>[^._]+)(/|\\)(?P<restart_count>\d+)\.log(\.\d{8}-\d{6})?$")
        .expect("a valid pattern")
});

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Docker,
    Crio,
    Containerd,
}

pub struct ContainerParser {
    pub format: Option<Format>,
    pub from: Field,
    pub metadata_from_path: bool,
    /// Joined partial lines are cut here (0: no bound).
    pub max_log_size: usize,
    /// Partial CRI lines waiting for their end, by file path.
    pending: Mutex<HashMap<String, String>>,
}

impl ContainerParser {
    pub fn new(
        format: Option<Format>,
        from: Field,
        metadata_from_path: bool,
        max_log_size: usize,
    ) -> ContainerParser {
        ContainerParser {
            format,
            from,
            metadata_from_path,
            max_log_size,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Parses `entry`; `Ok(false)` when it is a partial line held until its end.
    pub fn apply(&self, entry: &mut Entry) -> Result<bool, String> {
        let text = self
            .from
            .get(entry)
            .and_then(Value::as_str)
            .ok_or("the field to parse is not a string")?
            .to_string();
        let format = match self.format {
            Some(f) => f,
            None if text.starts_with('{') => Format::Docker,
            None if CONTAINERD.is_match(&text) => Format::Containerd,
            None if CRIO.is_match(&text) => Format::Crio,
            None => return Err("not a docker, cri-o or containerd log line".into()),
        };
        let path = entry
            .attributes
            .get("log.file.path")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (time, stream, log) = match format {
            Format::Docker => {
                let v: Value =
                    serde_json::from_str(&text).map_err(|e| format!("not docker JSON: {e}"))?;
                let log = v
                    .get("log")
                    .and_then(Value::as_str)
                    .ok_or("docker line without `log`")?;
                let log = log.strip_suffix('\n').unwrap_or(log).to_string();
                let stream = v
                    .get("stream")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let time = v
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (time, stream, log)
            }
            Format::Crio | Format::Containerd => {
                let re = if format == Format::Crio {
                    &*CRIO
                } else {
                    &*CONTAINERD
                };
                let c = re.captures(&text).ok_or("not a CRI log line")?;
                let tag = c["logtag"].to_string();
                let key = path.clone().unwrap_or_default();
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                if tag.starts_with('P')
                    && (self.max_log_size == 0
                        || pending.get(&key).map_or(0, String::len) + c["log"].len()
                            < self.max_log_size)
                {
                    pending.entry(key).or_default().push_str(&c["log"]);
                    return Ok(false);
                }
                let log = match pending.remove(&key) {
                    Some(mut head) => {
                        head.push_str(&c["log"]);
                        head
                    }
                    None => c["log"].to_string(),
                };
                entry.attributes.insert("logtag".into(), Value::from(tag));
                (c["time"].to_string(), c["stream"].to_string(), log)
            }
        };
        if !time.is_empty() {
            let t = chrono::DateTime::parse_from_rfc3339(&time)
                .map_err(|e| format!("time `{time}`: {e}"))?;
            entry.timestamp = t.timestamp_nanos_opt().and_then(|n| u64::try_from(n).ok());
        }
        if !stream.is_empty() {
            entry
                .attributes
                .insert("log.iostream".into(), Value::from(stream));
        }
        entry.body = Value::String(log);
        if self.metadata_from_path {
            let path = path.ok_or("no `log.file.path` to read k8s metadata from: set `include_file_path: true` (or `add_metadata_from_filepath: false`)")?;
            let c = PATH.captures(&path).ok_or_else(|| format!("`{path}` is not a /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log path"))?;
            for (group, key) in [
                ("namespace", "k8s.namespace.name"),
                ("pod_name", "k8s.pod.name"),
                ("uid", "k8s.pod.uid"),
                ("container_name", "k8s.container.name"),
                ("restart_count", "k8s.container.restart_count"),
            ] {
                entry.resource.insert(key.into(), Value::from(&c[group]));
            }
        }
        Ok(true)
    }
}
