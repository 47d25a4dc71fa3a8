//! `process`: one resource per process (`process.pid`, executable, command line,
//! owner...) with its CPU time, memory, disk I/O, page faults, threads, context
//! switches, descriptors, pending signals and uptime, read from `/proc/<pid>/*`.
//! `include`/`exclude` select by executable name; a process whose name cannot be read
//! is left out (and counted unless muted), as in the Collector.

use std::collections::{BTreeMap, HashMap};

use llamacol_api::attributes;
use llamacol_api::otlp::common::v1::any_value;

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::ProcessConfig;
use crate::hostmetrics::filter::Selection;
use crate::hostmetrics::host::{parse_key_values, parse_meminfo, parse_stat, Host};

/// Every process id under `/proc`.
pub fn pids(host: &Host) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(host.path("proc")) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// The state letter of `/proc/<pid>/stat`, or `None` when the process is gone.
pub fn state_letter(host: &Host, pid: u32) -> Option<char> {
    let text = host.read(&format!("proc/{pid}/stat")).ok()?;
    parse_pid_stat(&text)?.state
}

/// The fields of `/proc/<pid>/stat` the scrapers use (`proc_pid_stat(5)`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PidStat {
    pub comm: String,
    pub state: Option<char>,
    pub ppid: i64,
    pub minflt: u64,
    pub majflt: u64,
    pub utime: u64,
    pub stime: u64,
    pub threads: i64,
    /// Clock ticks after boot.
    pub starttime: u64,
    pub vsize: u64,
    /// Pages.
    pub rss: u64,
    pub blkio_ticks: u64,
}

pub fn parse_pid_stat(text: &str) -> Option<PidStat> {
    // The command sits in parentheses and may itself hold spaces and parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let f: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(PidStat {
        comm,
        state: f.first().and_then(|s| s.chars().next()),
        ppid: n(1) as i64,
        minflt: n(7),
        majflt: n(9),
        utime: n(11),
        stime: n(12),
        threads: n(17) as i64,
        starttime: n(19),
        vsize: n(20),
        rss: n(21),
        blkio_ticks: n(39),
    })
}

/// `/proc/<pid>/status` as `key -> value` text.
fn parse_status(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k, v.trim()))
        .collect()
}

/// `/etc/passwd`: uid -> user name.
fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, f.first()?.to_string()))
        })
        .collect()
}

/// CPU seconds (user, system, iowait) and when they were read (ns), for utilization.
type CpuReading = ([f64; 3], u64);

pub struct Process {
    table: Table,
    config: ProcessConfig,
    names: Selection,
    previous: HashMap<u32, CpuReading>,
}

impl Process {
    pub fn new(config: &ProcessConfig) -> Process {
        Process {
            table: Table::new("process", &config.metrics),
            names: Selection {
                include: config.include.filter(),
                exclude: config.exclude.filter(),
            },
            config: config.clone(),
            previous: HashMap::new(),
        }
    }

    fn resource_on(&self, name: &str) -> bool {
        self.table
            .catalog
            .resource_enabled(name, &self.config.resource_attributes)
    }

    /// Counts a failed read unless the user muted that kind.
    fn fail(&self, sink: &mut Sink, muted: bool, kind: &'static str, detail: String) {
        if !muted && !self.config.mute_process_all_errors {
            sink.fail("process", kind, detail);
        }
    }
}

impl HostScraper for Process {
    fn name(&self) -> &'static str {
        "process"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let host = cycle.host;
        let boot_secs = cycle.boot / 1_000_000_000;
        let passwd = host
            .read("etc/passwd")
            .map(|t| parse_passwd(&t))
            .unwrap_or_default();
        let (mem_total, cores) = (
            host.read("proc/meminfo")
                .map(|t| parse_meminfo(&t).get("MemTotal").copied().unwrap_or(0))
                .unwrap_or(0),
            host.read("proc/stat")
                .map(|t| parse_stat(&t, host.ticks).cpus.len().max(1))
                .unwrap_or(1) as f64,
        );
        let mut present = HashMap::new();
        for pid in pids(host) {
            let dir = format!("proc/{pid}");
            // Gone between the listing and the read: not an error.
            let Some(stat) = host
                .read(&format!("{dir}/stat"))
                .ok()
                .and_then(|t| parse_pid_stat(&t))
            else {
                continue;
            };
            let status_text = host.read(&format!("{dir}/status")).unwrap_or_default();
            let status = parse_status(&status_text);
            let cmdline: Vec<String> = host
                .read(&format!("{dir}/cmdline"))
                .map(|t| {
                    t.split('\0')
                        .filter(|a| !a.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let exe = std::fs::read_link(host.path(&format!("{dir}/exe")))
                .map(|p| p.to_string_lossy().into_owned());
            if let Err(e) = &exe {
                let muted = self.config.mute_process_exe_error;
                self.fail(
                    sink,
                    muted,
                    "reading a process's executable",
                    format!("pid {pid}: {e}"),
                );
            }
            let Some(mut name) = status.get("Name").map(|n| n.to_string()) else {
                let muted = self.config.mute_process_name_error;
                self.fail(
                    sink,
                    muted,
                    "reading a process's name",
                    format!("pid {pid}"),
                );
                continue;
            };
            // The kernel cuts names at 15 bytes; the command line has the whole one.
            if name.len() >= 15 {
                if let Some(full) = cmdline
                    .first()
                    .and_then(|c| std::path::Path::new(c).file_name())
                    .map(|f| f.to_string_lossy().into_owned())
                {
                    if full.starts_with(&name) {
                        name = full;
                    }
                }
            }
            if !self.names.keeps(&name) {
                continue;
            }
            let created_ms =
                boot_secs * 1000 + (stat.starttime as f64 / host.ticks * 1000.0) as u64;
            let now_ms = cycle.now / 1_000_000;
            if (self.config.scrape_process_delay.as_millis() as u64)
                > now_ms.saturating_sub(created_ms)
            {
                continue;
            }
            let uid = status
                .get("Uid")
                .and_then(|u| u.split_whitespace().next())
                .and_then(|u| u.parse::<u32>().ok());
            let owner = uid.and_then(|u| passwd.get(&u).cloned());
            if owner.is_none() {
                let muted = self.config.mute_process_user_error;
                self.fail(
                    sink,
                    muted,
                    "reading a process's owner",
                    format!("pid {pid}: uid {uid:?} not in /etc/passwd"),
                );
            }
            let cgroup =
                if self.resource_on("process.cgroup") || self.resource_on("process.linux.cgroup") {
                    match host.read(&format!("{dir}/cgroup")) {
                        Ok(t) => Some(t.trim().to_string()),
                        Err(e) => {
                            let muted = self.config.mute_process_cgroup_error;
                            self.fail(
                                sink,
                                muted,
                                "reading a process's cgroup",
                                format!("pid {pid}: {e}"),
                            );
                            None
                        }
                    }
                } else {
                    None
                };

            let mut resource = Vec::new();
            let mut add = |key: &str, value: any_value::Value| {
                if self.resource_on(key) {
                    resource.push(attributes::kv(key, value));
                }
            };
            use any_value::Value::{IntValue, StringValue};
            add("process.pid", IntValue(i64::from(pid)));
            add("process.parent_pid", IntValue(stat.ppid));
            add("process.executable.name", StringValue(name.clone()));
            add(
                "process.executable.path",
                StringValue(exe.as_ref().cloned().unwrap_or_default()),
            );
            if let Some(c) = &cgroup {
                add("process.cgroup", StringValue(c.clone()));
                add("process.linux.cgroup", StringValue(c.clone()));
            }
            add(
                "process.command",
                StringValue(cmdline.first().cloned().unwrap_or_default()),
            );
            add("process.command_line", StringValue(cmdline.join(" ")));
            if let Some(o) = &owner {
                add("process.owner", StringValue(o.clone()));
            }

            let mut rec = self.table.recorder(created_ms * 1_000_000, cycle.now);
            let cpu = [
                stat.utime as f64 / host.ticks,
                stat.stime as f64 / host.ticks,
                stat.blkio_ticks as f64 / host.ticks,
            ];
            const MODES: [&str; 3] = ["user", "system", "wait"];
            for (mode, seconds) in MODES.iter().zip(cpu) {
                rec.point("process.cpu.time", seconds, &[mode]);
            }
            if let Some((before, at)) = self.previous.get(&pid) {
                let elapsed = cycle.now.saturating_sub(*at) as f64 / 1e9;
                for (i, mode) in MODES.iter().enumerate() {
                    let share = if elapsed > 0.0 {
                        (cpu[i] - before[i]) / elapsed / cores
                    } else {
                        0.0
                    };
                    rec.point("process.cpu.utilization", share, &[mode]);
                }
            }
            present.insert(pid, (cpu, cycle.now));
            let rss = stat.rss * host.page_size;
            rec.point("process.memory.usage", rss, &[]);
            rec.point("process.memory.virtual", stat.vsize, &[]);
            if mem_total > 0 {
                // A percentage, as the Collector (gopsutil's MemoryPercent) reports it.
                rec.point(
                    "process.memory.utilization",
                    rss as f64 / mem_total as f64 * 100.0,
                    &[],
                );
            }
            if rec.wants(&["process.disk.io", "process.disk.operations"]) {
                match host.read(&format!("{dir}/io")) {
                    Ok(t) => {
                        let io = parse_key_values(&t.replace(':', ""));
                        let v = |k: &str| io.get(k).copied().unwrap_or(0);
                        rec.point("process.disk.io", v("read_bytes"), &["read"]);
                        rec.point("process.disk.io", v("write_bytes"), &["write"]);
                        rec.point("process.disk.operations", v("syscr"), &["read"]);
                        rec.point("process.disk.operations", v("syscw"), &["write"]);
                    }
                    Err(e) => {
                        let muted = self.config.mute_process_io_error;
                        self.fail(
                            sink,
                            muted,
                            "reading a process's I/O counters",
                            format!("pid {pid}: {e}"),
                        );
                    }
                }
            }
            rec.point("process.paging.faults", stat.majflt, &["major"]);
            rec.point("process.paging.faults", stat.minflt, &["minor"]);
            rec.point("process.threads", stat.threads, &[]);
            let count = |k: &str| {
                status
                    .get(k)
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            rec.point(
                "process.context_switches",
                count("nonvoluntary_ctxt_switches"),
                &["involuntary"],
            );
            rec.point(
                "process.context_switches",
                count("voluntary_ctxt_switches"),
                &["voluntary"],
            );
            if rec.wants(&["process.open_file_descriptors"]) {
                match std::fs::read_dir(host.path(&format!("{dir}/fd"))) {
                    Ok(d) => rec.point("process.open_file_descriptors", d.count() as i64, &[]),
                    Err(e) => self.fail(
                        sink,
                        false,
                        "reading a process's descriptors",
                        format!("pid {pid}: {e}"),
                    ),
                }
            }
            if let Some(queued) = status
                .get("SigQ")
                .and_then(|q| q.split('/').next())
                .and_then(|q| q.parse::<i64>().ok())
            {
                rec.point("process.signals_pending", queued, &[]);
            }
            let uptime = now_ms.saturating_sub(created_ms) as f64 / 1000.0;
            rec.point("process.uptime", uptime, &[]);
            let metrics = rec.finish();
            if !metrics.is_empty() {
                sink.resources.push(("process", resource, metrics));
            }
        }
        // Processes that ended take their last reading with them.
        self.previous = present;
    }
}
