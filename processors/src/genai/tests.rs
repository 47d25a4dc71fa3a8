use llamacol_api::node::{Gpu, LlamaServer};
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};
use llamacol_api::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use llamacol_api::otlp::trace::v1::{span::Event, Span, Status};
use llamacol_api::NodeContext;
use llamacol_pipeline::testing::traces_of;

use super::mapping::{Convert, RULES};
use super::values::strings;
use super::*;

fn attr(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn span(name: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        name: name.into(),
        attributes: attrs,
        ..Default::default()
    }
}

fn processor(yaml: &str) -> GenaiProcessor {
    processor_on(yaml, NodeContext::new())
}

fn processor_on(yaml: &str, node: NodeContext) -> GenaiProcessor {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let config = llamacol_api::config::parse_block::<GenaiConfig>(&value).expect("config");
    GenaiProcessor::new(config, node)
}

/// Runs the decoded path on `r` and the wire path on its encoding, and checks that both
/// give the same request (compared decoded: field order on the wire may differ).
fn traces_both(p: &GenaiProcessor, r: &mut ExportTraceServiceRequest) {
    use prost::Message;
    let bytes = r.encode_to_vec();
    let mut found = wire::Found::default();
    let rewritten = wire::traces(p, &bytes, &mut found).expect("reads on the wire");
    p.traces(r);
    let from_wire = match &rewritten {
        Some(b) => ExportTraceServiceRequest::decode(&b[..]).expect("valid protobuf"),
        None => ExportTraceServiceRequest::decode(&bytes[..]).expect("valid protobuf"),
    };
    assert_eq!(
        from_wire, *r,
        "the wire path gives what the decoded path gives"
    );
    if rewritten.is_none() {
        assert_eq!(
            r.encode_to_vec(),
            bytes,
            "the wire path left a changed request alone"
        );
    }
}

/// Runs one span through a processor (both paths) and returns it.
fn run(p: &GenaiProcessor, s: Span) -> Span {
    let mut r = traces_of(vec![s]);
    traces_both(p, &mut r);
    r.resource_spans[0].scope_spans[0].spans[0].clone()
}

fn keys(span: &Span) -> Vec<&str> {
    span.attributes.iter().map(|kv| kv.key.as_str()).collect()
}

/// A legacy value of the shape each conversion expects, and what it must become.
fn sample(convert: Convert) -> (Value, Value) {
    match convert {
        Convert::Same => (s("llama-3-8b"), s("llama-3-8b")),
        Convert::Int => (s("42"), Value::IntValue(42)),
        Convert::Double => (Value::IntValue(1), Value::DoubleValue(1.0)),
        Convert::Bool => (s("true"), Value::BoolValue(true)),
        Convert::Provider => (s("vertex_ai"), s("gcp.vertex_ai")),
        Convert::OneElementArray | Convert::StringArray => (s("stop"), strings(["stop".into()])),
        Convert::Derive => (s("chat"), s("chat")),
    }
}

#[test]
fn every_mapping_row_arrives_in_current_form_and_the_legacy_key_is_gone() {
    // Identifiers kept: the rows to `user.id` arrive as sent.
    let p = processor("identities: keep");
    for rule in RULES.iter().filter(|r| r.convert != Convert::Derive) {
        let (legacy, current) = sample(rule.convert);
        let out = run(&p, span("x", vec![attr(rule.from, legacy)]));
        assert_eq!(
            get(&out.attributes, rule.to),
            Some(&current),
            "{} row `{}` -> `{}`: {:?}",
            rule.scheme,
            rule.from,
            rule.to,
            out.attributes
        );
        assert!(
            !keys(&out).contains(&rule.from),
            "{} row `{}` is still there",
            rule.scheme,
            rule.from
        );
    }
}

#[test]
fn derive_only_rows_are_read_then_removed() {
    let p = processor("{}");
    for (key, value, expect) in [
        (
            "llm.request.type",
            "embedding",
            ("gen_ai.operation.name", s("embeddings")),
        ),
        (
            "llm.request.type",
            "completion",
            ("gen_ai.operation.name", s("text_completion")),
        ),
        (
            "llm.request.type",
            "chat",
            ("gen_ai.operation.name", s("chat")),
        ),
        (
            "openinference.span.kind",
            "EMBEDDING",
            ("gen_ai.operation.name", s("embeddings")),
        ),
        (
            "openinference.span.kind",
            "LLM",
            ("gen_ai.operation.name", s("chat")),
        ),
        (
            "llm.usage.total_tokens",
            "30",
            ("gen_ai.operation.name", s("chat")),
        ),
        (
            "llm.token_count.total",
            "30",
            ("gen_ai.operation.name", s("chat")),
        ),
        (
            "llm.invocation_parameters",
            r#"{"temperature": 0.2, "max_tokens": 64, "top_p": 0.9, "stop": ["END"], "seed": 7}"#,
            ("gen_ai.request.temperature", Value::DoubleValue(0.2)),
        ),
    ] {
        let out = run(
            &p,
            span(
                "x",
                vec![attr(key, s(value)), attr("llm.model_name", s("m"))],
            ),
        );
        assert_eq!(
            get(&out.attributes, expect.0),
            Some(&expect.1),
            "{key}={value}"
        );
        assert!(!keys(&out).contains(&key), "{key} still there");
    }
    let out = run(
        &p,
        span(
            "x",
            vec![attr(
                "llm.invocation_parameters",
                s(r#"{"max_tokens": 64, "top_p": 0.9, "stop": ["END"], "seed": 7, "n": 2}"#),
            )],
        ),
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.request.max_tokens"),
        Some(&Value::IntValue(64))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.request.top_p"),
        Some(&Value::DoubleValue(0.9))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.request.stop_sequences"),
        Some(&strings(["END".into()]))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.request.seed"),
        Some(&Value::IntValue(7))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.request.choice.count"),
        Some(&Value::IntValue(2))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.operation.name"),
        None,
        "no model, no tokens: not a GenAI call"
    );
}

#[test]
fn current_form_wins_and_keep_original_keeps_the_legacy_keys() {
    let both = || {
        span(
            "x",
            vec![
                attr("gen_ai.usage.prompt_tokens", Value::IntValue(5)),
                attr("gen_ai.usage.input_tokens", Value::IntValue(9)),
                attr("llm.token_count.prompt", Value::IntValue(7)),
            ],
        )
    };
    let out = run(&processor("{}"), both());
    assert_eq!(
        get(&out.attributes, "gen_ai.usage.input_tokens"),
        Some(&Value::IntValue(9))
    );
    assert_eq!(
        keys(&out),
        ["gen_ai.usage.input_tokens", "gen_ai.operation.name"]
    );
    let kept = run(&processor("{keep_original: true}"), both());
    assert!(keys(&kept).contains(&"gen_ai.usage.prompt_tokens"));
    assert!(keys(&kept).contains(&"llm.token_count.prompt"));
    // Among legacy keys the earlier row wins: llamatelemetry's before OpenInference's.
    let out = run(
        &processor("{}"),
        span(
            "x",
            vec![attr("llm.model_name", s("b")), attr("llm.model", s("a"))],
        ),
    );
    assert_eq!(get(&out.attributes, "gen_ai.request.model"), Some(&s("a")));
}

#[test]
fn failed_genai_spans_get_the_fallback_error_type() {
    let p = processor("{}");
    let mut failed = span("x", vec![attr("gen_ai.request.model", s("m"))]);
    failed.status = Some(Status {
        code: 2,
        message: "boom".into(),
    });
    let out = run(&p, failed.clone());
    assert_eq!(get(&out.attributes, "error.type"), Some(&s("_OTHER")));
    failed.attributes.push(attr("error.type", s("timeout")));
    assert_eq!(
        get(&run(&p, failed).attributes, "error.type"),
        Some(&s("timeout"))
    );
    let plain = span("GET /", vec![attr("http.request.method", s("GET"))]);
    let out = run(&p, plain.clone());
    assert_eq!(
        out, plain,
        "a span that is not a GenAI call is left as it was"
    );
}

fn with_content() -> Span {
    let mut sp = span(
        "x",
        vec![
            attr("gen_ai.request.model", s("m")),
            attr("gen_ai.prompt.0.role", s("user")),
            attr(
                "gen_ai.prompt.0.content",
                s("what is the capital of France?"),
            ),
            attr("gen_ai.completion.0.role", s("assistant")),
            attr("gen_ai.completion.0.content", s("Paris")),
            attr("gen_ai.completion.0.finish_reason", s("stop")),
            attr("input.value", s("what is the capital of France?")),
            attr("gen_ai.system_instructions", s("be brief")),
        ],
    );
    sp.events.push(Event {
        name: "gen_ai.content.prompt".into(),
        attributes: vec![
            attr("gen_ai.prompt", s("secret")),
            attr("n", Value::IntValue(1)),
        ],
        ..Default::default()
    });
    sp
}

#[test]
fn content_is_dropped_by_default_kept_as_messages_or_truncated() {
    let dropped = run(&processor("{}"), with_content());
    assert_eq!(
        keys(&dropped),
        ["gen_ai.request.model", "gen_ai.operation.name"]
    );
    assert_eq!(
        dropped.events[0].attributes.len(),
        1,
        "event content dropped, event kept"
    );

    let kept = run(&processor("{content: keep}"), with_content());
    let Some(Value::StringValue(input)) = get(&kept.attributes, "gen_ai.input.messages") else {
        panic!("{:?}", kept.attributes)
    };
    let input: serde_json::Value = serde_json::from_str(input).expect("json");
    assert_eq!(
        input,
        serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": "what is the capital of France?"}]}])
    );
    let Some(Value::StringValue(output)) = get(&kept.attributes, "gen_ai.output.messages") else {
        panic!("{:?}", kept.attributes)
    };
    assert!(output.contains("\"finish_reason\":\"stop\"") && output.contains("Paris"));
    assert!(!keys(&kept).iter().any(|k| k.starts_with("gen_ai.prompt.")));

    let cut = run(
        &processor("{content: truncate, max_content_bytes: 8}"),
        with_content(),
    );
    assert_eq!(get(&cut.attributes, "input.value"), Some(&s("what is ")));
    assert_eq!(
        get(&cut.events[0].attributes, "gen_ai.prompt"),
        Some(&s("secret"))
    );
}

#[test]
fn openinference_messages_become_input_messages() {
    let out = run(
        &processor("{content: keep}"),
        span(
            "x",
            vec![
                attr("llm.model_name", s("m")),
                attr("llm.input_messages.0.message.role", s("system")),
                attr("llm.input_messages.0.message.content", s("be brief")),
                attr("llm.input_messages.1.message.role", s("user")),
                attr("llm.input_messages.1.message.content", s("hi")),
            ],
        ),
    );
    let Some(Value::StringValue(input)) = get(&out.attributes, "gen_ai.input.messages") else {
        panic!("{:?}", out.attributes)
    };
    let input: serde_json::Value = serde_json::from_str(input).expect("json");
    assert_eq!(input[1]["role"], "user");
    assert_eq!(input[0]["parts"][0]["content"], "be brief");
}

#[test]
fn generic_span_names_are_renamed_when_asked() {
    let p = processor("{rename_spans: true}");
    for (name, expect) in [
        ("openai.chat", "chat gpt-4o"),
        ("llm", "chat gpt-4o"),
        ("", "chat gpt-4o"),
        ("answer_question", "answer_question"),
    ] {
        let out = run(
            &p,
            span(
                name,
                vec![
                    attr("gen_ai.system", s("openai")),
                    attr("gen_ai.request.model", s("gpt-4o")),
                ],
            ),
        );
        assert_eq!(out.name, expect, "{name}");
    }
    let out = run(
        &processor("{}"),
        span("llm", vec![attr("llm.model", s("m"))]),
    );
    assert_eq!(out.name, "llm", "off by default");
}

#[test]
fn pricing_sets_the_cost_of_each_call() {
    let p = processor("{pricing: {gpt-4o: {input: 2.5, output: 10, cached_input: 1.25}}}");
    let out = run(
        &p,
        span(
            "x",
            vec![
                attr("gen_ai.request.model", s("gpt-4o")),
                attr("gen_ai.usage.input_tokens", Value::IntValue(1_000_000)),
                attr(
                    "gen_ai.usage.cache_read.input_tokens",
                    Value::IntValue(200_000),
                ),
                attr("gen_ai.usage.output_tokens", Value::IntValue(100_000)),
            ],
        ),
    );
    // 800k * 2.5 + 200k * 1.25 + 100k * 10, per million.
    assert_eq!(
        get(&out.attributes, "gen_ai.usage.cost"),
        Some(&Value::DoubleValue(3.25))
    );
    let unpriced = run(
        &p,
        span("x", vec![attr("gen_ai.request.model", s("other"))]),
    );
    assert_eq!(get(&unpriced.attributes, "gen_ai.usage.cost"), None);
}

#[test]
fn node_context_adds_the_matching_server_and_the_gpus_to_the_resource() {
    let node = NodeContext::new();
    for (port, model) in [(8080, "qwen"), (8081, "llama")] {
        node.publish_llama_server(LlamaServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            address: "127.0.0.1".into(),
            port,
            model: Some(model.into()),
            build: Some("b1".into()),
            ..Default::default()
        });
    }
    node.publish_gpus(vec![
        Gpu {
            index: 0,
            uuid: "GPU-a".into(),
            model: "NVIDIA H200".into(),
            memory_bytes: None,
        },
        Gpu {
            index: 1,
            uuid: "GPU-b".into(),
            model: "NVIDIA H200".into(),
            memory_bytes: None,
        },
    ]);
    let p = processor_on("{node_context: true}", node);
    let mut r = traces_of(vec![
        span("GET", vec![]),
        span(
            "chat",
            vec![
                attr("gen_ai.request.model", s("llama")),
                attr("server.address", s("localhost")),
                attr("server.port", Value::IntValue(8081)),
            ],
        ),
    ]);
    traces_both(&p, &mut r);
    let resource = &r.resource_spans[0]
        .resource
        .as_ref()
        .expect("resource")
        .attributes;
    assert_eq!(get(resource, "llamacpp.model"), Some(&s("llama")));
    assert_eq!(get(resource, "llamacpp.build"), Some(&s("b1")));
    assert_eq!(
        get(resource, "hw.gpu.ids"),
        Some(&strings(["GPU-a".into(), "GPU-b".into()]))
    );
    assert_eq!(
        get(resource, "hw.gpu.models"),
        Some(&strings(["NVIDIA H200".into(), "NVIDIA H200".into()]))
    );
    let mut plain = traces_of(vec![span("GET", vec![])]);
    traces_both(&p, &mut plain);
    assert!(
        plain.resource_spans[0].resource.is_none(),
        "no GenAI span, no node context"
    );
}

#[test]
fn node_context_adds_what_the_gpus_went_through_during_each_genai_span() {
    use llamacol_api::gpu_timeline::{GpuSample, GpuTimeline, GpuXid};
    const S: u64 = 1_000_000_000;
    let node = NodeContext::new();
    let timeline = node.shared::<GpuTimeline>();
    for (at, temp, reasons, used) in [(100, 61, 0, 10), (110, 83, 0x20, 70), (120, 66, 0, 40)] {
        let sample = |uuid: &str, temp| GpuSample {
            time_unix_nano: at * S,
            uuid: uuid.into(),
            temperature_c: Some(temp),
            throttle_reasons: Some(reasons),
            memory_used_bytes: Some(used),
        };
        timeline.record(
            vec![sample("GPU-a", temp), sample("GPU-b", 40)],
            std::time::Duration::from_secs(10),
        );
    }
    timeline.record_xid(GpuXid {
        time_unix_nano: 112 * S,
        uuid: "GPU-a".into(),
        xid: 79,
    });
    let p = processor_on("{node_context: true}", node);
    let timed = |name: &str, start: u64, end: u64, genai: bool| Span {
        start_time_unix_nano: start * S,
        end_time_unix_nano: end * S,
        ..span(
            name,
            if genai {
                vec![attr("gen_ai.request.model", s("m"))]
            } else {
                vec![]
            },
        )
    };
    let mut r = traces_of(vec![
        timed("chat", 105, 115, true),
        timed("early", 101, 102, true),
        timed("GET", 105, 115, false),
        timed("long ago", 10, 11, true),
    ]);
    traces_both(&p, &mut r);
    let spans = &r.resource_spans[0].scope_spans[0].spans;
    let during = &spans[0].attributes;
    assert_eq!(
        get(during, "nvml.gpu.temperature.max"),
        Some(&Value::IntValue(83))
    );
    assert_eq!(
        get(during, "nvml.gpu.memory.used.max"),
        Some(&Value::IntValue(70))
    );
    assert_eq!(
        get(during, "nvml.gpu.throttle_reasons"),
        Some(&strings(["sw_thermal_slowdown".into()]))
    );
    let xids = match get(during, "nvml.gpu.xids") {
        Some(Value::ArrayValue(a)) => a.values.iter().map(|v| v.value.clone()).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(xids, [Some(Value::IntValue(79))]);
    let early = &spans[1].attributes;
    assert_eq!(
        get(early, "nvml.gpu.temperature.max"),
        Some(&Value::IntValue(83)),
        "the readings around it"
    );
    assert_eq!(get(early, "nvml.gpu.xids"), None, "the XID came after it");
    assert_eq!(
        get(&spans[2].attributes, "nvml.gpu.temperature.max"),
        None,
        "not a GenAI span"
    );
    assert_eq!(
        get(&spans[3].attributes, "nvml.gpu.temperature.max"),
        None,
        "no reading covers it"
    );
}

#[test]
fn genai_events_sent_as_logs_are_normalized_and_their_body_dropped() {
    let mut r = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        event_name: "gen_ai.user.message".into(),
                        attributes: vec![attr("gen_ai.system", s("az.ai.openai"))],
                        body: Some(AnyValue {
                            value: Some(s("my secret prompt")),
                        }),
                        ..Default::default()
                    },
                    LogRecord {
                        body: Some(AnyValue {
                            value: Some(s("an ordinary log line")),
                        }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    processor("{}").logs(&mut r);
    let records = &r.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(
        get(&records[0].attributes, "gen_ai.provider.name"),
        Some(&s("azure.ai.openai"))
    );
    assert!(records[0].body.is_none());
    assert!(records[1].body.is_some(), "not a GenAI event: untouched");
}

/// README's mapping table lists every row, so the documentation cannot fall behind.
#[test]
fn the_readme_lists_every_mapping_row() {
    let readme = include_str!("../../../README.md");
    for rule in RULES {
        let row = if rule.to.is_empty() {
            format!("| `{}` | (read, then removed) |", rule.from)
        } else {
            format!("| `{}` | `{}` |", rule.from, rule.to)
        };
        assert!(readme.contains(&row), "README lacks the row `{row}`");
    }
}

#[test]
fn bad_configs_are_refused_with_the_key() {
    let issues = (ConfigSpec::of::<GenaiConfig>().check)(
        &serde_yaml::from_str("{content: truncate, max_content_bytes: 0}").expect("yaml"),
    );
    assert!(format!("{issues:?}").contains("max_content_bytes"));
    let issues = (ConfigSpec::of::<GenaiConfig>().check)(
        &serde_yaml::from_str("{contnet: keep}").expect("yaml"),
    );
    assert!(
        format!("{issues:?}").contains("did you mean `content`"),
        "{issues:?}"
    );
}

#[test]
fn spans_with_many_attributes_are_normalized_alike() {
    let mut attrs: Vec<KeyValue> = (0..70)
        .map(|i| attr(&format!("app.a{i}"), s("x")))
        .collect();
    attrs.push(attr("llm.model", s("m")));
    attrs.push(attr("llm.model_name", s("other")));
    let out = run(&processor("{}"), span("x", attrs));
    assert_eq!(get(&out.attributes, "gen_ai.request.model"), Some(&s("m")));
    // OpenInference's model name is the answering model.
    assert_eq!(
        get(&out.attributes, "gen_ai.response.model"),
        Some(&s("other"))
    );
    assert_eq!(
        out.attributes.len(),
        73,
        "70 kept, two renamed, one operation"
    );
    assert!(!keys(&out).contains(&"llm.model_name"));
}

#[test]
fn the_lookup_table_finds_every_row_and_nothing_else() {
    assert!(
        RULES.len() < 128,
        "the lookup table has 256 slots: keep it at most half full"
    );
    for (row, rule) in RULES.iter().enumerate() {
        assert_eq!(
            super::mapping::lookup(rule.from).map(|(r, _)| r),
            Some(row),
            "{}",
            rule.from
        );
    }
    for key in [
        "gen_ai.request.model",
        "llm.",
        "llm.modelx",
        "http.method",
        "",
    ] {
        assert!(super::mapping::lookup(key).is_none(), "{key}");
    }
}

#[test]
fn genai_traces_reach_the_live_page_with_content_already_dropped() {
    use llamacol_api::stateless::Process;
    // Decoded batches, then encoded ones (the wire path offers encoded requests).
    for encoded in [false, true] {
        let node = NodeContext::new();
        let p = processor_on("{}", node.clone());
        let mut chat = span(
            "chat",
            vec![
                llamacol_pipeline::testing::string_attr("llm.model", "llama-3-8b"),
                llamacol_pipeline::testing::string_attr("gen_ai.prompt", "a secret prompt"),
            ],
        );
        chat.trace_id = vec![7; 16];
        chat.span_id = vec![2; 8];
        chat.parent_span_id = vec![1; 8];
        let mut parent = span("POST /chat", vec![]);
        parent.trace_id = vec![7; 16];
        parent.span_id = vec![1; 8];
        let mut other = span("GET /health", vec![]);
        other.trace_id = vec![8; 16];
        other.span_id = vec![3; 8];
        // The parent ends later, in another batch, with nothing GenAI on it.
        for request in [traces_of(vec![chat, other]), traces_of(vec![parent])] {
            let mut batch = Batch::Traces(llamacol_api::Payload::from_message(request));
            if encoded {
                batch = Batch::from_bytes(Signal::Traces, batch.bytes()).expect("valid");
            }
            p.process(batch).expect("processed");
        }
        let live = node.live().json_since(0.0);
        let list = live["traces"]["list"].as_array().expect("list");
        assert_eq!(list.len(), 1, "only the GenAI trace: {list:?}");
        assert_eq!(list[0]["spans"], 2);
        let trace = node.live().trace(&"07".repeat(16)).expect("kept");
        let text = trace.to_string();
        assert!(text.contains("gen_ai.request.model"), "{text}");
        assert!(
            !text.contains("a secret prompt"),
            "content was dropped first: {text}"
        );
    }
}

/// Each scheme's own attribute list (testdata/genai-schemes, with its source and
/// version) against the table: every key is mapped, in the conventions, content, an
/// identifier, or kept with a reason.
#[test]
fn every_attribute_of_every_scheme_is_classified() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/genai-schemes");
    let read = |name: &str| -> Vec<String> {
        std::fs::read_to_string(format!("{root}/{name}"))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    let current = read("genai-conventions.txt");
    let mut unknown = Vec::new();
    for scheme in ["openllmetry.txt", "openinference.txt", "openlit.txt"] {
        for key in read(scheme) {
            let classified = super::mapping::lookup(&key).is_some()
                || current.contains(&key)
                || super::content::is_content(&key)
                || super::identity::is_identity(&key)
                || super::kept::kept_because(&key).is_some();
            if !classified {
                unknown.push(format!("{scheme}: {key}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "{} keys neither mapped, current, content, identifiers nor kept:\n{}",
        unknown.len(),
        unknown.join("\n")
    );
}

fn kv_list(pairs: &[(&str, Value)]) -> Value {
    Value::KvlistValue(llamacol_api::otlp::common::v1::KeyValueList {
        values: pairs.iter().map(|(k, v)| attr(k, v.clone())).collect(),
    })
}

/// OpenInference: `llm.model_name` is the model that answered; the request names the
/// one asked for (as OpenInference's OpenAI instrumentation records it against the real
/// llama-server: the server answers with its file path).
#[test]
fn openinference_requested_and_answering_models_are_told_apart() {
    let out = run(
        &processor("{}"),
        span(
            "ChatCompletion",
            vec![
                attr("llm.model_name", s("/models/qwen.gguf")),
                attr(
                    "llm.invocation_parameters",
                    s(r#"{"model": "qwen", "stream": true, "max_tokens": 24}"#),
                ),
                attr("openinference.span.kind", s("LLM")),
                attr("llm.finish_reason", s("length")),
                attr("llm.token_count.total", Value::IntValue(30)),
            ],
        ),
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.request.model"),
        Some(&s("qwen"))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.response.model"),
        Some(&s("/models/qwen.gguf"))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.request.stream"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.response.finish_reasons"),
        Some(&strings(["length".into()]))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.operation.name"),
        Some(&s("chat"))
    );
    for gone in [
        "llm.finish_reason",
        "llm.token_count.total",
        "openinference.span.kind",
    ] {
        assert!(!keys(&out).contains(&gone), "{gone}");
    }
    // No request model anywhere: the answering one is the best there is.
    let alone = run(
        &processor("{}"),
        span("x", vec![attr("llm.model_name", s("m"))]),
    );
    assert_eq!(
        get(&alone.attributes, "gen_ai.request.model"),
        Some(&s("m"))
    );
}

/// OpenLIT sets its time to first token on every call, equal to the whole latency when
/// the call did not stream: only a streaming call's becomes a first chunk.
#[test]
fn openlit_time_to_first_token_counts_only_for_streaming_calls() {
    let call = |stream: bool| {
        run(
            &processor("{}"),
            span(
                "chat m",
                vec![
                    attr("gen_ai.operation.name", s("chat")),
                    attr("gen_ai.request.stream", Value::BoolValue(stream)),
                    attr(
                        "gen_ai.server.time_to_first_token",
                        Value::DoubleValue(0.25),
                    ),
                    attr(
                        "gen_ai.server.time_per_output_token",
                        Value::DoubleValue(0.01),
                    ),
                    attr("gen_ai.client.token.usage", Value::IntValue(40)),
                ],
            ),
        )
    };
    let streamed = call(true);
    assert_eq!(
        get(&streamed.attributes, "gen_ai.response.time_to_first_chunk"),
        Some(&Value::DoubleValue(0.25))
    );
    let whole = call(false);
    assert_eq!(
        get(&whole.attributes, "gen_ai.response.time_to_first_chunk"),
        None
    );
    for out in [streamed, whole] {
        for gone in [
            "gen_ai.server.time_to_first_token",
            "gen_ai.server.time_per_output_token",
            "gen_ai.client.token.usage",
        ] {
            assert!(!keys(&out).contains(&gone), "{gone}");
        }
    }
}

/// OpenLLMetry's base URL gives `server.address` and `server.port`; its legacy
/// duplicates go.
#[test]
fn openllmetry_base_url_becomes_the_server_and_duplicates_go() {
    let out = run(
        &processor("{}"),
        span(
            "openai.chat",
            vec![
                attr("gen_ai.operation.name", s("chat")),
                attr("gen_ai.openai.api_base", s("http://10.0.0.7:8080/v1/")),
                attr("gen_ai.is_streaming", Value::BoolValue(true)),
                attr("gen_ai.usage.total_tokens", Value::IntValue(9)),
            ],
        ),
    );
    assert_eq!(get(&out.attributes, "server.address"), Some(&s("10.0.0.7")));
    assert_eq!(
        get(&out.attributes, "server.port"),
        Some(&Value::IntValue(8080))
    );
    assert_eq!(
        get(&out.attributes, "gen_ai.request.stream"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(out.attributes.len(), 4, "{:?}", keys(&out));
    // The scheme's default port, and an IPv6 host.
    let v6 = run(
        &processor("{}"),
        span(
            "x",
            vec![
                attr("gen_ai.operation.name", s("chat")),
                attr("gen_ai.openai.api_base", s("https://[::1]/v1")),
            ],
        ),
    );
    assert_eq!(get(&v6.attributes, "server.address"), Some(&s("::1")));
    assert_eq!(
        get(&v6.attributes, "server.port"),
        Some(&Value::IntValue(443))
    );
}

/// Agent, tool and workflow spans get the conventions' operations; a chain below the root
/// and a prompt template are no operation, and keep their kind.
#[test]
fn span_kinds_name_agents_tools_and_workflows() {
    let p = processor("{}");
    let kind = |k: &str, root: bool| {
        let mut sp = span("x", vec![attr("openinference.span.kind", s(k))]);
        if !root {
            sp.parent_span_id = vec![1; 8];
        }
        let out = run(&p, sp);
        (
            get(&out.attributes, "gen_ai.operation.name").cloned(),
            keys(&out).contains(&"openinference.span.kind"),
        )
    };
    assert_eq!(kind("TOOL", false), (Some(s("execute_tool")), false));
    assert_eq!(kind("AGENT", false), (Some(s("invoke_agent")), false));
    assert_eq!(kind("RETRIEVER", false), (Some(s("retrieval")), false));
    assert_eq!(kind("EMBEDDING", false), (Some(s("embeddings")), false));
    assert_eq!(kind("CHAIN", true), (Some(s("invoke_workflow")), false));
    assert_eq!(kind("CHAIN", false), (None, true));
    assert_eq!(kind("PROMPT", true), (None, true));
    let traceloop = |k: &str| {
        let out = run(&p, span("x", vec![attr("traceloop.span.kind", s(k))]));
        get(&out.attributes, "gen_ai.operation.name").cloned()
    };
    assert_eq!(traceloop("workflow"), Some(s("invoke_workflow")));
    assert_eq!(traceloop("agent"), Some(s("invoke_agent")));
    assert_eq!(traceloop("tool"), Some(s("execute_tool")));
    assert_eq!(traceloop("task"), None);
    // OpenInference's tool attributes.
    let tool = run(
        &p,
        span(
            "lookup",
            vec![
                attr("openinference.span.kind", s("TOOL")),
                attr("tool.name", s("lookup_order")),
                attr("input.value", s("order 42")),
            ],
        ),
    );
    assert_eq!(
        get(&tool.attributes, "gen_ai.tool.name"),
        Some(&s("lookup_order"))
    );
    assert!(
        !keys(&tool).contains(&"input.value"),
        "tool arguments are content"
    );
}

#[test]
fn identities_are_hashed_with_the_salt_kept_or_dropped() {
    let ids = || {
        span(
            "x",
            vec![
                attr("gen_ai.operation.name", s("chat")),
                attr("gen_ai.user", s("alice@example.com")),
                attr("session.id", s("s-1")),
                attr("gen_ai.request.user", s("")),
                attr("traceloop.association.properties.user_id", s("alice")),
                attr("traceloop.association.properties.team", s("search")),
            ],
        )
    };
    let hashed = run(&processor("identity_salt: pepper"), ids());
    let Some(Value::StringValue(user)) = get(&hashed.attributes, "user.id").cloned() else {
        panic!("{:?}", hashed.attributes)
    };
    assert_eq!(user.len(), 32);
    assert_ne!(user, "alice@example.com");
    // Keyed: the same id and salt give the same hash; another salt another one.
    let again = run(&processor("identity_salt: pepper"), ids());
    assert_eq!(get(&again.attributes, "user.id"), Some(&s(&user)));
    let other = run(&processor("identity_salt: salt"), ids());
    assert_ne!(get(&other.attributes, "user.id"), Some(&s(&user)));
    assert!(get(&hashed.attributes, "gen_ai.conversation.id").is_some());
    assert_eq!(
        get(&hashed.attributes, "traceloop.association.properties.team"),
        Some(&s("search")),
        "the application's own labels stay"
    );
    assert_ne!(
        get(
            &hashed.attributes,
            "traceloop.association.properties.user_id"
        ),
        Some(&s("alice"))
    );

    let kept = run(&processor("identities: keep"), ids());
    assert_eq!(
        get(&kept.attributes, "user.id"),
        Some(&s("alice@example.com")),
        "the empty gen_ai.request.user is removed, not a second user.id"
    );
    assert_eq!(
        get(&kept.attributes, "gen_ai.conversation.id"),
        Some(&s("s-1"))
    );
    let dropped = run(&processor("identities: drop"), ids());
    for gone in [
        "user.id",
        "gen_ai.conversation.id",
        "traceloop.association.properties.user_id",
    ] {
        assert!(!keys(&dropped).contains(&gone), "{gone}");
    }
    let issues = llamacol_api::config::ComponentConfig::validate(
        &llamacol_api::config::parse_block::<GenaiConfig>(
            &serde_yaml::from_str("identity_salt: ''").expect("yaml"),
        )
        .expect("config"),
    );
    assert_eq!(issues[0].path, "identity_salt", "{issues:?}");
}

/// Every scheme's content: entity input/output, retrieval, embeddings, tool calls, the
/// older conventions' message events; structured values cut to the size too.
#[test]
fn every_schemes_content_is_dropped_and_structured_content_truncated() {
    let mut sp = span(
        "x",
        vec![
            attr("gen_ai.operation.name", s("chat")),
            attr("traceloop.entity.input", s("secret")),
            attr("traceloop.entity.output", s("secret")),
            attr("gen_ai.retrieval.query.text", s("secret")),
            attr("retrieval.documents.0.document.content", s("secret")),
            attr("embedding.embeddings.0.embedding.text", s("secret")),
            attr("gen_ai.tool.call.arguments", kv_list(&[("q", s("secret"))])),
            attr("gen_ai.headers", s("Authorization: Bearer secret")),
            attr("gen_ai.prompt.name", s("analyze-code")),
        ],
    );
    sp.events.push(Event {
        name: "gen_ai.user.message".into(),
        attributes: vec![attr("content", s("secret")), attr("role", s("user"))],
        ..Default::default()
    });
    sp.events.push(Event {
        name: "exception".into(),
        attributes: vec![attr("message", s("not content outside a GenAI event"))],
        ..Default::default()
    });
    let out = run(&processor("{}"), sp.clone());
    assert_eq!(
        keys(&out),
        ["gen_ai.operation.name", "gen_ai.prompt.name"],
        "the conventions' prompt name is no content"
    );
    assert_eq!(keys_of(&out.events[0].attributes), ["role"]);
    assert_eq!(keys_of(&out.events[1].attributes), ["message"]);

    // Truncate: strings of a structured value share the budget, items past it go.
    let structured = Value::ArrayValue(llamacol_api::otlp::common::v1::ArrayValue {
        values: [s("abcdef"), s("ghijkl"), s("mnopqr")]
            .into_iter()
            .map(|v| AnyValue { value: Some(v) })
            .collect(),
    });
    let cut = run(
        &processor("{content: truncate, max_content_bytes: 8}"),
        span(
            "x",
            vec![
                attr("gen_ai.operation.name", s("chat")),
                attr("gen_ai.output.messages", structured),
            ],
        ),
    );
    let Some(Value::ArrayValue(items)) = get(&cut.attributes, "gen_ai.output.messages") else {
        panic!("{:?}", cut.attributes)
    };
    let texts: Vec<_> = items
        .values
        .iter()
        .filter_map(|v| v.value.clone())
        .collect();
    assert_eq!(texts, [s("abcdef"), s("gh")]);
}

fn keys_of(attrs: &[KeyValue]) -> Vec<&str> {
    attrs.iter().map(|kv| kv.key.as_str()).collect()
}

/// The wire path on damaged bytes: every byte of a request set to 0x00, 0x80 and 0xff in
/// turn, and every truncation. It never panics; on bytes the receivers would accept, what
/// it writes is accepted too.
#[test]
fn damaged_requests_never_panic_and_accepted_ones_stay_valid() {
    use prost::Message;
    let mut chat = with_content();
    chat.name = "chat".into();
    chat.trace_id = vec![7; 16];
    chat.status = Some(Status {
        code: 2,
        ..Default::default()
    });
    let mut other = span("GET /health", vec![attr("llm.user", s("u1"))]);
    other.trace_id = vec![8; 16];
    let bytes = traces_of(vec![chat, other]).encode_to_vec();
    let p =
        processor("{rename_spans: true, node_context: true, pricing: {m: {input: 1, output: 2}}}");
    let damaged = llamacol_api::testing::damaged(&bytes);
    let mut rewritten = 0;
    for d in &damaged {
        let accepted = llamacol_api::wire::count_items(Signal::Traces, d).is_ok();
        if let Ok(Some(out)) = wire::traces(&p, d, &mut wire::Found::default()) {
            rewritten += 1;
            if accepted {
                assert!(
                    llamacol_api::wire::count_items(Signal::Traces, &out).is_ok(),
                    "accepted input, rejected output"
                );
            }
        }
    }
    assert!(rewritten > 0);
}
