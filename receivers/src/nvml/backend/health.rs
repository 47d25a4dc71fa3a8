//! The health readings of one GPU through NVML: power limits, violation times, row
//! remapping, retired pages and HBM temperature (one `nvmlDeviceGetFieldValues` call, as
//! DCGM reads them), NVLink state and errors, per-process utilization.

use std::collections::HashMap;
use std::sync::Mutex;

use nvml_wrapper::enum_wrappers::device::PerformancePolicy;
use nvml_wrapper::enum_wrappers::nv_link::ErrorCounter;
use nvml_wrapper::enums::device::SampleValue;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::struct_wrappers::device::FieldValueSample;
use nvml_wrapper::structs::device::FieldId;
use nvml_wrapper::sys_exports::field_id::{
    NVML_FI_DEV_MEMORY_TEMP, NVML_FI_DEV_NVLINK_LINK_COUNT, NVML_FI_DEV_REMAPPED_COR,
    NVML_FI_DEV_REMAPPED_FAILURE, NVML_FI_DEV_REMAPPED_PENDING, NVML_FI_DEV_REMAPPED_UNC,
    NVML_FI_DEV_RETIRED_DBE, NVML_FI_DEV_RETIRED_PENDING, NVML_FI_DEV_RETIRED_SBE,
};
use nvml_wrapper::{Device, Nvml};

use super::{read, reason};
use crate::nvml::gpus::{
    Health, NvLink, ProcessUtilization, Read, ReadError, RemappedRows, RetiredPages,
};

/// The fields asked for in one call, in this order.
const FIELDS: [u32; 9] = [
    NVML_FI_DEV_MEMORY_TEMP,
    NVML_FI_DEV_REMAPPED_COR,
    NVML_FI_DEV_REMAPPED_UNC,
    NVML_FI_DEV_REMAPPED_PENDING,
    NVML_FI_DEV_REMAPPED_FAILURE,
    NVML_FI_DEV_RETIRED_SBE,
    NVML_FI_DEV_RETIRED_DBE,
    NVML_FI_DEV_RETIRED_PENDING,
    NVML_FI_DEV_NVLINK_LINK_COUNT,
];

const POLICIES: [PerformancePolicy; 6] = [
    PerformancePolicy::Power,
    PerformancePolicy::Thermal,
    PerformancePolicy::SyncBoost,
    PerformancePolicy::BoardLimit,
    PerformancePolicy::LowUtilization,
    PerformancePolicy::Reliability,
];

const LINK_ERRORS: [ErrorCounter; 4] = [
    ErrorCounter::DlReplay,
    ErrorCounter::DlRecovery,
    ErrorCounter::DlCrcFlit,
    ErrorCounter::DlCrcData,
];

/// Per device, the NVML timestamp of the newest process-utilization sample seen, so each
/// cycle reads only samples taken since the last one.
#[derive(Default)]
pub struct LastSeen(Mutex<HashMap<String, u64>>);

fn number(sample: &Result<FieldValueSample, NvmlError>) -> Read<u64> {
    match sample {
        Ok(s) => match &s.value {
            Ok(SampleValue::U32(v)) => Ok(u64::from(*v)),
            Ok(SampleValue::U64(v)) => Ok(*v),
            Ok(SampleValue::I64(v)) => u64::try_from(*v)
                .map_err(|_| ReadError::Failed(format!("negative field value {v}"))),
            // NVML gives these fields as integers; a double is truncated, as DCGM does.
            Ok(SampleValue::F64(v)) => Ok(*v as u64),
            Err(e) => Err(reason(e)),
        },
        Err(e) => Err(reason(e)),
    }
}

/// `with_processes: false` leaves per-process utilization unread (an empty list).
pub fn health(
    nvml: &Nvml,
    d: &Device,
    uuid: &str,
    last_seen: &LastSeen,
    with_processes: bool,
) -> Health {
    let fields: Vec<Read<u64>> = match d.field_values_for(&FIELDS.map(FieldId)) {
        Ok(samples) => samples.iter().map(number).collect(),
        Err(e) => vec![read(Err(e)); FIELDS.len()],
    };
    let field = |i: usize| {
        fields
            .get(i)
            .cloned()
            .unwrap_or_else(|| Err(ReadError::Failed("NVML returned fewer fields".into())))
    };
    let remapped_rows = (|| {
        Ok(RemappedRows {
            correctable: field(1)?,
            uncorrectable: field(2)?,
            pending: field(3)? != 0,
            failed: field(4)? != 0,
        })
    })();
    let retired_pages = (|| {
        Ok(RetiredPages {
            single_bit: field(5)?,
            double_bit: field(6)?,
            pending: field(7)? != 0,
        })
    })();
    Health {
        power_limit_mw: read(d.enforced_power_limit()),
        power_limit_default_mw: read(d.power_management_limit_default()),
        memory_temperature_c: field(0),
        violation_ns: POLICIES.map(|p| read(d.violation_status(p)).map(|v| v.violation_time)),
        remapped_rows,
        retired_pages,
        nvlinks: field(8).map(|count| nvlinks(nvml, d, count)),
        process_utilization: if with_processes {
            process_utilization(d, uuid, last_seen)
        } else {
            Ok(Vec::new())
        },
    }
}

fn nvlinks(nvml: &Nvml, d: &Device, count: u64) -> Vec<NvLink> {
    (0..u32::try_from(count).unwrap_or(0))
        .map(|link| {
            let l = d.link_wrapper_for(link);
            NvLink {
                link,
                active: l.is_active().unwrap_or(false),
                errors: LINK_ERRORS.map(|c| read(l.error_counter(c))),
                bytes: read(super::ffi::nvlink_bytes(nvml, d, link)),
            }
        })
        .collect()
}

fn process_utilization(
    d: &Device,
    uuid: &str,
    last_seen: &LastSeen,
) -> Read<Vec<ProcessUtilization>> {
    let mut seen = last_seen.0.lock().unwrap_or_else(|p| p.into_inner());
    let since = seen.get(uuid).copied().unwrap_or(0);
    let samples = match d.process_utilization_stats(since) {
        Ok(s) => s,
        // No sample since `since`: no process used the GPU in that time.
        Err(NvmlError::NotFound) => return Ok(Vec::new()),
        Err(e) => return read(Err(e)),
    };
    if let Some(newest) = samples.iter().map(|s| s.timestamp).max() {
        seen.insert(uuid.to_string(), newest);
    }
    // NVML may return several samples of one process; keep its newest.
    let mut newest: HashMap<u32, (u64, ProcessUtilization)> = HashMap::new();
    for s in samples {
        let entry = (
            s.timestamp,
            ProcessUtilization {
                pid: s.pid,
                sm: s.sm_util,
                memory: s.mem_util,
                encoder: s.enc_util,
                decoder: s.dec_util,
            },
        );
        match newest.get(&s.pid) {
            Some((t, _)) if *t >= s.timestamp => {}
            _ => {
                newest.insert(s.pid, entry);
            }
        }
    }
    let mut out: Vec<ProcessUtilization> = newest.into_values().map(|(_, p)| p).collect();
    out.sort_by_key(|p| p.pid);
    Ok(out)
}
