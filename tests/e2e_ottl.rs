//! `transform`, `filter`, `attributes` and `resource` against the real Collector's: the
//! same LLM-sized traces, metrics and logs (the load generator's GenAI data, 2-20 KB
//! prompt spans) through the same statements, conditions and actions in both, each on
//! its own defaults, outputs compared item by item.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::llm_load::data;
use common::otelcol::{Otelcol, QUIET_TELEMETRY};
use common::{lines, Collector};
use llamacol_api::otlp::collector::logs::v1::logs_service_client::LogsServiceClient;
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::common::v1::{any_value, AnyValue};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The processors, as both collectors read them: typical fixes GenAI operators make.
const PROCESSORS: &str = r#"
  transform:
    error_mode: ignore
    trace_statements:
      - context: resource
        statements:
          - set(attributes["deployment.environment.name"], "prod") where attributes["deployment.environment.name"] == "production"
          - delete_key(attributes, "k8s.pod.name")
      - context: span
        statements:
          - set(attributes["gen_ai.request.model"], "llama-3.1-8b") where attributes["gen_ai.request.model"] == "llama-3.1-8b-instruct"
          - replace_pattern(attributes["gen_ai.prompt.0.content"], "\\b[a-z]{8}\\b", "[redacted]")
          - truncate_all(attributes, 2048)
          - set(attributes["gen_ai.usage.total_tokens"], attributes["gen_ai.usage.input_tokens"] + attributes["gen_ai.usage.output_tokens"])
          - set(attributes["llm.latency_ms"], (end_time_unix_nano - start_time_unix_nano) / 1000000)
          - set(status.code, STATUS_CODE_OK) where status.code == STATUS_CODE_UNSET and kind == SPAN_KIND_SERVER
          - delete_matching_keys(attributes, "^llamacol\\.bench\\.attr_[5-9]$")
          - set(attributes["step"], ConvertCase(name, "upper")) where not IsRootSpan()
          - set(name, Concat([attributes["gen_ai.operation.name"], attributes["gen_ai.request.model"]], " ")) where IsRootSpan()
          - limit(attributes, 14, ["gen_ai.request.model", "gen_ai.usage.total_tokens"])
      - set(span.attributes["model.family"], Split(span.attributes["gen_ai.request.model"], "-")[0])
    metric_statements:
      - context: metric
        statements:
          - set(description, "GPU utilization") where IsMatch(name, "^hw\\.gpu\\.utilization")
          - set(unit, "%") where name == "hw.gpu.utilization.0"
      - context: datapoint
        statements:
          - set(attributes["gpu"], attributes["hw.id"])
          - delete_key(attributes, "hw.id")
          - set(attributes["metric"], metric.name)
    log_statements:
      - context: log
        statements:
          - merge_maps(attributes, ExtractPatterns(body, "slot (?P<slot>\\d+) released after (?P<tokens>\\d+) tokens"), "upsert")
          - set(severity_text, "WARN") where attributes["tokens"] != nil and Int(attributes["tokens"]) > 1500
          - set(severity_number, SEVERITY_NUMBER_WARN) where severity_text == "WARN"
          - set(attributes["body.length"], Len(body))
          - set(attributes["trace"], trace_id.string)
  attributes:
    include:
      match_type: regexp
      span_names: ['^(chat|prefill|decode)']
      services: [llm-gateway]
    exclude:
      match_type: strict
      attributes: [{key: gen_ai.request.model, value: mistral-7b-v0.3}]
    actions:
      - {key: gen_ai.completion.0.content, action: hash}
      - {key: server.port, action: convert, converted_type: string}
      - {key: gen_ai.request.temperature, action: convert, converted_type: int}
      - {key: route, from_attribute: url.path, default_value: none, action: upsert}
      - {key: url.path, pattern: '^/(?P<api_version>v\d+)/(?P<api_kind>[a-z]+)/', action: extract}
      - {pattern: '^llamacol\.bench\.attr_[0-2]$', action: delete}
      - {key: gen_ai.usage.input_tokens, action: hash}
  resource:
    attributes:
      - {key: host.name, pattern: '^(?P<node_kind>[a-z]+)-node-(?P<node_index>\d+)$', action: extract}
      - {key: node_index, action: convert, converted_type: int}
      - {key: service.instance.id, from_attribute: host.name, action: insert}
      - {key: k8s.namespace.name, action: hash}
  filter:
    error_mode: ignore
    traces:
      span:
        - 'attributes["step"] == "QUEUE"'
        - 'name == "TOKENIZE" or (attributes["gen_ai.usage.output_tokens"] < 10 and not IsRootSpan())'
    metrics:
      datapoint:
        - 'attributes["gpu"] == "GPU-3"'
    logs:
      log_record:
        - 'IsMatch(body, "^slot 0 ")'
"#;

fn requests() -> (
    Vec<ExportTraceServiceRequest>,
    Vec<ExportMetricsServiceRequest>,
    Vec<ExportLogsServiceRequest>,
) {
    let mut rng = StdRng::seed_from_u64(33);
    let traces = common::llm_load::requests(4, 2);
    let metrics = (0..4).map(|_| data::metrics(&mut rng, 200)).collect();
    let logs = (0..4).map(|_| data::logs(&mut rng, 300)).collect();
    let _ = &mut rng;
    (traces, metrics, logs)
}

fn send(port: u16) {
    let (traces, metrics, logs) = requests();
    common::llm_load::send(port, &traces);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let mut m = MetricsServiceClient::connect(url.clone())
            .await
            .expect("connect");
        for r in metrics {
            m.export(r).await.expect("metrics accepted");
        }
        let mut l = LogsServiceClient::connect(url).await.expect("connect");
        for r in logs {
            l.export(r).await.expect("logs accepted");
        }
    });
}

/// An empty map or list as the Collector writes it (`{}`) in the shape the proto reads.
fn fill_empty(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, inner) in o.iter_mut() {
                if (k == "kvlistValue" || k == "arrayValue")
                    && inner.as_object().is_some_and(|m| m.is_empty())
                {
                    *inner = serde_json::json!({"values": []});
                }
                fill_empty(inner);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fill_empty),
        _ => {}
    }
}

fn sorted(attrs: &[llamacol_api::otlp::common::v1::KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = attrs
        .iter()
        .map(|kv| (kv.key.clone(), value(kv.value.as_ref())))
        .collect();
    out.sort();
    out
}

/// A value with its type, doubles by their value (the exporters print them differently).
fn value(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::DoubleValue(d)) => format!("double:{d}"),
        other => format!("{other:?}"),
    }
}

/// Every item a file exporter wrote, by a key that names it, with what the statements
/// can change.
fn items(path: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for mut line in lines(path) {
        fill_empty(&mut line);
        let text = line.to_string();
        if line.get("resourceSpans").is_some() {
            let r: ExportTraceServiceRequest = serde_json::from_str(&text).expect("traces");
            for rs in &r.resource_spans {
                let resource = sorted(&rs.resource.clone().unwrap_or_default().attributes);
                for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                    let status = span.status.clone().unwrap_or_default();
                    out.insert(
                        format!("span {}", llamacol_api::wire::hex(&span.span_id)),
                        format!(
                            "{resource:?} {} {} {:?} {:?}",
                            span.name,
                            status.code,
                            status.message,
                            sorted(&span.attributes)
                        ),
                    );
                }
            }
        } else if line.get("resourceMetrics").is_some() {
            let r: ExportMetricsServiceRequest = serde_json::from_str(&text).expect("metrics");
            for rm in &r.resource_metrics {
                for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                    use llamacol_api::otlp::metrics::v1::metric::Data;
                    let points: Vec<_> = match &m.data {
                        Some(Data::Gauge(g)) => g
                            .data_points
                            .iter()
                            .map(|p| (sorted(&p.attributes), format!("{:?}", p.value)))
                            .collect(),
                        Some(Data::Sum(s)) => s
                            .data_points
                            .iter()
                            .map(|p| (sorted(&p.attributes), format!("{:?}", p.value)))
                            .collect(),
                        Some(Data::Histogram(h)) => h
                            .data_points
                            .iter()
                            .map(|p| {
                                (
                                    sorted(&p.attributes),
                                    format!("{} {:?}", p.count, p.bucket_counts),
                                )
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    for (attrs, v) in points {
                        let gpu = attrs
                            .iter()
                            .find(|(k, _)| k == "gpu")
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default();
                        out.insert(
                            format!(
                                "point {} {} {gpu}",
                                sorted(&rm.resource.clone().unwrap_or_default().attributes)
                                    .iter()
                                    .find(|(k, _)| k == "host.name")
                                    .map(|(_, v)| v.clone())
                                    .unwrap_or_default(),
                                m.name
                            ),
                            format!("{} {:?} {attrs:?} {v}", m.unit, m.description),
                        );
                    }
                }
            }
        } else if line.get("resourceLogs").is_some() {
            let r: ExportLogsServiceRequest = serde_json::from_str(&text).expect("logs");
            for rl in &r.resource_logs {
                for l in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    out.insert(
                        format!(
                            "log {} {}",
                            llamacol_api::wire::hex(&l.span_id),
                            l.time_unix_nano
                        ),
                        format!(
                            "{} {} {:?} {:?}",
                            l.severity_number,
                            l.severity_text,
                            value(l.body.as_ref()),
                            sorted(&l.attributes)
                        ),
                    );
                }
            }
        }
    }
    out
}

fn settle(path: &Path) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = items(path);
    loop {
        std::thread::sleep(Duration::from_millis(700));
        let now = items(path);
        if (!now.is_empty() && now.len() == last.len()) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

#[test]
#[ignore = "needs the OpenTelemetry Collector (otelcol): run the README test command"]
fn transform_filter_attributes_and_resource_give_the_collectors_items() {
    let pipelines = "    traces:\n      receivers: [otlp]\n      processors: [resource, attributes, transform, filter]\n      exporters: [file]\n\
                     \x20   metrics:\n      receivers: [otlp]\n      processors: [resource, transform, filter]\n      exporters: [file]\n\
                     \x20   logs:\n      receivers: [otlp]\n      processors: [resource, transform, filter]\n      exporters: [file]\n";
    let mut theirs = Otelcol::start(
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${{env:OTELCOL_GRPC}}\n      http:\n        endpoint: ${{env:OTELCOL_HTTP}}\n\
             processors:{PROCESSORS}\
             exporters:\n  file:\n    path: ${{env:OTELCOL_FILE}}\n\
             service:\n{QUIET_TELEMETRY}  pipelines:\n{pipelines}"
        ),
        &[],
    );
    send(theirs.grpc);
    let theirs_items = settle(&theirs.file);
    theirs.terminate();

    let mut ours = Collector::from_yaml(&format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${{env:LLAMACOL_OTLP_GRPC_ENDPOINT}}\n\
         processors:{PROCESSORS}\
         exporters:\n  file:\n    path: ${{env:LLAMACOL_FILE_PATH}}\n\
         service:\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n{pipelines}"
    ));
    send(ours.grpc);
    let ours_items = settle(&ours.file);
    let log = ours.stderr();
    ours.terminate();

    let (traces, metrics, logs) = requests();
    let sent = common::llm_load::spans(&traces)
        + metrics
            .iter()
            .map(llamacol_api::SignalMessage::count_items)
            .sum::<usize>()
        + logs
            .iter()
            .map(llamacol_api::SignalMessage::count_items)
            .sum::<usize>();
    assert!(
        theirs_items.len() > sent / 3,
        "the Collector kept {} of {sent}",
        theirs_items.len()
    );
    assert!(theirs_items.len() < sent, "the filter removed nothing");
    let kinds =
        |m: &BTreeMap<String, String>, k: &str| m.keys().filter(|key| key.starts_with(k)).count();
    for k in ["span", "point", "log"] {
        assert!(
            kinds(&theirs_items, k) > 0,
            "no {k} left in the Collector's output"
        );
    }
    // The statements did something (so equal outputs are not two unchanged copies).
    for (kind, mark) in [
        ("span", "model.family"),
        ("span", "[redacted]"),
        ("span", "gen_ai.usage.total_tokens"),
        ("span", "llm.latency_ms"),
        ("span", "api_version"),
        ("span", "node_index"),
        ("point", "\"gpu\""),
        ("point", "GPU utilization"),
        ("log", "\"tokens\""),
        ("log", "WARN"),
    ] {
        assert!(
            theirs_items
                .iter()
                .any(|(k, v)| k.starts_with(kind) && v.contains(mark)),
            "no {kind} in the Collector's output carries {mark}"
        );
    }
    let mut differences = Vec::new();
    for (key, theirs) in &theirs_items {
        match ours_items.get(key) {
            Some(o) if o == theirs => {}
            Some(o) => differences.push(format!("{key}\n  llamacol:  {o}\n  Collector: {theirs}")),
            None => differences.push(format!("{key}: missing in llamacol's output")),
        }
    }
    for key in ours_items.keys().filter(|k| !theirs_items.contains_key(*k)) {
        differences.push(format!("{key}: only in llamacol's output"));
    }
    assert!(
        differences.is_empty(),
        "{} of {} items differ; first: {}\nllamacol's log: {log}",
        differences.len(),
        theirs_items.len(),
        differences
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "transform, filter, attributes, resource: {} items sent, {} kept by both, identical",
        sent,
        theirs_items.len()
    );
}
