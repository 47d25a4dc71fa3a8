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

mod dcgm;
mod health;

const PROCESS_MEMORY: &str = "nvml.process.memory.usage";

/// A MIG instance's profile from its NVML name ("NVIDIA H100 80GB HBM3 MIG 3g.40gb" ->
/// "3g.40gb"), as dcgm-exporter's `GPU_I_PROFILE` shows it.
fn mig_profile(name: &str) -> Option<&str> {
    name.rsplit_once(" MIG ").map(|(_, profile)| profile.trim())
}

/// A metric's name, unit, description and whether it is a counter.
type Series = (&'static str, &'static str, &'static str, bool);

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
    /// (device UUID, reading) NVML refuses to this user.
    pub forbidden: Vec<(String, &'static str)>,
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
            forbidden: Vec::new(),
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
            Err(ReadError::NoPermission) => {
                self.forbidden.push((device.uuid.clone(), reading));
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

    /// [`Cycle::ok`] when `on` (a switched-off metric's reading is neither read nor
    /// reported as unsupported).
    fn ok_if<'r, T>(
        &mut self,
        on: bool,
        device: &DeviceInfo,
        reading: &'static str,
        r: &'r Read<T>,
    ) -> Option<&'r T> {
        if on {
            self.ok(device, reading, r)
        } else {
            None
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
            for (key, id) in [
                ("nvml.mig.gpu_instance.id", d.gpu_instance_id),
                ("nvml.mig.compute_instance.id", d.compute_instance_id),
            ] {
                if let Some(id) = id {
                    a.push(kv(key, any_value::Value::IntValue(i64::from(id))));
                }
            }
        }
        a
    }

    /// One point of `series` per `(label, reading, field)` of `readings`, labelled `key`,
    /// valued by `value` (the readings there are).
    fn per_label<T: Copy>(
        &mut self,
        d: &DeviceInfo,
        a: &[KeyValue],
        (name, unit, description, counter): Series,
        key: &str,
        readings: &[(&str, &Read<T>, &'static str)],
        value: impl Fn(T) -> f64,
    ) {
        for (label, reading, field) in readings {
            if let Some(v) = self.ok(d, field, reading).copied() {
                let attributes = Self::with(a, &[s(key, label)]);
                self.point(name, unit, description, counter, attributes, value(v));
            }
        }
    }

    fn with(base: &[KeyValue], extra: &[KeyValue]) -> Vec<KeyValue> {
        base.iter().chain(extra).cloned().collect()
    }

    fn semconv(&mut self, d: &DeviceInfo, r: &Reading) {
        let a = self.attributes(d);
        let config = self.config;
        let on = |m: &str| config.enabled(m);
        // One point per GPU, named as its switch: (name, unit, description, counter, value).
        let single: [(&str, &str, &str, bool, Option<f64>); 7] = [
            (
                "hw.gpu.memory.utilization",
                "1",
                "Fraction of time GPU memory was read or written",
                false,
                self.ok_if(
                    on("hw.gpu.memory.utilization"),
                    d,
                    "utilization_memory",
                    &r.utilization_memory,
                )
                .map(|v| f64::from(*v) / 100.0),
            ),
            (
                "hw.gpu.memory.usage",
                "By",
                "GPU memory in use",
                false,
                self.ok_if(
                    on("hw.gpu.memory.usage"),
                    d,
                    "memory_used_bytes",
                    &r.memory_used_bytes,
                )
                .map(|v| *v as f64),
            ),
            (
                "hw.gpu.memory.limit",
                "By",
                "GPU memory in total",
                false,
                self.ok_if(
                    on("hw.gpu.memory.limit"),
                    d,
                    "memory_total_bytes",
                    &r.memory_total_bytes,
                )
                .map(|v| *v as f64),
            ),
            (
                "hw.power",
                "W",
                "Power drawn (NVML reports mW)",
                false,
                self.ok_if(on("hw.power"), d, "power_mw", &r.power_mw)
                    .map(|v| f64::from(*v) / 1000.0),
            ),
            (
                "hw.energy",
                "J",
                "Energy used since the driver loaded (NVML reports mJ)",
                true,
                self.ok_if(on("hw.energy"), d, "energy_mj", &r.energy_mj)
                    .map(|v| *v as f64 / 1000.0),
            ),
            (
                "nvml.pcie.replay.count",
                "{replay}",
                "PCIe replays",
                true,
                self.ok_if(
                    on("nvml.pcie.replay.count"),
                    d,
                    "pcie_replay_count",
                    &r.pcie_replay_count,
                )
                .map(|v| *v as f64),
            ),
            (
                "nvml.performance_state",
                "",
                "Performance state (0 fastest, 15 slowest)",
                false,
                self.ok_if(
                    on("nvml.performance_state"),
                    d,
                    "performance_state",
                    &r.performance_state,
                )
                .map(|v| f64::from(*v)),
            ),
        ];
        for (name, unit, description, counter, value) in single {
            if let Some(v) = value {
                self.point(name, unit, description, counter, a.clone(), v);
            }
        }
        if on("hw.gpu.utilization") {
            let series = (
                "hw.gpu.utilization",
                "1",
                "Fraction of time the GPU was busy, per task",
                false,
            );
            let readings = [
                ("general", &r.utilization_gpu, "utilization_gpu"),
                ("encoder", &r.utilization_encoder, "utilization_encoder"),
                ("decoder", &r.utilization_decoder, "utilization_decoder"),
            ];
            let percent = |v: u32| f64::from(v) / 100.0;
            self.per_label(d, &a, series, "hw.gpu.task", &readings, percent);
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
            let count = |v: u64| v as f64;
            let life = (
                "hw.errors",
                "{error}",
                "ECC memory errors since the GPU's first use",
                true,
            );
            let readings = [
                ("corrected", &r.ecc_corrected, "ecc_corrected"),
                ("uncorrected", &r.ecc_uncorrected, "ecc_uncorrected"),
            ];
            self.per_label(d, &a, life, "error.type", &readings, count);
            let boot = (
                "nvml.ecc.volatile.errors",
                "{error}",
                "ECC memory errors since the driver loaded",
                true,
            );
            let readings = [
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
            ];
            self.per_label(d, &a, boot, "error.type", &readings, count);
        }
        if on("nvml.clock.frequency") {
            let series = (
                "nvml.clock.frequency",
                "Hz",
                "Current clock frequency per domain (NVML reports MHz)",
                false,
            );
            let readings = [
                ("sm", &r.clock_sm_mhz, "clock_sm_mhz"),
                ("memory", &r.clock_memory_mhz, "clock_memory_mhz"),
                ("graphics", &r.clock_graphics_mhz, "clock_graphics_mhz"),
            ];
            let mhz = |v: u32| f64::from(v) * 1e6;
            self.per_label(d, &a, series, "nvml.clock.domain", &readings, mhz);
        }
        if on("nvml.pcie.throughput") {
            let series = (
                "nvml.pcie.throughput",
                "By/s",
                "PCIe throughput (NVML reports KB/s)",
                false,
            );
            let readings = [
                ("transmit", &r.pcie_tx_kb_per_s, "pcie_tx_kb_per_s"),
                ("receive", &r.pcie_rx_kb_per_s, "pcie_rx_kb_per_s"),
            ];
            let kb = |v: u32| f64::from(v) * 1024.0;
            self.per_label(d, &a, series, "network.io.direction", &readings, kb);
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
}
