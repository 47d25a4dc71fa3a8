use llamacol_api::{ComponentId, Payload};
use llamacol_pipeline::testing::{sample_logs, sample_traces, Capture};

use super::*;

fn validate(yaml: &str) -> Vec<llamacol_api::config::Issue> {
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    match llamacol_api::config::parse::<FilterConfig>(&block) {
        Ok(c) => <FilterConfig as llamacol_api::config::ComponentConfig>::validate(&c),
        Err(issues) => issues,
    }
}

fn processor(yaml: &str) -> (Arc<dyn Processor>, Arc<Capture>) {
    let issues = validate(yaml);
    assert!(issues.is_empty(), "{issues:?}");
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let capture = Arc::new(Capture::default());
    let ctx = BuildContext::new(
        ComponentId::parse("filter").expect("id"),
        Signal::ALL.to_vec(),
    );
    (
        build(&ctx, &block, capture.clone()).expect("build"),
        capture,
    )
}

#[tokio::test]
async fn removes_matching_spans_and_passes_the_rest() {
    let mut traces = sample_traces(1, 4);
    for (i, span) in traces.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        span.name = if i % 2 == 0 {
            "GET /health".into()
        } else {
            "chat llama".into()
        };
    }
    let (p, capture) =
        processor("traces: {span: ['name == \"GET /health\"', 'IsMatch(name, \"^ready\")']}");
    p.consume(Batch::from(traces)).await.expect("taken");
    let out = &capture.batches()[0];
    assert_eq!(out.items(), 2);
}

#[tokio::test]
async fn a_batch_filtered_to_nothing_is_not_handed_on() {
    let (p, capture) = processor("logs: {log_record: ['true']}");
    p.consume(Batch::Logs(Payload::from_message(sample_logs(3))))
        .await
        .expect("taken");
    assert!(capture.batches().is_empty());
}

#[tokio::test]
async fn a_failing_condition_follows_error_mode() {
    let (p, _) = processor("traces: {span: ['Int(name) > 3']}");
    assert!(p.consume(Batch::from(sample_traces(1, 1))).await.is_err());
    let (p, capture) = processor("error_mode: ignore\ntraces: {span: ['Int(name) > 3']}");
    p.consume(Batch::from(sample_traces(1, 2)))
        .await
        .expect("taken");
    assert_eq!(capture.batches()[0].items(), 2, "kept");
}

#[test]
fn config_errors_name_the_list_and_the_older_form_is_refused() {
    let issues = validate("traces: {span: ['name = \"x\"']}");
    assert_eq!(issues[0].path, "traces.span[0]");
    let issues = validate("spans: {include: {match_type: strict, services: [a]}}");
    assert!(
        issues[0].message.contains("OTTL conditions"),
        "{}",
        issues[0].message
    );
    assert!(!validate("{}").is_empty());
}

#[tokio::test]
async fn a_batch_nothing_is_removed_from_passes_as_the_bytes_it_came_as() {
    let (p, capture) = processor("traces: {span: ['name == \"no such span\"']}");
    let bytes = Payload::from_message(sample_traces(1, 3)).bytes();
    p.consume(Batch::Traces(
        Payload::from_bytes(bytes.clone()).expect("valid"),
    ))
    .await
    .expect("taken");
    assert_eq!(capture.batches()[0].encoded(), Some(&bytes));
}
