//! Cost of one NVML collection cycle for 8 GPUs, with the fake backend (so this measures
//! llamacol's side: readings to OTLP, not the driver). Run: `cargo bench --bench nvml_scrape`.

use criterion::{criterion_group, criterion_main, Criterion};
use llamacol_receivers::nvml::fake::FakeGpus;
use llamacol_receivers::nvml::gpus::Gpus;
use llamacol_receivers::nvml::{collect, NvmlConfig};

fn bench(c: &mut Criterion) {
    let gpus = FakeGpus::new(8);
    let devices = gpus.devices().expect("devices");
    let semconv = NvmlConfig::default();
    c.bench_function("nvml cycle, 8 GPUs, semconv", |b| {
        b.iter(|| {
            collect(
                &gpus,
                &devices,
                &semconv,
                "560.35.03",
                "gpu-node-7",
                1,
                &Default::default(),
            )
        })
    });
    let dcgm: NvmlConfig = llamacol_pipeline::config::parse(
        &llamacol_api::serde_yaml::from_str("{naming: dcgm}").expect("yaml"),
    )
    .expect("config");
    c.bench_function("nvml cycle, 8 GPUs, dcgm naming", |b| {
        b.iter(|| {
            collect(
                &gpus,
                &devices,
                &dcgm,
                "560.35.03",
                "gpu-node-7",
                1,
                &Default::default(),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
