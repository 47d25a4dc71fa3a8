//! The chart rendered with the real `helm` (built by `scripts/peers.sh`): its manifests,
//! and the llamacol config it puts in its ConfigMap.

use std::process::Command;

use llamacol_api::serde_yaml;
use llamacol_pipeline::testing::external_program;

pub const CHART: &str = "deploy/helm/llamacol";

/// Runs `program` (a peer from scripts/peers.sh) with `args`: (success, stdout, stderr).
pub fn run(program: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(external_program(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The manifests `helm template` renders with `args` (values sets, `--set`).
pub fn render(args: &[String]) -> Vec<serde_yaml::Value> {
    let mut all = vec!["template", "rel", CHART];
    all.extend(args.iter().map(String::as_str));
    let (ok, out, err) = run("helm", &all);
    assert!(ok, "helm template {args:?}: {err}");
    // helm separates documents with `---` lines.
    out.split("\n---")
        .map(|d| serde_yaml::from_str::<serde_yaml::Value>(d).expect("rendered YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

pub fn kind(doc: &serde_yaml::Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

pub fn by_kind<'a>(docs: &'a [serde_yaml::Value], k: &str) -> Vec<&'a serde_yaml::Value> {
    docs.iter().filter(|d| kind(d) == k).collect()
}

/// The llamacol config (`config.yaml`) of the chart's ConfigMap.
pub fn rendered_config<'a>(docs: &'a [serde_yaml::Value], what: &str) -> &'a str {
    by_kind(docs, "ConfigMap")
        .into_iter()
        .find_map(|d| d["data"]["config.yaml"].as_str())
        .unwrap_or_else(|| panic!("{what}: no ConfigMap with config.yaml"))
}
