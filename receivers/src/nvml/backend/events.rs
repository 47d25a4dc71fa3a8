//! XID events through NVML's event set: each physical GPU that supports them registered
//! for critical XID errors, then `nvmlEventSetWait` in a loop on the caller's (blocking)
//! thread, with a timeout so a stop request is seen within one poll.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

use super::{read, reason};
use crate::nvml::gpus::{DeviceInfo, Read, ReadError, XidEvent};

/// NVML's "unknown XID" value, kept as the code so the event still counts.
const UNKNOWN_XID: u64 = 999;

pub fn watch_xids(
    nvml: &Nvml,
    devices: &[DeviceInfo],
    poll: Duration,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(XidEvent),
) -> Read<()> {
    let mut set = read(nvml.create_event_set())?;
    let mut watched = 0;
    for d in devices.iter().filter(|d| d.parent_uuid.is_none()) {
        let device = read(nvml.device_by_uuid(d.uuid.as_str()))?;
        let supported = match device.supported_event_types() {
            Ok(types) => types.contains(EventTypes::CRITICAL_XID_ERROR),
            Err(NvmlError::NotSupported) => false,
            Err(e) => return Err(reason(&e)),
        };
        if !supported {
            continue;
        }
        set = device
            .register_events(EventTypes::CRITICAL_XID_ERROR, set)
            .map_err(|e| reason(&e.error))?;
        watched += 1;
    }
    if watched == 0 {
        return Err(ReadError::NotSupported);
    }
    let timeout_ms = u32::try_from(poll.as_millis()).unwrap_or(u32::MAX);
    while !stop.load(Ordering::Relaxed) {
        match set.wait(timeout_ms) {
            Ok(data) => {
                let xid = match data.event_data {
                    Some(XidError::Value(v)) => v,
                    Some(XidError::Unknown) | None => UNKNOWN_XID,
                };
                on_event(XidEvent {
                    uuid: data.device.uuid().unwrap_or_default(),
                    xid,
                    time_unix_nano: llamacol_api::clock::unix_nanos(),
                });
            }
            Err(NvmlError::Timeout) => {}
            // A GPU that fell off the bus ends nothing here: its readings report it,
            // and the other GPUs' events still arrive.
            Err(NvmlError::GpuLost) => std::thread::sleep(poll),
            Err(e) => return Err(reason(&e)),
        }
    }
    Ok(())
}
