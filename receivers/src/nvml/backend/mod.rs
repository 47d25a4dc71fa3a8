//! The NVML implementation of [`Gpus`], over nvml-wrapper (which loads
//! `libnvidia-ml.so.1` at run time, so llamacol builds and starts without a GPU).

use nvml_wrapper::enum_wrappers::device::{
    Clock, EccCounter, MemoryError, PcieUtilCounter, TemperatureSensor,
};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

use super::gpus::{DeviceInfo, GpuProcess, Gpus, Read, ReadError, Reading, XidEvent};

mod events;
mod ffi;
mod health;

pub struct NvmlGpus {
    nvml: Nvml,
    last_seen: health::LastSeen,
}

impl NvmlGpus {
    /// Loads NVML; the error says what is missing and how to get it.
    pub fn init() -> Result<NvmlGpus, super::Unavailable> {
        Nvml::init()
            .map(|nvml| NvmlGpus {
                nvml,
                last_seen: health::LastSeen::default(),
            })
            .map_err(|e| {
                let why = match &e {
                    NvmlError::LibloadingError(inner) => {
                        format!("libnvidia-ml.so.1 could not be loaded ({inner})")
                    }
                    NvmlError::DriverNotLoaded => {
                        "the NVIDIA kernel driver is not loaded".to_string()
                    }
                    NvmlError::LibraryNotFound => "libnvidia-ml.so.1 was not found".to_string(),
                    other => format!("NVML failed to initialise ({other})"),
                };
                super::unavailable(&why)
            })
    }
}

pub(super) fn read<T>(r: Result<T, NvmlError>) -> Read<T> {
    r.map_err(|e| reason(&e))
}

pub(super) fn reason(e: &NvmlError) -> ReadError {
    match e {
        NvmlError::NotSupported => ReadError::NotSupported,
        NvmlError::GpuLost => ReadError::Lost,
        NvmlError::NoPermission => ReadError::NoPermission,
        other => ReadError::Failed(other.to_string()),
    }
}

impl Gpus for NvmlGpus {
    fn driver_version(&self) -> Read<String> {
        read(self.nvml.sys_driver_version())
    }

    fn devices(&self) -> Read<Vec<DeviceInfo>> {
        let mut out = Vec::new();
        for index in 0..read(self.nvml.device_count())? {
            let d = read(self.nvml.device_by_index(index))?;
            let uuid = read(d.uuid())?;
            let minor_number = read(d.minor_number()).ok();
            out.push(DeviceInfo {
                index,
                uuid: uuid.clone(),
                name: read(d.name()).unwrap_or_default(),
                pci_bus_id: read(d.pci_info()).map(|p| p.bus_id).unwrap_or_default(),
                parent_uuid: None,
                gpu_instance_id: None,
                compute_instance_id: None,
                minor_number,
            });
            // MIG instances are their own devices, with the physical GPU as parent.
            if let Ok(count) = d.mig_device_count() {
                for m in 0..count {
                    if let Ok(mig) = d.mig_device_by_index(m) {
                        if let Ok(mig_uuid) = mig.uuid() {
                            let (gpu_instance_id, compute_instance_id) =
                                ffi::instance_ids(&self.nvml, &mig);
                            out.push(DeviceInfo {
                                index,
                                uuid: mig_uuid,
                                name: mig.name().unwrap_or_default(),
                                pci_bus_id: String::new(),
                                parent_uuid: Some(uuid.clone()),
                                gpu_instance_id,
                                compute_instance_id,
                                minor_number,
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn read(&self, device: &DeviceInfo, with_processes: bool) -> Reading {
        let d = match read(self.nvml.device_by_uuid(device.uuid.as_str())) {
            Ok(d) => d,
            Err(e) => return Reading::unavailable(e),
        };
        let utilization = read(d.utilization_rates());
        let memory = read(d.memory_info());
        let fans = read(d.num_fans()).and_then(|n| {
            (0..n)
                .map(|i| read(d.fan_speed(i)))
                .collect::<Read<Vec<u32>>>()
        });
        let processes = if with_processes {
            self.processes(&d)
        } else {
            Ok(Vec::new())
        };
        Reading {
            utilization_gpu: utilization.clone().map(|u| u.gpu),
            utilization_memory: utilization.map(|u| u.memory),
            utilization_encoder: read(d.encoder_utilization()).map(|u| u.utilization),
            utilization_decoder: read(d.decoder_utilization()).map(|u| u.utilization),
            memory_used_bytes: memory.clone().map(|m| m.used),
            memory_total_bytes: memory.clone().map(|m| m.total),
            memory_reserved_bytes: memory.map(|m| m.reserved),
            power_mw: read(d.power_usage()),
            energy_mj: read(d.total_energy_consumption()),
            temperature_c: read(d.temperature(TemperatureSensor::Gpu)),
            fan_speed_percent: fans,
            clock_sm_mhz: read(d.clock_info(Clock::SM)),
            clock_memory_mhz: read(d.clock_info(Clock::Memory)),
            clock_graphics_mhz: read(d.clock_info(Clock::Graphics)),
            pcie_tx_kb_per_s: read(d.pcie_throughput(PcieUtilCounter::Send)),
            pcie_rx_kb_per_s: read(d.pcie_throughput(PcieUtilCounter::Receive)),
            pcie_replay_count: read(d.pcie_replay_counter()).map(u64::from),
            throttle_reasons: read(d.current_throttle_reasons()).map(|r| r.bits()),
            performance_state: read(d.performance_state()).map(|p| p.as_c()),
            ecc_corrected: read(d.total_ecc_errors(MemoryError::Corrected, EccCounter::Aggregate)),
            ecc_uncorrected: read(
                d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Aggregate),
            ),
            ecc_corrected_volatile: read(
                d.total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile),
            ),
            ecc_uncorrected_volatile: read(
                d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile),
            ),
            processes,
            health: health::health(
                &self.nvml,
                &d,
                &device.uuid,
                &self.last_seen,
                with_processes,
            ),
        }
    }

    fn watch_xids(
        &self,
        devices: &[DeviceInfo],
        poll: std::time::Duration,
        stop: &std::sync::atomic::AtomicBool,
        on_event: &mut dyn FnMut(XidEvent),
    ) -> Read<()> {
        events::watch_xids(&self.nvml, devices, poll, stop, on_event)
    }
}

impl NvmlGpus {
    /// Compute processes, then graphics ones; a process with both contexts is listed
    /// once, as compute (its memory is the same figure in both lists).
    fn processes(&self, d: &nvml_wrapper::Device) -> Read<Vec<GpuProcess>> {
        let compute = read(d.running_compute_processes())?;
        let graphics = match read(d.running_graphics_processes()) {
            Ok(g) => g,
            Err(ReadError::NotSupported) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut out: Vec<GpuProcess> = Vec::new();
        for (p, is_graphics) in compute
            .into_iter()
            .map(|p| (p, false))
            .chain(graphics.into_iter().map(|p| (p, true)))
        {
            if out.iter().any(|seen| seen.pid == p.pid) {
                continue;
            }
            out.push(GpuProcess {
                pid: p.pid,
                used_bytes: match p.used_gpu_memory {
                    UsedGpuMemory::Used(b) => Some(b),
                    UsedGpuMemory::Unavailable => None,
                },
                name: self.nvml.sys_process_name(p.pid, 64).ok(),
                graphics: is_graphics,
            });
        }
        Ok(out)
    }
}
