//! "The GPUs" as the receiver sees them: a small trait with the NVML implementation
//! (`backend.rs`) and a fake (`fake.rs`) that tests and benches use. Readings keep NVML's
//! own units (mW, mJ, MHz, KB/s, percent); conversion happens in `metrics.rs`.

/// Why a reading is missing.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// NVML says the device does not support this reading (left out, logged once).
    NotSupported,
    Failed(String),
}

pub type Read<T> = Result<T, ReadError>;

/// What does not change while the receiver runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceInfo {
    pub index: u32,
    pub uuid: String,
    /// Product name, e.g. "NVIDIA H200".
    pub name: String,
    pub pci_bus_id: String,
    /// For a MIG instance: the UUID of the physical GPU.
    pub parent_uuid: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GpuProcess {
    pub pid: u32,
    pub used_bytes: Option<u64>,
    pub name: Option<String>,
}

/// One device's readings in one cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Percent of time a kernel ran (`nvmlDeviceGetUtilizationRates().gpu`).
    pub utilization_gpu: Read<u32>,
    /// Percent of time memory was read or written (`.memory`).
    pub utilization_memory: Read<u32>,
    pub utilization_encoder: Read<u32>,
    pub utilization_decoder: Read<u32>,
    pub memory_used_bytes: Read<u64>,
    pub memory_total_bytes: Read<u64>,
    pub power_mw: Read<u32>,
    /// Since the driver loaded.
    pub energy_mj: Read<u64>,
    pub temperature_c: Read<u32>,
    /// Percent of maximum, per fan.
    pub fan_speed_percent: Read<Vec<u32>>,
    pub clock_sm_mhz: Read<u32>,
    pub clock_memory_mhz: Read<u32>,
    pub clock_graphics_mhz: Read<u32>,
    pub pcie_tx_kb_per_s: Read<u32>,
    pub pcie_rx_kb_per_s: Read<u32>,
    pub pcie_replay_count: Read<u64>,
    /// `nvmlClocksThrottleReason*` bits.
    pub throttle_reasons: Read<u64>,
    /// P-state number (0 fastest .. 15).
    pub performance_state: Read<u32>,
    pub ecc_corrected: Read<u64>,
    pub ecc_uncorrected: Read<u64>,
    pub processes: Read<Vec<GpuProcess>>,
}

/// NVML's throttle-reason bits (nvml.h), named as the series attribute shows them.
pub const THROTTLE_REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

pub trait Gpus: Send + Sync {
    fn driver_version(&self) -> Read<String>;
    /// Every GPU and MIG instance.
    fn devices(&self) -> Read<Vec<DeviceInfo>>;
    fn read(&self, device: &DeviceInfo, with_processes: bool) -> Reading;
}
