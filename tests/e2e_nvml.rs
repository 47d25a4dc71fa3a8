//! The nvml receiver through NVML's real C ABI without a GPU: a fake `libnvidia-ml.so.1`
//! (tests/fake_nvml/libnvidia-ml.c: two GPUs, one with MIG, some readings
//! NOT_SUPPORTED) is built here with `cc` and loaded by the real nvml-wrapper backend via
//! LD_LIBRARY_PATH; the binary runs its embedded default config and serves the GPU
//! series on its Prometheus endpoint.

mod common;

use std::time::{Duration, Instant};

use common::fake_nvml::build_fake_nvml;
use common::prometheus::{series as query, start_prometheus_scraping};
use common::{http_get, lines, log_bodies, log_records, string_attrs, Collector};
use llamacol_pipeline::testing::free_port;

const H100: &str = "GPU-8c7a3b2e-1f4d-4a6b-9e0c-2d5f7a8b9c01";
const L4: &str = "GPU-3f9e2d1c-7b6a-4c5d-8e9f-0a1b2c3d4e5f";
const MIG: &str = "MIG-5e1c9a7b-3d2f-4e6a-8b0c-1d2e3f4a5b6c";

/// The sample value of the first line of `text` that starts with `name{` and contains
/// every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn the_default_config_serves_both_fake_gpus_through_the_real_nvml_backend() {
    let lib = tempfile::tempdir().expect("tempdir");
    build_fake_nvml(lib.path());
    let prometheus = free_port();
    let collector = Collector::launch(
        &[],
        &[
            ("LD_LIBRARY_PATH", lib.path().display().to_string()),
            (
                "LLAMACOL_PROMETHEUS_ENDPOINT",
                format!("127.0.0.1:{prometheus}"),
            ),
            (
                "LLAMACOL_LLAMACPP_ENDPOINT",
                format!("http://127.0.0.1:{}", free_port()),
            ),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (status, body) = http_get(prometheus, "/metrics");
        if status == 200 && body.contains(L4) && body.contains(H100) && body.contains(MIG) {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no GPU series in 20 s:\n{body}\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let h100 = format!("hw_id=\"{H100}\"");
    let l4 = format!("hw_id=\"{L4}\"");
    for gpu in [&h100, &l4] {
        for series in [
            "hw_gpu_utilization_ratio",
            "hw_gpu_memory_usage_bytes",
            "hw_gpu_memory_limit_bytes",
            "hw_power_watts",
            "hw_temperature_celsius",
            "nvml_clock_frequency_hertz",
            "nvml_performance_state",
        ] {
            assert!(
                sample(&text, series, &[gpu]).is_some(),
                "{series} for {gpu} missing:\n{text}"
            );
        }
    }
    // NVML's units converted: percent -> ratio, mW -> W, MHz -> Hz, mJ -> J.
    assert_eq!(
        sample(
            &text,
            "hw_gpu_utilization_ratio",
            &[&h100, "hw_gpu_task=\"general\""]
        ),
        Some(0.87)
    );
    assert_eq!(sample(&text, "hw_power_watts", &[&h100]), Some(412.345));
    assert_eq!(sample(&text, "hw_power_watts", &[&l4]), Some(35.21));
    assert_eq!(sample(&text, "hw_temperature_celsius", &[&l4]), Some(44.0));
    assert_eq!(
        sample(
            &text,
            "nvml_clock_frequency_hertz",
            &[&h100, "nvml_clock_domain=\"memory\""]
        ),
        Some(2_619_000_000.0)
    );
    assert_eq!(
        sample(&text, "hw_energy_joules_total", &[&h100]),
        Some(123_456_789.012)
    );
    assert_eq!(
        sample(&text, "hw_gpu_memory_usage_bytes", &[&l4]),
        Some(2_147_483_648.0)
    );
    // Readings the fake reports NOT_SUPPORTED are left out for that GPU only.
    assert!(
        sample(&text, "hw_energy_joules_total", &[&l4]).is_none(),
        "L4 energy is NOT_SUPPORTED"
    );
    assert!(sample(&text, "nvml_pcie_replay_count_total", &[&h100]).is_some());
    assert!(sample(&text, "nvml_pcie_replay_count_total", &[&l4]).is_none());
    assert!(
        !text.contains("hw_fan_speed_ratio{"),
        "no GPU here reports fans"
    );
    // The MIG instance: its own memory, the physical GPU as parent.
    let mig = format!("hw_id=\"{MIG}\"");
    assert_eq!(
        sample(
            &text,
            "hw_gpu_memory_limit_bytes",
            &[&mig, &format!("hw_parent=\"{H100}\"")]
        ),
        Some(42_949_672_960.0)
    );
    assert!(sample(&text, "hw_power_watts", &[&mig]).is_none());
    // The compute process, named through nvmlSystemGetProcessName.
    assert_eq!(
        sample(
            &text,
            "nvml_process_memory_usage_bytes",
            &[
                &h100,
                "process_pid=\"4242\"",
                "process_executable_name=\"llama-server\""
            ]
        ),
        Some(60_129_542_144.0)
    );
    health_readings(&text, &h100, &l4);
    let stderr = collector.stderr();
    let l4_line: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not supported by this GPU") && l.contains(L4))
        .collect();
    assert_eq!(l4_line.len(), 1, "one line per GPU:\n{stderr}");
    let refused: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("NO_PERMISSION") && l.contains(L4))
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "one line for the refused reading:\n{stderr}"
    );
    assert!(refused[0].contains("process_utilization"), "{}", refused[0]);
    let listed = l4_line[0]
        .split("readings=")
        .nth(1)
        .unwrap_or_default()
        .split(", ")
        .map(str::trim)
        .collect::<std::collections::BTreeSet<_>>();
    let expected = [
        "energy_mj",
        "fan_speed_percent",
        "pcie_replay_count",
        "memory_temperature_c",
        "violation_ns",
        "remapped_rows",
        "nvlinks",
    ];
    assert_eq!(
        listed,
        expected.into_iter().collect(),
        "the L4's NOT_SUPPORTED readings: {}",
        l4_line[0]
    );
}

/// The health readings through nvmlDeviceGetFieldValues, the violation, NVLink and
/// per-process calls, as the fake library documents them.
fn health_readings(text: &str, h100: &str, l4: &str) {
    let at = |name: &str, labels: &[&str]| sample(text, name, labels);
    let enforced = "nvml_power_limit_type=\"enforced\"";
    let default = "nvml_power_limit_type=\"default\"";
    assert_eq!(at("nvml_power_limit_watts", &[h100, enforced]), Some(650.0));
    assert_eq!(at("nvml_power_limit_watts", &[h100, default]), Some(700.0));
    assert_eq!(at("nvml_power_limit_watts", &[l4, enforced]), Some(72.0));
    let memory = "hw_sensor_location=\"memory\"";
    assert_eq!(at("hw_temperature_celsius", &[h100, memory]), Some(78.0));
    assert_eq!(at("hw_temperature_celsius", &[l4, memory]), None, "GDDR");
    let low_util = "nvml_throttle_policy=\"low_utilization\"";
    assert_eq!(
        at("nvml_throttle_duration_seconds_total", &[h100, low_util]),
        Some(12.0)
    );
    assert_eq!(
        at("nvml_throttle_duration_seconds_total", &[l4, low_util]),
        Some(40.0)
    );
    let reliability = "nvml_throttle_policy=\"reliability\"";
    assert_eq!(
        at("nvml_throttle_duration_seconds_total", &[l4, reliability]),
        None
    );
    let corrected = "error_type=\"corrected\"";
    assert_eq!(
        at("nvml_memory_remapped_rows_total", &[h100, corrected]),
        Some(3.0)
    );
    assert_eq!(at("nvml_memory_remap_failed", &[h100]), Some(0.0));
    assert_eq!(
        at("nvml_memory_remapped_rows_total", &[l4, corrected]),
        None
    );
    let dbe = "nvml_retirement_cause=\"double_bit_ecc\"";
    assert_eq!(at("nvml_memory_retired_pages_total", &[l4, dbe]), Some(1.0));
    assert_eq!(at("nvml_memory_retirement_pending", &[l4]), Some(1.0));
    assert_eq!(
        at("nvml_memory_retired_pages_total", &[h100, dbe]),
        None,
        "HBM: remapping instead"
    );
    let links = text
        .lines()
        .filter(|l| l.starts_with("nvml_nvlink_state{") && l.contains(h100))
        .count();
    assert_eq!(links, 18, "one series per NVLink");
    assert_eq!(
        at("nvml_nvlink_state", &[h100, "nvml_nvlink_link=\"3\""]),
        Some(0.0)
    );
    assert_eq!(
        at("nvml_nvlink_state", &[h100, "nvml_nvlink_link=\"0\""]),
        Some(1.0)
    );
    let replay = ["nvml_nvlink_link=\"3\"", "error_type=\"replay\""];
    assert_eq!(
        at("nvml_nvlink_errors_total", &[h100, replay[0], replay[1]]),
        Some(5.0)
    );
    assert_eq!(at("nvml_nvlink_state", &[l4]), None, "no NVLink on an L4");
    // Per-link byte counters (field values scoped to the link: llamacol's own NVML call).
    let sent = [
        "nvml_nvlink_link=\"5\"",
        "network_io_direction=\"transmit\"",
    ];
    assert_eq!(
        at("nvml_nvlink_io_bytes_total", &[h100, sent[0], sent[1]]),
        Some(6.0 * 1024.0 * 1024.0 * 1024.0),
        "link 5 sent 6 GiB (NVML's KiB as bytes)"
    );
    let down = ["nvml_nvlink_link=\"3\"", "network_io_direction=\"receive\""];
    assert_eq!(
        at("nvml_nvlink_io_bytes_total", &[h100, down[0], down[1]]),
        Some(0.0)
    );
    let general = ["process_pid=\"4242\"", "hw_gpu_task=\"general\""];
    assert_eq!(
        at(
            "nvml_process_utilization_ratio",
            &[h100, general[0], general[1]]
        ),
        Some(0.83)
    );
    assert_eq!(
        at("nvml_process_memory_utilization_ratio", &[h100]),
        Some(0.4)
    );
    let graphics = ["process_pid=\"5151\"", "nvml_process_type=\"graphics\""];
    assert_eq!(
        at(
            "nvml_process_memory_usage_bytes",
            &[l4, graphics[0], graphics[1]]
        ),
        Some(1_073_741_824.0)
    );
}

/// The panels of dcgm-exporter's own Grafana dashboard (testdata/dcgm-exporter, release
/// 4.5.3-4.8.2) that NVML can feed; the one it cannot (a DCGM profiling field) is named.
const PROFILING_ONLY: &str = "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE";

#[test]
#[ignore = "needs prometheus and cc: run scripts/test"]
fn dcgm_exporters_own_dashboard_reads_the_shipped_dcgm_config() {
    let lib = tempfile::tempdir().expect("tempdir");
    build_fake_nvml(lib.path());
    let exporter = free_port();
    let collector = Collector::launch(
        &["configs/dcgm-compatible.yaml"],
        &[
            ("LD_LIBRARY_PATH", lib.path().display().to_string()),
            (
                "LLAMACOL_PROMETHEUS_ENDPOINT",
                format!("127.0.0.1:{exporter}"),
            ),
        ],
    );
    // As dcgm-exporter serves them: its counters are counters, with no `_total` added.
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (status, body) = http_get(exporter, "/metrics");
        if status == 200 && body.contains("DCGM_FI_DEV_GPU_TEMP{") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no dcgm series:\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for (name, kind) in [
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter"),
        ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter"),
        ("DCGM_FI_DEV_POWER_VIOLATION", "counter"),
        ("DCGM_FI_DEV_GPU_TEMP", "gauge"),
        ("DCGM_FI_DEV_MEMORY_TEMP", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} as a {kind}:\n{text}"
        );
    }
    assert!(!text.contains("_total{"), "no suffix added:\n{text}");
    assert!(
        text.contains("GPU_I_PROFILE=\"3g.40gb\"")
            && text.contains("GPU_I_ID=\"1\"")
            && text.contains("GPU_I_ID=\"2\""),
        "the MIG instances' profile and GPU instance ids, as dcgm-exporter labels them:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            &["gpu=\"0\""]
        ),
        Some(123_456_789_012.0),
        "mJ, as NVML reports"
    );

    let prometheus = start_prometheus_scraping(&[exporter], "1s", &[]);
    let board: serde_json::Value = serde_json::from_str(include_str!(
        "../testdata/dcgm-exporter/dcgm-exporter-dashboard.json"
    ))
    .expect("dashboard JSON");
    let queries: Vec<(String, String)> = board["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |t| {
                    Some((
                        p["title"].as_str()?.to_string(),
                        t["expr"].as_str()?.to_string(),
                    ))
                })
        })
        .collect();
    assert_eq!(queries.len(), 8, "the dashboard's panels");
    // Its variables as Grafana fills them: label_values(DCGM_FI_DEV_GPU_TEMP, instance|gpu).
    let deadline = Instant::now() + Duration::from_secs(30);
    while query(prometheus.port, "DCGM_FI_DEV_GPU_TEMP").unwrap_or(0) < 2 {
        assert!(
            Instant::now() < deadline,
            "Prometheus scraped no GPU temperature"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let empty: Vec<String> = queries
        .iter()
        .filter(|(_, expr)| !expr.contains(PROFILING_ONLY))
        .filter_map(|(title, expr)| {
            let q = expr
                .replace("$instance", &format!("127.0.0.1:{exporter}"))
                .replace("$gpu", "0|1");
            match query(prometheus.port, &q) {
                Ok(0) => Some(format!("{title}: no series for {q}")),
                Ok(_) => None,
                Err(e) => Some(format!("{title}: {e}")),
            }
        })
        .collect();
    assert!(
        empty.is_empty(),
        "panels with no data:\n{}",
        empty.join("\n")
    );
    assert_eq!(
        queries
            .iter()
            .filter(|(_, e)| e.contains(PROFILING_ONLY))
            .count(),
        1,
        "only the tensor-core panel needs DCGM's profiling"
    );
}

/// The scripted GPUs' story: the L4 raises XID 79 and the H100 XID 48, then the L4 falls
/// off the bus. Both XIDs arrive as log records and counters; the L4 is reported failed
/// once and the H100 is read as before.
#[test]
#[ignore = "needs cc: run scripts/test"]
fn xid_events_and_a_gpu_off_the_bus_through_the_real_nvml_backend() {
    let lib = tempfile::tempdir().expect("tempdir");
    build_fake_nvml(lib.path());
    let prometheus = free_port();
    let collector = Collector::launch(
        &["tests/testdata/e2e/nvml-events.yaml"],
        &[
            ("LD_LIBRARY_PATH", lib.path().display().to_string()),
            (
                "LLAMACOL_PROMETHEUS_ENDPOINT",
                format!("127.0.0.1:{prometheus}"),
            ),
            ("FAKE_NVML_XIDS", "1:800:79,0:1200:48".into()),
            ("FAKE_NVML_LOST", "1:2000".into()),
        ],
    );
    let (h100, l4) = (format!("hw_id=\"{H100}\""), format!("hw_id=\"{L4}\""));
    let failed = "hw_state=\"failed\"";
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (_, body) = http_get(prometheus, "/metrics");
        let logged = log_records(&lines(&collector.file)).len();
        if sample(&body, "hw_status_ratio", &[&l4, failed]) == Some(1.0) && logged >= 2 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no XID records or lost GPU in 20 s ({logged} records):\n{body}\n{}",
            collector.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let records = log_records(&lines(&collector.file));
    let bodies = log_bodies(&records);
    assert_eq!(
        bodies,
        [
            format!("XID 79 on GPU 1 (NVIDIA L4, {L4}): GPU has fallen off the bus"),
            format!("XID 48 on GPU 0 (NVIDIA H100 80GB HBM3, {H100}): Double Bit ECC Error"),
        ]
    );
    assert_eq!(records[0]["severityText"], "ERROR");
    let attrs = string_attrs(&records[0]["attributes"]);
    assert_eq!(attrs.get("hw.id").map(String::as_str), Some(L4));
    assert_eq!(
        sample(&text, "nvml_xid_errors_total", &[&l4, "nvml_xid=\"79\""]),
        Some(1.0)
    );
    assert_eq!(sample(&text, "nvml_xid_last", &[&h100]), Some(48.0));
    // The L4 is failed and has no readings; the H100 is ok and read as before.
    assert_eq!(
        sample(&text, "hw_status_ratio", &[&h100, "hw_state=\"ok\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "hw_status_ratio", &[&h100, failed]),
        Some(0.0)
    );
    assert!(sample(&text, "hw_power_watts", &[&h100]).is_some());
    let stderr = collector.stderr();
    let fell: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("fell off the bus"))
        .collect();
    assert_eq!(fell.len(), 1, "one line for the lost GPU:\n{stderr}");
    assert!(fell[0].contains(L4), "{}", fell[0]);
    assert!(
        !stderr.contains("NVML reading failed"),
        "no line per reading of the lost GPU:\n{stderr}"
    );
}
