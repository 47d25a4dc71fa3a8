//! Real Collector configs written by others (`testdata/collector-configs/`, each origin in
//! its README): every one whose component types all exist in llamacol validates as it
//! is; for the rest the test prints the component types llamacol lacks (the README's
//! "what is missing for your config" is this list).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use llamacol_api::serde_yaml::{self, Value};
use llamacol_pipeline::config::{load, ConfigText};
use llamacol_pipeline::Registry;

const DIR: &str = "testdata/collector-configs";

/// Files that are not whole configs but overlays, loaded after their base as their
/// project runs them (`--config base --config overlay`).
const OVERLAYS: [(&str, &str); 1] = [(
    "demo/src_otel-collector_otelcol-config-extras.yaml",
    "demo/src_otel-collector_otelcol-config.yaml",
)];

/// Configs whose component types llamacol all has that are refused all the same: for a
/// part of a component llamacol lacks (listed with the missing types), or because the
/// Collector refuses them too. Each must be refused, with this message.
const KNOWN_REFUSALS: [(&str, &str, &str); 2] = [
    (
        "helm-charts/daemonset-resource-detection-agent.yaml",
        "processor `resourcedetection`'s detectors `eks` and `k8s_api`",
        "unknown key `eks`",
    ),
    (
        "helm-charts/kubernetesAttributes.yaml",
        "nothing: the Collector refuses it too (its traces pipeline names a `resource` processor the config never defines)",
        "processor `resource` is not defined under `processors`",
    ),
];

/// The configs take hosts and ports from the environment (`${env:MY_POD_IP}`,
/// `${env:OTEL_COLLECTOR_PORT_GRPC}` ...): a port where the name says port, else a host.
fn environment(name: &str) -> Option<String> {
    Some(
        if name.contains("PORT") {
            "4317"
        } else {
            "localhost"
        }
        .to_string(),
    )
}

fn configs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for source in std::fs::read_dir(DIR).expect("dir") {
        let source = source.expect("entry").path();
        if !source.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&source).expect("dir") {
            let path = file.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `kind/type` of every component the config defines that `registry` does not have.
fn missing_types(text: &str, registry: &Registry) -> BTreeSet<String> {
    let root: Value = serde_yaml::from_str(text).expect("YAML");
    let mut out = BTreeSet::new();
    for (section, kind) in [
        ("receivers", llamacol_api::Kind::Receiver),
        ("processors", llamacol_api::Kind::Processor),
        ("exporters", llamacol_api::Kind::Exporter),
        ("connectors", llamacol_api::Kind::Connector),
        ("extensions", llamacol_api::Kind::Extension),
    ] {
        let Some(Value::Mapping(blocks)) = root.get(section) else {
            continue;
        };
        for key in blocks.keys().filter_map(Value::as_str) {
            let type_name = key.split('/').next().unwrap_or(key);
            if registry.lookup(kind, type_name).is_none() {
                out.insert(format!("{kind} `{type_name}`"));
            }
        }
    }
    out
}

fn name(path: &Path) -> String {
    path.strip_prefix(DIR).unwrap_or(path).display().to_string()
}

// The list is the test's report (`--nocapture`).
#[allow(clippy::print_stdout)]
#[test]
fn every_real_config_with_known_components_validates_and_the_rest_say_what_is_missing() {
    let registry = llamacol::builtins();
    let configs = configs();
    assert!(configs.len() >= 30, "{} configs", configs.len());
    let (mut loaded, mut refused) = (Vec::new(), Vec::new());
    let mut lacking: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut expected_refusals = 0;
    for path in &configs {
        let text = std::fs::read_to_string(path).expect("read");
        let base = OVERLAYS
            .iter()
            .find(|(overlay, _)| name(path) == *overlay)
            .map(|(_, base)| Path::new(DIR).join(base));
        let mut sources = Vec::new();
        if let Some(base) = &base {
            let text = std::fs::read_to_string(base).expect("read base");
            sources.push(ConfigText {
                name: name(base),
                text,
            });
        }
        let mut missing = missing_types(&text, &registry);
        for source in &sources {
            missing.extend(missing_types(&source.text, &registry));
        }
        if !missing.is_empty() {
            for m in missing {
                lacking.entry(m).or_default().push(name(path));
            }
            continue;
        }
        sources.push(ConfigText {
            name: name(path),
            text,
        });
        let known = KNOWN_REFUSALS
            .iter()
            .find(|(config, _, _)| name(path) == *config);
        match (load(&sources, &registry, &environment), known) {
            (Ok(_), None) => loaded.push(name(path)),
            (Err(errors), Some((_, what, message))) if errors.to_string().contains(message) => {
                lacking
                    .entry(what.to_string())
                    .or_default()
                    .push(name(path));
                expected_refusals += 1;
            }
            (Ok(_), Some(_)) => refused.push(format!(
                "{}: validates now; take it off KNOWN_REFUSALS",
                name(path)
            )),
            (Err(errors), _) => refused.push(format!("{}:\n{errors}", name(path))),
        }
    }
    println!(
        "{} configs: {} use only component types llamacol has ({} validate); {} need types it lacks:",
        configs.len(),
        loaded.len() + refused.len() + expected_refusals,
        loaded.len(),
        configs.len() - loaded.len() - refused.len() - expected_refusals
    );
    for name in &loaded {
        println!("validates: {name}");
    }
    let mut by_count: Vec<_> = lacking.into_iter().collect();
    by_count.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    for (missing, files) in by_count {
        println!("| {missing} | {} |", files.len());
    }
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
    assert_eq!(
        expected_refusals,
        KNOWN_REFUSALS.len(),
        "every known refusal still happens"
    );
}

/// Blocks of the types built on OTTL (`transform`, `filter`, `attributes`, `routing`,
/// `tail_sampling`) and of `k8s_attributes`, taken out of every real config, validate on
/// their own, except the ones listed with what they lack.
#[allow(clippy::print_stdout)]
#[test]
fn ottl_component_blocks_of_real_configs_validate_alone() {
    const KNOWN: [(&str, &str); 1] = [(
        "demo/src_otel-collector_otelcol-config.yaml processors/transform/sanitize_spans",
        "set_semconv_span_name",
    )];
    let registry = llamacol::builtins();
    let env = |name: &str| environment(name);
    let mut checked = 0;
    let mut failed = Vec::new();
    for path in configs() {
        let text = std::fs::read_to_string(&path).expect("read");
        let root: Value = serde_yaml::from_str(&text).expect("YAML");
        for (section, kind) in [
            ("processors", llamacol_api::Kind::Processor),
            ("connectors", llamacol_api::Kind::Connector),
        ] {
            let Some(Value::Mapping(blocks)) = root.get(section) else {
                continue;
            };
            for (key, block) in blocks {
                let Some(key) = key.as_str() else { continue };
                let type_name = key.split('/').next().unwrap_or(key);
                if ![
                    "transform",
                    "filter",
                    "attributes",
                    "routing",
                    "tail_sampling",
                    "k8s_attributes",
                ]
                .contains(&type_name)
                {
                    continue;
                }
                let Some((_, spec)) = registry.lookup(kind, type_name) else {
                    continue;
                };
                // Environment references in the block, as the loader would expand them.
                let expanded = serde_yaml::to_string(block)
                    .expect("yaml")
                    .replace("${env:", "${")
                    .split("${")
                    .enumerate()
                    .map(|(i, part)| match (i, part.split_once('}')) {
                        (0, _) | (_, None) => part.to_string(),
                        (_, Some((name, rest))) => {
                            format!("{}{rest}", env(name).unwrap_or_default())
                        }
                    })
                    .collect::<String>();
                let block: Value = serde_yaml::from_str(&expanded).expect("block");
                checked += 1;
                if let Err(issues) = (spec.check)(&block) {
                    let what = format!("{} {section}/{key}", name(&path));
                    let text: Vec<String> = issues
                        .iter()
                        .map(|i| format!("{}: {}", i.path, i.message))
                        .collect();
                    println!("refused: {what}: {}", text.join("; "));
                    failed.push((what, text.join("; ")));
                }
            }
        }
    }
    println!(
        "{checked} transform/filter/attributes/routing/tail_sampling/k8s_attributes blocks, {} refused",
        failed.len()
    );
    assert!(checked >= 10, "{checked} blocks");
    for (what, why) in &failed {
        assert!(
            KNOWN
                .iter()
                .any(|(w, lacking)| w == what && why.contains(lacking)),
            "{what} is refused: {why}"
        );
    }
}
