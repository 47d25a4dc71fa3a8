//! `loadgen head-sampling`: CPU per span of the `probabilistic_sampler` processor on the
//! load generator's 500-span trace requests as the OTLP receiver hands them on (encoded),
//! next to the prost decode + re-encode floor of the same requests; one thread, the
//! floor and each mode alternating three times in the same run.

use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::serde_yaml;
use llamacol_api::{Batch, ConsumeError, Consumer, OutcomeCounter, Payload, Processor, Signal};
use llamacol_pipeline::config::parse_block;
use llamacol_processors::probabilistic_sampler::{
    ProbabilisticSampler, ProbabilisticSamplerConfig,
};
use prost::Message;

use crate::{cpu, data};

/// Counts what it is handed.
#[derive(Default)]
struct Kept(std::sync::atomic::AtomicUsize);

#[async_trait]
impl Consumer for Kept {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.0
            .fetch_add(batch.items(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

pub struct Row {
    pub config: &'static str,
    pub cpu_s_per_million: f64,
    pub kept_share: f64,
}

pub const CONFIGS: [&str; 4] = [
    "{mode: proportional, sampling_percentage: 10}",
    // Every span kept and rewritten (th:0 added): the most copying.
    "{mode: proportional, sampling_percentage: 100}",
    "{mode: equalizing, sampling_percentage: 10}",
    "{sampling_percentage: 10}",
];

/// Returns the floor (CPU-s per 1M spans) and one row per config.
pub fn run(spans: usize) -> (f64, Vec<Row>) {
    let pool = data::pool(Signal::Traces, 500, 64, 42);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let samplers: Vec<(Arc<dyn Processor>, Arc<Kept>)> = CONFIGS
        .iter()
        .map(|yaml| {
            let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
            let config = parse_block::<ProbabilisticSamplerConfig>(&value).expect("config");
            let kept = Arc::new(Kept::default());
            (
                llamacol_api::stateless::processor(
                    ProbabilisticSampler::new(&config, OutcomeCounter::default()),
                    kept.clone(),
                ),
                kept,
            )
        })
        .collect();
    let mut floor = 0.0;
    let mut spent = vec![0.0; CONFIGS.len()];
    let mut offered = vec![0usize; CONFIGS.len()];
    let mut floor_items = 0;
    for _ in 0..3 {
        let t = cpu::thread_seconds().unwrap_or(0.0);
        let mut n = 0;
        let mut sink = 0usize;
        for (bytes, items) in pool.iter().cycle() {
            if n >= spans / 3 {
                break;
            }
            if let Ok(m) = ExportTraceServiceRequest::decode(bytes.clone()) {
                sink = sink.wrapping_add(m.encode_to_vec().len());
            }
            n += items;
        }
        std::hint::black_box(sink);
        floor += cpu::thread_seconds().unwrap_or(0.0) - t;
        floor_items += n;
        for (i, (sampler, _)) in samplers.iter().enumerate() {
            let t = cpu::thread_seconds().unwrap_or(0.0);
            let mut n = 0;
            for (bytes, items) in pool.iter().cycle() {
                if n >= spans / 3 {
                    break;
                }
                let batch = Batch::Traces(Payload::from_encoded_parts(bytes.clone(), *items));
                runtime.block_on(sampler.consume(batch)).expect("consumed");
                n += items;
            }
            spent[i] += cpu::thread_seconds().unwrap_or(0.0) - t;
            offered[i] += n;
        }
    }
    let rows = CONFIGS
        .iter()
        .enumerate()
        .map(|(i, config)| Row {
            config,
            cpu_s_per_million: spent[i] / offered[i] as f64 * 1e6,
            kept_share: samplers[i].1 .0.load(std::sync::atomic::Ordering::Relaxed) as f64
                / offered[i] as f64,
        })
        .collect();
    (floor / floor_items as f64 * 1e6, rows)
}
