//! `filesystem`: space and inodes of each mounted file system (`/proc/1/mountinfo`,
//! else `/proc/self/mountinfo`; `statvfs` of the mount point under `root_path`).
//! Device-backed types only (those `/proc/filesystems` does not mark `nodev`) and no
//! bind mounts, unless `include_virtual_filesystems`.

use std::collections::BTreeSet;

use super::{Cycle, HostScraper, Sink, Table};
use crate::hostmetrics::config::FilesystemConfig;
use crate::hostmetrics::filter::Selection;
use crate::hostmetrics::host::{device_filesystems, parse_mountinfo, Mount};

pub struct Filesystem {
    table: Table,
    virtual_too: bool,
    devices: Selection,
    fs_types: Selection,
    mount_points: Selection,
}

impl Filesystem {
    pub fn new(config: &FilesystemConfig) -> Filesystem {
        Filesystem {
            table: Table::new("filesystem", &config.metrics),
            virtual_too: config.include_virtual_filesystems,
            devices: Selection {
                include: config.include_devices.filter(),
                exclude: config.exclude_devices.filter(),
            },
            fs_types: Selection {
                include: config.include_fs_types.filter(),
                exclude: config.exclude_fs_types.filter(),
            },
            mount_points: Selection {
                include: config.include_mount_points.filter(),
                exclude: config.exclude_mount_points.filter(),
            },
        }
    }

    fn keeps(&self, m: &Mount) -> bool {
        self.devices.keeps(&m.device)
            && self.fs_types.keeps(&m.fs_type)
            && self.mount_points.keeps(&m.mount_point)
    }
}

/// Space and inode counts of one file system.
struct Usage {
    used: u64,
    free: u64,
    total: u64,
    inodes_used: u64,
    inodes_free: u64,
}

fn usage(path: &std::path::Path) -> std::io::Result<Usage> {
    let s = rustix::fs::statvfs(path)?;
    let unit = s.f_frsize.max(1);
    Ok(Usage {
        used: s.f_blocks.saturating_sub(s.f_bfree) * unit,
        free: s.f_bavail * unit,
        total: s.f_blocks * unit,
        inodes_used: s.f_files.saturating_sub(s.f_ffree),
        inodes_free: s.f_ffree,
    })
}

impl HostScraper for Filesystem {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn scrape(&mut self, cycle: &Cycle, sink: &mut Sink) {
        let table = cycle
            .host
            .read("proc/1/mountinfo")
            .or_else(|_| cycle.host.read("proc/self/mountinfo"));
        let text = match table {
            Ok(t) => t,
            Err(e) => return sink.fail("filesystem", "reading /proc/1/mountinfo", e),
        };
        let types = if self.virtual_too {
            None
        } else {
            match cycle.host.read("proc/filesystems") {
                Ok(t) => Some(device_filesystems(&t)),
                Err(e) => return sink.fail("filesystem", "reading /proc/filesystems", e),
            }
        };
        let mut seen = BTreeSet::new();
        let mut rec = self.table.recorder(cycle.boot, cycle.now);
        for m in parse_mountinfo(&text, types.as_deref()) {
            if !seen.insert((m.mount_point.clone(), m.device.clone())) || !self.keeps(&m) {
                continue;
            }
            let u = match usage(&cycle.host.path(&m.mount_point)) {
                Ok(u) => u,
                Err(e) => {
                    sink.fail(
                        "filesystem",
                        "reading a file system's usage",
                        format!("{}: {e}", m.mount_point),
                    );
                    continue;
                }
            };
            let a = [
                m.device.as_str(),
                m.mode,
                m.mount_point.as_str(),
                m.fs_type.as_str(),
            ];
            let with = |state: &'static str| [a[0], a[1], a[2], a[3], state];
            rec.point("system.filesystem.usage", u.used, &with("used"));
            rec.point("system.filesystem.usage", u.free, &with("free"));
            let reserved = u.total.saturating_sub(u.used + u.free);
            rec.point("system.filesystem.usage", reserved, &with("reserved"));
            let available = u.used + u.free;
            let share = if available == 0 {
                0.0
            } else {
                u.used as f64 / available as f64
            };
            rec.point("system.filesystem.utilization", share, &a);
            rec.point(
                "system.filesystem.inodes.usage",
                u.inodes_used,
                &with("used"),
            );
            rec.point(
                "system.filesystem.inodes.usage",
                u.inodes_free,
                &with("free"),
            );
        }
        sink.host.push(("filesystem", rec.finish()));
    }
}
