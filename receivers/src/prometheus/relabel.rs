//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`): the config keys,
//! defaults and actions of Prometheus' `model/relabel`, checked against its own test
//! table (`testdata/prometheus/relabel-cases-v3.16.0.json`).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use regex::Regex;
use serde::Deserialize;

/// A label set being relabeled, sorted by name.
pub type LabelSet = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

/// One rule as written in YAML; [`Rule::compile`] checks it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub regex: String,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            source_labels: Vec::new(),
            separator: ";".into(),
            regex: "(.*)".into(),
            modulus: 0,
            target_label: String::new(),
            replacement: "$1".into(),
            action: Action::Replace,
        }
    }
}

/// A checked rule, its regex anchored as Prometheus anchors it (`^(?s:...)$`).
#[derive(Debug, Clone)]
pub struct Rule {
    config: RuleConfig,
    regex: Regex,
    /// The default regex with neither target nor replacement templated: a plain set.
    plain_set: bool,
}

impl Rule {
    pub fn compile(config: RuleConfig) -> Result<Rule, String> {
        let regex = Regex::new(&format!("^(?s:{})$", config.regex))
            .map_err(|e| format!("regex `{}`: {e}", config.regex))?;
        let needs_target = matches!(
            config.action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && config.target_label.is_empty() {
            return Err(format!("action `{:?}` needs `target_label`", config.action).to_lowercase());
        }
        if config.action == Action::HashMod && config.modulus == 0 {
            return Err("action `hashmod` needs a `modulus` above 0".into());
        }
        let plain_set = config.regex == "(.*)"
            && !config.target_label.contains('$')
            && !config.replacement.contains('$');
        Ok(Rule {
            config,
            regex,
            plain_set,
        })
    }

    /// Applies the rule; `false` drops the label set.
    pub fn apply(&self, labels: &mut LabelSet) -> bool {
        let c = &self.config;
        let value = c
            .source_labels
            .iter()
            .map(|name| labels.get(name).map_or("", String::as_str))
            .collect::<Vec<_>>()
            .join(&c.separator);
        match c.action {
            Action::Drop => return !self.regex.is_match(&value),
            Action::Keep => return self.regex.is_match(&value),
            Action::DropEqual => {
                return labels.get(&c.target_label).map_or("", String::as_str) != value
            }
            Action::KeepEqual => {
                return labels.get(&c.target_label).map_or("", String::as_str) == value
            }
            Action::Replace => {
                if value.is_empty() && self.plain_set {
                    set(labels, c.target_label.clone(), c.replacement.clone());
                    return true;
                }
                let Some(captures) = self.regex.captures(&value) else {
                    return true;
                };
                let mut target = String::new();
                captures.expand(&c.target_label, &mut target);
                // UTF-8 label names (Prometheus 3's default): any non-empty name.
                if target.is_empty() {
                    return true;
                }
                let mut replaced = String::new();
                captures.expand(&c.replacement, &mut replaced);
                set(labels, target, replaced);
            }
            Action::Lowercase => set(labels, c.target_label.clone(), value.to_lowercase()),
            Action::Uppercase => set(labels, c.target_label.clone(), value.to_uppercase()),
            Action::HashMod => {
                let hash = Md5::digest(value.as_bytes());
                let mut last = [0u8; 8];
                last.copy_from_slice(&hash[8..]);
                let modulo = u64::from_be_bytes(last) % c.modulus;
                set(labels, c.target_label.clone(), modulo.to_string());
            }
            Action::LabelMap => {
                let mapped: Vec<(String, String)> = labels
                    .iter()
                    .filter(|(name, _)| self.regex.is_match(name))
                    .map(|(name, v)| {
                        let new = self.regex.replace_all(name, c.replacement.as_str());
                        (new.into_owned(), v.clone())
                    })
                    .collect();
                for (name, v) in mapped {
                    set(labels, name, v);
                }
            }
            Action::LabelDrop => labels.retain(|name, _| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|name, _| self.regex.is_match(name)),
        }
        true
    }
}

/// An empty value removes the label, as Prometheus' label builder does.
fn set(labels: &mut LabelSet, name: String, value: String) {
    if value.is_empty() {
        labels.remove(&name);
    } else {
        labels.insert(name, value);
    }
}

/// Applies `rules` in order; `false` as soon as one drops the set.
pub fn process(rules: &[Rule], labels: &mut LabelSet) -> bool {
    rules.iter().all(|r| r.apply(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Case {
        input: LabelSet,
        relabel: Vec<RuleConfig>,
        output: Option<LabelSet>,
        drop: bool,
    }

    /// Every case of Prometheus v3.16.0's `TestRelabel`, taken as data.
    #[test]
    fn prometheus_relabel_test_cases_pass() {
        let cases: Vec<Case> = serde_json::from_str(include_str!(
            "../../../testdata/prometheus/relabel-cases-v3.16.0.json"
        ))
        .expect("cases");
        assert!(cases.len() >= 30);
        for (i, case) in cases.into_iter().enumerate() {
            let rules: Vec<Rule> = case
                .relabel
                .iter()
                .cloned()
                .map(|r| Rule::compile(r).expect("valid rule"))
                .collect();
            let mut labels = case.input.clone();
            let keep = process(&rules, &mut labels);
            assert_eq!(keep, !case.drop, "case {i}: {:?}", case.relabel);
            if keep {
                assert_eq!(
                    Some(labels),
                    case.output,
                    "case {i}: {:?} on {:?}",
                    case.relabel,
                    case.input
                );
            }
        }
    }

    #[test]
    fn rules_without_what_they_need_are_refused() {
        let hashmod = RuleConfig {
            action: Action::HashMod,
            target_label: "shard".into(),
            ..RuleConfig::default()
        };
        assert!(Rule::compile(hashmod)
            .expect_err("no modulus")
            .contains("modulus"));
        let replace = RuleConfig::default();
        assert!(Rule::compile(replace)
            .expect_err("no target")
            .contains("target_label"));
        let bad = RuleConfig {
            regex: "(".into(),
            action: Action::Drop,
            ..RuleConfig::default()
        };
        assert!(Rule::compile(bad)
            .expect_err("bad regex")
            .contains("regex `(`"));
    }
}
