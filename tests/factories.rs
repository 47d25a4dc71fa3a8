//! Every registered built-in factory through the conformance kit
//! (`llamacol_pipeline::testing::conformance`): the contract a plugin author's component
//! is checked against too. A new built-in is checked as soon as it is in the table.

use llamacol_api::Kind;
use llamacol_pipeline::testing::{
    check_connector, check_exporter, check_extension, check_processor, check_receiver, free_port,
    Flow,
};

/// The block each type is checked with: its defaults, except where a default would bind
/// a fixed port, write outside the test's directory, or leave a required key unset.
fn block(kind: Kind, type_name: &str, dir: &std::path::Path) -> String {
    match (kind, type_name) {
        (Kind::Receiver, "otlp") => format!(
            "{{protocols: {{grpc: {{endpoint: \"127.0.0.1:{}\"}}, http: {{endpoint: \"127.0.0.1:{}\"}}}}}}",
            free_port(),
            free_port()
        ),
        (Kind::Receiver, "llamacpp") => format!(
            "{{targets: [{{endpoint: \"http://127.0.0.1:{}\"}}], collection_interval: 100ms}}",
            free_port()
        ),
        (Kind::Receiver, "prometheus") => format!(
            "{{config: {{scrape_configs: [{{job_name: node, scrape_interval: 100ms, static_configs: [{{targets: ['127.0.0.1:{}']}}]}}]}}}}",
            free_port()
        ),
        (Kind::Receiver, "file_log" | "filelog") => format!(
            "{{include: [\"{}/*.log\"], poll_interval: 100ms}}",
            dir.display()
        ),
        (Kind::Receiver, "host_metrics" | "hostmetrics") => {
            "{collection_interval: 100ms, initial_delay: 0s, scrapers: {cpu: , memory: , load: , system: }}".into()
        }
        (Kind::Receiver, "jaeger") => format!(
            "{{protocols: {{grpc: {{endpoint: 127.0.0.1:{}}}, thrift_http: {{endpoint: 127.0.0.1:{}}}, thrift_compact: {{endpoint: 127.0.0.1:{}}}, thrift_binary: {{endpoint: 127.0.0.1:{}}}}}}}",
            free_port(),
            free_port(),
            free_port(),
            free_port()
        ),
        (Kind::Receiver, "zipkin") => format!("{{endpoint: 127.0.0.1:{}}}", free_port()),
        (Kind::Exporter, "zipkin") => format!(
            "{{endpoint: \"http://127.0.0.1:{}/api/v2/spans\", timeout: 1s}}",
            free_port()
        ),
        (Kind::Processor, "resource") => {
            "{attributes: [{key: k8s.node.name, value: n1, action: upsert}]}".into()
        }
        (Kind::Processor, "memory_limiter") => "{limit_mib: 8192}".into(),
        // No API server here (tests/e2e_k8s.rs runs it against one): only the IP stamp.
        (Kind::Processor, "k8s_attributes" | "k8sattributes") => "{passthrough: true}".into(),
        (Kind::Connector, "routing") => "{default_pipelines: [traces/out, metrics/out, logs/out], table: [{condition: 'attributes[\"never\"] == true', pipelines: [traces/out, metrics/out, logs/out]}]}".into(),
        (Kind::Processor, "attributes") => "{actions: [{key: k8s.node.name, value: n1, action: upsert}]}".into(),
        (Kind::Processor, "transform") => {
            "{statements: ['set(resource.attributes[\"k8s.node.name\"], \"n1\")']}".into()
        }
        // Removes nothing.
        (Kind::Processor, "filter") => "{traces: {span: ['false']}, logs: {log_record: ['false']}, metrics: {datapoint: ['false']}}".into(),
        // Keeps everything (the default, 0, keeps nothing), log records without a trace
        // id included (no randomness: kept when not failing closed).
        (Kind::Processor, "probabilistic_sampler") => {
            "{sampling_percentage: 100, fail_closed: false}".into()
        }
        (Kind::Processor, "tail_sampling") => {
            "{decision_wait: 100ms, policies: [{name: all, type: always_sample}]}".into()
        }
        (Kind::Processor, "slo") => {
            "{evaluation_interval: 100ms, rules: [{alert: A, metric: m, op: \">\", threshold: 1}]}".into()
        }
        (Kind::Exporter, "file") => format!("{{path: \"{}\"}}", dir.join("out.jsonl").display()),
        (Kind::Exporter, "graphistry") => {
            format!("{{offline_dir: \"{}\"}}", dir.join("graphs").display())
        }
        (Kind::Exporter, "parquet") => format!("{{path: \"{}\"}}", dir.join("parquet").display()),
        (Kind::Exporter, "prometheus") => {
            format!("{{endpoint: \"127.0.0.1:{}\"}}", free_port())
        }
        (Kind::Exporter, "loadbalancing" | "load_balancing") => format!(
            "{{resolver: {{static: {{hostnames: [\"127.0.0.1:{}\"]}}}}, protocol: {{otlp: {{tls: {{insecure: true}}, timeout: 1s}}}}}}",
            free_port()
        ),
        (Kind::Exporter, "prometheusremotewrite" | "prometheus_remote_write") => format!(
            "{{endpoint: \"http://127.0.0.1:{}/api/v1/write\", timeout: 1s}}",
            free_port()
        ),
        // Exports to a port nothing listens on: start and shutdown must still be clean
        // (what it took is retried to the deadline, then counted).
        (Kind::Exporter, "otlp" | "otlp_grpc" | "jaeger") => format!(
            "{{endpoint: \"127.0.0.1:{}\", tls: {{insecure: true}}, timeout: 1s}}",
            free_port()
        ),
        (Kind::Exporter, "otlp_http" | "otlphttp") => format!(
            "{{endpoint: \"http://127.0.0.1:{}\", timeout: 1s}}",
            free_port()
        ),
        (Kind::Extension, "file_storage") => format!(
            "{{directory: \"{}\", create_directory: true}}",
            dir.join("queue").display()
        ),
        (Kind::Extension, "bearertokenauth") => "{token: conformance-token}".into(),
        (Kind::Extension, "headers_setter") => {
            "{headers: [{key: X-Scope-OrgID, from_context: x-scope-orgid}]}".into()
        }
        (Kind::Extension, "basicauth") => {
            "{htpasswd: {inline: \"user:plain-password\"}, client_auth: {username: user, password: plain-password}}".into()
        }
        (Kind::Extension, "health_check") => {
            format!("{{endpoint: \"127.0.0.1:{}\"}}", free_port())
        }
        _ => "{}".into(),
    }
}

/// Whether a processor or connector hands on every item it takes.
fn flow(type_name: &str) -> Flow {
    match type_name {
        // Emits metrics derived from the spans, not the spans.
        "genai_metrics" | "span_metrics" | "spanmetrics" => Flow::MayFilter,
        _ => Flow::PassesThrough,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_built_in_meets_the_component_contract() {
    let registry = llamacol::builtins();
    let listed = registry.list();
    assert!(listed.len() >= 15, "{listed:?}");
    let dir = tempfile::tempdir().expect("tmp");
    for l in listed {
        let (kind, name) = (l.kind, l.type_name);
        let block = block(kind, name, dir.path());
        // Factories are plain `Copy` values: the kit takes one out of the table.
        let missing = || Err(format!("{kind} `{name}` is listed but not found"));
        let outcome = match kind {
            Kind::Receiver => match registry.find_receiver(name) {
                Some(f) => check_receiver(*f, &block).await,
                None => missing(),
            },
            Kind::Processor => match registry.find_processor(name) {
                Some(f) => check_processor(*f, &block, flow(name)).await,
                None => missing(),
            },
            Kind::Exporter => match registry.find_exporter(name) {
                Some(f) => check_exporter(*f, &block).await,
                None => missing(),
            },
            Kind::Connector => match registry.find_connector(name) {
                Some(f) => check_connector(*f, &block, flow(name)).await,
                None => missing(),
            },
            Kind::Extension => match registry.find_extension(name) {
                Some(f) => check_extension(*f, &block).await,
                None => missing(),
            },
        };
        if let Err(e) = outcome {
            panic!("{kind} `{name}` breaks the component contract: {e}");
        }
    }
}
