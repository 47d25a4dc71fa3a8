//! `naming: dcgm` held against dcgm-exporter's own counter files (taken as data,
//! `testdata/dcgm-exporter/`, release 4.5.3-4.8.2): every name we emit is one of theirs
//! with their type, or a DCGM field they serve when listed in a counters file; every name
//! of theirs we do not emit is one NVML cannot give, listed here and in the README.

use std::collections::{BTreeMap, BTreeSet};

use llamacol_api::config::parse;
use llamacol_api::otlp::metrics::v1::metric;

use super::fake::FakeGpus;
use super::gpus::Gpus;
use super::{collect, selected, NvmlConfig};

const COUNTER_FILES: [&str; 2] = [
    include_str!("../../../testdata/dcgm-exporter/default-counters.csv"),
    include_str!("../../../testdata/dcgm-exporter/dcp-metrics-included.csv"),
];

/// DCGM fields outside both files that we emit, with the type dcgm-exporter gives them
/// when a user lists them in a counters file (DCGM's field meanings).
const BEYOND_THE_FILES: [(&str, &str); 5] = [
    ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge"),
    ("DCGM_FI_DEV_FAN_SPEED", "gauge"),
    ("DCGM_FI_DEV_ENFORCED_POWER_LIMIT", "gauge"),
    ("DCGM_FI_DEV_POWER_MGMT_LIMIT_DEF", "gauge"),
    ("DCGM_FI_DEV_ROW_REMAP_PENDING", "gauge"),
];

/// Names in the files that NVML cannot give, and why (README, `nvml` receiver).
const NOT_FROM_NVML: [(&str, &str); 13] = [
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "vGPU guests only"),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "DCGM's own aggregation of the NVLink counters (semconv: nvml.nvlink.io per link)",
    ),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_L0",
        "as NVLINK_BANDWIDTH_TOTAL",
    ),
    (
        "DCGM_EXP_CLOCK_EVENTS_COUNT",
        "dcgm-exporter's own derived counter",
    ),
    (
        "DCGM_EXP_XID_ERRORS_COUNT",
        "dcgm-exporter's own derived counter",
    ),
    ("DCGM_EXP_GPU_HEALTH_STATUS", "DCGM health checks"),
    ("DCGM_EXP_P2P_STATUS", "DCGM P2P checks"),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM profiling field"),
    ("DCGM_FI_PROF_SM_ACTIVE", "DCGM profiling field"),
    ("DCGM_FI_PROF_SM_OCCUPANCY", "DCGM profiling field"),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM profiling field"),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "DCGM profiling field"),
    (
        "DCGM_FI_PROF_PIPE_FP64_ACTIVE",
        "DCGM profiling field (FP32/FP16 likewise)",
    ),
];

/// Fields named in the files (commented-out lines too: they are the documented
/// opt-ins) with their type; labels (driver version) are not metrics.
fn counter_files() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // Commented lines first: where a name is also on an uncommented line (the PCIe byte
    // counts: a commented NVML counter, and the served DCP gauge in bytes per second),
    // the served line wins.
    for commented in [true, false] {
        for line in COUNTER_FILES.iter().flat_map(|f| f.lines()) {
            if line.trim_start().starts_with('#') != commented {
                continue;
            }
            let mut cols = line
                .trim_start_matches(['#', ' '])
                .split(',')
                .map(str::trim);
            if let (Some(name), Some(kind)) = (cols.next(), cols.next()) {
                if name.starts_with("DCGM_") && kind != "label" {
                    out.insert(name.to_string(), kind.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn every_dcgm_name_is_dcgm_exporters_with_its_type() {
    let files = counter_files();
    assert!(files.len() >= 40, "{} names read", files.len());
    let gpus = FakeGpus::new(1);
    let config: NvmlConfig =
        parse(&llamacol_api::serde_yaml::from_str("{naming: dcgm}").expect("yaml"))
            .expect("config");
    let devices = selected(&config, gpus.devices().expect("devices"));
    let request = collect(
        &gpus,
        &devices,
        &config,
        "560.35.03",
        "node",
        1,
        &Default::default(),
    )
    .request;
    let emitted = &request.resource_metrics[0].scope_metrics[0].metrics;
    let beyond: BTreeMap<&str, &str> = BEYOND_THE_FILES.into_iter().collect();
    let mut wrong = Vec::new();
    for m in emitted {
        let ours = match m.data {
            Some(metric::Data::Sum(ref s)) if s.is_monotonic && s.aggregation_temporality == 2 => {
                "counter"
            }
            Some(metric::Data::Gauge(_)) => "gauge",
            _ => "other",
        };
        let theirs = files
            .get(&m.name)
            .map(String::as_str)
            .or_else(|| beyond.get(m.name.as_str()).copied());
        if theirs != Some(ours) {
            wrong.push(format!("{}: ours {ours}, dcgm-exporter {theirs:?}", m.name));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let names: BTreeSet<&str> = emitted.iter().map(|m| m.name.as_str()).collect();
    let missing: BTreeSet<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|n| !names.contains(n))
        .collect();
    let documented: BTreeSet<&str> = NOT_FROM_NVML
        .iter()
        .map(|(n, _)| *n)
        .chain([
            "DCGM_FI_PROF_PIPE_FP32_ACTIVE",
            "DCGM_FI_PROF_PIPE_FP16_ACTIVE",
        ])
        .collect();
    assert_eq!(
        missing, documented,
        "names of dcgm-exporter's files we do not emit"
    );
}
