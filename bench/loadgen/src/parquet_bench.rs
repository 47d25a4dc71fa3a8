//! `loadgen parquet`: the `parquet` exporter and the `file` (OTLP/JSON) exporter on the
//! same fresh 500-span trace requests (the load generator's GenAI trace trees, every
//! request generated anew so compression sees no repeats), in process, one thread: CPU
//! per span (decode, build, encode, compress, write, close) and bytes on disk per span
//! next to the OTLP protobuf bytes of the same spans.

use std::sync::Arc;

use llamacol_api::serde_yaml;
use llamacol_api::{Batch, BuildContext, ComponentId, Exporter, Signal};
use prost::Message;
use rand::SeedableRng;

use crate::{bench, cpu, data};

pub struct Row {
    pub name: &'static str,
    pub cpu_s_per_million: f64,
    pub bytes_per_span: f64,
}

fn build(factory: llamacol_api::ExporterFactory, yaml: &str) -> Arc<dyn Exporter> {
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let ctx = BuildContext::new(
        ComponentId::parse(factory.type_name).expect("id"),
        vec![Signal::Traces],
    );
    (factory.build)(&ctx, &block).expect("builds")
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                total += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    total
}

/// Returns the protobuf bytes per span and one row per exporter (`only`: just that one,
/// e.g. for a profile; `parquet_keys`: more config keys of the parquet exporter, e.g.
/// `compression_level: 3`).
/// What `run` measures.
pub struct InProcess<'a> {
    pub spans: usize,
    /// Requests are joined into batches of at least this many spans.
    pub batch_spans: usize,
    pub work_dir: &'a std::path::Path,
    pub only: Option<&'a str>,
    pub parquet_keys: &'a str,
}

/// Consecutive encoded requests joined (concatenated, as `Batch::append` joins encoded
/// batches) until each holds at least `spans` spans.
fn join(requests: Vec<(bytes::Bytes, usize)>, spans: usize) -> Vec<(bytes::Bytes, usize)> {
    let mut out: Vec<(bytes::BytesMut, usize)> = Vec::new();
    for (bytes, n) in requests {
        match out.last_mut() {
            Some((joined, items)) if *items < spans => {
                joined.extend_from_slice(&bytes);
                *items += n;
            }
            _ => out.push((bytes::BytesMut::from(&bytes[..]), n)),
        }
    }
    out.into_iter().map(|(b, n)| (b.freeze(), n)).collect()
}

pub fn run(opts: &InProcess) -> anyhow::Result<(f64, Vec<Row>)> {
    let InProcess {
        spans,
        batch_spans,
        work_dir,
        only,
        parquet_keys,
    } = *opts;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let requests: Vec<(bytes::Bytes, usize)> = (0..spans.div_ceil(500))
        .map(|_| {
            let r = data::traces(&mut rng, 500);
            let n = r
                .resource_spans
                .iter()
                .flat_map(|x| &x.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            (bytes::Bytes::from(r.encode_to_vec()), n)
        })
        .collect();
    let total: usize = requests.iter().map(|r| r.1).sum();
    let proto: usize = requests.iter().map(|r| r.0.len()).sum();
    let requests = join(requests, batch_spans);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for (name, factory, file) in [
        (
            "parquet (zstd 1)",
            llamacol_exporters::parquet::factory(),
            "parquet",
        ),
        (
            "file (OTLP/JSON lines)",
            llamacol_exporters::file::factory(),
            "out.jsonl",
        ),
    ] {
        if only.is_some_and(|o| o != factory.type_name) {
            continue;
        }
        let dir = work_dir.join(format!("bench-{}", factory.type_name));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(file);
        let extra = if factory.type_name == "parquet" {
            parquet_keys
        } else {
            ""
        };
        let exporter = build(
            factory,
            &format!("{{path: \"{}\", {extra}}}", path.display()),
        );
        let t = cpu::thread_seconds().unwrap_or(0.0);
        runtime.block_on(async {
            exporter.start().await.expect("starts");
            for (bytes, items) in &requests {
                let mut batch = Batch::from_encoded_parts(Signal::Traces, bytes.clone(), *items);
                exporter.export(&mut batch).await.expect("written");
            }
            exporter.shutdown().await.expect("closed");
        });
        // The exporter runs on this thread (block_on); the runtime's worker is idle.
        let spent = cpu::thread_seconds().unwrap_or(0.0) - t;
        rows.push(Row {
            name,
            cpu_s_per_million: spent / total as f64 * 1e6,
            bytes_per_span: dir_bytes(&dir) as f64 / total as f64,
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok((proto as f64 / total as f64, rows))
}

/// The whole process, as issue 13 asks: the real `llamacol` (release) with
/// `bench/configs/otlp-batch-parquet.yaml` (OTLP/gRPC -> batch -> parquet) and, on the same
/// load, `otlp-batch-file.yaml`, each on its own core with the load generator on the other
/// (`bench::scenario`): spans per collector CPU-second. The load cycles through 64 distinct
/// requests, so bytes on disk are left to the in-process run (fresh requests).
pub async fn whole(opts: &bench::Options) -> anyhow::Result<Vec<bench::Row>> {
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let config = |file: &str| configs.join(file).display().to_string();
    let mut plan = vec![
        (
            "otlp-batch-parquet",
            bench::Which::Llamacol,
            config("otlp-batch-parquet.yaml"),
        ),
        (
            "otlp-batch-file",
            bench::Which::Llamacol,
            config("otlp-batch-file.yaml"),
        ),
    ];
    if opts.rotel.is_some() {
        // Rotel's Parquet file exporter (zstd, as ours) on the same load, configured by
        // flags (`bench::start_collector`); it batches in the exporter.
        plan.push(("rotel-parquet", bench::Which::Rotel, String::new()));
    }
    let mut rows = Vec::new();
    for (name, which, config) in plan {
        let scenario = bench::Scenario {
            name,
            label: name.to_string(),
            which,
            config,
            sink: bench::SinkKind::None,
            cpu: bench::COLLECTOR_CPU,
            connections: opts.connections,
            compression: "none",
            batch_size: None,
        };
        rows.push(bench::scenario(opts, scenario).await?);
    }
    Ok(rows)
}
