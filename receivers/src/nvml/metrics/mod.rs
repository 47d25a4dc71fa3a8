//! Readings to OTLP metrics, under OpenTelemetry hardware semantic-convention names
//! (`hw.*`, with `nvml.*` where no convention exists) or dcgm-exporter's names.

use std::collections::BTreeMap;

use llamacol_api::otlp::common::v1::{any_value, KeyValue};
use llamacol_api::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, Sum,
};

use llamacol_api::attributes::{kv, string as s};

use super::config::{Naming, NvmlConfig};
use super::gpus::{DeviceInfo, Read, ReadError, Reading, THROTTLE_REASONS};
use super::xid::XidCounts;

mod health;

const PROCESS_MEMORY: &str = "nvml.process.memory.usage";

/// A MIG instance's profile from its NVML name ("NVIDIA H100 80GB HBM3 MIG 3g.40gb" ->
/// "3g.40gb"), as dcgm-exporter's `GPU_I_PROFILE` shows it.
fn mig_profile(name: &str) -> Option<&str> {
    name.rsplit_once(" MIG ").map(|(_, profile)| profile.trim())
}

/// One collection cycle's metrics, built device by device.
pub struct Cycle<'a> {
    config: &'a NvmlConfig,
    /// XIDs seen since the receiver started.
    xids: &'a XidCounts,
    driver: &'a str,
    host: &'a str,
    now: u64,
    /// Start time of cumulative counters (first sight of the receiver).
    start: u64,
    metrics: BTreeMap<String, Metric>,
    /// (device UUID, reading) pairs NVML does not support; logged once by the receiver.
    pub unsupported: Vec<(String, &'static str)>,
    /// (device UUID, reading, error) that failed otherwise.
    pub failed: Vec<(String, &'static str, String)>,
    /// Devices that fell off the bus (NVML's GPU_IS_LOST) in this cycle.
    pub lost: Vec<String>,
}

impl<'a> Cycle<'a> {
    pub fn new(
        config: &'a NvmlConfig,
        xids: &'a XidCounts,
        driver: &'a str,
        host: &'a str,
        now: u64,
        start: u64,
    ) -> Self {
        Cycle {
            config,
            xids,
            driver,
            host,
            now,
            start,
            metrics: BTreeMap::new(),
            unsupported: Vec::new(),
            failed: Vec::new(),
            lost: Vec::new(),
        }
    }

    pub fn finish(self) -> Vec<Metric> {
        self.metrics.into_values().collect()
    }

    fn ok<'r, T>(
        &mut self,
        device: &DeviceInfo,
        reading: &'static str,
        r: &'r Read<T>,
    ) -> Option<&'r T> {
        match r {
            Ok(v) => Some(v),
            Err(ReadError::NotSupported) => {
                self.unsupported.push((device.uuid.clone(), reading));
                None
            }
            Err(ReadError::Lost) => {
                if !self.lost.contains(&device.uuid) {
                    self.lost.push(device.uuid.clone());
                }
                None
            }
            Err(ReadError::Failed(e)) => {
                self.failed.push((device.uuid.clone(), reading, e.clone()));
                None
            }
        }
    }

    fn point(
        &mut self,
        name: &str,
        unit: &str,
        description: &str,
        counter: bool,
        attributes: Vec<KeyValue>,
        value: f64,
    ) {
        let start = if counter { self.start } else { 0 };
        let p = NumberDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: self.now,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        };
        let m = self
            .metrics
            .entry(name.to_string())
            .or_insert_with(|| Metric {
                name: name.into(),
                unit: unit.into(),
                description: description.into(),
                data: Some(if counter {
                    metric::Data::Sum(Sum {
                        data_points: Vec::new(),
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    })
                } else {
                    metric::Data::Gauge(Gauge {
                        data_points: Vec::new(),
                    })
                }),
                ..Default::default()
            });
        match &mut m.data {
            Some(metric::Data::Sum(sum)) => sum.data_points.push(p),
            Some(metric::Data::Gauge(g)) => g.data_points.push(p),
            _ => {}
        }
    }

    pub fn device(&mut self, d: &DeviceInfo, r: &Reading) {
        match self.config.naming {
            Naming::Semconv => self.semconv(d, r),
            Naming::Dcgm => self.dcgm(d, r),
        }
        let physical = d.parent_uuid.is_none();
        if self.config.naming == Naming::Semconv && physical && self.config.enabled("hw.status") {
            let lost = self.lost.contains(&d.uuid);
            for (state, now) in [("ok", !lost), ("failed", lost)] {
                self.point(
                    "hw.status",
                    "1",
                    "1 for the GPU's state now: failed once it fell off the bus",
                    false,
                    Self::with(&self.attributes(d), &[s("hw.state", state)]),
                    if now { 1.0 } else { 0.0 },
                );
            }
        }
    }

    fn attributes(&self, d: &DeviceInfo) -> Vec<KeyValue> {
        let mut a = vec![
            s("hw.id", &d.uuid),
            s("hw.type", "gpu"),
            s("hw.vendor", "NVIDIA"),
            s("hw.model", &d.name),
            s("hw.name", &format!("{} {}", d.name, d.index)),
            s("hw.driver_version", self.driver),
            kv(
                "nvml.gpu.index",
                any_value::Value::IntValue(i64::from(d.index)),
            ),
        ];
        if !d.pci_bus_id.is_empty() {
            a.push(s("nvml.pci.bus_id", &d.pci_bus_id));
        }
        if let Some(parent) = &d.parent_uuid {
            a.push(s("hw.parent", parent));
            if let Some(profile) = mig_profile(&d.name) {
                a.push(s("nvml.mig.profile", profile));
            }
        }
        a
    }

    fn with(base: &[KeyValue], extra: &[KeyValue]) -> Vec<KeyValue> {
        base.iter().chain(extra).cloned().collect()
    }

    fn semconv(&mut self, d: &DeviceInfo, r: &Reading) {
        let a = self.attributes(d);
        let on = |m: &str| self.config.enabled(m);
        if on("hw.gpu.utilization") {
            for (task, reading, field) in [
                ("general", &r.utilization_gpu, "utilization_gpu"),
                ("encoder", &r.utilization_encoder, "utilization_encoder"),
                ("decoder", &r.utilization_decoder, "utilization_decoder"),
            ] {
                if let Some(v) = self.ok(d, field, reading) {
                    self.point(
                        "hw.gpu.utilization",
                        "1",
                        "Fraction of time the GPU was busy, per task",
                        false,
                        Self::with(&a, &[s("hw.gpu.task", task)]),
                        f64::from(*v) / 100.0,
                    );
                }
            }
        }
        if on("hw.gpu.memory.utilization") {
            if let Some(v) = self.ok(d, "utilization_memory", &r.utilization_memory) {
                self.point(
                    "hw.gpu.memory.utilization",
                    "1",
                    "Fraction of time GPU memory was read or written",
                    false,
                    a.clone(),
                    f64::from(*v) / 100.0,
                );
            }
        }
        if on("hw.gpu.memory.usage") {
            if let Some(v) = self.ok(d, "memory_used_bytes", &r.memory_used_bytes) {
                self.point(
                    "hw.gpu.memory.usage",
                    "By",
                    "GPU memory in use",
                    false,
                    a.clone(),
                    *v as f64,
                );
            }
        }
        if on("hw.gpu.memory.limit") {
            if let Some(v) = self.ok(d, "memory_total_bytes", &r.memory_total_bytes) {
                self.point(
                    "hw.gpu.memory.limit",
                    "By",
                    "GPU memory in total",
                    false,
                    a.clone(),
                    *v as f64,
                );
            }
        }
        if on("hw.power") {
            if let Some(v) = self.ok(d, "power_mw", &r.power_mw) {
                self.point(
                    "hw.power",
                    "W",
                    "Power drawn (NVML reports mW)",
                    false,
                    a.clone(),
                    f64::from(*v) / 1000.0,
                );
            }
        }
        if on("hw.energy") {
            if let Some(v) = self.ok(d, "energy_mj", &r.energy_mj) {
                self.point(
                    "hw.energy",
                    "J",
                    "Energy used since the driver loaded (NVML reports mJ)",
                    true,
                    a.clone(),
                    *v as f64 / 1000.0,
                );
            }
        }
        if on("hw.temperature") {
            if let Some(v) = self.ok(d, "temperature_c", &r.temperature_c) {
                self.point(
                    "hw.temperature",
                    "Cel",
                    "Temperature per sensor",
                    false,
                    Self::with(&a, &[s("hw.sensor_location", "gpu")]),
                    f64::from(*v),
                );
            }
        }
        if on("hw.fan.speed_ratio") {
            if let Some(fans) = self.ok(d, "fan_speed_percent", &r.fan_speed_percent) {
                for (i, v) in fans.iter().enumerate() {
                    self.point(
                        "hw.fan.speed_ratio",
                        "1",
                        "Fan speed as a fraction of its maximum",
                        false,
                        Self::with(
                            &a,
                            &[kv("nvml.fan.index", any_value::Value::IntValue(i as i64))],
                        ),
                        f64::from(*v) / 100.0,
                    );
                }
            }
        }
        if on("hw.errors") {
            for (kind, reading, field) in [
                ("corrected", &r.ecc_corrected, "ecc_corrected"),
                ("uncorrected", &r.ecc_uncorrected, "ecc_uncorrected"),
            ] {
                if let Some(v) = self.ok(d, field, reading) {
                    self.point(
                        "hw.errors",
                        "{error}",
                        "ECC memory errors since the GPU's first use",
                        true,
                        Self::with(&a, &[s("error.type", kind)]),
                        *v as f64,
                    );
                }
            }
            for (kind, reading, field) in [
                (
                    "corrected",
                    &r.ecc_corrected_volatile,
                    "ecc_corrected_volatile",
                ),
                (
                    "uncorrected",
                    &r.ecc_uncorrected_volatile,
                    "ecc_uncorrected_volatile",
                ),
            ] {
                if let Some(v) = self.ok(d, field, reading) {
                    self.point(
                        "nvml.ecc.volatile.errors",
                        "{error}",
                        "ECC memory errors since the driver loaded",
                        true,
                        Self::with(&a, &[s("error.type", kind)]),
                        *v as f64,
                    );
                }
            }
        }
        if on("nvml.clock.frequency") {
            for (domain, reading, field) in [
                ("sm", &r.clock_sm_mhz, "clock_sm_mhz"),
                ("memory", &r.clock_memory_mhz, "clock_memory_mhz"),
                ("graphics", &r.clock_graphics_mhz, "clock_graphics_mhz"),
            ] {
                if let Some(v) = self.ok(d, field, reading) {
                    self.point(
                        "nvml.clock.frequency",
                        "Hz",
                        "Current clock frequency per domain (NVML reports MHz)",
                        false,
                        Self::with(&a, &[s("nvml.clock.domain", domain)]),
                        f64::from(*v) * 1e6,
                    );
                }
            }
        }
        if on("nvml.pcie.throughput") {
            for (direction, reading, field) in [
                ("transmit", &r.pcie_tx_kb_per_s, "pcie_tx_kb_per_s"),
                ("receive", &r.pcie_rx_kb_per_s, "pcie_rx_kb_per_s"),
            ] {
                if let Some(v) = self.ok(d, field, reading) {
                    self.point(
                        "nvml.pcie.throughput",
                        "By/s",
                        "PCIe throughput (NVML reports KB/s)",
                        false,
                        Self::with(&a, &[s("network.io.direction", direction)]),
                        f64::from(*v) * 1024.0,
                    );
                }
            }
        }
        if on("nvml.pcie.replay.count") {
            if let Some(v) = self.ok(d, "pcie_replay_count", &r.pcie_replay_count) {
                self.point(
                    "nvml.pcie.replay.count",
                    "{replay}",
                    "PCIe replays",
                    true,
                    a.clone(),
                    *v as f64,
                );
            }
        }
        if on("nvml.throttle.reason") {
            if let Some(bits) = self.ok(d, "throttle_reasons", &r.throttle_reasons) {
                for (bit, name) in THROTTLE_REASONS {
                    self.point(
                        "nvml.throttle.reason",
                        "",
                        "1 while clocks are held back for this reason",
                        false,
                        Self::with(&a, &[s("nvml.throttle.reason", name)]),
                        if bits & bit != 0 { 1.0 } else { 0.0 },
                    );
                }
            }
        }
        if on("nvml.performance_state") {
            if let Some(v) = self.ok(d, "performance_state", &r.performance_state) {
                self.point(
                    "nvml.performance_state",
                    "",
                    "Performance state (0 fastest, 15 slowest)",
                    false,
                    a.clone(),
                    f64::from(*v),
                );
            }
        }
        if self.config.enabled(PROCESS_MEMORY) {
            if let Some(ps) = self.ok(d, "processes", &r.processes) {
                for p in ps.clone() {
                    if let Some(bytes) = p.used_bytes {
                        let mut pa = Self::with(
                            &a,
                            &[kv(
                                "process.pid",
                                any_value::Value::IntValue(i64::from(p.pid)),
                            )],
                        );
                        if let Some(name) = &p.name {
                            pa.push(s("process.executable.name", name));
                        }
                        let kind = if p.graphics { "graphics" } else { "compute" };
                        pa.push(s("nvml.process.type", kind));
                        self.point(
                            PROCESS_MEMORY,
                            "By",
                            "GPU memory used by a process",
                            false,
                            pa,
                            bytes as f64,
                        );
                    }
                }
            }
        }
        self.semconv_health(d, &r.health, &a);
    }

    /// dcgm-exporter's names, units, labels and types (gauge or counter, as its counter
    /// files say; serve them with `translation_strategy: UnderscoreEscapingWithoutSuffixes`
    /// so a counter gets no `_total`, as dcgm-exporter's have none).
    fn dcgm(&mut self, d: &DeviceInfo, r: &Reading) {
        let mut a = vec![
            s("gpu", &d.index.to_string()),
            s("UUID", &d.uuid),
            s("device", &format!("nvidia{}", d.index)),
            s("modelName", &d.name),
            s("Hostname", self.host),
            s("pci_bus_id", &d.pci_bus_id),
            s("DCGM_FI_DRIVER_VERSION", self.driver),
        ];
        // dcgm-exporter's MIG label; GPU_I_ID/GPU_CI_ID need nvmlDeviceGetGpuInstanceId,
        // which nvml-wrapper 0.13 does not wrap (and llamacol has no unsafe code).
        if let Some(profile) = d.parent_uuid.as_ref().and(mig_profile(&d.name)) {
            a.push(s("GPU_I_PROFILE", profile));
        }
        let on = |m: &str| self.config.enabled(m);
        let emit =
            |cycle: &mut Self, name: &str, v: f64| cycle.point(name, "", "", false, a.clone(), v);
        let count =
            |cycle: &mut Self, name: &str, v: f64| cycle.point(name, "", "", true, a.clone(), v);
        if on("hw.gpu.utilization") {
            for (name, reading, field) in [
                (
                    "DCGM_FI_DEV_GPU_UTIL",
                    &r.utilization_gpu,
                    "utilization_gpu",
                ),
                (
                    "DCGM_FI_DEV_ENC_UTIL",
                    &r.utilization_encoder,
                    "utilization_encoder",
                ),
                (
                    "DCGM_FI_DEV_DEC_UTIL",
                    &r.utilization_decoder,
                    "utilization_decoder",
                ),
            ] {
                if let Some(v) = self.ok(d, field, reading).copied() {
                    emit(self, name, f64::from(v));
                }
            }
        }
        if on("hw.gpu.memory.utilization") {
            if let Some(v) = self
                .ok(d, "utilization_memory", &r.utilization_memory)
                .copied()
            {
                emit(self, "DCGM_FI_DEV_MEM_COPY_UTIL", f64::from(v));
            }
        }
        const MIB: f64 = 1024.0 * 1024.0;
        let used = self
            .ok(d, "memory_used_bytes", &r.memory_used_bytes)
            .copied();
        let total = self
            .ok(d, "memory_total_bytes", &r.memory_total_bytes)
            .copied();
        let reserved = self
            .ok(d, "memory_reserved_bytes", &r.memory_reserved_bytes)
            .copied()
            .unwrap_or(0);
        if on("hw.gpu.memory.usage") {
            if let Some(u) = used {
                emit(self, "DCGM_FI_DEV_FB_USED", (u as f64 / MIB).floor());
                emit(
                    self,
                    "DCGM_FI_DEV_FB_RESERVED",
                    (reserved as f64 / MIB).floor(),
                );
                if let Some(t) = total {
                    // NVML's free: neither used nor reserved.
                    let free = t.saturating_sub(u).saturating_sub(reserved);
                    emit(self, "DCGM_FI_DEV_FB_FREE", (free as f64 / MIB).floor());
                }
            }
        }
        // (switch, name, counter, value)
        let simple: [(&str, &str, bool, Option<f64>); 7] = [
            (
                "hw.power",
                "DCGM_FI_DEV_POWER_USAGE",
                false,
                self.ok(d, "power_mw", &r.power_mw)
                    .map(|v| f64::from(*v) / 1000.0),
            ),
            (
                "hw.energy",
                "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
                true,
                self.ok(d, "energy_mj", &r.energy_mj).map(|v| *v as f64),
            ),
            (
                "hw.temperature",
                "DCGM_FI_DEV_GPU_TEMP",
                false,
                self.ok(d, "temperature_c", &r.temperature_c)
                    .map(|v| f64::from(*v)),
            ),
            (
                "nvml.clock.frequency",
                "DCGM_FI_DEV_SM_CLOCK",
                false,
                self.ok(d, "clock_sm_mhz", &r.clock_sm_mhz)
                    .map(|v| f64::from(*v)),
            ),
            (
                "nvml.clock.frequency",
                "DCGM_FI_DEV_MEM_CLOCK",
                false,
                self.ok(d, "clock_memory_mhz", &r.clock_memory_mhz)
                    .map(|v| f64::from(*v)),
            ),
            (
                "nvml.pcie.replay.count",
                "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
                true,
                self.ok(d, "pcie_replay_count", &r.pcie_replay_count)
                    .map(|v| *v as f64),
            ),
            (
                "nvml.throttle.reason",
                "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
                false,
                self.ok(d, "throttle_reasons", &r.throttle_reasons)
                    .map(|v| *v as f64),
            ),
        ];
        for (switch, name, counter, value) in simple {
            if let (true, Some(v)) = (on(switch), value) {
                if counter {
                    count(self, name, v);
                } else {
                    emit(self, name, v);
                }
            }
        }
        if on("hw.errors") {
            for (name, reading, field) in [
                (
                    "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL",
                    &r.ecc_corrected,
                    "ecc_corrected",
                ),
                (
                    "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL",
                    &r.ecc_uncorrected,
                    "ecc_uncorrected",
                ),
                (
                    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
                    &r.ecc_corrected_volatile,
                    "ecc_corrected_volatile",
                ),
                (
                    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
                    &r.ecc_uncorrected_volatile,
                    "ecc_uncorrected_volatile",
                ),
            ] {
                if let Some(v) = self.ok(d, field, reading).copied() {
                    count(self, name, v as f64);
                }
            }
        }
        if on("hw.fan.speed_ratio") {
            if let Some(first) = self
                .ok(d, "fan_speed_percent", &r.fan_speed_percent)
                .and_then(|f| f.first())
                .copied()
            {
                emit(self, "DCGM_FI_DEV_FAN_SPEED", f64::from(first));
            }
        }
        if on("nvml.pcie.throughput") {
            for (name, reading, field) in [
                (
                    "DCGM_FI_PROF_PCIE_TX_BYTES",
                    &r.pcie_tx_kb_per_s,
                    "pcie_tx_kb_per_s",
                ),
                (
                    "DCGM_FI_PROF_PCIE_RX_BYTES",
                    &r.pcie_rx_kb_per_s,
                    "pcie_rx_kb_per_s",
                ),
            ] {
                if let Some(v) = self.ok(d, field, reading).copied() {
                    emit(self, name, f64::from(v) * 1024.0);
                }
            }
        }
        self.dcgm_health(d, &r.health, &a);
    }
}
