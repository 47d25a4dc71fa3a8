//! The NVML calls nvml-wrapper 0.13 does not make, and so llamacol's only unsafe code
//! (CONVENTIONS: "except where NVML needs it, isolated and commented"):
//! - a MIG instance's GPU instance and compute instance ids
//!   (`nvmlDeviceGetGpuInstanceId`, `nvmlDeviceGetComputeInstanceId`), which
//!   dcgm-exporter labels its MIG series with;
//! - an NVLink's data byte counters, `nvmlDeviceGetFieldValues` with the link as the
//!   field's `scopeId` (nvml-wrapper's `field_values_for` always sends scope 0).
//!
//! Every call passes a device handle NVML itself gave (through nvml-wrapper, which keeps
//! NVML loaded as long as `Nvml` lives, and `Device` borrows it) and buffers laid out as
//! nvml.h declares them (the types are nvml-wrapper-sys's bindgen output of nvml.h).
#![allow(unsafe_code)]

use std::os::raw::c_uint;

use nvml_wrapper::error::{nvml_try, NvmlError};
use nvml_wrapper::{Device, Nvml};
use nvml_wrapper_sys::bindings::{
    nvmlFieldValue_t, nvmlValueType_enum_NVML_VALUE_TYPE_SIGNED_LONG_LONG as SIGNED_LONG_LONG,
    nvmlValueType_enum_NVML_VALUE_TYPE_UNSIGNED_INT as UNSIGNED_INT,
    nvmlValueType_enum_NVML_VALUE_TYPE_UNSIGNED_LONG as UNSIGNED_LONG,
    nvmlValueType_enum_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG as UNSIGNED_LONG_LONG,
};

/// nvml.h `NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX` / `_RX`: data (not protocol) KiB sent
/// and received over the link given as `scopeId`, since the driver loaded.
const NVLINK_DATA_TX: c_uint = 138;
const NVLINK_DATA_RX: c_uint = 139;

type IdCall = unsafe extern "C" fn(
    nvml_wrapper_sys::bindings::nvmlDevice_t,
    *mut c_uint,
) -> nvml_wrapper_sys::bindings::nvmlReturn_t;

fn id<E: std::fmt::Display>(call: Result<&IdCall, &E>, d: &Device) -> Result<u32, NvmlError> {
    let call = call.map_err(|e| NvmlError::FailedToLoadSymbol(e.to_string()))?;
    let mut out: c_uint = 0;
    // SAFETY: `d.handle()` is a live device handle from NVML (nvml-wrapper's `Device`
    // borrows the loaded library); `out` is the one `unsigned int` the function writes.
    let code = unsafe { call(d.handle(), &mut out) };
    nvml_try(code).map(|()| out)
}

/// A MIG instance's (GPU instance, compute instance) ids; `None` for a physical GPU (NVML
/// answers INVALID_ARGUMENT) or where NVML cannot say.
pub fn instance_ids(nvml: &Nvml, d: &Device) -> (Option<u32>, Option<u32>) {
    let lib = nvml.lib();
    (
        id(lib.nvmlDeviceGetGpuInstanceId.as_ref(), d).ok(),
        id(lib.nvmlDeviceGetComputeInstanceId.as_ref(), d).ok(),
    )
}

/// (bytes sent, bytes received) over `link` since the driver loaded.
// `c_ulong` is u64 here but u32 on 32-bit targets: the conversion is not useless there.
#[allow(clippy::useless_conversion)]
pub fn nvlink_bytes(nvml: &Nvml, d: &Device, link: u32) -> Result<(u64, u64), NvmlError> {
    let call = nvml
        .lib()
        .nvmlDeviceGetFieldValues
        .as_ref()
        .map_err(|e| NvmlError::FailedToLoadSymbol(e.to_string()))?;
    // SAFETY: nvmlFieldValue_t is plain data (integers and a union of numbers), for
    // which all-zero bytes are a valid value.
    let mut values: [nvmlFieldValue_t; 2] = unsafe { std::mem::zeroed() };
    for (v, field) in values.iter_mut().zip([NVLINK_DATA_TX, NVLINK_DATA_RX]) {
        v.fieldId = field;
        v.scopeId = link;
    }
    // SAFETY: a live device handle (as above); `values` holds the 2 entries the count
    // says, which NVML fills in place.
    let code = unsafe { call(d.handle(), 2, values.as_mut_ptr()) };
    nvml_try(code)?;
    let kib = |v: &nvmlFieldValue_t| -> Result<u64, NvmlError> {
        nvml_try(v.nvmlReturn)?;
        // SAFETY: `valueType` says which member of the union NVML wrote.
        let n = unsafe {
            match v.valueType {
                UNSIGNED_INT => u64::from(v.value.uiVal),
                UNSIGNED_LONG => u64::from(v.value.ulVal),
                UNSIGNED_LONG_LONG => v.value.ullVal,
                SIGNED_LONG_LONG => u64::try_from(v.value.sllVal).unwrap_or(0),
                other => return Err(NvmlError::UnexpectedVariant(other)),
            }
        };
        Ok(n.saturating_mul(1024))
    };
    Ok((kib(&values[0])?, kib(&values[1])?))
}
