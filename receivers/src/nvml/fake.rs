//! A fake [`Gpus`] for tests and benches: devices with fixed, documented readings in
//! NVML's own units, per-reading `NotSupported` switches, and scripted XIDs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::gpus::{
    DeviceInfo, GpuProcess, Gpus, Health, NvLink, ProcessUtilization, Read, ReadError, Reading,
    RemappedRows, RetiredPages, XidEvent,
};

pub struct FakeGpus {
    pub devices: Vec<DeviceInfo>,
    /// Readings (field names of [`Reading`]) answered with `NotSupported`.
    pub unsupported: HashSet<&'static str>,
    /// XIDs raised while watched: (time after the watch starts, GPU index, XID code).
    pub xids: Vec<(Duration, u32, u64)>,
    /// GPU indexes that have fallen off the bus: every reading says so.
    pub lost: HashSet<u32>,
    /// Readings answered with `NoPermission`.
    pub forbidden: HashSet<&'static str>,
}

impl FakeGpus {
    /// `n` H200-like GPUs, `GPU-00000000-0000-0000-0000-00000000000i`.
    pub fn new(n: u32) -> FakeGpus {
        let devices = (0..n)
            .map(|i| DeviceInfo {
                index: i,
                uuid: format!("GPU-00000000-0000-0000-0000-{i:012}"),
                name: "NVIDIA H200".into(),
                pci_bus_id: format!("00000000:{:02X}:00.0", 0x18 + i),
                parent_uuid: None,
                gpu_instance_id: None,
                compute_instance_id: None,
                minor_number: Some(i),
            })
            .collect();
        FakeGpus {
            devices,
            unsupported: HashSet::new(),
            xids: Vec::new(),
            lost: HashSet::new(),
            forbidden: HashSet::new(),
        }
    }

    fn get<T>(&self, field: &'static str, value: T) -> Read<T> {
        if self.unsupported.contains(field) {
            Err(ReadError::NotSupported)
        } else if self.forbidden.contains(field) {
            Err(ReadError::NoPermission)
        } else {
            Ok(value)
        }
    }
}

impl Gpus for FakeGpus {
    fn driver_version(&self) -> Read<String> {
        Ok("560.35.03".into())
    }

    fn devices(&self) -> Read<Vec<DeviceInfo>> {
        Ok(self.devices.clone())
    }

    fn read(&self, device: &DeviceInfo, with_processes: bool) -> Reading {
        if self.lost.contains(&device.index) {
            return Reading::unavailable(ReadError::Lost);
        }
        let i = u64::from(device.index);
        Reading {
            utilization_gpu: self.get("utilization_gpu", 87),
            utilization_memory: self.get("utilization_memory", 41),
            utilization_encoder: self.get("utilization_encoder", 0),
            utilization_decoder: self.get("utilization_decoder", 3),
            memory_used_bytes: self.get("memory_used_bytes", 100 * 1024 * 1024 * 1024 + i),
            memory_total_bytes: self.get("memory_total_bytes", 143_771_090_944),
            memory_reserved_bytes: self.get("memory_reserved_bytes", 536_870_912),
            power_mw: self.get("power_mw", 412_345),
            energy_mj: self.get("energy_mj", 987_654_321),
            temperature_c: self.get("temperature_c", 64),
            fan_speed_percent: self.get("fan_speed_percent", vec![30, 35]),
            clock_sm_mhz: self.get("clock_sm_mhz", 1980),
            clock_memory_mhz: self.get("clock_memory_mhz", 3201),
            clock_graphics_mhz: self.get("clock_graphics_mhz", 1980),
            pcie_tx_kb_per_s: self.get("pcie_tx_kb_per_s", 1000),
            pcie_rx_kb_per_s: self.get("pcie_rx_kb_per_s", 2000),
            pcie_replay_count: self.get("pcie_replay_count", 2),
            throttle_reasons: self.get("throttle_reasons", 0x4 | 0x20),
            performance_state: self.get("performance_state", 0),
            ecc_corrected: self.get("ecc_corrected", 5),
            ecc_uncorrected: self.get("ecc_uncorrected", 0),
            ecc_corrected_volatile: self.get("ecc_corrected_volatile", 1),
            ecc_uncorrected_volatile: self.get("ecc_uncorrected_volatile", 0),
            processes: if with_processes {
                self.get(
                    "processes",
                    vec![GpuProcess {
                        pid: 4242,
                        used_bytes: Some(80 * 1024 * 1024 * 1024),
                        name: Some("llama-server".into()),
                        graphics: false,
                    }],
                )
            } else {
                Ok(Vec::new())
            },
            health: self.health(with_processes),
        }
    }

    fn watch_xids(
        &self,
        devices: &[DeviceInfo],
        poll: Duration,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(XidEvent),
    ) -> Read<()> {
        if self.unsupported.contains("xids") {
            return Err(ReadError::NotSupported);
        }
        let start = Instant::now();
        let mut script = self.xids.clone();
        script.sort_by_key(|(at, _, _)| *at);
        let mut script = script.into_iter().peekable();
        while !stop.load(Ordering::Relaxed) {
            match script.peek() {
                Some((at, index, xid)) if start.elapsed() >= *at => {
                    let gpu = devices
                        .iter()
                        .find(|d| d.index == *index && d.parent_uuid.is_none());
                    if let Some(d) = gpu {
                        on_event(XidEvent {
                            uuid: d.uuid.clone(),
                            xid: *xid,
                            time_unix_nano: llamacol_api::clock::unix_nanos(),
                        });
                    }
                    script.next();
                }
                _ => std::thread::sleep(poll.min(Duration::from_millis(10))),
            }
        }
        Ok(())
    }
}

impl FakeGpus {
    /// An H200 capped at 600 of its 700 W, some throttling, two remapped rows, two
    /// NVLinks (the second down, with replays), llama-server using the SMs.
    fn health(&self, with_processes: bool) -> Health {
        Health {
            power_limit_mw: self.get("power_limit_mw", 600_000),
            power_limit_default_mw: self.get("power_limit_default_mw", 700_000),
            memory_temperature_c: self.get("memory_temperature_c", 71),
            violation_ns: [
                self.get("violation_ns", 2_500_000_000),
                self.get("violation_ns", 1_000_000),
                self.get("violation_ns", 0),
                self.get("violation_ns", 0),
                self.get("violation_ns", 30_000_000_000),
                self.get("violation_ns", 0),
            ],
            remapped_rows: self.get(
                "remapped_rows",
                RemappedRows {
                    correctable: 2,
                    uncorrectable: 0,
                    pending: false,
                    failed: false,
                },
            ),
            retired_pages: self.get(
                "retired_pages",
                RetiredPages {
                    single_bit: 0,
                    double_bit: 0,
                    pending: false,
                },
            ),
            nvlinks: self.get(
                "nvlinks",
                vec![
                    NvLink {
                        link: 0,
                        active: true,
                        errors: [Ok(0), Ok(0), Ok(0), Ok(0)],
                        bytes: Ok((1 << 30, 2 << 30)),
                    },
                    NvLink {
                        link: 1,
                        active: false,
                        errors: [Ok(7), Ok(1), Ok(3), Ok(0)],
                        bytes: Ok((0, 0)),
                    },
                ],
            ),
            process_utilization: if !with_processes {
                Ok(Vec::new())
            } else {
                self.get(
                    "process_utilization",
                    vec![ProcessUtilization {
                        pid: 4242,
                        sm: 83,
                        memory: 40,
                        encoder: 0,
                        decoder: 0,
                    }],
                )
            },
        }
    }
}
