//! Rendering `/metrics` with 10k and 100k series, as text and as protobuf; and 1,000
//! exponential histograms, as the classic buckets of the text format and as the native
//! histograms of the protobuf one. Ingestion only waits for the snapshot (pointer copies
//! under the store lock); formatting happens outside the lock.
//! Run: `cargo bench --bench prometheus_render`.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use llamacol_exporters::prometheus::model::native::{Buckets, NativeHistogram};
use llamacol_exporters::prometheus::model::observe::{Observation, Value};
use llamacol_exporters::prometheus::model::store::Store;
use llamacol_exporters::prometheus::model::translate::FamilyType;
use llamacol_exporters::prometheus::pull::protobuf;
use llamacol_exporters::prometheus::pull::render::{render, Format};

fn store(series: usize) -> Store {
    let mut store = Store::default();
    let now = Instant::now();
    for i in 0..series {
        let obs = Observation {
            name: format!("llm_family_{}_total", i % 100),
            family: FamilyType::Counter,
            help: "A counter".into(),
            unit: String::new(),
            labels: vec![
                ("hw_id".into(), format!("GPU-{}", i % 8)),
                ("instance".into(), format!("node-{}:8080", i / 800)),
                ("job".into(), "llama-server".into()),
                ("series".into(), i.to_string()),
            ],
            value: Value::Number(i as f64),
            time_ms: 1_732_400_000_000,
            time_ns: 1_732_400_000_000_000_000,
            start_ns: 0,
            delta: false,
            exemplar: None,
        };
        let _ = store.apply(obs, now);
    }
    store
}

/// `series` exponential histograms of 100 positive buckets at scale 3 (an SDK's default
/// 160-bucket limit, partly filled), 3 labels each, 10 families.
fn histogram_store(series: usize) -> Store {
    let mut store = Store::default();
    let now = Instant::now();
    for i in 0..series {
        let counts: Vec<u64> = (0..100).map(|b| (b * 7 + i as u64) % 50).collect();
        let obs = Observation {
            name: format!("llm_latency_{}_seconds", i % 10),
            family: FamilyType::Histogram,
            help: "A latency".into(),
            unit: "s".into(),
            labels: vec![
                ("instance".into(), format!("node-{}:8080", i / 100)),
                ("job".into(), "llama-server".into()),
                ("series".into(), i.to_string()),
            ],
            value: Value::Native(Box::new(NativeHistogram {
                count: counts.iter().sum(),
                sum: Some(123.4),
                scale: 3,
                zero_threshold: 0.0,
                zero_count: 0,
                positive: Buckets {
                    offset: -40,
                    counts,
                },
                negative: Buckets::default(),
            })),
            time_ms: 1_732_400_000_000,
            time_ns: 1_732_400_000_000_000_000,
            start_ns: 1_732_300_000_000_000_000,
            delta: false,
            exemplar: None,
        };
        let _ = store.apply(obs, now);
    }
    store
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("prometheus /metrics");
    g.sample_size(10);
    for n in [10_000, 100_000] {
        let s = store(n);
        g.bench_with_input(
            BenchmarkId::new("snapshot (under the lock)", n),
            &s,
            |b, s| b.iter(|| s.snapshot()),
        );
        let snap = s.snapshot();
        g.bench_with_input(
            BenchmarkId::new("render text (outside the lock)", n),
            &snap,
            |b, snap| b.iter(|| render(snap, Format::Prometheus, false)),
        );
        g.bench_with_input(
            BenchmarkId::new("render protobuf (outside the lock)", n),
            &snap,
            |b, snap| b.iter(|| protobuf::render(snap, false)),
        );
    }
    let snap = histogram_store(1_000).snapshot();
    g.bench_with_input(
        BenchmarkId::new("exponential histograms as classic text", 1_000),
        &snap,
        |b, snap| b.iter(|| render(snap, Format::Prometheus, false)),
    );
    g.bench_with_input(
        BenchmarkId::new("exponential histograms as native protobuf", 1_000),
        &snap,
        |b, snap| b.iter(|| protobuf::render(snap, false)),
    );
    // Sizes beside the times (stderr: criterion owns stdout).
    eprintln!(
        "1,000 exponential histograms: {} bytes as classic text, {} bytes as native protobuf",
        render(&snap, Format::Prometheus, false).len(),
        protobuf::render(&snap, false).len()
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
