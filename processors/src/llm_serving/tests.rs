//! The mapping on hand-built OTLP (the engines' real captures go through the real
//! `prometheus` receiver in `tests/llm_serving.rs`).

use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::metrics::v1::{number_data_point, HistogramDataPoint, NumberDataPoint};
use llamacol_api::otlp::resource::v1::Resource;

use llamacol_api::otlp::common::v1::any_value;

use super::*;
use llamacol_api::testing::{counter_metric as counter, gauge_metric as gauge};

fn point(v: f64, labels: &[(&str, &str)]) -> NumberDataPoint {
    NumberDataPoint {
        attributes: labels.iter().map(|(k, v)| string(k, v)).collect(),
        time_unix_nano: 2_000,
        start_time_unix_nano: 1_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn histogram(name: &str, bounds: &[f64], counts: &[u64], sum: f64) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![string("model_name", "m")],
                explicit_bounds: bounds.to_vec(),
                bucket_counts: counts.to_vec(),
                count: counts.iter().sum(),
                sum: Some(sum),
                time_unix_nano: 2_000,
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    }
}

fn run(p: &LlmServing, metrics: Vec<Metric>) -> ResourceMetrics {
    let mut rm = ResourceMetrics {
        resource: Some(Resource::default()),
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    };
    p.resource(&mut rm);
    rm
}

fn uniform<'a>(rm: &'a ResourceMetrics, name: &str) -> Option<&'a Metric> {
    rm.scope_metrics
        .iter()
        .filter(|s| s.scope.as_ref().is_some_and(|s| s.name == SCOPE))
        .flat_map(|s| s.metrics.iter())
        .find(|m| m.name == name)
}

fn values(m: &Metric) -> Vec<(Vec<(String, String)>, f64)> {
    let points = match &m.data {
        Some(metric::Data::Gauge(g)) => &g.data_points,
        Some(metric::Data::Sum(s)) => &s.data_points,
        _ => panic!("{} is not a number metric", m.name),
    };
    points
        .iter()
        .map(|p| {
            let attrs = p
                .attributes
                .iter()
                .map(|kv| {
                    let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(any_value::Value::StringValue(s)) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (kv.key.clone(), v)
                })
                .collect();
            (attrs, convert::value(p).expect("value"))
        })
        .collect()
}

fn all() -> LlmServing {
    LlmServing::new(&LlmServingConfig::default())
}

fn names(rm: &ResourceMetrics) -> Vec<String> {
    rm.scope_metrics
        .iter()
        .flat_map(|s| s.metrics.iter().map(|m| m.name.clone()))
        .collect()
}

#[test]
fn vllm_with_hidden_metrics_shown_maps_the_new_names_once() {
    // vLLM with --show-hidden-metrics-for-version exposes the old names beside the new
    // ones (its tests/entrypoints/openai/test_metrics.py HIDDEN_DEPRECATED_METRICS).
    let m = &[("model_name", "m")];
    let rm = run(
        &all(),
        vec![
            gauge("vllm:kv_cache_usage_perc", vec![point(0.25, m)]),
            gauge("vllm:gpu_cache_usage_perc", vec![point(0.99, m)]),
            histogram("vllm:inter_token_latency_seconds", &[0.01], &[3, 1], 0.05),
            histogram("vllm:time_per_output_token_seconds", &[0.01], &[9, 9], 9.0),
            counter("vllm:prompt_tokens_total", vec![point(40.0, m)]),
        ],
    );
    let kv = values(uniform(&rm, "llm.server.kv_cache.usage").expect("kv"));
    assert_eq!(kv.len(), 1);
    assert_eq!(kv[0].1, 0.25);
    assert!(kv[0]
        .0
        .contains(&("gen_ai.request.model".into(), "m".into())));
    assert!(kv[0]
        .0
        .contains(&("llm.server.engine".into(), "vllm".into())));
    assert!(!kv[0].0.iter().any(|(k, _)| k == "model_name"));
    let Some(metric::Data::Histogram(h)) = &uniform(&rm, "gen_ai.server.time_per_output_token")
        .expect("tpot")
        .data
    else {
        panic!("tpot is a histogram")
    };
    assert_eq!(h.data_points.len(), 1);
    assert_eq!(h.data_points[0].sum, Some(0.05));
    let tokens = values(uniform(&rm, "llm.server.tokens").expect("tokens"));
    assert!(tokens[0]
        .0
        .contains(&("gen_ai.token.type".into(), "input".into())));
    // The originals stay.
    assert!(names(&rm).contains(&"vllm:gpu_cache_usage_perc".to_string()));
}

#[test]
fn older_vllm_names_map_when_the_new_ones_are_absent() {
    let m = &[("model_name", "m")];
    let rm = run(
        &all(),
        vec![
            gauge("vllm:gpu_cache_usage_perc", vec![point(0.5, m)]),
            gauge("vllm:gpu_prefix_cache_hit_rate", vec![point(0.3, m)]),
            histogram("vllm:time_per_output_token_seconds", &[0.01], &[1, 1], 0.2),
        ],
    );
    assert_eq!(
        values(uniform(&rm, "llm.server.kv_cache.usage").expect("kv"))[0].1,
        0.5
    );
    assert_eq!(
        values(uniform(&rm, "llm.server.prefix_cache.hit_ratio").expect("hit"))[0].1,
        0.3
    );
    assert!(uniform(&rm, "gen_ai.server.time_per_output_token").is_some());
}

#[test]
fn prefix_hit_ratio_from_counters_covers_the_interval_since_the_previous_point() {
    let p = all();
    let m = &[("model_name", "m")];
    let scrape = |hits: f64, queries: f64| {
        run(
            &p,
            vec![
                counter("vllm:prefix_cache_hits_total", vec![point(hits, m)]),
                counter("vllm:prefix_cache_queries_total", vec![point(queries, m)]),
            ],
        )
    };
    let ratio = |rm: &ResourceMetrics| {
        uniform(rm, "llm.server.prefix_cache.hit_ratio").map(|m| values(m)[0].1)
    };
    // First point: the counters' whole life.
    assert_eq!(ratio(&scrape(10.0, 100.0)), Some(0.1));
    // Then 90 of the next 100 queried tokens hit.
    assert_eq!(ratio(&scrape(100.0, 200.0)), Some(0.9));
    // Nothing queried: no ratio rather than 0/0.
    assert_eq!(ratio(&scrape(100.0, 200.0)), None);
    // A restart (counters went down): the new totals.
    assert_eq!(ratio(&scrape(5.0, 20.0)), Some(0.25));
}

#[test]
fn llama_cpp_prompt_tokens_add_the_cached_ones_and_give_the_hit_ratio() {
    // llama-server's prompt_tokens_total excludes the tokens reused from the cache.
    let rm = run(
        &all(),
        vec![
            counter("llamacpp:prompt_tokens_total", vec![point(21.0, &[])]),
            counter("llamacpp:prompt_tokens_cached_total", vec![point(3.0, &[])]),
            counter("llamacpp:tokens_predicted_total", vec![point(48.0, &[])]),
            gauge("llamacpp:requests_processing", vec![point(1.0, &[])]),
        ],
    );
    let tokens = values(uniform(&rm, "llm.server.tokens").expect("tokens"));
    let of = |t: &str| {
        tokens
            .iter()
            .find(|(a, _)| a.contains(&("gen_ai.token.type".into(), t.into())))
            .map(|p| p.1)
    };
    assert_eq!(of("input"), Some(24.0));
    assert_eq!(of("output"), Some(48.0));
    assert_eq!(
        values(uniform(&rm, "llm.server.prefix_cache.hit_ratio").expect("hit"))[0].1,
        3.0 / 24.0
    );
    assert_eq!(
        values(uniform(&rm, "llm.server.requests.running").expect("running"))[0].1,
        1.0
    );
}

#[test]
fn tgi_token_counters_come_from_its_length_histograms() {
    let rm = run(
        &all(),
        vec![
            histogram(
                "tgi_request_input_length",
                &[10.0, 100.0],
                &[1, 2, 0],
                170.0,
            ),
            histogram("tgi_request_generated_tokens", &[10.0], &[3, 0], 12.0),
            gauge("tgi_queue_size", vec![point(4.0, &[])]),
        ],
    );
    let tokens = values(uniform(&rm, "llm.server.tokens").expect("tokens"));
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().any(|(_, v)| *v == 170.0));
    assert!(tokens.iter().any(|(_, v)| *v == 12.0));
    let Some(metric::Data::Sum(s)) = &uniform(&rm, "llm.server.tokens").expect("tokens").data
    else {
        panic!("tokens are a sum")
    };
    assert!(s.is_monotonic);
    assert_eq!(
        values(uniform(&rm, "llm.server.requests.waiting").expect("waiting"))[0].1,
        4.0
    );
}

#[test]
fn triton_kv_usage_is_used_over_max_where_there_is_no_fraction() {
    let labels = |t: &'static str| {
        [
            ("kv_cache_block_type", t),
            ("model", "ensemble"),
            ("version", "1"),
        ]
    };
    let rm = run(
        &all(),
        vec![
            gauge(
                "nv_trt_llm_kv_cache_block_metrics",
                vec![
                    point(64.0, &labels("tokens_per")),
                    point(100.0, &labels("used")),
                    point(400.0, &labels("max")),
                ],
            ),
            histogram(
                "nv_inference_first_response_histogram_ms",
                &[100.0, 500.0],
                &[8, 22, 7],
                10771.0,
            ),
        ],
    );
    let kv = values(uniform(&rm, "llm.server.kv_cache.usage").expect("kv"));
    assert_eq!(kv.len(), 1);
    assert_eq!(kv[0].1, 0.25);
    assert!(!kv[0].0.iter().any(|(k, _)| k == "kv_cache_block_type"));
    assert!(kv[0]
        .0
        .contains(&("gen_ai.request.model".into(), "ensemble".into())));
    let Some(metric::Data::Histogram(h)) = &uniform(&rm, "gen_ai.server.time_to_first_token")
        .expect("ttft")
        .data
    else {
        panic!("ttft is a histogram")
    };
    assert_eq!(h.data_points[0].explicit_bounds, vec![0.1, 0.5]);
    assert_eq!(h.data_points[0].sum, Some(10.771));
}

#[test]
fn keep_original_false_drops_only_what_was_mapped() {
    let p = LlmServing::new(&LlmServingConfig {
        keep_original: false,
        ..Default::default()
    });
    let rm = run(
        &p,
        vec![
            gauge(
                "sglang:num_running_reqs",
                vec![point(3.0, &[("model_name", "m")])],
            ),
            gauge(
                "sglang:gen_throughput",
                vec![point(9.0, &[("model_name", "m")])],
            ),
            counter("llamacpp:prompt_tokens_total", vec![point(21.0, &[])]),
            counter("llamacpp:prompt_tokens_cached_total", vec![point(3.0, &[])]),
        ],
    );
    let names = names(&rm);
    assert!(!names.contains(&"sglang:num_running_reqs".to_string()));
    assert!(!names.contains(&"llamacpp:prompt_tokens_cached_total".to_string()));
    assert!(names.contains(&"sglang:gen_throughput".to_string()));
    assert!(names.contains(&"llm.server.requests.running".to_string()));
}

#[test]
fn engines_left_out_pass_untouched() {
    let p = LlmServing::new(&LlmServingConfig {
        engines: vec![Engine::Vllm],
        ..Default::default()
    });
    let rm = run(
        &p,
        vec![gauge("sglang:num_running_reqs", vec![point(3.0, &[])])],
    );
    assert_eq!(names(&rm), vec!["sglang:num_running_reqs".to_string()]);
}

#[test]
fn config_errors_name_the_key() {
    use llamacol_api::config::ComponentConfig;
    let parse = |y: &str| {
        let v: serde_yaml::Value = serde_yaml::from_str(y).expect("yaml");
        llamacol_api::config::parse::<LlmServingConfig>(&v)
    };
    let empty = parse("engines: []").expect("parses").validate();
    assert_eq!(empty[0].path, "engines");
    let twice = parse("engines: [vllm, vllm]").expect("parses").validate();
    assert_eq!(twice[0].path, "engines[1]");
    assert!(parse("engines: [ollama]").is_err());
    assert!(parse("keep_originals: false").is_err());
    assert!(parse("{}").expect("parses").validate().is_empty());
    // A metrics request passes through the stateless wrapper unchanged in count.
    let _ = ExportMetricsServiceRequest::default();
}
