//! The files a poll reads: every path an `include` glob matches, less those an `exclude`
//! glob matches or older than `exclude_older_than`, each once, in path order.

use std::path::PathBuf;
use std::time::SystemTime;

use super::config::FilelogConfig;

pub fn find(config: &FilelogConfig) -> Vec<PathBuf> {
    let exclude: Vec<glob::Pattern> = config
        .exclude
        .iter()
        .filter_map(|g| glob::Pattern::new(g).ok())
        .collect();
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut paths: Vec<PathBuf> = config
        .include
        .iter()
        .filter_map(|g| glob::glob_with(g, options).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|p| !exclude.iter().any(|e| e.matches_path_with(p, options)))
        .filter(|p| p.is_file())
        .filter(|p| match config.exclude_older_than {
            Some(age) => std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_none_or(|since| since <= age),
            None => true,
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The name `id` has in a passwd- or group-format file (`name:x:id:...`).
pub fn name_of(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}
