//! `receivers.host_metrics` (alias `hostmetrics`) config: the Collector's keys and
//! defaults, scraper by scraper.

use std::collections::BTreeMap;
use std::time::Duration;

use llamacol_api::config::{suggestion, ComponentConfig, Issue};
use serde::{Deserialize, Deserializer};

use super::catalog::catalog;
use super::filter::{MatchType, NameFilter, RegexpOptions};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostMetricsConfig {
    /// Time between collections. Default 1m (the Collector's).
    #[serde(with = "humantime_serde")]
    pub collection_interval: Duration,
    /// Wait before the first collection. Default 1s.
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// The most one collection may take; 0 (default) means the interval.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The host's `/` as mounted in this container (e.g. `/hostfs`): `/proc`, `/sys`,
    /// `/etc/passwd` and the mount points are read under it. Default: this machine's `/`.
    pub root_path: String,
    /// The Collector's interval for host entity events (logs); llamacol emits metrics
    /// only, so the key is accepted and has no effect.
    #[serde(with = "humantime_serde")]
    pub metadata_collection_interval: Duration,
    /// Which scrapers run, each with its own keys; at least one.
    pub scrapers: Scrapers,
}

impl Default for HostMetricsConfig {
    fn default() -> Self {
        HostMetricsConfig {
            collection_interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(1),
            timeout: Duration::ZERO,
            root_path: String::new(),
            metadata_collection_interval: Duration::from_secs(300),
            scrapers: Scrapers::default(),
        }
    }
}

/// A scraper is on when its key is present, with or without a value (`cpu:`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scrapers {
    #[serde(default, deserialize_with = "present")]
    pub cpu: Option<MetricsOnly>,
    #[serde(default, deserialize_with = "present")]
    pub memory: Option<MetricsOnly>,
    #[serde(default, deserialize_with = "present")]
    pub load: Option<LoadConfig>,
    #[serde(default, deserialize_with = "present")]
    pub disk: Option<DiskConfig>,
    #[serde(default, deserialize_with = "present")]
    pub filesystem: Option<FilesystemConfig>,
    #[serde(default, deserialize_with = "present")]
    pub network: Option<NetworkConfig>,
    #[serde(default, deserialize_with = "present")]
    pub paging: Option<MetricsOnly>,
    #[serde(default, deserialize_with = "present")]
    pub processes: Option<MetricsOnly>,
    #[serde(default, deserialize_with = "present")]
    pub process: Option<ProcessConfig>,
    #[serde(default, deserialize_with = "present")]
    pub system: Option<MetricsOnly>,
    /// The Collector's NFS scraper: not built; refused with a message.
    #[serde(default, deserialize_with = "present")]
    pub nfs: Option<llamacol_api::serde_yaml::Value>,
}

fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// A metric's switch: `metrics: {system.cpu.utilization: {enabled: true}}`, and which of
/// its attributes its points keep (`attributes: [cpu, state]`; the Collector's default
/// leaves out the `opt_in` ones, such as `system.cpu.time`'s `cpu`), points that become
/// equal being merged by `aggregation_strategy` (`sum`, `avg`, `min`, `max`; default `sum`
/// for sums, `avg` for gauges). For a resource attribute only `enabled` applies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Switch {
    pub enabled: Option<bool>,
    pub attributes: Option<Vec<String>>,
    pub aggregation_strategy: Option<Aggregation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    Sum,
    Avg,
    Min,
    Max,
}

pub type Switches = BTreeMap<String, Switch>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsOnly {
    /// Per-metric switches; the defaults are the Collector's.
    pub metrics: Switches,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadConfig {
    pub metrics: Switches,
    /// Divide the load averages by the number of logical CPUs. Default false.
    pub cpu_average: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    pub metrics: Switches,
    /// Devices to read (`devices`, `match_type: strict|regexp`); default all.
    pub include: Match<Devices>,
    /// Devices to leave out.
    pub exclude: Match<Devices>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    pub metrics: Switches,
    /// Also report virtual file systems (`tmpfs`, `proc`, `overlay`...). Default false.
    pub include_virtual_filesystems: bool,
    pub include_devices: Match<Devices>,
    pub exclude_devices: Match<Devices>,
    pub include_fs_types: Match<FsTypes>,
    pub exclude_fs_types: Match<FsTypes>,
    pub include_mount_points: Match<MountPoints>,
    pub exclude_mount_points: Match<MountPoints>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    pub metrics: Switches,
    /// Interfaces to read (`interfaces`, `match_type`); default all.
    pub include: Match<Interfaces>,
    pub exclude: Match<Interfaces>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    pub metrics: Switches,
    /// Resource attribute switches (`process.cgroup: {enabled: true}`).
    pub resource_attributes: Switches,
    /// Processes to read, by executable name (`names`, `match_type`); default all.
    pub include: Match<Names>,
    pub exclude: Match<Names>,
    /// Do not count or log processes whose name, executable, I/O counters, cgroup or
    /// owner cannot be read (another user's processes without privileges).
    pub mute_process_all_errors: bool,
    pub mute_process_name_error: bool,
    pub mute_process_exe_error: bool,
    pub mute_process_io_error: bool,
    pub mute_process_user_error: bool,
    pub mute_process_cgroup_error: bool,
    /// Leave out processes younger than this. Default 0.
    #[serde(with = "humantime_serde")]
    pub scrape_process_delay: Duration,
}

/// An include or exclude list: the Collector's `filterset` keys with the list under
/// `K`'s name.
#[derive(Debug, Clone)]
pub struct Match<K> {
    pub items: Vec<String>,
    pub match_type: Option<MatchType>,
    _key: std::marker::PhantomData<K>,
}

impl<K> Default for Match<K> {
    fn default() -> Self {
        Match {
            items: Vec::new(),
            match_type: None,
            _key: std::marker::PhantomData,
        }
    }
}

/// The name of a match list's items key.
pub trait ListKey {
    const KEY: &'static str;
}

macro_rules! list_key {
    ($name:ident, $key:literal) => {
        #[derive(Debug, Clone, Default)]
        pub struct $name;
        impl ListKey for $name {
            const KEY: &'static str = $key;
        }
    };
}
list_key!(Devices, "devices");
list_key!(FsTypes, "fs_types");
list_key!(MountPoints, "mount_points");
list_key!(Interfaces, "interfaces");
list_key!(Names, "names");

impl<'de, K: ListKey> Deserialize<'de> for Match<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = BTreeMap::<String, llamacol_api::serde_yaml::Value>::deserialize(d)?;
        let mut out = Match::<K>::default();
        for (key, value) in map {
            match key.as_str() {
                k if k == K::KEY => {
                    out.items = Vec::<String>::deserialize(value).map_err(D::Error::custom)?
                }
                "match_type" => {
                    out.match_type = Some(MatchType::deserialize(value).map_err(D::Error::custom)?)
                }
                "regexp" => {
                    RegexpOptions::deserialize(value).map_err(D::Error::custom)?;
                }
                other => {
                    return Err(D::Error::custom(format!(
                        "unknown field `{other}`, expected one of `{}`, `match_type`, `regexp`",
                        K::KEY
                    )))
                }
            }
        }
        Ok(out)
    }
}

impl<K: ListKey> Match<K> {
    /// The filter, or `None` when the list is empty (everything passes).
    pub fn filter(&self) -> Option<NameFilter> {
        if self.items.is_empty() {
            return None;
        }
        NameFilter::new(&self.items, self.match_type.unwrap_or(MatchType::Strict)).ok()
    }

    fn issues(&self, path: &str) -> Vec<Issue> {
        if self.items.is_empty() {
            return Vec::new();
        }
        let Some(match_type) = self.match_type else {
            return vec![Issue::new(
                format!("{path}.match_type"),
                format!(
                    "`{}` is set without `match_type`: add `match_type: strict` or `match_type: regexp`",
                    K::KEY
                ),
            )];
        };
        match NameFilter::new(&self.items, match_type) {
            Ok(_) => Vec::new(),
            Err(e) => vec![Issue::new(format!("{path}.{}", K::KEY), e.to_string())],
        }
    }
}

fn switch_issues(path: &str, switches: &Switches, known: &[&str], what: &str) -> Vec<Issue> {
    switches
        .keys()
        .filter(|name| !known.contains(&name.as_str()))
        .map(|name| {
            let hint = suggestion(name, known.iter().copied());
            Issue::new(
                format!("{path}.{name}"),
                format!("unknown {what} `{name}`{hint}; known: {}", known.join(", ")),
            )
        })
        .collect()
}

fn metric_issues(scraper: &str, switches: &Switches) -> Vec<Issue> {
    let table = catalog(scraper);
    let path = format!("scrapers.{scraper}.metrics");
    let mut issues = switch_issues(&path, switches, &table.names(), "metric");
    for (name, switch) in switches {
        let Some(def) = table.metrics.iter().find(|m| &m.name == name) else {
            continue;
        };
        for a in switch.attributes.iter().flatten() {
            if !def.attributes.contains(a) {
                issues.push(Issue::new(
                    format!("{path}.{name}.attributes"),
                    format!(
                        "metric {name} has no attribute `{a}`; its attributes: [{}]",
                        def.attributes.join(", ")
                    ),
                ));
            }
        }
    }
    issues
}

impl ComponentConfig for HostMetricsConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.collection_interval.is_zero() {
            issues.push(Issue::new("collection_interval", "must be more than 0"));
        }
        let s = &self.scrapers;
        let any = s.cpu.is_some()
            || s.memory.is_some()
            || s.load.is_some()
            || s.disk.is_some()
            || s.filesystem.is_some()
            || s.network.is_some()
            || s.paging.is_some()
            || s.processes.is_some()
            || s.process.is_some()
            || s.system.is_some();
        if !any && s.nfs.is_none() {
            issues.push(Issue::new(
                "scrapers",
                "must name at least one scraper: cpu, disk, filesystem, load, memory, network, paging, processes, process, system",
            ));
        }
        if s.nfs.is_some() {
            issues.push(Issue::new(
                "scrapers.nfs",
                "the Collector's nfs scraper is not built into llamacol; remove it (the other scrapers run as configured)",
            ));
        }
        if !self.root_path.is_empty() && !std::path::Path::new(&self.root_path).is_absolute() {
            issues.push(Issue::new(
                "root_path",
                format!(
                    "`{}` is not an absolute path: give where the host's / is mounted, e.g. /hostfs",
                    self.root_path
                ),
            ));
        }
        for (name, metrics) in [
            ("cpu", s.cpu.as_ref().map(|c| &c.metrics)),
            ("memory", s.memory.as_ref().map(|c| &c.metrics)),
            ("load", s.load.as_ref().map(|c| &c.metrics)),
            ("disk", s.disk.as_ref().map(|c| &c.metrics)),
            ("filesystem", s.filesystem.as_ref().map(|c| &c.metrics)),
            ("network", s.network.as_ref().map(|c| &c.metrics)),
            ("paging", s.paging.as_ref().map(|c| &c.metrics)),
            ("processes", s.processes.as_ref().map(|c| &c.metrics)),
            ("process", s.process.as_ref().map(|c| &c.metrics)),
            ("system", s.system.as_ref().map(|c| &c.metrics)),
        ] {
            if let Some(metrics) = metrics {
                issues.extend(metric_issues(name, metrics));
            }
        }
        if let Some(d) = &s.disk {
            issues.extend(d.include.issues("scrapers.disk.include"));
            issues.extend(d.exclude.issues("scrapers.disk.exclude"));
        }
        if let Some(f) = &s.filesystem {
            let p = "scrapers.filesystem";
            issues.extend(f.include_devices.issues(&format!("{p}.include_devices")));
            issues.extend(f.exclude_devices.issues(&format!("{p}.exclude_devices")));
            issues.extend(f.include_fs_types.issues(&format!("{p}.include_fs_types")));
            issues.extend(f.exclude_fs_types.issues(&format!("{p}.exclude_fs_types")));
            issues.extend(
                f.include_mount_points
                    .issues(&format!("{p}.include_mount_points")),
            );
            issues.extend(
                f.exclude_mount_points
                    .issues(&format!("{p}.exclude_mount_points")),
            );
        }
        if let Some(n) = &s.network {
            issues.extend(n.include.issues("scrapers.network.include"));
            issues.extend(n.exclude.issues("scrapers.network.exclude"));
        }
        if let Some(p) = &s.process {
            issues.extend(p.include.issues("scrapers.process.include"));
            issues.extend(p.exclude.issues("scrapers.process.exclude"));
            let table = catalog("process");
            let known: Vec<&str> = table
                .resource_attributes
                .keys()
                .map(|k| k.as_str())
                .collect();
            issues.extend(switch_issues(
                "scrapers.process.resource_attributes",
                &p.resource_attributes,
                &known,
                "resource attribute",
            ));
        }
        issues
    }
}
