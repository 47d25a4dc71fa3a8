//! Reading the process's memory and CPU use and the memory available to it (Linux): for
//! `memory_limiter` and the admin server's `process_*` metrics.

use std::path::{Path, PathBuf};

/// Resident set size of this process, in bytes (`VmRSS` of /proc/self/status).
pub fn resident_bytes() -> Option<u64> {
    parse_status_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The memory this process may use, and where that figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryTotal {
    pub bytes: u64,
    /// The cgroup file that set it, or `physical memory`.
    pub source: String,
}

/// The memory this process may use: the smallest limit of its own cgroup and every
/// cgroup above it (v2 `memory.max`, v1 `memory.limit_in_bytes`: a systemd `MemoryMax=`,
/// a Kubernetes limit, a container's), else physical memory.
pub fn total_bytes() -> Option<u64> {
    memory_total(Path::new("/")).map(|t| t.bytes)
}

/// [`total_bytes`] with its source, reading `/proc` and `/sys` under `root` (tests give
/// a fake tree).
pub fn memory_total(root: &Path) -> Option<MemoryTotal> {
    let own = std::fs::read_to_string(root.join("proc/self/cgroup")).unwrap_or_default();
    let cgroup = cgroup_limit(&own, &root.join("sys/fs/cgroup"));
    let physical = std::fs::read_to_string(root.join("proc/meminfo"))
        .ok()
        .and_then(|s| parse_meminfo_total(&s))
        .map(|bytes| MemoryTotal {
            bytes,
            source: "physical memory".into(),
        });
    match (cgroup, physical) {
        (Some(c), Some(p)) if p.bytes < c.bytes => Some(p),
        (c, p) => c.or(p),
    }
}

/// The smallest memory limit on the way from the process's cgroups (as
/// `/proc/self/cgroup` lists them) up to the root of each hierarchy mounted under
/// `cgroupfs`: v2 (`0::/path`, mounted at `cgroupfs` or at `cgroupfs/unified`) and v1's
/// `memory` controller (at `cgroupfs/memory`). A path that does not exist under the mount
/// (a container that sees its own cgroup as the root) is skipped up to what does.
pub fn cgroup_limit(proc_self_cgroup: &str, cgroupfs: &Path) -> Option<MemoryTotal> {
    let mut found: Option<MemoryTotal> = None;
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (mounts, file): (Vec<PathBuf>, &str) = if id == "0" && controllers.is_empty() {
            (
                vec![cgroupfs.to_path_buf(), cgroupfs.join("unified")],
                "memory.max",
            )
        } else if controllers.split(',').any(|c| c == "memory") {
            (vec![cgroupfs.join("memory")], "memory.limit_in_bytes")
        } else {
            continue;
        };
        for mount in mounts {
            let mut dir = mount.join(path.trim_start_matches('/'));
            loop {
                let at = dir.join(file);
                if let Some(bytes) = std::fs::read_to_string(&at)
                    .ok()
                    .and_then(|s| parse_cgroup_limit(&s))
                {
                    if found.as_ref().is_none_or(|f| bytes < f.bytes) {
                        found = Some(MemoryTotal {
                            bytes,
                            source: at.display().to_string(),
                        });
                    }
                }
                if dir == mount || !dir.pop() {
                    break;
                }
            }
        }
    }
    found
}

/// CPU time this process has used (user + system), in seconds (`/proc/self/stat`).
pub fn cpu_seconds() -> Option<f64> {
    parse_stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// utime + stime (fields 14 and 15) in clock ticks of 1/100 s, the value of `USER_HZ`
/// on every Linux architecture llamacol builds for.
pub fn parse_stat_cpu(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

pub fn parse_status_rss(status: &str) -> Option<u64> {
    kib_line(status, "VmRSS:")
}

pub fn parse_meminfo_total(meminfo: &str) -> Option<u64> {
    kib_line(meminfo, "MemTotal:")
}

/// `max` (v2) or a huge number (v1 "unlimited") mean no limit.
pub fn parse_cgroup_limit(s: &str) -> Option<u64> {
    let v: u64 = s.trim().parse().ok()?;
    (v < 1 << 60).then_some(v)
}

fn kib_line(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/` with `/proc/self/cgroup`, `/proc/meminfo` and cgroup files.
    fn tree(cgroup: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tmp");
        let write = |rel: &str, text: &str| {
            let path = root.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("proc/self/cgroup", cgroup);
        write("proc/meminfo", "MemTotal:       25165824 kB\n");
        for (rel, text) in files {
            write(rel, text);
        }
        root
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_smallest_limit_from_the_own_cgroup_up_to_the_root_wins() {
        // cgroup v2: a systemd service under a slice that has the smaller limit.
        let root = tree(
            "0::/system.slice/llamacol.service\n",
            &[
                ("sys/fs/cgroup/system.slice/memory.max", "1073741824\n"),
                (
                    "sys/fs/cgroup/system.slice/llamacol.service/memory.max",
                    "max\n",
                ),
            ],
        );
        let total = memory_total(root.path()).expect("total");
        assert_eq!(total.bytes, GIB);
        assert!(
            total
                .source
                .ends_with("sys/fs/cgroup/system.slice/memory.max"),
            "{}",
            total.source
        );

        // cgroup v1 (memory controller), as on a hybrid host: the own cgroup's limit.
        let root = tree(
            "4:memory:/process_api/abc\n0::/\n",
            &[
                (
                    "sys/fs/cgroup/memory/memory.limit_in_bytes",
                    "9223372036854771712\n",
                ),
                (
                    "sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes",
                    "536870912\n",
                ),
                ("sys/fs/cgroup/unified/cgroup.controllers", ""),
            ],
        );
        assert_eq!(memory_total(root.path()).map(|t| t.bytes), Some(512 << 20));
    }

    #[test]
    fn a_container_seeing_its_cgroup_as_the_root_and_no_limit_at_all() {
        // The host path is not under the container's mount: its root file is the limit.
        let root = tree(
            "0::/kubepods/burstable/pod1/abc\n",
            &[("sys/fs/cgroup/memory.max", "2147483648\n")],
        );
        assert_eq!(memory_total(root.path()).map(|t| t.bytes), Some(2 * GIB));
        // No limit anywhere: physical memory.
        let root = tree("0::/\n", &[("sys/fs/cgroup/memory.max", "max\n")]);
        let total = memory_total(root.path()).expect("total");
        assert_eq!(
            (total.bytes, total.source.as_str()),
            (24 * GIB, "physical memory")
        );
        // A limit above physical memory: physical memory.
        let root = tree("0::/\n", &[("sys/fs/cgroup/memory.max", "68719476736\n")]);
        assert_eq!(memory_total(root.path()).map(|t| t.bytes), Some(24 * GIB));
    }

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces_and_parens() {
        let stat = "4242 (llama col) (x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat_cpu(stat), Some(3.25));
        assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
    }
}
