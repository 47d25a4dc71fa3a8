//! "The GPUs" as the receiver sees them: a small trait with the NVML implementation
//! (`backend.rs`) and a fake (`fake.rs`) that tests and benches use. Readings keep NVML's
//! own units (mW, mJ, MHz, KB/s, percent); conversion happens in `metrics.rs`.

/// Why a reading is missing.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// NVML says the device does not support this reading (left out, logged once).
    NotSupported,
    /// NVML refuses the reading to this user (NO_PERMISSION): left out, logged once
    /// with the fix.
    NoPermission,
    /// The GPU fell off the bus (NVML's GPU_IS_LOST): every reading of it fails until
    /// it is back; reported once per GPU, not per reading.
    Lost,
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
    /// For a MIG instance: its GPU instance and compute instance ids.
    pub gpu_instance_id: Option<u32>,
    pub compute_instance_id: Option<u32>,
    /// The device node's minor number (`/dev/nvidia<minor>`; a MIG instance: its GPU's),
    /// which NVIDIA's DRA driver names devices by (`gpu-<minor>`).
    pub minor_number: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GpuProcess {
    pub pid: u32,
    pub used_bytes: Option<u64>,
    pub name: Option<String>,
    /// A graphics context (OpenGL, Vulkan) rather than a compute (CUDA) one.
    pub graphics: bool,
}

/// A process's share of the GPU over the last sampling period
/// (`nvmlDeviceGetProcessUtilization`), percent.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessUtilization {
    pub pid: u32,
    pub sm: u32,
    pub memory: u32,
    pub encoder: u32,
    pub decoder: u32,
}

/// HBM row remapping (A100 and later): rows remapped so far, one waiting for a GPU reset,
/// or a remap that failed (the GPU should be replaced).
#[derive(Debug, Clone, PartialEq)]
pub struct RemappedRows {
    pub correctable: u64,
    pub uncorrectable: u64,
    pub pending: bool,
    pub failed: bool,
}

/// Dynamic page retirement (before A100): pages retired for ECC errors, and whether a
/// retirement waits for the next driver load.
#[derive(Debug, Clone, PartialEq)]
pub struct RetiredPages {
    pub single_bit: u64,
    pub double_bit: u64,
    pub pending: bool,
}

/// One NVLink: up or not, and its error counters since the driver loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct NvLink {
    pub link: u32,
    pub active: bool,
    /// In the order of [`NVLINK_ERRORS`].
    pub errors: [Read<u64>; 4],
    /// Data bytes sent and received over the link since the driver loaded.
    pub bytes: Read<(u64, u64)>,
}

/// NVLink error counters (`nvmlNvLinkErrorCounter_t` value, series attribute, dcgm-exporter
/// name of their sum over the links).
pub const NVLINK_ERRORS: [(u32, &str, &str); 4] = [
    (0, "replay", "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL"),
    (
        1,
        "recovery",
        "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL",
    ),
    (
        2,
        "crc_flit",
        "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL",
    ),
    (
        3,
        "crc_data",
        "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL",
    ),
];

/// Performance policies whose violation time NVML counts (`nvmlPerfPolicyType_t` value,
/// series attribute, dcgm-exporter name).
pub const VIOLATIONS: [(u32, &str, &str); 6] = [
    (0, "power", "DCGM_FI_DEV_POWER_VIOLATION"),
    (1, "thermal", "DCGM_FI_DEV_THERMAL_VIOLATION"),
    (2, "sync_boost", "DCGM_FI_DEV_SYNC_BOOST_VIOLATION"),
    (3, "board_limit", "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION"),
    (4, "low_utilization", "DCGM_FI_DEV_LOW_UTIL_VIOLATION"),
    (5, "reliability", "DCGM_FI_DEV_RELIABILITY_VIOLATION"),
];

/// The readings that tell whether a GPU is healthy and held back: what dcgm-exporter's
/// users watch beyond the basics.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// The power limit the GPU enforces now, and its default (a lower enforced limit
    /// means the GPU is capped).
    pub power_limit_mw: Read<u32>,
    pub power_limit_default_mw: Read<u32>,
    /// HBM temperature (`NVML_FI_DEV_MEMORY_TEMP`).
    pub memory_temperature_c: Read<u64>,
    /// Time clocks were held back per policy since the driver loaded, ns; in the order
    /// of [`VIOLATIONS`].
    pub violation_ns: [Read<u64>; 6],
    pub remapped_rows: Read<RemappedRows>,
    pub retired_pages: Read<RetiredPages>,
    pub nvlinks: Read<Vec<NvLink>>,
    pub process_utilization: Read<Vec<ProcessUtilization>>,
}

impl Health {
    /// Every reading missing for the same reason.
    pub fn unavailable(e: ReadError) -> Health {
        Health {
            power_limit_mw: Err(e.clone()),
            power_limit_default_mw: Err(e.clone()),
            memory_temperature_c: Err(e.clone()),
            violation_ns: std::array::from_fn(|_| Err(e.clone())),
            remapped_rows: Err(e.clone()),
            retired_pages: Err(e.clone()),
            nvlinks: Err(e.clone()),
            process_utilization: Err(e),
        }
    }
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
    /// Set aside by the driver and firmware: neither used nor free.
    pub memory_reserved_bytes: Read<u64>,
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
    /// Since the driver loaded (the aggregate ones above: over the GPU's life).
    pub ecc_corrected_volatile: Read<u64>,
    pub ecc_uncorrected_volatile: Read<u64>,
    /// Compute and graphics processes.
    pub processes: Read<Vec<GpuProcess>>,
    pub health: Health,
}

/// NVML's throttle-reason bits, named as the series attribute shows them.
pub use llamacol_api::gpu_timeline::THROTTLE_REASONS;

/// An XID: the driver's report of a GPU error (NVML's critical XID event).
#[derive(Debug, Clone, PartialEq)]
pub struct XidEvent {
    /// The physical GPU's UUID.
    pub uuid: String,
    /// The XID code (NVML reports 999 when it does not know it).
    pub xid: u64,
    /// When llamacol received it.
    pub time_unix_nano: u64,
}

pub trait Gpus: Send + Sync {
    fn driver_version(&self) -> Read<String>;
    /// Every GPU and MIG instance.
    fn devices(&self) -> Read<Vec<DeviceInfo>>;
    fn read(&self, device: &DeviceInfo, with_processes: bool) -> Reading;
    /// Blocks, calling `on_event` with every XID of the physical GPUs among `devices`,
    /// until `stop` is set (looked at every `poll`). `Err(NotSupported)` when no GPU
    /// reports XIDs; another error ends the watch.
    fn watch_xids(
        &self,
        devices: &[DeviceInfo],
        poll: std::time::Duration,
        stop: &std::sync::atomic::AtomicBool,
        on_event: &mut dyn FnMut(XidEvent),
    ) -> Read<()>;
}

impl Reading {
    /// Every reading missing for the same reason (the device could not be opened).
    pub fn unavailable(e: ReadError) -> Reading {
        Reading {
            utilization_gpu: Err(e.clone()),
            utilization_memory: Err(e.clone()),
            utilization_encoder: Err(e.clone()),
            utilization_decoder: Err(e.clone()),
            memory_used_bytes: Err(e.clone()),
            memory_total_bytes: Err(e.clone()),
            memory_reserved_bytes: Err(e.clone()),
            power_mw: Err(e.clone()),
            energy_mj: Err(e.clone()),
            temperature_c: Err(e.clone()),
            fan_speed_percent: Err(e.clone()),
            clock_sm_mhz: Err(e.clone()),
            clock_memory_mhz: Err(e.clone()),
            clock_graphics_mhz: Err(e.clone()),
            pcie_tx_kb_per_s: Err(e.clone()),
            pcie_rx_kb_per_s: Err(e.clone()),
            pcie_replay_count: Err(e.clone()),
            throttle_reasons: Err(e.clone()),
            performance_state: Err(e.clone()),
            ecc_corrected: Err(e.clone()),
            ecc_uncorrected: Err(e.clone()),
            ecc_corrected_volatile: Err(e.clone()),
            ecc_uncorrected_volatile: Err(e.clone()),
            processes: Err(e.clone()),
            health: Health::unavailable(e),
        }
    }
}
