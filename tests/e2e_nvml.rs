//! The nvml receiver through NVML's real C ABI without a GPU: a fake `libnvidia-ml.so.1`
//! (tests/fake_nvml/libnvidia-ml.c: two GPUs, one with MIG, some readings
//! NOT_SUPPORTED) is built here with `cc` and loaded by the real nvml-wrapper backend via
//! LD_LIBRARY_PATH; the binary runs its embedded default config and serves the GPU
//! series on its Prometheus endpoint.

mod common;

use std::time::{Duration, Instant};

use common::fake_nvml::build_fake_nvml;
use common::{http_get, Collector};
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
    let stderr = collector.stderr();
    let l4_line: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not supported by this GPU") && l.contains(L4))
        .collect();
    assert_eq!(l4_line.len(), 1, "one line per GPU:\n{stderr}");
    assert!(
        l4_line[0].contains("energy_mj, fan_speed_percent, pcie_replay_count"),
        "{}",
        l4_line[0]
    );
}
