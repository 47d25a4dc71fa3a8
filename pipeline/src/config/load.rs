//! Reading, merging and validating configuration files.

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::diagnostic::{join, suggestion, ConfigErrors, Diagnostic, Severity};
use super::env;
use super::positions::Positions;
use super::service::{Config, ExporterConfig, PipelineConfig, TelemetryConfig, EXPORTER_KEYS};
use super::typed::Listen;
use crate::component::{ComponentId, Kind};
use crate::registry::Registry;
use crate::signal::Signal;

/// One configuration file's text and the name errors should call it by.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

const TOP_KEYS: [&str; 4] = ["receivers", "processors", "exporters", "service"];
const SERVICE_KEYS: [&str; 2] = ["pipelines", "telemetry"];
const PIPELINE_KEYS: [&str; 3] = ["receivers", "processors", "exporters"];

/// Reads `sources` (later files override earlier ones, maps merged key by key), expands
/// `${env:...}` and validates everything. Returns the config and its warnings, or every error.
pub fn load(
    sources: &[Source],
    registry: &Registry,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Vec<Diagnostic>), ConfigErrors> {
    let mut checker = Checker {
        registry,
        diagnostics: Vec::new(),
    };
    let mut merged = Value::Mapping(Mapping::new());
    for source in sources {
        match serde_yaml::from_str::<Value>(&source.text) {
            Ok(Value::Null) => {}
            Ok(value) => merge(&mut merged, value),
            Err(e) => checker.diagnostics.push(Diagnostic {
                file: Some(source.name.clone()),
                line_col: e.location().map(|l| (l.line(), l.column())),
                ..Diagnostic::error(
                    "",
                    format!("YAML syntax error: {}", strip_location(&e.to_string())),
                )
            }),
        }
    }
    let config = if checker.diagnostics.is_empty() {
        env::substitute(&mut merged, "", lookup_env, &mut checker.diagnostics);
        checker.config(&merged)
    } else {
        None
    };
    let diagnostics = locate(checker.diagnostics, sources);
    match config {
        Some(config) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => {
            Ok((config, diagnostics))
        }
        _ => Err(ConfigErrors(diagnostics)),
    }
}

fn strip_location(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// Gives each diagnostic the file and line:column of its path, preferring the most precise
/// match and, among equals, the later file (the one whose value won the merge).
fn locate(mut diagnostics: Vec<Diagnostic>, sources: &[Source]) -> Vec<Diagnostic> {
    let indexes: Vec<Positions> = sources.iter().map(|s| Positions::index(&s.text)).collect();
    for d in diagnostics.iter_mut().filter(|d| d.file.is_none()) {
        let best = indexes
            .iter()
            .enumerate()
            .filter_map(|(i, idx)| idx.find(&d.path).map(|(len, pos)| (len, i, pos)))
            .max_by_key(|(len, i, _)| (*len, *i));
        if let Some((_, i, pos)) = best {
            d.file = Some(sources[i].name.clone());
            d.line_col = Some(pos);
        } else if let Some(last) = sources.last() {
            d.file = Some(last.name.clone());
        }
    }
    diagnostics
}

struct Checker<'a> {
    registry: &'a Registry,
    diagnostics: Vec<Diagnostic>,
}

struct Defined {
    kind: Kind,
    signals: Option<&'static [Signal]>,
    listens: Vec<Listen>,
}

impl Checker<'_> {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(path, message));
    }

    fn config(&mut self, root: &Value) -> Option<Config> {
        let top = self.mapping(root, "")?;
        for key in top.keys() {
            let key = key.as_str().unwrap_or_default();
            if !TOP_KEYS.contains(&key) {
                let hint = suggestion(key, TOP_KEYS);
                self.error(
                    key,
                    format!(
                        "unknown top-level key `{key}`{hint}; valid keys: {}",
                        TOP_KEYS.join(", ")
                    ),
                );
            }
        }
        let mut defined: HashMap<(Kind, String), Defined> = HashMap::new();
        let receivers = self.components(top.get("receivers"), Kind::Receiver, &mut defined);
        let processors = self.components(top.get("processors"), Kind::Processor, &mut defined);
        let exporter_blocks = self.components(top.get("exporters"), Kind::Exporter, &mut defined);
        let mut exporters = Vec::new();
        for (id, block) in exporter_blocks {
            exporters.push(self.exporter(id, block));
        }

        let empty = Value::Mapping(Mapping::new());
        let service = top.get("service").unwrap_or(&empty);
        let service_map = self
            .mapping(service, "service")
            .cloned()
            .unwrap_or_default();
        for key in service_map.keys() {
            let key = key.as_str().unwrap_or_default();
            if !SERVICE_KEYS.contains(&key) {
                let hint = suggestion(key, SERVICE_KEYS);
                self.error(
                    join("service", key),
                    format!("unknown key `{key}`{hint}; valid keys: pipelines, telemetry"),
                );
            }
        }
        let telemetry: TelemetryConfig = self
            .typed(service_map.get("telemetry"), "service.telemetry")
            .unwrap_or_default();
        let pipelines = self.pipelines(service_map.get("pipelines"), &defined);
        self.unused(&pipelines, &defined);
        self.ports(&pipelines, &defined, &telemetry);

        Some(Config {
            receivers,
            processors,
            exporters,
            pipelines,
            telemetry,
        })
    }

    fn mapping<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(m) => Some(m),
            _ => {
                let place = if path.is_empty() {
                    "the top level"
                } else {
                    path
                };
                self.error(
                    path,
                    format!(
                        "{place} must be a mapping (`key: value` lines), found {}",
                        kind_of(value)
                    ),
                );
                None
            }
        }
    }

    fn typed<T: DeserializeOwned + Default>(
        &mut self,
        value: Option<&Value>,
        path: &str,
    ) -> Option<T> {
        let value = match value {
            None | Some(Value::Null) => return Some(T::default()),
            Some(v) => v.clone(),
        };
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let inner = e.path().to_string();
                let issue = super::typed::describe_error(inner, &e.into_inner().to_string());
                self.error(join(path, &issue.path), issue.message);
                None
            }
        }
    }

    /// Checks one of `receivers:`, `processors:`, `exporters:`; returns the valid blocks.
    fn components(
        &mut self,
        section: Option<&Value>,
        kind: Kind,
        defined: &mut HashMap<(Kind, String), Defined>,
    ) -> Vec<(ComponentId, Value)> {
        let section_name = format!("{kind}s");
        let Some(section) = section.filter(|v| !v.is_null()) else {
            return Vec::new();
        };
        let Some(map) = self.mapping(section, &section_name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, block) in map {
            let key = key.as_str().unwrap_or_default().to_string();
            let path = join(&section_name, &key);
            let id = match ComponentId::parse(&key) {
                Ok(id) => id,
                Err(message) => {
                    self.error(path, message);
                    continue;
                }
            };
            let Some((signals, spec)) = self.registry.describe(kind, &id.type_name) else {
                let known = self.registry.types(kind);
                let hint = suggestion(&id.type_name, known.iter().copied());
                self.error(
                    path,
                    format!(
                        "unknown {kind} type `{}`{hint}; known {kind}s: {} (`llamacol components` lists them)",
                        id.type_name,
                        known.join(", ")
                    ),
                );
                defined.insert(
                    (kind, key),
                    Defined {
                        kind,
                        signals: None,
                        listens: Vec::new(),
                    },
                );
                continue;
            };
            let factory_block = if kind == Kind::Exporter {
                without_exporter_keys(block)
            } else {
                block.clone()
            };
            let listens = match (spec.check)(&factory_block) {
                Ok(listens) => listens,
                Err(issues) => {
                    for issue in issues {
                        let message =
                            if issue.message.starts_with("unknown key") && kind == Kind::Exporter {
                                format!(
                                    "{} (every exporter also takes: {})",
                                    issue.message,
                                    EXPORTER_KEYS.join(", ")
                                )
                            } else {
                                issue.message
                            };
                        self.error(join(&path, &issue.path), message);
                    }
                    Vec::new()
                }
            };
            let listens = listens
                .into_iter()
                .map(|l| Listen {
                    path: join(&path, &l.path),
                    address: l.address,
                })
                .collect();
            defined.insert(
                (kind, key),
                Defined {
                    kind,
                    signals: Some(signals),
                    listens,
                },
            );
            out.push((id, block.clone()));
        }
        out
    }

    fn exporter(&mut self, id: ComponentId, block: Value) -> ExporterConfig {
        let path = join("exporters", &id.to_string());
        let queue = self
            .typed(block.get("sending_queue"), &join(&path, "sending_queue"))
            .unwrap_or_default();
        let retry = self
            .typed(
                block.get("retry_on_failure"),
                &join(&path, "retry_on_failure"),
            )
            .unwrap_or_default();
        ExporterConfig {
            id,
            block: without_exporter_keys(&block),
            queue,
            retry,
        }
    }

    fn pipelines(
        &mut self,
        section: Option<&Value>,
        defined: &HashMap<(Kind, String), Defined>,
    ) -> Vec<PipelineConfig> {
        let path = "service.pipelines";
        let Some(section) = section.filter(|v| !v.is_null()) else {
            self.error(path, "no pipelines defined; add at least one, e.g. `traces: {receivers: [otlp], exporters: [debug]}`");
            return Vec::new();
        };
        let Some(map) = self.mapping(section, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, body) in map {
            let id = key.as_str().unwrap_or_default().to_string();
            let ppath = join(path, &id);
            let signal_name = id.split('/').next().unwrap_or_default();
            let signal = match signal_name.parse::<Signal>() {
                Ok(s) => s,
                Err(_) => {
                    let hint = suggestion(signal_name, ["traces", "metrics", "logs"]);
                    self.error(
                        &ppath,
                        format!("pipeline id `{id}` must start with a signal: `traces`, `metrics` or `logs` (optionally `/name`){hint}"),
                    );
                    continue;
                }
            };
            let Some(body) = self.mapping(body, &ppath).cloned() else {
                continue;
            };
            for k in body.keys() {
                let k = k.as_str().unwrap_or_default();
                if !PIPELINE_KEYS.contains(&k) {
                    let hint = suggestion(k, PIPELINE_KEYS);
                    self.error(
                        join(&ppath, k),
                        format!(
                            "unknown key `{k}`{hint}; valid keys: receivers, processors, exporters"
                        ),
                    );
                }
            }
            let mut lists: Vec<Vec<ComponentId>> = Vec::new();
            for (list_key, kind) in [
                ("receivers", Kind::Receiver),
                ("processors", Kind::Processor),
                ("exporters", Kind::Exporter),
            ] {
                lists.push(self.references(
                    body.get(list_key),
                    &join(&ppath, list_key),
                    kind,
                    signal,
                    defined,
                ));
            }
            let exporters = lists.pop().unwrap_or_default();
            let processors = lists.pop().unwrap_or_default();
            let receivers = lists.pop().unwrap_or_default();
            if body.get("receivers").is_none_or(is_empty_list) {
                self.error(
                    &ppath,
                    format!(
                        "pipeline `{id}` has no receivers; list at least one under `receivers`"
                    ),
                );
            }
            if body.get("exporters").is_none_or(is_empty_list) {
                self.error(
                    &ppath,
                    format!(
                        "pipeline `{id}` has no exporters; list at least one under `exporters`"
                    ),
                );
            }
            out.push(PipelineConfig {
                id,
                signal,
                receivers,
                processors,
                exporters,
            });
        }
        out
    }

    /// Checks one reference list of a pipeline: defined, right kind, signal, no repeats.
    fn references(
        &mut self,
        list: Option<&Value>,
        path: &str,
        kind: Kind,
        signal: Signal,
        defined: &HashMap<(Kind, String), Defined>,
    ) -> Vec<ComponentId> {
        let Some(list) = list.filter(|v| !v.is_null()) else {
            return Vec::new();
        };
        let Value::Sequence(items) = list else {
            self.error(
                path,
                format!(
                    "must be a list of {kind} ids, e.g. `[otlp]`, found {}",
                    kind_of(list)
                ),
            );
            return Vec::new();
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ipath = join(path, &format!("[{i}]"));
            let Some(name) = item.as_str() else {
                self.error(
                    ipath,
                    format!("must be a {kind} id (a string), found {}", kind_of(item)),
                );
                continue;
            };
            if let Some(first) = seen.insert(name.to_string(), i) {
                let message = if kind == Kind::Processor {
                    format!("processor `{name}` appears twice in this pipeline (at [{first}] and [{i}]); a processor may appear once per pipeline: remove one, or define a second instance as `{name}/2`")
                } else {
                    format!("{kind} `{name}` is listed twice (at [{first}] and [{i}]); remove one")
                };
                self.error(ipath, message);
                continue;
            }
            let Some(def) = defined.get(&(kind, name.to_string())) else {
                let candidates: Vec<&str> = defined
                    .keys()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, id)| id.as_str())
                    .collect();
                let hint = suggestion(name, candidates.iter().copied());
                let section = format!("{kind}s");
                self.error(ipath, format!("{kind} `{name}` is not defined under `{section}`{hint}; define it there or remove it from this pipeline"));
                continue;
            };
            if let Some(signals) = def.signals {
                if !signals.contains(&signal) {
                    let supported: Vec<&str> = signals.iter().map(|s| s.as_str()).collect();
                    self.error(
                        ipath,
                        format!("{kind} `{name}` does not support {signal} (it supports: {}); use it in a pipeline of one of those signals", supported.join(", ")),
                    );
                    continue;
                }
            }
            if let Ok(id) = ComponentId::parse(name) {
                out.push(id);
            }
        }
        out
    }

    fn unused(&mut self, pipelines: &[PipelineConfig], defined: &HashMap<(Kind, String), Defined>) {
        let used = used_ids(pipelines);
        let mut unused: Vec<(&String, &Defined)> = defined
            .iter()
            .filter(|(k, _)| !used.contains(*k))
            .map(|((_, id), d)| (id, d))
            .collect();
        unused.sort_by_key(|(k, d)| (d.kind, k.as_str()));
        for (key, def) in unused {
            let path = join(&format!("{}s", def.kind), key);
            self.diagnostics.push(Diagnostic::warning(
                path,
                format!(
                    "{} `{key}` is defined but not used in any pipeline; it will not run",
                    def.kind
                ),
            ));
        }
    }

    /// Two components (or the admin server) binding the same port is an error now rather
    /// than an "address in use" at start.
    fn ports(
        &mut self,
        pipelines: &[PipelineConfig],
        defined: &HashMap<(Kind, String), Defined>,
        telemetry: &TelemetryConfig,
    ) {
        let used = used_ids(pipelines);
        let mut binds: Vec<Listen> = vec![Listen {
            path: "service.telemetry.admin.endpoint".to_string(),
            address: telemetry.admin.endpoint.clone(),
        }];
        let mut keys: Vec<&(Kind, String)> = defined.keys().filter(|k| used.contains(*k)).collect();
        keys.sort();
        for key in keys {
            binds.extend(defined[key].listens.iter().cloned());
        }
        for (i, later) in binds.iter().enumerate() {
            if let Some(earlier) = binds[..i]
                .iter()
                .find(|e| clash(&e.address, &later.address))
            {
                self.error(
                    later.path.clone(),
                    format!(
                        "address `{}` clashes with `{}` at {}: two listeners cannot share a port; change one of them",
                        later.address, earlier.address, earlier.path
                    ),
                );
            }
        }
    }
}

/// Every (kind, id) some pipeline uses: a receiver and an exporter may share an id.
fn used_ids(pipelines: &[PipelineConfig]) -> BTreeSet<(Kind, String)> {
    let mut used = BTreeSet::new();
    for p in pipelines {
        for (kind, ids) in [
            (Kind::Receiver, &p.receivers),
            (Kind::Processor, &p.processors),
            (Kind::Exporter, &p.exporters),
        ] {
            used.extend(ids.iter().map(|id| (kind, id.to_string())));
        }
    }
    used
}

fn without_exporter_keys(block: &Value) -> Value {
    match block {
        Value::Mapping(m) => {
            let mut m = m.clone();
            for key in EXPORTER_KEYS {
                m.remove(key);
            }
            if m.is_empty() {
                Value::Null
            } else {
                Value::Mapping(m)
            }
        }
        other => other.clone(),
    }
}

fn is_empty_list(v: &Value) -> bool {
    matches!(v, Value::Null) || matches!(v, Value::Sequence(s) if s.is_empty())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Whether two `host:port` listen addresses would collide.
fn clash(a: &str, b: &str) -> bool {
    let (Some((ha, pa)), Some((hb, pb))) = (split_host_port(a), split_host_port(b)) else {
        return false;
    };
    if pa == 0 || pa != pb {
        return false;
    }
    let wildcard = |h: &str| matches!(h, "" | "0.0.0.0" | "::" | "[::]" | "*");
    let norm = |h: &str| {
        if matches!(h, "localhost" | "::1" | "[::1]") {
            "127.0.0.1".to_string()
        } else {
            h.to_string()
        }
    };
    wildcard(ha) || wildcard(hb) || norm(ha) == norm(hb)
}

fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let addr = addr.rsplit("://").next().unwrap_or(addr);
    let (host, port) = addr.rsplit_once(':')?;
    Some((host, port.trim_end_matches('/').parse().ok()?))
}
