//! Targets as Prometheus makes them: each `host:port` of a target group, with the
//! group's labels and the scrape config's `__address__`, `__scheme__`,
//! `__metrics_path__` and `__param_*`, through `relabel_configs`; what survives is
//! scraped at `__scheme__://__address____metrics_path__`, carrying the labels that do
//! not start with `__` (and `instance`, which defaults to the address).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::config::{ScrapeConfig, StaticConfig};
use super::relabel::{self, LabelSet, Rule};

/// One target to scrape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// `scheme://host:port/path?params`.
    pub url: String,
    /// `job`, `instance` and the other labels every series of the target gets.
    pub labels: LabelSet,
}

/// The targets of `groups` under `job`'s settings and relabeling.
pub fn targets(job: &ScrapeConfig, rules: &[Rule], groups: &[StaticConfig]) -> Vec<Target> {
    let mut out = Vec::new();
    for group in groups {
        for address in &group.targets {
            let mut labels: LabelSet = group.labels.clone().into_iter().collect();
            labels.insert("__address__".into(), address.clone());
            labels.insert("__scheme__".into(), job.scheme.clone());
            labels.insert("__metrics_path__".into(), job.metrics_path.clone());
            labels.insert("job".into(), job.job_name.clone());
            for (k, values) in &job.params {
                if let Some(v) = values.first() {
                    labels.insert(format!("__param_{k}"), v.clone());
                }
            }
            if !relabel::process(rules, &mut labels) {
                continue;
            }
            if let Some(t) = finish(labels) {
                out.push(t);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn finish(mut labels: LabelSet) -> Option<Target> {
    let address = labels.get("__address__")?.clone();
    if address.is_empty() {
        return None;
    }
    let scheme = labels
        .get("__scheme__")
        .cloned()
        .unwrap_or_else(|| "http".into());
    let path = labels
        .get("__metrics_path__")
        .cloned()
        .unwrap_or_else(|| "/metrics".into());
    let params: Vec<(String, String)> = labels
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("__param_")?.to_string(), v.clone())))
        .collect();
    let mut url = format!("{scheme}://{address}{path}");
    if !params.is_empty() {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        url.push('?');
        url.push_str(&query.join("&"));
    }
    labels
        .entry("instance".into())
        .or_insert_with(|| address.clone());
    labels.retain(|k, _| !k.starts_with("__"));
    Some(Target { url, labels })
}

/// Percent-encoding for a query component.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file of `file_sd_configs`: a list of target groups, in YAML or JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The groups of every file matching `patterns` (a `*` glob in the last path segment),
/// each labelled `__meta_filepath`; unreadable or malformed files are errors naming the
/// file.
pub fn read_files(patterns: &[String]) -> Result<Vec<StaticConfig>, String> {
    let mut out = Vec::new();
    for pattern in patterns {
        for path in expand(pattern)? {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("file_sd `{}`: {e}", path.display()))?;
            let groups: Vec<FileGroup> = llamacol_api::serde_yaml::from_str(&text)
                .map_err(|e| format!("file_sd `{}`: {e}", path.display()))?;
            for g in groups {
                let mut labels = g.labels;
                labels.insert("__meta_filepath".into(), path.display().to_string());
                out.push(StaticConfig {
                    targets: g.targets,
                    labels,
                });
            }
        }
    }
    Ok(out)
}

/// The files a pattern names: itself, or with `*` in the file name, every match.
pub(super) fn expand(pattern: &str) -> Result<Vec<std::path::PathBuf>, String> {
    let path = Path::new(pattern);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("file_sd: `{pattern}` names no file"))?;
    if !name.contains('*') {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (prefix, suffix) = name.split_once('*').unwrap_or((name, ""));
    let mut matches: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("file_sd `{}`: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(prefix)
                    && n.ends_with(suffix)
                    && n.len() >= prefix.len() + suffix.len()
            })
        })
        .collect();
    matches.sort();
    Ok(matches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::relabel::{Action, RuleConfig};

    fn job() -> ScrapeConfig {
        ScrapeConfig {
            job_name: "node".into(),
            params: [("module".to_string(), vec!["gpu info".to_string()])].into(),
            ..ScrapeConfig::default()
        }
    }

    #[test]
    fn targets_carry_job_instance_and_group_labels_through_relabeling() {
        let groups = vec![StaticConfig {
            targets: vec!["gpu-1:9100".into(), "gpu-2:9100".into()],
            labels: [("rack".to_string(), "r1".to_string())].into(),
        }];
        let keep_one = Rule::compile(RuleConfig {
            source_labels: vec!["__address__".into()],
            regex: "gpu-1:.*".into(),
            action: Action::Keep,
            ..RuleConfig::default()
        })
        .expect("rule");
        let got = targets(&job(), &[keep_one], &groups);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].url, "http://gpu-1:9100/metrics?module=gpu%20info");
        let labels: Vec<(&str, &str)> = got[0]
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [("instance", "gpu-1:9100"), ("job", "node"), ("rack", "r1")]
        );
    }

    #[test]
    fn file_sd_reads_yaml_and_json_groups_by_glob() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("a.yaml"),
            "- targets: ['h1:1']\n  labels: {env: prod}\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("b.json"), r#"[{"targets": ["h2:2"]}]"#).expect("write");
        std::fs::write(dir.path().join("c.txt"), "not a target file").expect("write");
        let yaml = format!("{}/*.yaml", dir.path().display());
        let json = format!("{}/*.json", dir.path().display());
        let groups = read_files(&[yaml, json]).expect("read");
        let targets: Vec<&str> = groups
            .iter()
            .flat_map(|g| g.targets.iter())
            .map(String::as_str)
            .collect();
        assert_eq!(targets, ["h1:1", "h2:2"]);
        assert_eq!(
            groups[0].labels.get("env").map(String::as_str),
            Some("prod")
        );
        let bad = format!("{}/c.txt", dir.path().display());
        let e = read_files(&[bad]).expect_err("malformed");
        assert!(e.contains("c.txt"), "{e}");
    }
}
