//! The GenAI instrumentation libraries people use, for real: the `openai` Python client
//! under each of the official OpenTelemetry instrumentation, OpenLLMetry, OpenInference
//! and OpenLIT (each pinned in its own virtualenv by scripts/peers.sh), and a LangChain
//! chain with a tool under OpenInference's LangChain instrumentation, calling the real
//! llama-server (tests/python/genai_libraries.py) and exporting to llamacol with the
//! `genai` processor and `genai_metrics` connector on their defaults.
//!
//! For every library: the operation, provider and models in current form, token counts
//! equal to the `usage` the server returned, no legacy key left, no prompt, completion,
//! tool argument or result, or user or session id anywhere in the output bytes, and
//! the metrics: token sums exact, one request per call, a first-chunk observation only
//! for the streaming call (and shorter than it). The spans as the libraries sent them are
//! also written raw, and the `genai` processor's wire path (what the binary runs on
//! received requests) is checked against its decoded path on every one of them.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::llama_server::LlamaServer;
use common::{lines, metrics, spans, Collector};
use llamacol_pipeline::testing::external_program;
use serde_json::Value;

const SALT: &str = "e2e-genai-libraries-salt";

/// Runs the script under `library`'s virtualenv; what it says the server returned.
fn run_library(library: &str, chat: u16, embeddings: u16, grpc: u16) -> Value {
    let venv = if library == "langchain" {
        "openinference"
    } else {
        library
    };
    let out = std::process::Command::new(external_program(&format!("genai-{venv}-python")))
        .args([
            "tests/python/genai_libraries.py",
            library,
            &chat.to_string(),
            &embeddings.to_string(),
            &format!("127.0.0.1:{grpc}"),
        ])
        .output()
        .expect("python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{library}: {stderr}");
    assert!(!stderr.contains("Failed to export"), "{library}: {stderr}");
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}

/// An attribute's value as JSON (`stringValue` -> string, `intValue` -> number, ...).
fn attr(item: &Value, key: &str) -> Option<Value> {
    let v = &item["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"];
    Some(if let Some(s) = v["stringValue"].as_str() {
        Value::from(s)
    } else if let Some(i) = v["intValue"].as_str() {
        Value::from(i.parse::<i64>().expect("int"))
    } else if let Some(b) = v["boolValue"].as_bool() {
        Value::from(b)
    } else {
        v.clone()
    })
}

fn keys(item: &Value) -> Vec<String> {
    item["attributes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| kv["key"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The spans of one service (each library runs as `genai-<library>`), by start time.
fn spans_of(written: &[Value], service: &str) -> Vec<Value> {
    let mut out: Vec<Value> = written
        .iter()
        .flat_map(|l| l["resourceSpans"].as_array().cloned().unwrap_or_default())
        .filter(|rs| attr(&rs["resource"], "service.name") == Some(Value::from(service)))
        .flat_map(|rs| spans(&[serde_json::json!({ "resourceSpans": [rs] })]))
        .collect();
    out.sort_by_key(|s| {
        s["startTimeUnixNano"]
            .as_str()
            .unwrap_or("0")
            .parse::<u64>()
            .unwrap_or(0)
    });
    out
}

/// The newest cumulative point of every series of metric `name` for `service`:
/// attributes (as JSON text) -> point.
fn latest(written: &[Value], service: &str, name: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for line in written {
        for rm in line["resourceMetrics"].as_array().into_iter().flatten() {
            if attr(&rm["resource"], "service.name") != Some(Value::from(service)) {
                continue;
            }
            for m in metrics(&[serde_json::json!({ "resourceMetrics": [rm] })]) {
                if m["name"] != name {
                    continue;
                }
                let points = m["histogram"]["dataPoints"]
                    .as_array()
                    .or(m["sum"]["dataPoints"].as_array())
                    .cloned()
                    .unwrap_or_default();
                for p in points {
                    out.insert(p["attributes"].to_string(), p);
                }
            }
        }
    }
    out
}

fn number(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// (count, sum) over every point of a histogram; sum of a counter's points.
fn totals(points: &BTreeMap<String, Value>, filter: impl Fn(&Value) -> bool) -> (f64, f64) {
    points
        .values()
        .filter(|p| filter(p))
        .fold((0.0, 0.0), |(c, s), p| {
            if p.get("count").is_some() {
                (c + number(&p["count"]), s + number(&p["sum"]))
            } else {
                (
                    c + 1.0,
                    s + number(p.get("asInt").unwrap_or(&p["asDouble"])),
                )
            }
        })
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} not there after 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Keys that must never arrive: each scheme's legacy keys (the processor's own table
/// holds those it maps) and the content keys.
fn assert_clean(library: &str, span: &Value) {
    let operation = attr(span, "gen_ai.operation.name").is_some();
    for key in keys(span) {
        // A span kind that names no operation (a prompt template, a parser) stays.
        if !operation && (key == "openinference.span.kind" || key == "traceloop.span.kind") {
            continue;
        }
        assert!(
            llamacol_processors::genai::mapping::lookup(&key).is_none(),
            "{library}: legacy key {key} left on {}",
            span["name"]
        );
        assert!(
            !llamacol_processors::genai::content::is_content(&key),
            "{library}: content key {key} left on {}",
            span["name"]
        );
    }
}

#[test]
#[ignore = "needs llama-server and the four instrumentation libraries' virtualenvs: run scripts/test"]
fn four_libraries_and_a_langchain_chain_against_the_real_llama_server() {
    let chat = LlamaServer::start();
    let embeddings = LlamaServer::start_with(&["--embeddings", "--pooling", "mean"]);
    let raw_dir = tempfile::tempdir().expect("tempdir");
    let raw = raw_dir.path().join("raw.jsonl");
    let mut collector = Collector::launch(
        &["tests/testdata/e2e/genai-libraries.yaml"],
        &[
            ("LLAMACOL_IDENTITY_SALT", SALT.to_string()),
            ("LLAMACOL_RAW_FILE_PATH", raw.display().to_string()),
        ],
    );
    let libraries = [
        "official",
        "openllmetry",
        "openinference",
        "openlit",
        "langchain",
    ];
    let told: Vec<(&str, Value)> = libraries
        .iter()
        .map(|l| {
            (
                *l,
                run_library(l, chat.port, embeddings.port, collector.grpc),
            )
        })
        .collect();

    // Every library's spans, and its metrics flushed after them (1 s interval).
    wait_for("the spans and metrics of every library", || {
        let written = lines(&collector.file);
        told.iter().all(|(library, t)| {
            let service = format!("genai-{library}");
            let calls = t["calls"].as_array().map_or(0, Vec::len) as f64;
            spans_of(&written, &service).len() >= t["calls"].as_array().map_or(0, Vec::len)
                && totals(&latest(&written, &service, "gen_ai.requests"), |_| true).1 >= calls
        })
    });
    // One more flush, so the cumulative points hold every span.
    std::thread::sleep(Duration::from_millis(2500));
    let bytes = std::fs::read_to_string(&collector.file).expect("output");
    let written = lines(&collector.file);

    for (library, t) in &told {
        let service = format!("genai-{library}");
        // Nothing private anywhere in what was exported: raw, or as JSON escapes it.
        for secret in t["secrets"].as_array().expect("secrets") {
            let secret = secret.as_str().expect("text");
            let escaped = serde_json::to_string(secret).expect("json");
            assert!(
                !bytes.contains(secret) && !bytes.contains(&escaped[1..escaped.len() - 1]),
                "{library}: {secret:?} reached the output"
            );
        }
        let all = spans_of(&written, &service);
        for span in &all {
            assert_clean(library, span);
        }
        if *library == "langchain" {
            check_chain(&all, &written);
            continue;
        }
        check_calls(library, t, &all, &written, &service);
    }
    let (status, _) = collector.terminate();
    assert!(status.success(), "{}", collector.stderr());
    wire_and_decoded_paths_agree(&lines(&raw));
}

/// The `genai` processor's two paths on the libraries' own requests, as received.
fn wire_and_decoded_paths_agree(raw: &[Value]) {
    use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use llamacol_processors::genai::{wire, GenaiConfig, GenaiProcessor};
    use prost::Message;
    let block =
        llamacol_api::serde_yaml::from_str(&format!("identity_salt: {SALT}")).expect("yaml");
    let config = llamacol_api::config::parse_block::<GenaiConfig>(&block).expect("config");
    let p = GenaiProcessor::new(config, llamacol_api::NodeContext::new());
    let (mut spans, mut rewritten) = (0, 0);
    for line in raw.iter().filter(|l| l.get("resourceSpans").is_some()) {
        let mut request: ExportTraceServiceRequest =
            serde_json::from_value(line.clone()).expect("OTLP/JSON traces");
        let bytes = request.encode_to_vec();
        let on_wire = wire::traces(&p, &bytes, &mut wire::Found::default()).expect("reads");
        p.traces(&mut request);
        let from_wire = match &on_wire {
            Some(b) => ExportTraceServiceRequest::decode(&b[..]).expect("valid protobuf"),
            None => ExportTraceServiceRequest::decode(&bytes[..]).expect("valid protobuf"),
        };
        assert_eq!(
            from_wire, request,
            "wire and decoded paths differ on {line}"
        );
        spans += request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum::<usize>();
        rewritten += usize::from(on_wire.is_some());
    }
    assert!(
        spans > 0 && rewritten > 0,
        "{spans} spans compared, {rewritten} requests rewritten"
    );
    eprintln!("wire and decoded paths agree on {spans} spans of the libraries ({rewritten} requests rewritten)");
}

/// The three direct calls of one library: spans and metrics.
fn check_calls(library: &str, told: &Value, all: &[Value], written: &[Value], service: &str) {
    let calls = told["calls"].as_array().expect("calls");
    let genai: Vec<&Value> = all
        .iter()
        .filter(|s| attr(s, "gen_ai.operation.name").is_some())
        .collect();
    assert_eq!(
        genai.len(),
        calls.len(),
        "{library}: one GenAI span per call"
    );
    let (mut input, mut output) = (0.0, 0.0);
    let mut streaming_seconds = 0.0;
    for (span, call) in genai.iter().zip(calls) {
        let what = format!("{library} {} stream={}", call["kind"], call["stream"]);
        let operation = if call["kind"] == "embeddings" {
            "embeddings"
        } else {
            "chat"
        };
        assert_eq!(
            attr(span, "gen_ai.operation.name"),
            Some(Value::from(operation)),
            "{what}"
        );
        assert_eq!(
            attr(span, "gen_ai.provider.name"),
            Some(Value::from("openai")),
            "{what}"
        );
        assert_eq!(
            attr(span, "gen_ai.request.model"),
            Some(call["request_model"].clone()),
            "{what}"
        );
        // The server names the model by its file path; OpenLLMetry keeps its last part.
        if let Some(model) = attr(span, "gen_ai.response.model") {
            let answered = call["response_model"].as_str().unwrap_or_default();
            assert!(
                model.as_str().is_some_and(|m| answered.ends_with(m)),
                "{what}: response model {model}, the server said {answered}"
            );
        }
        let usage = &call["usage"];
        assert_eq!(
            attr(span, "gen_ai.usage.input_tokens"),
            Some(usage["input"].clone()),
            "{what}"
        );
        input += number(&usage["input"]);
        if operation == "chat" {
            assert_eq!(
                attr(span, "gen_ai.usage.output_tokens"),
                Some(usage["output"].clone()),
                "{what}"
            );
            output += number(&usage["output"]);
        }
        // Where the server said nothing of its cache, a library may say 0.
        if let Some(cached) = attr(span, "gen_ai.usage.cache_read.input_tokens") {
            let said = usage.get("cache_read").cloned().unwrap_or(Value::from(0));
            assert_eq!(cached, said, "{what}");
        }
        if call["stream"] == true {
            let ns = |k: &str| number(&span[k]);
            streaming_seconds = (ns("endTimeUnixNano") - ns("startTimeUnixNano")) / 1e9;
        }
    }
    // The metrics: token sums exact, one request per call.
    let requests = latest(written, service, "gen_ai.requests");
    assert_eq!(
        totals(&requests, |_| true).1,
        calls.len() as f64,
        "{library}: requests"
    );
    let tokens = latest(written, service, "gen_ai.client.token.usage");
    let of_type = |t: &'static str| {
        move |p: &Value| {
            p["attributes"]
                .to_string()
                .contains(&format!("\"stringValue\":\"{t}\""))
        }
    };
    assert_eq!(
        totals(&tokens, of_type("input")).1,
        input,
        "{library}: input tokens"
    );
    assert_eq!(
        totals(&tokens, of_type("output")).1,
        output,
        "{library}: output tokens"
    );
    // A first chunk only for the streaming call, and within it. The official library
    // puts the time to first chunk only in its own metrics, never on the span: none.
    let first = totals(
        &latest(
            written,
            service,
            "gen_ai.client.operation.time_to_first_chunk",
        ),
        |_| true,
    );
    let expected = if library == "official" { 0.0 } else { 1.0 };
    assert_eq!(first.0, expected, "{library}: first-chunk observations");
    if expected > 0.0 {
        assert!(
            first.1 > 0.0 && first.1 < streaming_seconds,
            "{library}: first chunk {} s of a {streaming_seconds} s stream",
            first.1
        );
    }
}

/// The LangChain chain: the workflow, the model call and the tool, identifiers hashed.
fn check_chain(all: &[Value], written: &[Value]) {
    let op = |name: &str| -> Vec<&Value> {
        all.iter()
            .filter(|s| attr(s, "gen_ai.operation.name") == Some(Value::from(name)))
            .collect()
    };
    let workflow = op("invoke_workflow");
    assert_eq!(workflow.len(), 1, "the root chain is the workflow");
    assert!(workflow[0]["parentSpanId"]
        .as_str()
        .unwrap_or("")
        .is_empty());
    let chat = op("chat");
    assert_eq!(chat.len(), 1, "one LLM span per model call");
    assert_eq!(
        attr(chat[0], "gen_ai.request.model"),
        Some(Value::from("tiny-llama"))
    );
    // The answering model: the server's file path (OpenInference's `llm.model_name`).
    let answered = attr(chat[0], "gen_ai.response.model").unwrap_or_default();
    assert!(
        answered
            .as_str()
            .is_some_and(|m| m.ends_with("tiny-llama.gguf")),
        "{answered}"
    );
    assert!(number(&attr(chat[0], "gen_ai.usage.output_tokens").unwrap_or_default()) > 0.0);
    let tool = op("execute_tool");
    assert_eq!(tool.len(), 1);
    assert_eq!(
        attr(tool[0], "gen_ai.tool.name"),
        Some(Value::from("lookup_order"))
    );
    // The user and session ids: the same keyed hash on every span, never the ids.
    let user = attr(tool[0], "user.id").expect("user.id");
    assert_eq!(
        user.as_str().map(str::len),
        Some(32),
        "hex of 16 bytes: {user}"
    );
    assert!(all
        .iter()
        .all(|s| attr(s, "user.id").is_none_or(|u| u == user)));
    assert!(attr(tool[0], "gen_ai.conversation.id").is_some());
    let service = "genai-langchain";
    for (name, count) in [
        ("gen_ai.workflow.duration", 1.0),
        ("gen_ai.execute_tool.duration", 1.0),
        ("gen_ai.client.operation.duration", 1.0),
    ] {
        assert_eq!(
            totals(&latest(written, service, name), |_| true).0,
            count,
            "{name}"
        );
    }
}
