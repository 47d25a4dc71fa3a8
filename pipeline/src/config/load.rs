//! Reading, merging and validating configuration files.

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::connections::Graph;
use super::env;
use super::service::{
    Config, ExporterConfig, PipelineConfig, QueueSettings, TelemetryConfig, EXPORTER_KEYS,
};
use crate::component::{ComponentId, Kind};
use crate::registry::Registry;
use crate::signal::Signal;
use llamacol_api::config::{
    describe_error, join, suggestion, Claims, ConfigErrors, Diagnostic, Listen, Positions, Severity,
};

/// One configuration file's text and the name errors should call it by.
#[derive(Debug, Clone)]
pub struct ConfigText {
    pub name: String,
    pub text: String,
}

const TOP_KEYS: [&str; 6] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "extensions",
    "service",
];
const SERVICE_KEYS: [&str; 3] = ["extensions", "pipelines", "telemetry"];
const PIPELINE_KEYS: [&str; 3] = ["receivers", "processors", "exporters"];

/// Reads `sources` (later files override earlier ones, maps merged key by key), expands
/// `${env:...}` and validates everything. Returns the config and its warnings, or every error.
pub fn load(
    sources: &[ConfigText],
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

/// Deserializes `value`, or says where (below it) and what is wrong.
fn deserialize<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let issue = describe_error(inner, &e.into_inner().to_string());
        (issue.path, issue.message)
    })
}

/// The errors of each key of `value` (a mapping at `above` below the root), each tried
/// alone in an otherwise empty block, going `depth` levels down where a key's own keys
/// fail alone. A key whose error needs its siblings (a missing field) is reported as the
/// whole key's error.
fn each_error<T: DeserializeOwned>(
    value: &Value,
    above: &mut Vec<Value>,
    depth: usize,
    found: &mut Vec<(String, String)>,
) {
    let Value::Mapping(map) = value else {
        return;
    };
    for (key, child) in map {
        let mut alone = Mapping::new();
        alone.insert(key.clone(), child.clone());
        let mut root = Value::Mapping(alone);
        for outer in above.iter().rev() {
            let mut m = Mapping::new();
            m.insert(outer.clone(), root);
            root = Value::Mapping(m);
        }
        let Err(error) = deserialize::<T>(root) else {
            continue;
        };
        let before = found.len();
        if depth > 1 && matches!(child, Value::Mapping(m) if m.len() > 1) {
            above.push(key.clone());
            each_error::<T>(child, above, depth - 1, found);
            above.pop();
        }
        if found.len() == before {
            found.push(error);
        }
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
fn locate(mut diagnostics: Vec<Diagnostic>, sources: &[ConfigText]) -> Vec<Diagnostic> {
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
    claims: Claims,
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
        let connectors = self.components(top.get("connectors"), Kind::Connector, &mut defined);
        let extensions = self.components(top.get("extensions"), Kind::Extension, &mut defined);
        self.ambiguous(&defined);
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
                    format!(
                        "unknown key `{key}`{hint}; valid keys: {}",
                        SERVICE_KEYS.join(", ")
                    ),
                );
            }
        }
        let telemetry = self.telemetry(service_map.get("telemetry"));
        let service_extensions = self.references(
            service_map.get("extensions"),
            "service.extensions",
            Kind::Extension,
            None,
            &defined,
        );
        for exporter in &exporters {
            self.storage(exporter, &service_extensions);
        }
        let pipelines = self.pipelines(service_map.get("pipelines"), &defined);
        let connector_ids: Vec<ComponentId> = connectors.iter().map(|(id, _)| id.clone()).collect();
        self.diagnostics
            .extend(Graph::new(&pipelines, &connector_ids).check(self.registry));
        let used = used_ids(&pipelines, &service_extensions);
        self.unused(&used, &defined);
        self.ports(&used, &defined, &telemetry);
        self.directories(&used, &defined);
        self.extension_claims(
            &used,
            &defined,
            &service_extensions,
            |c| &c.authenticators,
            &AUTHENTICATOR,
        );
        self.extension_claims(
            &used,
            &defined,
            &service_extensions,
            |c| &c.storages,
            &COMPONENT_STORAGE,
        );
        if let Some(auth) = &telemetry.admin.auth {
            self.extension_ref(
                "service.telemetry.admin.auth.authenticator",
                &auth.authenticator,
                &service_extensions,
                &AUTHENTICATOR,
            );
        }

        Some(Config {
            receivers,
            processors,
            exporters,
            connectors,
            extensions,
            pipelines,
            service_extensions,
            telemetry,
        })
    }

    /// `service.telemetry`; `metrics.address` or a `pull` reader moves the admin server.
    fn telemetry(&mut self, block: Option<&Value>) -> TelemetryConfig {
        let path = "service.telemetry";
        let mut telemetry: TelemetryConfig = self.typed(block, path).unwrap_or_default();
        match telemetry.metrics.endpoint() {
            Ok(Some(address)) => {
                let admin_set = block
                    .and_then(|b| b.get("admin"))
                    .and_then(|a| a.get("endpoint"))
                    .is_some();
                if admin_set && telemetry.admin.endpoint != address {
                    self.error(
                        join(path, "metrics"),
                        format!("`/metrics` is served by the admin server, which `admin.endpoint` puts at `{}`, not `{address}`; set one of the two", telemetry.admin.endpoint),
                    );
                }
                telemetry.admin.endpoint = address;
            }
            Ok(None) => {}
            Err((at, message)) => self.error(join(&join(path, "metrics"), &at), message),
        }
        for (at, message) in telemetry.metrics.reader_problems() {
            self.error(join(&join(path, "metrics"), &at), message);
        }
        for (i, processor) in telemetry.logs.processors.iter().enumerate() {
            let checked = processor.exporter().and_then(|e| e.check());
            if let Err(message) = checked {
                self.error(join(path, &format!("logs.processors[{i}]")), message);
            }
        }
        telemetry
    }

    /// A connector is listed where receivers and exporters are, so its id must not also
    /// be a receiver's or an exporter's.
    fn ambiguous(&mut self, defined: &HashMap<(Kind, String), Defined>) {
        let mut connectors: Vec<&String> = defined
            .keys()
            .filter(|(kind, _)| *kind == Kind::Connector)
            .map(|(_, key)| key)
            .collect();
        connectors.sort();
        for key in connectors {
            let type_name = key.split('/').next().unwrap_or_default();
            for kind in [Kind::Receiver, Kind::Exporter] {
                if defined.contains_key(&(kind, key.clone())) {
                    self.error(
                        join("connectors", key),
                        format!("`{key}` is defined both as a connector and as {} {kind}: a pipeline could not tell which one it names; rename one of them (e.g. `{type_name}/2`)", if kind == Kind::Exporter { "an" } else { "a" }),
                    );
                }
            }
        }
    }

    /// `sending_queue.storage` must name a storage extension that runs.
    fn storage(&mut self, exporter: &ExporterConfig, running: &[ComponentId]) {
        let Some(name) = &exporter.queue.storage else {
            return;
        };
        let path = join(
            &join(
                &join("exporters", &exporter.id.to_string()),
                "sending_queue",
            ),
            "storage",
        );
        if !exporter.queue.enabled {
            self.error(path, format!("`storage: {name}` keeps the queue on disk, but `sending_queue.enabled` is false: there is no queue to keep; remove one of the two"));
            return;
        }
        self.extension_ref(&path, name, running, &QUEUE_STORAGE);
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
            Some(v) => v,
        };
        match deserialize::<T>(value.clone()) {
            Ok(t) => Some(t),
            Err(first) => {
                // serde stops at the first error: find the others by trying each key
                // alone (every such block has defaults), two levels down.
                let mut found = Vec::new();
                each_error::<T>(value, &mut Vec::new(), 2, &mut found);
                if found.is_empty() {
                    found.push(first);
                }
                found.sort();
                found.dedup();
                for (inner, message) in found {
                    self.error(join(path, &inner), message);
                }
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
                Err(invalid) => {
                    self.error(path, invalid.to_string());
                    continue;
                }
            };
            let Some((signals, spec)) = self.registry.lookup(kind, &id.type_name) else {
                let known = self.registry.types(kind);
                let hint = suggestion(&id.type_name, known.iter().copied());
                let message = format!(
                    "unknown {kind} type `{}`{hint}; known {kind}s: {} (`llamacol components` lists them)",
                    id.type_name,
                    known.join(", ")
                );
                self.error(path, message);
                defined.insert(
                    (kind, key),
                    Defined {
                        kind,
                        signals: None,
                        claims: Claims::default(),
                    },
                );
                continue;
            };
            if kind == Kind::Exporter && id.type_name == "logging" {
                self.diagnostics.push(Diagnostic::warning(
                    path.clone(),
                    "the `logging` exporter is deprecated (the Collector removed it in v0.111.0); it runs as `debug`: rename it to `debug` and `loglevel` to `verbosity`",
                ));
            }
            let factory_block = if kind == Kind::Exporter {
                without_exporter_keys(block)
            } else {
                block.clone()
            };
            let claims = match (spec.check)(&factory_block) {
                Ok(claims) => claims,
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
                    Claims::default()
                }
            };
            let rooted = |list: Vec<Listen>| {
                list.into_iter()
                    .map(|l| Listen {
                        path: join(&path, &l.path),
                        address: l.address,
                    })
                    .collect()
            };
            let claims = Claims {
                listens: rooted(claims.listens),
                directories: rooted(claims.directories),
                authenticators: rooted(claims.authenticators),
                storages: rooted(claims.storages),
            };
            defined.insert(
                (kind, key),
                Defined {
                    kind,
                    signals: Some(signals),
                    claims,
                },
            );
            out.push((id, block.clone()));
        }
        out
    }

    fn exporter(&mut self, id: ComponentId, block: Value) -> ExporterConfig {
        let path = join("exporters", &id.to_string());
        let queue_path = join(&path, "sending_queue");
        let queue: QueueSettings = self
            .typed(block.get("sending_queue"), &queue_path)
            .unwrap_or_default();
        for (key, message) in queue.problems() {
            self.error(join(&queue_path, key), message);
        }
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
                    Some(signal),
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

    /// Checks one reference list (a pipeline's, or `service.extensions`): defined, right
    /// kind, signal (pipelines only), no repeats.
    fn references(
        &mut self,
        list: Option<&Value>,
        path: &str,
        kind: Kind,
        signal: Option<Signal>,
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
            // Receivers and exporters of a pipeline may be connectors; which pairs of
            // signals they join is checked over all pipelines (connections.rs).
            let may_be_connector =
                signal.is_some() && matches!(kind, Kind::Receiver | Kind::Exporter);
            if may_be_connector && defined.contains_key(&(Kind::Connector, name.to_string())) {
                if let Ok(id) = ComponentId::parse(name) {
                    out.push(id);
                }
                continue;
            }
            let Some(def) = defined.get(&(kind, name.to_string())) else {
                let candidates: Vec<&str> = defined
                    .keys()
                    .filter(|(k, _)| *k == kind || (may_be_connector && *k == Kind::Connector))
                    .map(|(_, id)| id.as_str())
                    .collect();
                let hint = suggestion(name, candidates.iter().copied());
                let section = format!("{kind}s");
                let place = if signal.is_some() {
                    "this pipeline"
                } else {
                    "this list"
                };
                let section = if may_be_connector {
                    format!("{section}` or `connectors")
                } else {
                    section
                };
                self.error(ipath, format!("{kind} `{name}` is not defined under `{section}`{hint}; define it there or remove it from {place}"));
                continue;
            };
            if let (Some(signals), Some(signal)) = (def.signals, signal) {
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

    fn unused(
        &mut self,
        used: &BTreeSet<(Kind, String)>,
        defined: &HashMap<(Kind, String), Defined>,
    ) {
        let mut unused: Vec<(&String, &Defined)> = defined
            .iter()
            .filter(|(k, _)| !used.contains(*k))
            .map(|((_, id), d)| (id, d))
            .collect();
        unused.sort_by_key(|(k, d)| (d.kind, k.as_str()));
        for (key, def) in unused {
            let path = join(&format!("{}s", def.kind), key);
            let where_ = if def.kind == Kind::Extension {
                "listed in `service.extensions`"
            } else if def.kind == Kind::Connector {
                "used by any pipeline (list it under one pipeline's `exporters` and another's `receivers`)"
            } else {
                "used in any pipeline"
            };
            self.diagnostics.push(Diagnostic::warning(
                path,
                format!(
                    "{} `{key}` is defined but not {where_}; it will not run",
                    def.kind
                ),
            ));
        }
    }

    /// Two components (or the admin server) binding the same port is an error now rather
    /// than an "address in use" at start.
    fn ports(
        &mut self,
        used: &BTreeSet<(Kind, String)>,
        defined: &HashMap<(Kind, String), Defined>,
        telemetry: &TelemetryConfig,
    ) {
        let mut binds: Vec<Listen> = vec![Listen {
            path: "service.telemetry.admin.endpoint".to_string(),
            address: telemetry.admin.endpoint.clone(),
        }];
        for key in used_keys(used, defined) {
            binds.extend(defined[key].claims.listens.iter().cloned());
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

    /// Every `kind` claim (`auth.authenticator`, a component's `storage`) of a used
    /// component must name a running extension that serves it.
    fn extension_claims(
        &mut self,
        used: &BTreeSet<(Kind, String)>,
        defined: &HashMap<(Kind, String), Defined>,
        running: &[ComponentId],
        claims: fn(&Claims) -> &Vec<Listen>,
        kind: &ExtensionUse,
    ) {
        for key in used_keys(used, defined) {
            for claim in claims(&defined[key].claims) {
                self.extension_ref(&claim.path, &claim.address, running, kind);
            }
        }
    }

    /// `name`, at `path`, must be a running extension that serves `kind`.
    fn extension_ref(
        &mut self,
        path: &str,
        name: &str,
        running: &[ComponentId],
        kind: &ExtensionUse,
    ) {
        let Some(id) = running.iter().find(|id| id.to_string() == name) else {
            let names: Vec<String> = running.iter().map(ToString::to_string).collect();
            let hint = suggestion(name, names.iter().map(String::as_str));
            self.error(path, format!("{} `{name}` is not an extension listed in `service.extensions`{hint}; define it under `extensions` (e.g. `{}`) and list it in `service.extensions`", kind.what, kind.example));
            return;
        };
        let serves = self
            .registry
            .find_extension(&id.type_name)
            .is_some_and(kind.serves);
        if !serves {
            self.error(path, format!("extension `{name}` {}", kind.wrong));
        }
    }

    /// Two running components never share a directory (a persistent queue's files).
    fn directories(
        &mut self,
        used: &BTreeSet<(Kind, String)>,
        defined: &HashMap<(Kind, String), Defined>,
    ) {
        let mut seen: Vec<Listen> = Vec::new();
        for key in used_keys(used, defined) {
            for dir in &defined[key].claims.directories {
                let norm = |d: &str| d.trim_end_matches('/').to_string();
                if let Some(earlier) = seen.iter().find(|e| norm(&e.address) == norm(&dir.address))
                {
                    self.error(
                        dir.path.clone(),
                        format!(
                            "directory `{}` is also used at {}: each storage needs its own directory; change one of them",
                            dir.address, earlier.path
                        ),
                    );
                }
                seen.push(dir.clone());
            }
        }
    }
}

/// Every (kind, id) that runs: used by a pipeline (a receiver and an exporter may share
/// an id), or an extension listed in `service.extensions`.
fn used_ids(pipelines: &[PipelineConfig], extensions: &[ComponentId]) -> BTreeSet<(Kind, String)> {
    let mut used: BTreeSet<(Kind, String)> = extensions
        .iter()
        .map(|id| (Kind::Extension, id.to_string()))
        .collect();
    for p in pipelines {
        for (kind, ids) in [
            (Kind::Receiver, &p.receivers),
            (Kind::Processor, &p.processors),
            (Kind::Exporter, &p.exporters),
        ] {
            used.extend(ids.iter().map(|id| (kind, id.to_string())));
        }
        // A receiver or exporter id may name a connector (ids never name both).
        for id in p.receivers.iter().chain(&p.exporters) {
            used.insert((Kind::Connector, id.to_string()));
        }
    }
    used
}

/// The defined components that run, in a stable order.
fn used_keys<'d>(
    used: &BTreeSet<(Kind, String)>,
    defined: &'d HashMap<(Kind, String), Defined>,
) -> Vec<&'d (Kind, String)> {
    let mut keys: Vec<&(Kind, String)> = defined.keys().filter(|k| used.contains(*k)).collect();
    keys.sort();
    keys
}

/// Collector components llamacol does not offer, and what it offers instead.
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

/// What an extension reference in a config must name.
struct ExtensionUse {
    serves: fn(&llamacol_api::ExtensionFactory) -> bool,
    what: &'static str,
    example: &'static str,
    wrong: &'static str,
}

/// `auth.authenticator`.
const AUTHENTICATOR: ExtensionUse = ExtensionUse {
    serves: |f| f.authenticator,
    what: "authenticator",
    example: "bearertokenauth: {token: ${env:TOKEN}}",
    wrong: "does not authenticate; name a `bearertokenauth` or `basicauth` extension",
};

/// A component's `storage` (state kept across restarts).
const COMPONENT_STORAGE: ExtensionUse = ExtensionUse {
    serves: |f| f.storage,
    what: "storage",
    example: "file_storage: {directory: /var/lib/llamacol/state}",
    wrong: "stores nothing; name a storage extension such as `file_storage`",
};

/// An exporter's `sending_queue.storage` (not a claim: the engine reads the queue block).
const QUEUE_STORAGE: ExtensionUse = ExtensionUse {
    serves: |f| f.storage,
    what: "storage",
    example: "file_storage: {directory: /var/lib/llamacol/queue}",
    wrong: "does not store queues; name a storage extension such as `file_storage`",
};
