//! Reading the process's memory use and the memory available to it (Linux).

/// Resident set size of this process, in bytes (`VmRSS` of /proc/self/status).
pub fn resident_bytes() -> Option<u64> {
    parse_status_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The container's memory limit (cgroup v2, then v1), else physical memory.
pub fn total_bytes() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .or_else(|| std::fs::read_to_string("/sys/fs/cgroup/memory/memory.limit_in_bytes").ok())
        .and_then(|s| parse_cgroup_limit(&s));
    let physical = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| parse_meminfo_total(&s));
    match (cgroup, physical) {
        (Some(c), Some(p)) => Some(c.min(p)),
        (c, p) => c.or(p),
    }
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
