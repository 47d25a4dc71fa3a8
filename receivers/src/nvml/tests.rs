use std::collections::HashMap;
use std::time::Duration;

use llamacol_api::config::{parse, ComponentConfig};
use llamacol_api::otlp::metrics::v1::{metric, Metric, NumberDataPoint};
use llamacol_api::Signal;

use llamacol_pipeline::testing::{number_points as points, number_value as value, Capture};

use super::fake::FakeGpus;
use super::*;
use llamacol_api::Batch;

fn config(yaml: &str) -> NvmlConfig {
    parse(&llamacol_api::serde_yaml::from_str(yaml).expect("yaml")).expect("config")
}

/// One cycle over `gpus`, and its metrics by name.
fn collected(gpus: &FakeGpus, config: &NvmlConfig) -> (Collected, HashMap<String, Metric>) {
    let devices = selected(config, gpus.devices().expect("devices"));
    let c = collect(
        gpus,
        &devices,
        config,
        "560.35.03",
        "gpu-node-7",
        1,
        &Default::default(),
    );
    let metrics = c.request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| (m.name.clone(), m.clone()))
        .collect();
    (c, metrics)
}

fn run(
    gpus: &FakeGpus,
    config: &NvmlConfig,
) -> (HashMap<String, Metric>, Vec<(String, &'static str)>) {
    let (c, metrics) = collected(gpus, config);
    assert!(c.failed.is_empty(), "{:?}", c.failed);
    (metrics, c.unsupported)
}

fn attr(p: &NumberDataPoint, key: &str) -> Option<String> {
    p.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .map(|v| match v {
            any_value::Value::StringValue(s) => s.clone(),
            any_value::Value::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

/// The value of `name` on GPU 0, where attribute `key` (if given) equals `want`.
fn get(metrics: &HashMap<String, Metric>, name: &str, filter: Option<(&str, &str)>) -> f64 {
    let m = metrics
        .get(name)
        .unwrap_or_else(|| panic!("no {name}: {:?}", metrics.keys().collect::<Vec<_>>()));
    points(m)
        .iter()
        .filter(|p| {
            attr(p, "nvml.gpu.index").as_deref() == Some("0")
                || attr(p, "gpu").as_deref() == Some("0")
        })
        .find(|p| filter.is_none_or(|(k, v)| attr(p, k).as_deref() == Some(v)))
        .map(value)
        .unwrap_or_else(|| panic!("no point of {name} with {filter:?}"))
}

#[test]
fn every_semconv_metric_with_units_and_conversions() {
    let gpus = FakeGpus::new(2);
    let (m, unsupported) = run(&gpus, &NvmlConfig::default());
    assert!(unsupported.is_empty());
    let unit = |n: &str| m[n].unit.clone();
    assert_eq!(
        get(&m, "hw.gpu.utilization", Some(("hw.gpu.task", "general"))),
        0.87,
        "percent to fraction"
    );
    assert_eq!(
        get(&m, "hw.gpu.utilization", Some(("hw.gpu.task", "decoder"))),
        0.03
    );
    assert_eq!(unit("hw.gpu.utilization"), "1");
    assert_eq!(get(&m, "hw.gpu.memory.utilization", None), 0.41);
    assert_eq!(get(&m, "hw.gpu.memory.usage", None), 107_374_182_400.0);
    assert_eq!(get(&m, "hw.gpu.memory.limit", None), 143_771_090_944.0);
    assert_eq!(unit("hw.gpu.memory.usage"), "By");
    assert_eq!(get(&m, "hw.power", None), 412.345, "mW to W");
    assert_eq!(unit("hw.power"), "W");
    assert_eq!(get(&m, "hw.energy", None), 987_654.321, "mJ to J");
    assert!(
        matches!(&m["hw.energy"].data, Some(metric::Data::Sum(s)) if s.is_monotonic),
        "energy is a counter"
    );
    assert_eq!(unit("hw.energy"), "J");
    let sensor = |at| Some(("hw.sensor_location", at));
    assert_eq!(get(&m, "hw.temperature", sensor("gpu")), 64.0);
    assert_eq!(get(&m, "hw.temperature", sensor("memory")), 71.0, "HBM");
    assert_eq!(unit("hw.temperature"), "Cel");
    assert_eq!(
        get(&m, "hw.fan.speed_ratio", Some(("nvml.fan.index", "1"))),
        0.35
    );
    assert_eq!(get(&m, "hw.errors", Some(("error.type", "corrected"))), 5.0);
    assert_eq!(
        get(
            &m,
            "nvml.ecc.volatile.errors",
            Some(("error.type", "corrected"))
        ),
        1.0,
        "since the driver loaded"
    );
    assert_eq!(
        get(&m, "hw.errors", Some(("error.type", "uncorrected"))),
        0.0
    );
    assert_eq!(
        get(
            &m,
            "nvml.clock.frequency",
            Some(("nvml.clock.domain", "memory"))
        ),
        3201e6,
        "MHz to Hz"
    );
    assert_eq!(
        get(
            &m,
            "nvml.pcie.throughput",
            Some(("network.io.direction", "receive"))
        ),
        2_048_000.0,
        "KB/s to By/s"
    );
    assert_eq!(get(&m, "nvml.pcie.replay.count", None), 2.0);
    assert_eq!(
        get(
            &m,
            "nvml.throttle.reason",
            Some(("nvml.throttle.reason", "sw_power_cap"))
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            "nvml.throttle.reason",
            Some(("nvml.throttle.reason", "sw_thermal_slowdown"))
        ),
        1.0
    );
    assert_eq!(
        get(
            &m,
            "nvml.throttle.reason",
            Some(("nvml.throttle.reason", "hw_slowdown"))
        ),
        0.0
    );
    assert_eq!(
        points(&m["nvml.throttle.reason"]).len(),
        18,
        "9 reasons x 2 GPUs"
    );
    assert_eq!(get(&m, "nvml.performance_state", None), 0.0);
    let proc = &points(&m["nvml.process.memory.usage"])[0];
    assert_eq!(
        (
            attr(proc, "process.pid").as_deref(),
            attr(proc, "process.executable.name").as_deref(),
            value(proc)
        ),
        (Some("4242"), Some("llama-server"), 85_899_345_920.0)
    );

    let p = points(&m["hw.temperature"])
        .iter()
        .find(|p| attr(p, "nvml.gpu.index").as_deref() == Some("1"))
        .expect("GPU 1");
    assert_eq!(
        attr(p, "hw.id").as_deref(),
        Some("GPU-00000000-0000-0000-0000-000000000001")
    );
    assert_eq!(attr(p, "hw.type").as_deref(), Some("gpu"));
    assert_eq!(attr(p, "hw.vendor").as_deref(), Some("NVIDIA"));
    assert_eq!(attr(p, "hw.model").as_deref(), Some("NVIDIA H200"));
    assert_eq!(attr(p, "hw.driver_version").as_deref(), Some("560.35.03"));
    assert_eq!(
        attr(p, "nvml.pci.bus_id").as_deref(),
        Some("00000000:19:00.0")
    );
}

#[test]
fn unsupported_readings_are_left_out_and_reported() {
    let mut gpus = FakeGpus::new(1);
    gpus.unsupported.insert("fan_speed_percent");
    gpus.unsupported.insert("energy_mj");
    let (m, unsupported) = run(&gpus, &NvmlConfig::default());
    assert!(!m.contains_key("hw.fan.speed_ratio") && !m.contains_key("hw.energy"));
    assert!(m.contains_key("hw.power"));
    assert_eq!(unsupported.len(), 2);
}

#[test]
fn mig_instances_are_their_own_devices_with_a_parent() {
    let mut gpus = FakeGpus::new(1);
    gpus.devices.push(gpus::DeviceInfo {
        index: 0,
        uuid: "MIG-1111".into(),
        name: "NVIDIA H200 MIG 1g.18gb".into(),
        pci_bus_id: String::new(),
        parent_uuid: Some("GPU-00000000-0000-0000-0000-000000000000".into()),
        gpu_instance_id: Some(7),
        compute_instance_id: Some(0),
        minor_number: Some(0),
    });
    let (m, _) = run(&gpus, &NvmlConfig::default());
    let mig = points(&m["hw.temperature"])
        .iter()
        .find(|p| attr(p, "hw.id").as_deref() == Some("MIG-1111"))
        .expect("MIG point");
    assert_eq!(
        attr(mig, "hw.parent").as_deref(),
        Some("GPU-00000000-0000-0000-0000-000000000000")
    );
    assert_eq!(attr(mig, "nvml.mig.profile").as_deref(), Some("1g.18gb"));
    assert_eq!(attr(mig, "nvml.mig.gpu_instance.id").as_deref(), Some("7"));
    // Selecting the physical GPU by UUID keeps its MIG instances; by index, only the GPU.
    let by_uuid = config("{devices: [\"GPU-00000000-0000-0000-0000-000000000000\"]}");
    assert_eq!(selected(&by_uuid, gpus.devices.clone()).len(), 2);
    assert_eq!(
        selected(&config("{devices: [0]}"), gpus.devices.clone()).len(),
        1
    );
}

#[test]
fn dcgm_naming_matches_dcgm_exporter() {
    let gpus = FakeGpus::new(2);
    let (m, _) = run(&gpus, &config("{naming: dcgm}"));
    assert_eq!(
        get(&m, "DCGM_FI_DEV_GPU_UTIL", None),
        87.0,
        "percent, as dcgm-exporter"
    );
    assert_eq!(get(&m, "DCGM_FI_DEV_FB_USED", None), 102_400.0, "MiB");
    assert_eq!(
        get(&m, "DCGM_FI_DEV_FB_FREE", None),
        34_198.0,
        "NVML's free: less reserved"
    );
    assert_eq!(get(&m, "DCGM_FI_DEV_FB_RESERVED", None), 512.0);
    assert_eq!(get(&m, "DCGM_FI_DEV_POWER_USAGE", None), 412.345);
    assert_eq!(get(&m, "DCGM_FI_DEV_GPU_TEMP", None), 64.0);
    assert_eq!(get(&m, "DCGM_FI_DEV_SM_CLOCK", None), 1980.0);
    assert_eq!(
        get(&m, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", None),
        987_654_321.0,
        "mJ"
    );
    let p = &points(&m["DCGM_FI_DEV_GPU_TEMP"])[1];
    assert_eq!(attr(p, "gpu").as_deref(), Some("1"));
    assert_eq!(
        attr(p, "UUID").as_deref(),
        Some("GPU-00000000-0000-0000-0000-000000000001")
    );
    assert_eq!(attr(p, "device").as_deref(), Some("nvidia1"));
    assert_eq!(attr(p, "modelName").as_deref(), Some("NVIDIA H200"));
    assert_eq!(attr(p, "Hostname").as_deref(), Some("gpu-node-7"));
    assert!(
        m.values().all(|m| m.unit.is_empty()),
        "no unit suffix added by the Prometheus exporter"
    );
    assert!(!m.keys().any(|k| k.starts_with("hw.")));
}

#[test]
fn the_health_readings_under_semconv_names() {
    let gpus = FakeGpus::new(1);
    let (m, unsupported) = run(&gpus, &NvmlConfig::default());
    assert!(unsupported.is_empty(), "{unsupported:?}");
    let limit = |t| get(&m, "nvml.power.limit", Some(("nvml.power.limit.type", t)));
    assert_eq!(
        (limit("enforced"), limit("default")),
        (600.0, 700.0),
        "mW to W"
    );
    let throttled = |p| {
        get(
            &m,
            "nvml.throttle.duration",
            Some(("nvml.throttle.policy", p)),
        )
    };
    assert_eq!(throttled("power"), 2.5, "ns to s");
    assert_eq!(throttled("low_utilization"), 30.0);
    assert_eq!(points(&m["nvml.throttle.duration"]).len(), 6);
    assert!(
        matches!(&m["nvml.throttle.duration"].data, Some(metric::Data::Sum(s)) if s.is_monotonic)
    );
    assert_eq!(m["nvml.throttle.duration"].unit, "s");
    assert_eq!(
        get(
            &m,
            "nvml.memory.remapped_rows",
            Some(("error.type", "corrected"))
        ),
        2.0
    );
    assert_eq!(get(&m, "nvml.memory.remap.pending", None), 0.0);
    assert_eq!(get(&m, "nvml.memory.remap.failed", None), 0.0);
    assert_eq!(
        get(
            &m,
            "nvml.memory.retired_pages",
            Some(("nvml.retirement.cause", "double_bit_ecc"))
        ),
        0.0
    );
    assert_eq!(get(&m, "nvml.memory.retirement.pending", None), 0.0);
    assert_eq!(
        get(&m, "nvml.nvlink.state", Some(("nvml.nvlink.link", "0"))),
        1.0
    );
    assert_eq!(
        get(&m, "nvml.nvlink.state", Some(("nvml.nvlink.link", "1"))),
        0.0
    );
    assert_eq!(
        get(
            &m,
            "nvml.nvlink.io",
            Some(("network.io.direction", "receive"))
        ),
        2_147_483_648.0,
        "link 0's bytes received"
    );
    let link1 = points(&m["nvml.nvlink.errors"])
        .iter()
        .filter(|p| attr(p, "nvml.nvlink.link").as_deref() == Some("1"))
        .map(|p| (attr(p, "error.type").unwrap_or_default(), value(p)))
        .collect::<Vec<_>>();
    assert_eq!(
        link1,
        [
            ("replay".to_string(), 7.0),
            ("recovery".into(), 1.0),
            ("crc_flit".into(), 3.0),
            ("crc_data".into(), 0.0)
        ]
    );
    assert_eq!(
        get(
            &m,
            "nvml.process.utilization",
            Some(("hw.gpu.task", "general"))
        ),
        0.83,
        "SM percent to fraction"
    );
    assert_eq!(get(&m, "nvml.process.memory.utilization", None), 0.40);
    let proc = &points(&m["nvml.process.utilization"])[0];
    assert_eq!(attr(proc, "process.pid").as_deref(), Some("4242"));
    let mem = &points(&m["nvml.process.memory.usage"])[0];
    assert_eq!(attr(mem, "nvml.process.type").as_deref(), Some("compute"));

    // `processes: false` reads neither per-process list.
    let (m, _) = run(&gpus, &config("{processes: false}"));
    assert!(!m.contains_key("nvml.process.utilization"));
    assert!(!m.contains_key("nvml.process.memory.utilization"));
    // A GPU without row remapping (before A100) leaves those series out, and says so.
    let mut old = FakeGpus::new(1);
    old.unsupported.insert("remapped_rows");
    let (m, unsupported) = run(&old, &NvmlConfig::default());
    assert!(
        !m.contains_key("nvml.memory.remapped_rows") && !m.contains_key("nvml.memory.remap.failed")
    );
    assert_eq!(unsupported.len(), 1, "{unsupported:?}");
}

#[test]
fn switches_turn_metrics_off_and_typos_are_caught() {
    let gpus = FakeGpus::new(1);
    let (m, _) = run(
        &gpus,
        &config("{metrics: {hw.power: {enabled: false}}, processes: false}"),
    );
    assert!(!m.contains_key("hw.power") && !m.contains_key("nvml.process.memory.usage"));
    assert!(m.contains_key("hw.temperature"));
    let issues = config("{metrics: {hw.temprature: {enabled: false}}}").validate();
    assert!(
        issues[0]
            .message
            .starts_with("unknown metric `hw.temprature` (did you mean `hw.temperature`?)"),
        "{:?}",
        issues
    );
}

#[tokio::test]
async fn the_receiver_reads_every_interval_through_the_backend() {
    let capture = Arc::new(Capture::default());
    let node = llamacol_api::NodeContext::new();
    let mut receiver = NvmlReceiver::new(
        "nvml".into(),
        config("{collection_interval: 50ms, hostname: gpu-node-3}"),
        Some(Arc::new(FakeGpus::new(8))),
        OutcomeCounter::default(),
    )
    .publishing_to(node.clone());
    receiver.start(capture.clone()).await.expect("start");
    let published = node.snapshot();
    assert_eq!(published.gpus.len(), 8, "every GPU on the node context");
    assert!(published.gpus[0].uuid.starts_with("GPU-"));
    assert!(published
        .gpus
        .iter()
        .all(|g| g.memory_bytes.is_some_and(|b| b > 0)));
    tokio::time::sleep(Duration::from_millis(180)).await;
    receiver.shutdown().await.expect("shutdown");
    let batches = capture.batches();
    assert!(batches.len() >= 3, "{} cycles", batches.len());
    assert_eq!(batches[0].signal(), Signal::Metrics);
    let mut first = batches[0].clone();
    let Batch::Metrics(p) = &mut first else {
        panic!("metrics")
    };
    let temps = p.message().expect("decoded").resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == "hw.temperature")
        .map(|m| points(m).len());
    assert_eq!(temps, Some(16), "two sensors per GPU");
    let resource = p.message().expect("decoded").resource_metrics[0]
        .resource
        .clone()
        .expect("resource");
    assert_eq!(
        resource.attributes[0]
            .value
            .as_ref()
            .map(llamacol_api::attributes::value_string),
        Some("gpu-node-3".to_string()),
        "`hostname` (the node's name under Helm), not the pod's"
    );
}

/// On a machine without NVML (CI has no GPU) the real backend cannot load: `warn` idles,
/// `fail` refuses to start with a message naming the library and the fix.
#[tokio::test]
async fn without_nvml_warn_idles_and_fail_refuses_to_start() {
    // What loading NVML reports on a machine without the driver, on every machine.
    let missing = || Err(unavailable("libnvidia-ml.so.1 was not found"));
    let capture = Arc::new(Capture::default());
    let mut warn = NvmlReceiver::new(
        "nvml".into(),
        config("{collection_interval: 50ms}"),
        None,
        OutcomeCounter::default(),
    )
    .opening_with(missing);
    warn.start(capture.clone())
        .await
        .expect("warn: starts and idles");
    tokio::time::sleep(Duration::from_millis(120)).await;
    warn.shutdown().await.expect("shutdown");
    assert!(capture.batches().is_empty());

    let mut fail = NvmlReceiver::new(
        "nvml".into(),
        config("{on_unavailable: fail}"),
        None,
        OutcomeCounter::default(),
    )
    .opening_with(missing);
    let err = fail
        .start(capture)
        .await
        .expect_err("fail: refuses")
        .to_string();
    assert!(err.starts_with("NVML is not available:"), "{err}");
    assert!(
        err.contains("libnvidia-ml.so.1") && err.contains("Install the NVIDIA driver"),
        "{err}"
    );
}

/// Real hardware: `cargo test -p llamacol-receivers nvml_real_hardware -- --ignored --nocapture`
/// on a machine with an NVIDIA GPU and driver.
#[test]
#[ignore = "needs an NVIDIA GPU and driver"]
fn nvml_real_hardware() {
    let gpus = open_nvml().expect("NVML loads");
    let devices = gpus.devices().expect("devices");
    assert!(!devices.is_empty(), "no GPU found");
    let driver = gpus.driver_version().expect("driver");
    let Collected {
        request,
        unsupported,
        failed,
        ..
    } = collect(
        gpus.as_ref(),
        &devices,
        &NvmlConfig::default(),
        &driver,
        &llamacol_api::node::hostname(),
        1,
        &Default::default(),
    );
    for m in &request.resource_metrics[0].scope_metrics[0].metrics {
        for p in points(m) {
            eprintln!(
                "{} [{}] {} {:?}",
                m.name,
                m.unit,
                value(p),
                p.attributes
                    .iter()
                    .map(|kv| format!(
                        "{}={:?}",
                        kv.key,
                        kv.value.as_ref().and_then(|v| v.value.clone())
                    ))
                    .collect::<Vec<_>>()
            );
        }
    }
    eprintln!(
        "driver {driver}; {} devices; unsupported {unsupported:?}; failed {failed:?}",
        devices.len()
    );
    let names: Vec<&str> = request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    for must in [
        "hw.gpu.utilization",
        "hw.gpu.memory.usage",
        "hw.gpu.memory.limit",
        "hw.power",
        "hw.temperature",
        // Every NVIDIA GPU with power management has these two.
        "nvml.power.limit",
        "nvml.throttle.duration",
    ] {
        assert!(names.contains(&must), "{must} missing: {names:?}");
    }
}

#[test]
fn the_live_page_gets_a_row_per_physical_gpu_in_readable_units() {
    let gpus = FakeGpus::new(3);
    let devices = gpus.devices().expect("devices");
    let Collected { readings, .. } = collect(
        &gpus,
        &devices,
        &config(""),
        "560",
        "node",
        1,
        &Default::default(),
    );
    let live = llamacol_api::live::Live::default();
    super::live::record(&live, &devices, &readings, 100.0);
    let json = live.json_since(0.0);
    let series = json["gpus"]["series"].as_object().expect("series");
    assert_eq!(series.len(), 3);
    let gpu = &series["GPU-00000000-0000-0000-0000-000000000001"];
    assert_eq!(gpu["info"]["index"], 1);
    assert_eq!(gpu["info"]["name"], "NVIDIA H200");
    assert_eq!(gpu["rows"]["utilization"][0], 87.0);
    assert_eq!(gpu["rows"]["power"][0], 412.345, "mW -> W");
    assert_eq!(gpu["rows"]["memory_total_bytes"][0], 143_771_090_944.0);
    assert!(gpu["info"]["throttle_reasons"].is_array());
}

#[test]
fn a_gpu_off_the_bus_is_reported_once_and_the_others_go_on() {
    let mut gpus = FakeGpus::new(2);
    gpus.lost.insert(1);
    let (c, m) = collected(&gpus, &NvmlConfig::default());
    assert_eq!(c.lost, ["GPU-00000000-0000-0000-0000-000000000001"]);
    assert!(
        c.failed.is_empty() && c.unsupported.is_empty(),
        "not one line per reading"
    );
    let status = |gpu: &str, state: &str| {
        points(&m["hw.status"])
            .iter()
            .find(|p| {
                attr(p, "nvml.gpu.index").as_deref() == Some(gpu)
                    && attr(p, "hw.state").as_deref() == Some(state)
            })
            .map(value)
    };
    assert_eq!(
        (status("1", "failed"), status("1", "ok")),
        (Some(1.0), Some(0.0))
    );
    assert_eq!(
        (status("0", "failed"), status("0", "ok")),
        (Some(0.0), Some(1.0))
    );
    let temps = points(&m["hw.temperature"]);
    assert!(
        temps
            .iter()
            .all(|p| attr(p, "nvml.gpu.index").as_deref() == Some("0")),
        "GPU 0 read as before, GPU 1 not at all"
    );
}

#[test]
fn a_reading_nvml_refuses_to_the_user_is_left_out_without_counting_failures() {
    let mut gpus = FakeGpus::new(1);
    gpus.forbidden.insert("process_utilization");
    let (c, m) = collected(&gpus, &NvmlConfig::default());
    assert_eq!(
        c.forbidden,
        [(
            "GPU-00000000-0000-0000-0000-000000000000".to_string(),
            "process_utilization"
        )]
    );
    assert!(c.failed.is_empty() && c.unsupported.is_empty());
    assert!(!m.contains_key("nvml.process.utilization"));
    assert!(
        m.contains_key("nvml.process.memory.usage"),
        "the rest is read"
    );
}
