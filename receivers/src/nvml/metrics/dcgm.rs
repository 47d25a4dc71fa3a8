//! dcgm-exporter's names for the basic readings (the health ones are in `health.rs`).

use llamacol_api::attributes::string as s;

use super::{mig_profile, Cycle};
use crate::nvml::gpus::{DeviceInfo, Reading};

impl Cycle<'_> {
    /// dcgm-exporter's names, units, labels and types (gauge or counter, as its counter
    /// files say; serve them with `translation_strategy: UnderscoreEscapingWithoutSuffixes`
    /// so a counter gets no `_total`, as dcgm-exporter's have none).
    pub(super) fn dcgm(&mut self, d: &DeviceInfo, r: &Reading) {
        let mut a = vec![
            s("gpu", &d.index.to_string()),
            s("UUID", &d.uuid),
            s("device", &format!("nvidia{}", d.index)),
            s("modelName", &d.name),
            s("Hostname", self.host),
            s("pci_bus_id", &d.pci_bus_id),
            s("DCGM_FI_DRIVER_VERSION", self.driver),
        ];
        // dcgm-exporter's MIG labels (its template has these two, no compute instance).
        if let Some(profile) = d.parent_uuid.as_ref().and(mig_profile(&d.name)) {
            a.push(s("GPU_I_PROFILE", profile));
            if let Some(id) = d.gpu_instance_id {
                a.push(s("GPU_I_ID", &id.to_string()));
            }
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
