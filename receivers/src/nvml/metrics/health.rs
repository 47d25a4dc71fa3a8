//! The health readings as metrics: power limits, HBM temperature, violation times, row
//! remapping, retired pages, NVLink and per-process utilization, under both namings.

use llamacol_api::attributes::{kv, string as s};
use llamacol_api::otlp::common::v1::{any_value, KeyValue};

use super::Cycle;
use crate::nvml::gpus::{DeviceInfo, Health, Read, NVLINK_ERRORS, VIOLATIONS};
use crate::nvml::xid::description;

const NS_PER_S: f64 = 1e9;

fn int(key: &str, v: u32) -> KeyValue {
    kv(key, any_value::Value::IntValue(i64::from(v)))
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl Cycle<'_> {
    pub(super) fn semconv_health(&mut self, d: &DeviceInfo, h: &Health, a: &[KeyValue]) {
        let on = |m: &str| self.config.enabled(m);
        // XIDs are reported by the physical GPU, not its MIG instances.
        if on("nvml.xid.errors") && d.parent_uuid.is_none() {
            let seen: Vec<(u64, u64)> = self
                .xids
                .per_code
                .iter()
                .filter(|((uuid, _), _)| *uuid == d.uuid)
                .map(|((_, xid), n)| (*xid, *n))
                .collect();
            for (xid, n) in seen {
                let code = i64::try_from(xid).unwrap_or(i64::MAX);
                self.point(
                    "nvml.xid.errors",
                    "{error}",
                    "XID errors the driver reported since the receiver started, per code",
                    true,
                    Self::with(
                        a,
                        &[
                            kv("nvml.xid", any_value::Value::IntValue(code)),
                            s("nvml.xid.description", description(xid)),
                        ],
                    ),
                    n as f64,
                );
            }
            let last = self.xids.last.get(&d.uuid).copied().unwrap_or(0);
            self.point(
                "nvml.xid.last",
                "",
                "The latest XID code the driver reported (0: none since the receiver started)",
                false,
                a.to_vec(),
                last as f64,
            );
        }
        if on("nvml.power.limit") {
            let series = (
                "nvml.power.limit",
                "W",
                "Power limit: the one enforced now, and the board's default (NVML reports mW)",
                false,
            );
            let readings = [
                ("enforced", &h.power_limit_mw, "power_limit_mw"),
                (
                    "default",
                    &h.power_limit_default_mw,
                    "power_limit_default_mw",
                ),
            ];
            let watts = |mw: u32| f64::from(mw) / 1000.0;
            self.per_label(d, a, series, "nvml.power.limit.type", &readings, watts);
        }
        if on("hw.temperature") {
            if let Some(v) = self
                .ok(d, "memory_temperature_c", &h.memory_temperature_c)
                .copied()
            {
                self.point(
                    "hw.temperature",
                    "Cel",
                    "Temperature per sensor",
                    false,
                    Self::with(a, &[s("hw.sensor_location", "memory")]),
                    v as f64,
                );
            }
        }
        if on("nvml.throttle.duration") {
            let series = (
                "nvml.throttle.duration",
                "s",
                "Time clocks were held back, per policy, since the driver loaded (NVML reports ns)",
                true,
            );
            let readings: Vec<(&str, &Read<u64>, &'static str)> = VIOLATIONS
                .iter()
                .zip(&h.violation_ns)
                .map(|((_, policy, _), reading)| (*policy, reading, "violation_ns"))
                .collect();
            let seconds = |ns: u64| ns as f64 / NS_PER_S;
            self.per_label(d, a, series, "nvml.throttle.policy", &readings, seconds);
        }
        if on("nvml.memory.remapped_rows") {
            if let Some(r) = self.ok(d, "remapped_rows", &h.remapped_rows).cloned() {
                for (kind, v) in [
                    ("corrected", r.correctable),
                    ("uncorrected", r.uncorrectable),
                ] {
                    self.point(
                        "nvml.memory.remapped_rows",
                        "{row}",
                        "HBM rows remapped for ECC errors, per error type",
                        true,
                        Self::with(a, &[s("error.type", kind)]),
                        v as f64,
                    );
                }
                for (name, v, description) in [
                    (
                        "nvml.memory.remap.pending",
                        r.pending,
                        "1 while a remap waits for a GPU reset",
                    ),
                    (
                        "nvml.memory.remap.failed",
                        r.failed,
                        "1 if a remap failed (replace the GPU)",
                    ),
                ] {
                    self.point(name, "", description, false, a.to_vec(), flag(v));
                }
            }
        }
        if on("nvml.memory.retired_pages") {
            if let Some(r) = self.ok(d, "retired_pages", &h.retired_pages).cloned() {
                for (cause, v) in [
                    ("single_bit_ecc", r.single_bit),
                    ("double_bit_ecc", r.double_bit),
                ] {
                    self.point(
                        "nvml.memory.retired_pages",
                        "{page}",
                        "Memory pages retired, per cause",
                        true,
                        Self::with(a, &[s("nvml.retirement.cause", cause)]),
                        v as f64,
                    );
                }
                self.point(
                    "nvml.memory.retirement.pending",
                    "",
                    "1 while a page waits to be retired at the next driver load",
                    false,
                    a.to_vec(),
                    flag(r.pending),
                );
            }
        }
        if on("nvml.nvlink.state") || on("nvml.nvlink.errors") || on("nvml.nvlink.io") {
            if let Some(links) = self.ok(d, "nvlinks", &h.nvlinks).cloned() {
                for l in links {
                    let la = Self::with(a, &[int("nvml.nvlink.link", l.link)]);
                    if on("nvml.nvlink.state") {
                        self.point(
                            "nvml.nvlink.state",
                            "",
                            "1 while the NVLink is active",
                            false,
                            la.clone(),
                            flag(l.active),
                        );
                    }
                    let bytes = self.ok_if(on("nvml.nvlink.io"), d, "nvlink_bytes", &l.bytes);
                    if let Some((sent, received)) = bytes.copied() {
                        for (direction, bytes) in [("transmit", sent), ("receive", received)] {
                            self.point(
                                "nvml.nvlink.io",
                                "By",
                                "Data bytes over the NVLink since the driver loaded (NVML reports KiB)",
                                true,
                                Self::with(&la, &[s("network.io.direction", direction)]),
                                bytes as f64,
                            );
                        }
                    }
                    if !on("nvml.nvlink.errors") {
                        continue;
                    }
                    for ((_, kind, _), reading) in NVLINK_ERRORS.iter().zip(&l.errors) {
                        if let Some(v) = self.ok(d, "nvlink_errors", reading).copied() {
                            self.point(
                                "nvml.nvlink.errors",
                                "{error}",
                                "NVLink errors since the driver loaded, per link and type",
                                true,
                                Self::with(&la, &[s("error.type", kind)]),
                                v as f64,
                            );
                        }
                    }
                }
            }
        }
        if on("nvml.process.utilization") {
            if let Some(ps) = self
                .ok(d, "process_utilization", &h.process_utilization)
                .cloned()
            {
                for p in ps {
                    let pa = Self::with(a, &[int("process.pid", p.pid)]);
                    for (task, v) in [
                        ("general", p.sm),
                        ("encoder", p.encoder),
                        ("decoder", p.decoder),
                    ] {
                        self.point(
                            "nvml.process.utilization",
                            "1",
                            "Fraction of the last sampling period a process kept the GPU busy, per task",
                            false,
                            Self::with(&pa, &[s("hw.gpu.task", task)]),
                            f64::from(v) / 100.0,
                        );
                    }
                    self.point(
                        "nvml.process.memory.utilization",
                        "1",
                        "Fraction of the last sampling period a process read or wrote GPU memory",
                        false,
                        pa,
                        f64::from(p.memory) / 100.0,
                    );
                }
            }
        }
    }

    /// dcgm-exporter's names for the same readings; counters where its counter files say
    /// counter. Per-process utilization has no dcgm-exporter name and is left out.
    pub(super) fn dcgm_health(&mut self, d: &DeviceInfo, h: &Health, a: &[KeyValue]) {
        let on = |m: &str| self.config.enabled(m);
        let emit = |cycle: &mut Self, name: &str, counter: bool, v: f64| {
            cycle.point(name, "", "", counter, a.to_vec(), v)
        };
        if on("nvml.xid.errors") && d.parent_uuid.is_none() {
            let last = self.xids.last.get(&d.uuid).copied().unwrap_or(0);
            emit(self, "DCGM_FI_DEV_XID_ERRORS", false, last as f64);
        }
        if on("nvml.power.limit") {
            for (name, reading, field) in [
                (
                    "DCGM_FI_DEV_ENFORCED_POWER_LIMIT",
                    &h.power_limit_mw,
                    "power_limit_mw",
                ),
                (
                    "DCGM_FI_DEV_POWER_MGMT_LIMIT_DEF",
                    &h.power_limit_default_mw,
                    "power_limit_default_mw",
                ),
            ] {
                if let Some(v) = self.ok(d, field, reading).copied() {
                    emit(self, name, false, f64::from(v) / 1000.0);
                }
            }
        }
        if on("hw.temperature") {
            if let Some(v) = self
                .ok(d, "memory_temperature_c", &h.memory_temperature_c)
                .copied()
            {
                emit(self, "DCGM_FI_DEV_MEMORY_TEMP", false, v as f64);
            }
        }
        if on("nvml.throttle.duration") {
            for ((_, _, name), reading) in VIOLATIONS.iter().zip(&h.violation_ns) {
                if let Some(v) = self.ok(d, "violation_ns", reading).copied() {
                    emit(self, name, true, v as f64);
                }
            }
        }
        if on("nvml.memory.remapped_rows") {
            if let Some(r) = self.ok(d, "remapped_rows", &h.remapped_rows).cloned() {
                emit(
                    self,
                    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
                    true,
                    r.correctable as f64,
                );
                emit(
                    self,
                    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
                    true,
                    r.uncorrectable as f64,
                );
                emit(
                    self,
                    "DCGM_FI_DEV_ROW_REMAP_PENDING",
                    false,
                    flag(r.pending),
                );
                emit(self, "DCGM_FI_DEV_ROW_REMAP_FAILURE", false, flag(r.failed));
            }
        }
        if on("nvml.memory.retired_pages") {
            if let Some(r) = self.ok(d, "retired_pages", &h.retired_pages).cloned() {
                emit(self, "DCGM_FI_DEV_RETIRED_SBE", true, r.single_bit as f64);
                emit(self, "DCGM_FI_DEV_RETIRED_DBE", true, r.double_bit as f64);
                emit(self, "DCGM_FI_DEV_RETIRED_PENDING", true, flag(r.pending));
            }
        }
        if on("nvml.nvlink.errors") {
            if let Some(links) = self.ok(d, "nvlinks", &h.nvlinks).cloned() {
                for (i, (_, _, name)) in NVLINK_ERRORS.iter().enumerate() {
                    let per_link: Vec<&Read<u64>> = links.iter().map(|l| &l.errors[i]).collect();
                    // dcgm's total is over the links that report the counter.
                    let values: Vec<u64> = per_link
                        .into_iter()
                        .filter_map(|r| self.ok(d, "nvlink_errors", r).copied())
                        .collect();
                    if !values.is_empty() {
                        emit(self, name, true, values.iter().sum::<u64>() as f64);
                    }
                }
            }
        }
    }
}
