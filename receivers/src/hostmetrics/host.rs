//! Reading the host: `/proc`, `/sys` and `/etc/passwd` under `root_path`, parsed by
//! small functions over the files' text (tested on captured files). llamacol reads the
//! files itself rather than through a crate such as `procfs`: a dozen fixed formats,
//! every read relative to a configurable root (a container with the host's `/` mounted
//! at `/hostfs`), and no dependency between an agent and its kernel interface.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

/// The host, as seen under `root`.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    /// Clock ticks per second (`USER_HZ`), the unit of `/proc/*/stat` times.
    pub ticks: f64,
    pub page_size: u64,
}

impl Host {
    /// `root_path` from the config ("" is `/`).
    pub fn new(root_path: &str) -> Host {
        Host {
            root: PathBuf::from(if root_path.is_empty() { "/" } else { root_path }),
            ticks: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as u64,
        }
    }

    /// `rel` (e.g. `proc/stat`) under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    pub fn read(&self, rel: &str) -> io::Result<String> {
        std::fs::read_to_string(self.path(rel))
    }
}

/// `/proc/stat`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stat {
    /// `cpu0`, `cpu1`... (the total line left out), each in seconds.
    pub cpus: Vec<CpuTimes>,
    /// Boot time, Unix seconds.
    pub boot_time: u64,
    pub processes_created: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct CpuTimes {
    pub cpu: String,
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
}

impl CpuTimes {
    pub fn total(&self) -> f64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }
}

pub fn parse_stat(text: &str, ticks: f64) -> Stat {
    let mut stat = Stat::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else { continue };
        let numbers: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
        let n = |i: usize| numbers.get(i).copied().unwrap_or(0);
        match key {
            "btime" => stat.boot_time = n(0),
            "processes" => stat.processes_created = n(0),
            "procs_running" => stat.procs_running = n(0),
            "procs_blocked" => stat.procs_blocked = n(0),
            k if k.starts_with("cpu") && k.len() > 3 => {
                let s = |i: usize| n(i) as f64 / ticks;
                stat.cpus.push(CpuTimes {
                    cpu: k.to_string(),
                    user: s(0),
                    nice: s(1),
                    system: s(2),
                    idle: s(3),
                    iowait: s(4),
                    irq: s(5),
                    softirq: s(6),
                    steal: s(7),
                });
            }
            _ => {}
        }
    }
    stat
}

/// `/proc/meminfo`: each field in bytes (`kB` values multiplied), page counts as they are.
pub fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let mut parts = rest.split_whitespace();
            let value: u64 = parts.next()?.parse().ok()?;
            let value = if parts.next() == Some("kB") {
                value * 1024
            } else {
                value
            };
            Some((key.trim().to_string(), value))
        })
        .collect()
}

/// `/proc/loadavg`: the three averages.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([f.next()??, f.next()??, f.next()??])
}

/// One line of `/proc/diskstats`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DiskStats {
    pub device: String,
    pub reads: u64,
    pub merged_reads: u64,
    pub read_bytes: u64,
    /// Milliseconds.
    pub read_time: u64,
    pub writes: u64,
    pub merged_writes: u64,
    pub write_bytes: u64,
    pub write_time: u64,
    pub in_progress: u64,
    pub io_time: u64,
    pub weighted_io_time: u64,
}

/// The kernel counts disk sectors in 512-byte units whatever the device's own size.
const SECTOR: u64 = 512;

pub fn parse_diskstats(text: &str) -> Vec<DiskStats> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 14 {
                return None;
            }
            let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
            Some(DiskStats {
                device: f[2].to_string(),
                reads: n(3),
                merged_reads: n(4),
                read_bytes: n(5) * SECTOR,
                read_time: n(6),
                writes: n(7),
                merged_writes: n(8),
                write_bytes: n(9) * SECTOR,
                write_time: n(10),
                in_progress: n(11),
                io_time: n(12),
                weighted_io_time: n(13),
            })
        })
        .collect()
}

/// One interface of `/proc/net/dev`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NetDev {
    pub interface: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

pub fn parse_net_dev(text: &str) -> Vec<NetDev> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            if f.len() < 16 {
                return None;
            }
            Some(NetDev {
                interface: name.trim().to_string(),
                rx_bytes: f[0],
                rx_packets: f[1],
                rx_errors: f[2],
                rx_dropped: f[3],
                tx_bytes: f[8],
                tx_packets: f[9],
                tx_errors: f[10],
                tx_dropped: f[11],
            })
        })
        .collect()
}

/// TCP states as the Collector names them, indexed by the kernel's state number
/// (`include/net/tcp_states.h`: 1 ESTABLISHED ... 11 CLOSING).
pub const TCP_STATES: [&str; 12] = [
    "CLOSE_WAIT",
    "CLOSE",
    "CLOSING",
    "DELETE",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "LAST_ACK",
    "LISTEN",
    "SYN_SENT",
    "SYN_RECV",
    "TIME_WAIT",
];

fn tcp_state_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT_1",
        0x05 => "FIN_WAIT_2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        _ => return None,
    })
}

/// Adds the sockets of one `/proc/net/tcp` or `tcp6` table to `counts` by state.
pub fn count_tcp(text: &str, counts: &mut BTreeMap<&'static str, i64>) {
    for line in text.lines().skip(1) {
        let Some(state) = line.split_whitespace().nth(3) else {
            continue;
        };
        if let Some(name) = u8::from_str_radix(state, 16).ok().and_then(tcp_state_name) {
            *counts.entry(name).or_default() += 1;
        }
    }
}

/// `/proc/swaps`: (device, size bytes, used bytes).
pub fn parse_swaps(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            Some((
                f[0].to_string(),
                f[2].parse::<u64>().ok()? * 1024,
                f[3].parse::<u64>().ok()? * 1024,
            ))
        })
        .collect()
}

/// `/proc/vmstat` and other `key value` files.
pub fn parse_key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// `/proc/cpuinfo`: (processor number, MHz) of each logical CPU.
pub fn parse_cpuinfo(text: &str) -> Vec<(u32, f64)> {
    let mut out = Vec::new();
    let mut processor = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => processor = value.trim().parse().ok(),
            "cpu MHz" => {
                if let (Some(p), Ok(mhz)) = (processor, value.trim().parse()) {
                    out.push((p, mhz));
                }
            }
            _ => {}
        }
    }
    out
}

/// A mounted file system.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    /// `rw`, `ro` or `unknown`: read-write only when both the mount and the super block are.
    pub mode: &'static str,
}

/// `/proc/filesystems`: the types backed by a device (no `nodev`), plus `zfs`.
pub fn device_filesystems(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| match line.split_once('\t') {
            Some(("nodev", t)) if t.trim() == "zfs" => Some("zfs".to_string()),
            Some(("nodev", _)) => None,
            Some((_, t)) => Some(t.trim().to_string()),
            None => Some(line.trim().to_string()),
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// `/proc/<pid>/mountinfo`; with `physical` set, only device-backed types, binds left out.
pub fn parse_mountinfo(text: &str, physical: Option<&[String]>) -> Vec<Mount> {
    let mut first_device: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        if l.len() < 5 || r.len() < 2 {
            continue;
        }
        let (dev_id, root_dir, mount_point) = (l[2], l[3], unescape(l[4]));
        let mount_opts: Vec<&str> = l.get(5).map(|o| o.split(',').collect()).unwrap_or_default();
        let (fs_type, source) = (r[0], r[1]);
        let super_opts: Vec<&str> = r.get(2).map(|o| o.split(',').collect()).unwrap_or_default();
        if let Some(types) = physical {
            if !types.iter().any(|t| t == fs_type) {
                continue;
            }
        }
        let mut device = if source.starts_with('/') || root_dir == "/" {
            source.to_string()
        } else {
            root_dir.to_string()
        };
        if let Some(first) = first_device.get(dev_id) {
            device = first.clone();
        }
        let subvolume = super_opts
            .iter()
            .find_map(|o| o.strip_prefix("subvol="))
            .is_some_and(|v| v == root_dir);
        let bind = source.starts_with('/') && root_dir != "/" && !subvolume;
        first_device
            .entry(dev_id.to_string())
            .or_insert_with(|| device.clone());
        if physical.is_some() && bind {
            continue;
        }
        let has = |o: &str| mount_opts.contains(&o) || super_opts.contains(&o);
        let mode = if has("ro") {
            "ro"
        } else if mount_opts.contains(&"rw") {
            "rw"
        } else {
            "unknown"
        };
        out.push(Mount {
            device,
            mount_point,
            fs_type: fs_type.to_string(),
            mode,
        });
    }
    out
}

/// Mount tables escape space, tab, newline and backslash as octal (`\040`).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
