//! Reading the process's memory and CPU use and the memory available to it (Linux): for
//! `memory_limiter` and the admin server's `process_*` metrics.

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

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces_and_parens() {
        let stat = "4242 (llama col) (x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat_cpu(stat), Some(3.25));
        assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
    }
}
