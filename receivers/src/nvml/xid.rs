//! XID events, the driver's reports of GPU errors and the first sign of a failing GPU:
//! watched on a thread of their own (NVML's event wait blocks), counted per GPU and code
//! for the metrics, logged, and sent as log records when the receiver is in a logs
//! pipeline. A log record the pipeline refuses is kept and sent again (a bounded number,
//! the rest counted as failed), never dropped unseen.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use llamacol_api::attributes::{int, string as s};
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, InstrumentationScope};
use llamacol_api::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::{Batch, Consumer, OutcomeCounter, Signal};
use prost::Message;
use tokio::sync::mpsc;

use super::gpus::{DeviceInfo, Gpus, ReadError, XidEvent};

/// How often the watch thread looks at its stop flag, and a refused send is retried.
const POLL: Duration = Duration::from_millis(500);
/// Log records kept while the pipeline refuses them; older ones beyond are counted failed.
const MAX_PENDING: usize = 10_000;

static DESCRIPTIONS: LazyLock<HashMap<u64, &'static str>> = LazyLock::new(|| {
    include_str!("xid_errors.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (code, text) = l.split_once('\t')?;
            Some((code.parse().ok()?, text))
        })
        .collect()
});

/// What NVIDIA's XID catalog calls `xid` ("Unknown XID" past the table).
pub fn description(xid: u64) -> &'static str {
    DESCRIPTIONS.get(&xid).copied().unwrap_or("Unknown XID")
}

/// The XIDs seen since the receiver started.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct XidCounts {
    /// (GPU UUID, XID) -> events.
    pub per_code: BTreeMap<(String, u64), u64>,
    /// GPU UUID -> the latest XID (dcgm's `DCGM_FI_DEV_XID_ERRORS`).
    pub last: HashMap<String, u64>,
    /// (GPU UUID, XID) -> when it last came (Unix ns; exemplars).
    pub last_time: HashMap<(String, u64), u64>,
}

impl XidCounts {
    pub fn record(&mut self, e: &XidEvent) {
        *self.per_code.entry((e.uuid.clone(), e.xid)).or_default() += 1;
        self.last.insert(e.uuid.clone(), e.xid);
        self.last_time
            .insert((e.uuid.clone(), e.xid), e.time_unix_nano);
    }
}

/// The running watch: its thread stops when dropped or shut down.
pub struct Watch {
    stop: Arc<AtomicBool>,
    forward: tokio::task::JoinHandle<()>,
}

impl Watch {
    pub async fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread sees the flag within a poll; the forwarder ends when it does.
        let _ = tokio::time::timeout(POLL * 4, self.forward).await;
    }
}

/// Where events go besides the counts.
pub struct Sink {
    pub id: String,
    pub host: String,
    /// The logs pipeline, when the receiver is in one.
    pub logs: Option<Arc<dyn Consumer>>,
    pub failures: OutcomeCounter,
    pub on_event: Box<dyn Fn(&XidEvent) + Send + Sync>,
}

pub fn spawn(
    gpus: Arc<dyn Gpus>,
    devices: Vec<DeviceInfo>,
    counts: Arc<Mutex<XidCounts>>,
    sink: Sink,
) -> Watch {
    let stop = Arc::new(AtomicBool::new(false));
    // XIDs are rare; a full channel holds the NVML thread back (NVML keeps the events).
    let (tx, rx) = mpsc::channel::<XidEvent>(256);
    let (thread_stop, id) = (stop.clone(), sink.id.clone());
    let watched = devices.clone();
    let spawned = std::thread::Builder::new()
        .name("nvml-xid".into())
        .spawn(move || {
            let mut send = |e: XidEvent| {
                let _ = tx.blocking_send(e);
            };
            match gpus.watch_xids(&watched, POLL, &thread_stop, &mut send) {
                Ok(()) => {}
                Err(ReadError::NotSupported) => {
                    tracing::info!(component = %id, "no GPU here reports XID events; XIDs are not watched")
                }
                Err(ReadError::NoPermission) => {
                    tracing::warn!(component = %id, "NVML refuses XID events to llamacol's user (NO_PERMISSION); XIDs are not watched. Run llamacol as root, or give its container the privileges NVML needs")
                }
                Err(ReadError::Lost) => {
                    tracing::warn!(component = %id, "a GPU fell off the bus before its XID events could be watched; XIDs are not watched")
                }
                Err(ReadError::Failed(e)) => {
                    tracing::warn!(component = %id, error = %e, "watching XID events failed; XIDs are no longer watched")
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(component = %sink.id, error = %e, "could not start the XID thread; XIDs are not watched");
    }
    let forward = tokio::spawn(forward(rx, devices, counts, sink, stop.clone()));
    Watch { stop, forward }
}

async fn forward(
    mut rx: mpsc::Receiver<XidEvent>,
    devices: Vec<DeviceInfo>,
    counts: Arc<Mutex<XidCounts>>,
    sink: Sink,
    stop: Arc<AtomicBool>,
) {
    let mut pending: VecDeque<LogRecord> = VecDeque::new();
    let mut retry = tokio::time::interval(POLL);
    // Open while the watch thread runs; after it ends, refused records are still retried.
    let mut open = true;
    loop {
        tokio::select! {
            event = rx.recv(), if open => match event {
                Some(e) => {
                    counts.lock().unwrap_or_else(|p| p.into_inner()).record(&e);
                    tracing::warn!(
                        component = %sink.id,
                        gpu = %e.uuid,
                        xid = e.xid,
                        description = description(e.xid),
                        "GPU XID error"
                    );
                    (sink.on_event)(&e);
                    if sink.logs.is_some() {
                        let gpu = devices.iter().find(|d| d.uuid == e.uuid);
                        pending.push_back(record(&e, gpu));
                        if pending.len() > MAX_PENDING {
                            pending.pop_front();
                            sink.failures.add(1);
                        }
                    }
                }
                None => open = false,
            },
            _ = retry.tick() => {}
        }
        if let Some(logs) = &sink.logs {
            send(logs.as_ref(), &sink, &mut pending).await;
        }
        let stopping = stop.load(Ordering::Relaxed);
        if (stopping && (!open || rx.is_empty())) || (!open && pending.is_empty()) {
            break;
        }
    }
    if !pending.is_empty() {
        tracing::warn!(component = %sink.id, records = pending.len(), "XID log records the pipeline refused until shutdown; counted as failed");
        sink.failures.add(pending.len());
    }
}

/// Sends every pending record as one batch; a retryable refusal keeps them for the next
/// try, a permanent one counts them failed (sent again as they are, they would fail again).
async fn send(logs: &dyn Consumer, sink: &Sink, pending: &mut VecDeque<LogRecord>) {
    if pending.is_empty() {
        return;
    }
    let request = request(&sink.host, pending.iter().cloned().collect());
    let items = pending.len();
    let batch = Batch::from_encoded_parts(Signal::Logs, request.encode_to_vec().into(), items);
    match logs.consume(batch).await {
        Ok(()) => pending.clear(),
        Err(e) if e.is_retryable() => {}
        Err(e) => {
            tracing::warn!(component = %sink.id, records = items, error = %e, "the logs pipeline refused XID log records for good; counted as failed");
            sink.failures.add(items);
            pending.clear();
        }
    }
}

fn request(host: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![s("host.name", host)],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "llamacol/receiver/nvml".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// One XID as a log record: ERROR, the code and its catalog description, the GPU.
pub fn record(e: &XidEvent, gpu: Option<&DeviceInfo>) -> LogRecord {
    let what = description(e.xid);
    let on = gpu.map_or_else(
        || e.uuid.clone(),
        |d| format!("GPU {} ({}, {})", d.index, d.name, d.uuid),
    );
    let mut attributes = vec![
        s("event.name", "nvml.xid"),
        s("hw.id", &e.uuid),
        s("hw.type", "gpu"),
        int("nvml.xid", i64::try_from(e.xid).unwrap_or(i64::MAX)),
        s("nvml.xid.description", what),
    ];
    if let Some(d) = gpu {
        attributes.push(s("hw.model", &d.name));
        attributes.push(int("nvml.gpu.index", i64::from(d.index)));
    }
    LogRecord {
        time_unix_nano: e.time_unix_nano,
        observed_time_unix_nano: e.time_unix_nano,
        severity_number: SeverityNumber::Error as i32,
        severity_text: "ERROR".into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!(
                "XID {} on {on}: {what}",
                e.xid
            ))),
        }),
        attributes,
        ..Default::default()
    }
}
