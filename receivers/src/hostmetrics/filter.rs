//! The Collector's `filterset` for names: `strict` (equal) or `regexp` (the pattern
//! found anywhere in the name, unanchored, as Go's `MatchString`).

use regex::RegexSet;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    Strict,
    Regexp,
}

/// The Collector's regexp cache options: accepted; llamacol's matcher needs no cache.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegexpOptions {
    pub cacheenabled: bool,
    pub cachemaxnumentries: usize,
}

#[derive(Debug, Clone)]
pub enum NameFilter {
    Strict(Vec<String>),
    Regexp(RegexSet),
}

impl NameFilter {
    pub fn new(items: &[String], match_type: MatchType) -> Result<NameFilter, regex::Error> {
        Ok(match match_type {
            MatchType::Strict => NameFilter::Strict(items.to_vec()),
            MatchType::Regexp => NameFilter::Regexp(RegexSet::new(items)?),
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameFilter::Strict(items) => items.iter().any(|i| i == name),
            NameFilter::Regexp(set) => set.is_match(name),
        }
    }
}

/// An include and an exclude filter together: kept when included (or no include list)
/// and not excluded.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub include: Option<NameFilter>,
    pub exclude: Option<NameFilter>,
}

impl Selection {
    pub fn keeps(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|f| f.matches(name))
            && self.exclude.as_ref().is_none_or(|f| !f.matches(name))
    }
}
