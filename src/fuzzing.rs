//! Entry points of the fuzzers (`fuzz/`, cargo fuzz) and of their corpus regression test
//! (`tests/fuzz_corpus.rs`, in the README's test command): each feeds arbitrary bytes to
//! a parser that reads untrusted input, exactly as the component runs it. They must
//! return (an error is fine) and never panic, hang or allocate without bound.

use bytes::Bytes;
use llamacol_api::{Batch, Signal};

/// One fuzz target: arbitrary bytes in, nothing out.
pub type Target = fn(&[u8]);

/// The targets, by name (the corpus folders under `fuzz/corpus/`).
pub const TARGETS: [(&str, Target); 11] = [
    ("otlp_wire", otlp_wire),
    ("otlp_json", otlp_json),
    ("http_body", http_body),
    ("llamacpp_metrics", llamacpp_metrics),
    ("llamacpp_json", llamacpp_json),
    ("config", config),
    ("tracestate", tracestate),
    ("rule_file", rule_file),
    ("ottl", ottl),
    ("jaeger_thrift", jaeger_thrift),
    ("zipkin_body", zipkin_body),
];

/// Two log records with a string body, a map body, scalar, list and map attributes.
fn ottl_logs() -> Batch {
    use llamacol_api::attributes::{int, kv, string};
    use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
    use llamacol_api::otlp::common::v1::{any_value, AnyValue, ArrayValue, KeyValueList};
    use llamacol_api::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let record = |body: any_value::Value| LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(AnyValue { value: Some(body) }),
        attributes: vec![
            string("http.method", "get"),
            int("tokens", 42),
            kv(
                "list",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::StringValue("a".into())),
                    }],
                }),
            ),
            kv(
                "map",
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![string("k", "v")],
                }),
            ),
        ],
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        ..Default::default()
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(llamacol_api::otlp::resource::v1::Resource {
                attributes: vec![string("service.name", "llm")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(any_value::Value::StringValue(
                        "slot 1 released after 12 tokens".into(),
                    )),
                    record(any_value::Value::KvlistValue(KeyValueList {
                        values: vec![string("msg", "x")],
                    })),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Batch::Logs(llamacol_api::Payload::from_message(request))
}

/// Text as an OTTL statement and as a condition, bound in the log context (paths with
/// or without context names) and with the context inferred; what binds runs on a log
/// batch under `propagate` (a runtime error is fine, a panic is not).
pub fn ottl(data: &[u8]) {
    use llamacol_api::ottl::{run_statements, ContextName, ErrorMode, Predicate, Statement};
    let text = String::from_utf8_lossy(data);
    for context in [Some(ContextName::Log), None] {
        if let Ok(statement) = Statement::parse(&text, context) {
            let mut batch = ottl_logs();
            let _ = run_statements(
                &mut batch,
                &[statement],
                &[],
                ErrorMode::Propagate,
                &mut |_, _| {},
            );
        }
        if let Ok(condition) = Predicate::parse(&text, context) {
            let mut batch = ottl_logs();
            let statement = Statement::parse("set(log.attributes[\"hit\"], true)", None)
                .expect("a valid statement");
            if condition.context == ContextName::Log {
                let _ = run_statements(
                    &mut batch,
                    &[statement],
                    &[condition],
                    ErrorMode::Propagate,
                    &mut |_, _| {},
                );
            }
        }
    }
}

/// The first byte picks the signal; the rest is an OTLP protobuf export request: checked
/// on the wire, counted, decoded, split in two batches and merged back.
pub fn otlp_wire(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let signal = Signal::ALL[usize::from(pick) % 3];
    let Ok(mut batch) = Batch::from_bytes(signal, Bytes::copy_from_slice(rest)) else {
        return;
    };
    let items = batch.items();
    let again =
        Batch::from_bytes(signal, batch.bytes()).expect("what was accepted once is accepted again");
    assert_eq!(again.items(), items, "item counts agree");
    // Merging with itself must hold twice the items.
    let merged = match (batch, again) {
        (Batch::Traces(mut a), Batch::Traces(b)) => a.append(b).map(|()| a.items()),
        (Batch::Metrics(mut a), Batch::Metrics(b)) => a.append(b).map(|()| a.items()),
        (Batch::Logs(mut a), Batch::Logs(b)) => a.append(b).map(|()| a.items()),
        _ => unreachable!("same signal"),
    };
    if let Ok(n) = merged {
        assert_eq!(n, 2 * items, "merged counts");
    }
}

/// The first byte picks the signal; the rest is an OTLP/JSON export request.
pub fn otlp_json(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let signal = Signal::ALL[usize::from(pick) % 3];
    if let Ok(mut batch) = llamacol_receivers::otlp::body::json(signal, rest) {
        let _ = batch.bytes();
    }
}

/// The first byte picks the Content-Encoding; the rest is the body, decompressed within
/// a 64 KiB limit, then checked as protobuf traces.
pub fn http_body(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let encoding = ["", "gzip", "deflate", "zstd"][usize::from(pick) % 4];
    use llamacol_receivers::otlp::body;
    if let Ok(bytes) = body::decompress(encoding, Bytes::copy_from_slice(rest), 64 * 1024) {
        assert!(bytes.len() <= 64 * 1024, "the limit holds");
        let _ = body::protobuf(Signal::Traces, bytes);
    }
}

/// A llama.cpp server's `/metrics` (Prometheus text).
pub fn llamacpp_metrics(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = llamacol_receivers::llamacpp::parse::prometheus_text(text);
    }
}

/// The first byte picks the reader: `/slots`, `/props` or `/health` (with a status).
pub fn llamacpp_json(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    use llamacol_receivers::llamacpp::parse;
    match pick % 3 {
        0 => drop(parse::slots(rest)),
        1 => drop(parse::props(rest)),
        _ => drop(parse::health(
            if pick & 0x80 == 0 { 200 } else { 503 },
            rest,
        )),
    }
}

/// A config file: YAML, `${env:...}` expansion, merging with itself, every check.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sources = [
        llamacol_pipeline::config::ConfigText {
            name: "a.yaml".into(),
            text: text.into(),
        },
        llamacol_pipeline::config::ConfigText {
            name: "b.yaml".into(),
            text: text.into(),
        },
    ];
    let env = |name: &str| (name == "FUZZ").then(|| "4317".to_string());
    let _ = llamacol_pipeline::config::load(&sources[..1], &crate::builtins(), &env);
    let _ = llamacol_pipeline::config::load(&sources, &crate::builtins(), &env);
}

/// A W3C `tracestate` header and its OpenTelemetry `ot=` entry, parsed and written back.
pub fn tracestate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    use llamacol_api::tracestate::{OtelTraceState, W3cTraceState};
    let (w3c, _) = W3cTraceState::parse(text);
    let _ = W3cTraceState::parse(&w3c.serialize());
    let (mut ot, _) = OtelTraceState::parse(text);
    let _ = ot.threshold();
    let _ = ot.randomness();
    ot.clear_threshold();
}

/// An `slo` rule file (`rules:` and `slos:`).
pub fn rule_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = llamacol_processors::slo::config::parse_rule_file("fuzz.yaml", text);
    }
}

/// A Jaeger agent packet (both protocols) or Thrift HTTP body, read and translated as
/// the `jaeger` receiver does.
pub fn jaeger_thrift(data: &[u8]) {
    use llamacol_api::formats::thrift::{read_message, read_struct, Protocol};
    for protocol in [Protocol::Compact, Protocol::Binary] {
        if let Ok(message) = read_message(protocol, data) {
            if let Some(batch) = message.args.structure(1) {
                let _ = llamacol_receivers::jaeger::thrift_batch(batch);
            }
        }
    }
    if let Ok(batch) = read_struct(Protocol::Binary, data) {
        let _ = llamacol_receivers::jaeger::thrift_batch(&batch);
    }
}

/// A Zipkin request body in each of the four formats the `zipkin` receiver reads, with
/// and without `parse_string_tags`.
pub fn zipkin_body(data: &[u8]) {
    let mut headers = axum::http::HeaderMap::new();
    for (path, content_type) in [
        ("/api/v2/spans", "application/json"),
        ("/api/v2/spans", "application/x-protobuf"),
        ("/api/v1/spans", "application/json"),
        ("/api/v1/spans", "application/x-thrift"),
    ] {
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(content_type),
        );
        for parse_string_tags in [false, true] {
            let _ = llamacol_receivers::zipkin::translate(parse_string_tags, path, &headers, data);
        }
    }
}
