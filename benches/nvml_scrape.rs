//! Cost of one NVML collection cycle for 8 GPUs, with the fake backend (so this measures
//! llamacol's side: readings to OTLP, not the driver), and its allocations (counted by
//! the global allocator). Run: `cargo bench --bench nvml_scrape`.

use std::alloc::System;

use criterion::{criterion_group, criterion_main, Criterion};
use llamacol_receivers::nvml::fake::FakeGpus;
use llamacol_receivers::nvml::gpus::{DeviceInfo, Gpus};
use llamacol_receivers::nvml::{collect, NvmlConfig};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn cycle(gpus: &FakeGpus, devices: &[DeviceInfo], config: &NvmlConfig) -> usize {
    collect(
        gpus,
        devices,
        config,
        "560.35.03",
        "gpu-node-7",
        1,
        &Default::default(),
    )
    .request
    .resource_metrics
    .len()
}

/// One cycle's allocations and bytes allocated, printed beside criterion's times.
#[allow(clippy::print_stdout)]
fn allocations(name: &str, gpus: &FakeGpus, devices: &[DeviceInfo], config: &NvmlConfig) {
    let region = Region::new(GLOBAL);
    cycle(gpus, devices, config);
    let stats = region.change();
    println!(
        "{name}: {} allocations, {} bytes allocated per cycle",
        stats.allocations + stats.reallocations,
        stats.bytes_allocated
    );
}

fn bench(c: &mut Criterion) {
    let gpus = FakeGpus::new(8);
    let devices = gpus.devices().expect("devices");
    let semconv = NvmlConfig::default();
    let dcgm: NvmlConfig = llamacol_pipeline::config::parse(
        &llamacol_api::serde_yaml::from_str("{naming: dcgm}").expect("yaml"),
    )
    .expect("config");
    for (name, config) in [("semconv", &semconv), ("dcgm naming", &dcgm)] {
        allocations(name, &gpus, &devices, config);
        c.bench_function(&format!("nvml cycle, 8 GPUs, {name}"), |b| {
            b.iter(|| cycle(&gpus, &devices, config))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
