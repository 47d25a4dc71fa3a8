//! OTTL conformance: the Collector's own end-to-end cases (`pkg/ottl/e2e/e2e_test.go`,
//! contrib v0.161.0), as data in `testdata/ottl/` (statement, input, expected output,
//! produced by running the Collector's test code; see `testdata/README.md`). Every case
//! runs; the count that passes is printed and may not fall below the README's figure.

use std::collections::BTreeMap;

use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::ottl::{run_statements, ContextName, ErrorMode, Statement};
use llamacol_api::{Batch, Payload};

/// Cases passing when this was last counted (README "OTTL"); a change that breaks one
/// fails here.
const PASSING_AT_LEAST: usize = 248;

/// The Collector writes an empty map or list as `{}`; the proto's JSON reader wants
/// `values`.
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

fn cases() -> (BTreeMap<String, serde_json::Value>, Vec<serde_json::Value>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/ottl/e2e-cases-v0.161.0.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("conformance data");
    let mut inputs = BTreeMap::new();
    let mut cases = Vec::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).expect("json line");
        fill_empty(&mut v);
        if let Some(i) = v.get("inputs").and_then(|i| i.as_object()) {
            inputs.extend(i.iter().map(|(k, v)| (k.clone(), v.clone())));
        } else {
            cases.push(v);
        }
    }
    (inputs, cases)
}

/// Attribute lists sorted by key at every depth (the Collector compares maps as maps).
fn canonical(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, inner) in o.iter_mut() {
                canonical(inner);
                if k == "attributes" || k == "values" {
                    if let serde_json::Value::Array(items) = inner {
                        if items.iter().all(|i| i.get("key").is_some()) {
                            items.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
                        }
                    }
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(canonical),
        _ => {}
    }
}

fn batch_json(batch: &mut Batch) -> serde_json::Value {
    let text = llamacol_api::json::to_json(batch).expect("json");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("reparse");
    canonical(&mut v);
    v
}

fn run_case(
    inputs: &BTreeMap<String, serde_json::Value>,
    case: &serde_json::Value,
) -> Result<(), String> {
    let input_name = case["input"].as_str().unwrap_or("log");
    let input = inputs[input_name].to_string();
    let (mut batch, context, mut want) = if input_name == "span" {
        let req: ExportTraceServiceRequest =
            serde_json::from_str(&input).map_err(|e| e.to_string())?;
        let want: ExportTraceServiceRequest =
            serde_json::from_str(&case["want"].to_string()).map_err(|e| e.to_string())?;
        (
            Batch::Traces(Payload::from_message(req)),
            ContextName::Span,
            Batch::Traces(Payload::from_message(want)),
        )
    } else {
        let req: ExportLogsServiceRequest =
            serde_json::from_str(&input).map_err(|e| e.to_string())?;
        let want: ExportLogsServiceRequest =
            serde_json::from_str(&case["want"].to_string()).map_err(|e| e.to_string())?;
        (
            Batch::Logs(Payload::from_message(req)),
            ContextName::Log,
            Batch::Logs(Payload::from_message(want)),
        )
    };
    let mut statements = Vec::new();
    for s in case["statements"].as_array().into_iter().flatten() {
        let text = s.as_str().unwrap_or_default();
        statements.push(Statement::parse(text, Some(context)).map_err(|e| e.to_string())?);
    }
    let expects_error = !case["error"].as_str().unwrap_or_default().is_empty();
    let result = run_statements(
        &mut batch,
        &statements,
        &[],
        ErrorMode::Propagate,
        &mut |_, _| {},
    );
    match (result, expects_error) {
        (Err(e), false) => return Err(format!("failed: {e}")),
        (Ok(_), true) => return Err(format!("expected an error containing {:?}", case["error"])),
        _ => {}
    }
    let (got, want) = (batch_json(&mut batch), batch_json(&mut want));
    if got != want {
        return Err(format!("got  {got}\nwant {want}"));
    }
    Ok(())
}

#[test]
fn the_collectors_ottl_end_to_end_cases() {
    let (inputs, cases) = cases();
    let mut passed = 0;
    let mut failures = Vec::new();
    for case in &cases {
        match run_case(&inputs, case) {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{} {}: {e}", case["group"], case["statements"])),
        }
    }
    for f in &failures {
        eprintln!("FAIL {f}\n");
    }
    eprintln!("OTTL conformance: {passed} of {} cases pass", cases.len());
    assert!(
        passed >= PASSING_AT_LEAST,
        "{passed} of {} pass, fewer than the {PASSING_AT_LEAST} counted before",
        cases.len()
    );
}
