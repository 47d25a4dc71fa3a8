//! Criterion benches of the per-request hot paths, on a 500-span request:
//! checking/counting the encoded bytes (what a receiver does instead of decoding),
//! prost decode and encode (the floor's parts), wire-level batch merging, and the
//! fan-out clone of encoded vs decoded batches, and adding pod attributes to every
//! resource (what `k8s_attributes` does) on the wire vs decoded.
//! Run: `cargo bench --bench hot_paths`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::{wire, Batch, Signal};
use llamacol_pipeline::testing::sample_traces;
use llamacol_processors::batch::Groups;
use prost::Message;

fn request() -> (ExportTraceServiceRequest, Bytes) {
    let message = sample_traces(5, 100);
    let bytes = Bytes::from(message.encode_to_vec());
    (message, bytes)
}

fn hot_paths(c: &mut Criterion) {
    let (message, bytes) = request();
    let mut g = c.benchmark_group("500 spans");
    g.throughput(Throughput::Elements(500));
    g.bench_function("wire check + count (receiver)", |b| {
        b.iter(|| wire::count_items(Signal::Traces, &bytes))
    });
    g.bench_function("prost decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(bytes.clone()))
    });
    g.bench_function("prost encode", |b| b.iter(|| message.encode_to_vec()));
    g.bench_function("batch merge: add + take (wire level)", |b| {
        b.iter(|| {
            let mut groups = Groups::new(Signal::Traces);
            let _ = groups.add(&bytes);
            let _ = groups.add(&bytes);
            groups.take(0, 0)
        })
    });
    let encoded = Batch::from_bytes(Signal::Traces, bytes.clone()).expect("valid");
    let decoded = Batch::from(message.clone());
    g.bench_function("fan-out clone (encoded)", |b| b.iter(|| encoded.clone()));
    g.bench_function("fan-out clone (decoded)", |b| b.iter(|| decoded.clone()));
    // Six pod attributes on each of the 5 resources.
    let pod = [
        ("k8s.namespace.name", "inference"),
        ("k8s.pod.name", "llama-7d9f8b6c5-abcde"),
        ("k8s.pod.uid", "0ab1c2d3-e4f5-6789-abcd-ef0123456789"),
        ("k8s.pod.start_time", "2026-12-07T10:00:00Z"),
        ("k8s.deployment.name", "llama"),
        ("k8s.node.name", "gpu-node-1"),
    ];
    g.bench_function(
        "pod attributes on every resource (wire: edit_resources)",
        |b| {
            use llamacol_api::otlp::common::v1::any_value::Value;
            use llamacol_api::wire::attrs::Attrs;
            b.iter(|| {
                wire::resources::edit_resources(&bytes, |_, attrs| {
                    for (k, v) in pod {
                        attrs.add(k, Value::StringValue(v.to_string()));
                    }
                })
            })
        },
    );
    g.bench_function(
        "pod attributes on every resource (decode, add, encode)",
        |b| {
            b.iter(|| {
                let mut m = ExportTraceServiceRequest::decode(bytes.clone()).expect("decodes");
                for rs in &mut m.resource_spans {
                    let r = rs.resource.get_or_insert_with(Default::default);
                    for (k, v) in pod {
                        r.attributes.push(llamacol_api::attributes::string(k, v));
                    }
                }
                m.encode_to_vec()
            })
        },
    );
    g.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
