use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::{ComponentId, Payload};
use llamacol_pipeline::testing::{sample_logs, sample_metrics, sample_traces, Capture};

use super::*;

fn validate(yaml: &str) -> Vec<llamacol_api::config::Issue> {
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    match llamacol_api::config::parse::<TransformConfig>(&block) {
        Ok(c) => <TransformConfig as llamacol_api::config::ComponentConfig>::validate(&c),
        Err(issues) => issues,
    }
}

fn processor(yaml: &str) -> (Arc<dyn Processor>, Arc<Capture>) {
    let issues = validate(yaml);
    assert!(issues.is_empty(), "{issues:?}");
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let capture = Arc::new(Capture::default());
    let ctx = BuildContext::new(
        ComponentId::parse("transform").expect("id"),
        Signal::ALL.to_vec(),
    );
    (
        build(&ctx, &block, capture.clone()).expect("build"),
        capture,
    )
}

fn span_attr(batch: &Batch, key: &str) -> Option<any_value::Value> {
    let Batch::Traces(p) = batch else { return None };
    let span = &p.decoded()?.resource_spans[0].scope_spans[0].spans[0];
    span.attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .clone()?
        .value
}

#[tokio::test]
async fn flat_statements_infer_their_context_and_groups_take_theirs() {
    let (p, capture) = processor(
        r#"
trace_statements:
  - set(span.attributes["renamed"], span.name) where span.kind == SPAN_KIND_SERVER or true
  - set(resource.attributes["env"], "prod")
  - context: span
    statements:
      - set(attributes["model"], "llama-3") where attributes["no.such.key"] == nil
      - delete_key(attributes, "secret")
"#,
    );
    p.consume(Batch::from(sample_traces(1, 2)))
        .await
        .expect("taken");
    let out = &capture.batches()[0];
    assert!(
        matches!(span_attr(out, "model"), Some(any_value::Value::StringValue(s)) if s == "llama-3")
    );
    assert!(span_attr(out, "renamed").is_some());
    let Batch::Traces(t) = out else {
        panic!("traces")
    };
    let resource = t.decoded().expect("decoded").resource_spans[0]
        .resource
        .clone()
        .expect("resource");
    assert!(resource.attributes.iter().any(|kv| kv.key == "env"));
}

#[tokio::test]
async fn a_batch_no_statement_applies_to_passes_encoded() {
    let (p, capture) = processor("trace_statements: ['set(span.name, \"x\")']");
    let mut logs = Payload::from_message(sample_logs(3));
    let bytes = logs.bytes();
    let logs = Payload::from_bytes(bytes).expect("encoded");
    p.consume(Batch::Logs(logs)).await.expect("taken");
    let Batch::Logs(out) = &capture.batches()[0] else {
        panic!("logs")
    };
    assert!(out.decoded().is_none(), "not decoded");
    p.consume(Batch::from(sample_metrics(1)))
        .await
        .expect("taken");
}

#[tokio::test]
async fn error_mode_propagate_refuses_and_ignore_goes_on() {
    let failing = r#"set(span.attributes["n"], Int("not a number"))"#;
    let (p, _) = processor(&format!("trace_statements: ['{failing}']"));
    let refused = p.consume(Batch::from(sample_traces(1, 1))).await;
    assert!(refused.is_err_and(|e| !e.is_retryable()));
    let (p, capture) = processor(&format!(
        "error_mode: ignore\ntrace_statements: ['{failing}', 'set(span.name, \"after\")']"
    ));
    p.consume(Batch::from(sample_traces(1, 1)))
        .await
        .expect("taken");
    let Batch::Traces(t) = &capture.batches()[0] else {
        panic!("traces")
    };
    assert_eq!(
        t.decoded().expect("decoded").resource_spans[0].scope_spans[0].spans[0].name,
        "after"
    );
}

#[test]
fn bad_statements_are_config_errors_with_place_and_column() {
    let issues = validate("trace_statements: ['set(span.attributes[\"a\"], \"b\"']");
    assert_eq!(issues[0].path, "trace_statements[0]");
    assert!(
        issues[0].message.contains("column"),
        "{}",
        issues[0].message
    );
    let issues = validate("trace_statements: ['set(span.nme, \"b\")']");
    assert!(
        issues[0].message.contains("did you mean \"name\""),
        "{}",
        issues[0].message
    );
    let issues = validate("trace_statements: ['sett(span.name, \"b\")']");
    assert!(
        issues[0].message.contains("undefined function \"sett\""),
        "{}",
        issues[0].message
    );
    let issues = validate("log_statements: ['set(span.name, \"b\")']");
    assert!(
        issues[0]
            .message
            .contains("does not apply to log_statements"),
        "{}",
        issues[0].message
    );
    let issues = validate("trace_statements: [{context: spam, statements: ['set(name, \"b\")']}]");
    assert_eq!(issues[0].path, "trace_statements[0].context");
    let issues = validate("trace_statements: ['set(attributes[\"a\"], \"b\")']");
    assert!(
        issues[0].message.contains("no path names a context"),
        "{}",
        issues[0].message
    );
    assert!(!validate("{}").is_empty());
}

#[tokio::test]
async fn statements_whose_conditions_never_hold_pass_the_bytes_as_they_came() {
    let (p, capture) = processor(
        "trace_statements: ['set(span.attributes[\"model\"], \"x\") where span.name == \"no such span\"']",
    );
    let bytes = Payload::from_message(sample_traces(1, 3)).bytes();
    p.consume(Batch::Traces(
        Payload::from_bytes(bytes.clone()).expect("valid"),
    ))
    .await
    .expect("taken");
    let out = &capture.batches()[0];
    assert_eq!(
        out.encoded(),
        Some(&bytes),
        "the same bytes, not a re-encoding"
    );
    let (p, capture) = processor("trace_statements: ['set(span.attributes[\"model\"], \"x\")']");
    p.consume(Batch::Traces(
        Payload::from_bytes(bytes.clone()).expect("valid"),
    ))
    .await
    .expect("taken");
    assert!(
        capture.batches()[0].encoded().is_none(),
        "changed: encoded later"
    );
}
