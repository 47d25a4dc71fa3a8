use std::sync::Arc;

use llamacol_api::attributes::string;
use llamacol_api::config::parse_block;
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_pipeline::testing::{check_processor, sample_logs, sample_traces, Capture, Flow};

use super::*;

const EMAIL: &str = r"[\w.+-]+@[\w-]+\.[\w.]+";
const API_KEY: &str = r"sk-[A-Za-z0-9]{8,}";

fn redact(yaml: &str) -> (Arc<dyn Processor>, Arc<Capture>) {
    let block: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let config = parse_block::<RedactConfig>(&block).expect("config");
    let capture = Arc::new(Capture::default());
    (
        stateless::processor(Redact::new(&config).expect("build"), capture.clone()),
        capture,
    )
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

#[tokio::test]
async fn emails_and_keys_are_masked_in_every_string_attribute() {
    let (p, out) = redact(&format!("{{patterns: ['{EMAIL}', '{API_KEY}']}}"));
    let mut request: ExportTraceServiceRequest = sample_traces(1, 1);
    let span = &mut request.resource_spans[0].scope_spans[0].spans[0];
    span.attributes.push(string(
        "gen_ai.prompt",
        "mail ada@example.com my key sk-abcdef123456",
    ));
    span.attributes.push(string("user.id", "42"));
    p.consume(Batch::from(request)).await.expect("passed on");
    let Some(Batch::Traces(mut t)) = out.last() else {
        panic!("traces")
    };
    let attrs = &t.message().expect("decoded").resource_spans[0].scope_spans[0].spans[0].attributes;
    assert_eq!(
        text(attrs, "gen_ai.prompt").as_deref(),
        Some("mail **** my key ****")
    );
    assert_eq!(text(attrs, "user.id").as_deref(), Some("42"));
}

#[tokio::test]
async fn only_the_listed_keys_when_attributes_is_set_and_log_bodies_otherwise() {
    let (p, out) = redact(&format!(
        "{{patterns: ['{EMAIL}'], mask: '<email>', attributes: [user.email]}}"
    ));
    let mut request: ExportLogsServiceRequest = sample_logs(1);
    let record = &mut request.resource_logs[0].scope_logs[0].log_records[0];
    record
        .attributes
        .push(string("user.email", "ada@example.com"));
    record.attributes.push(string("note", "bob@example.com"));
    p.consume(Batch::from(request)).await.expect("passed on");
    let Some(Batch::Logs(mut l)) = out.last() else {
        panic!("logs")
    };
    let record = &l.message().expect("decoded").resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(
        text(&record.attributes, "user.email").as_deref(),
        Some("<email>")
    );
    assert_eq!(
        text(&record.attributes, "note").as_deref(),
        Some("bob@example.com")
    );

    let (p, out) = redact(&format!("{{patterns: ['{EMAIL}']}}"));
    let mut request = sample_logs(1);
    request.resource_logs[0].scope_logs[0].log_records[0].body = Some(AnyValue {
        value: Some(Value::StringValue("from ada@example.com".into())),
    });
    p.consume(Batch::from(request)).await.expect("passed on");
    let Some(Batch::Logs(mut l)) = out.last() else {
        panic!("logs")
    };
    let body = &l.message().expect("decoded").resource_logs[0].scope_logs[0].log_records[0].body;
    assert_eq!(
        body.as_ref().and_then(|b| b.value.clone()),
        Some(Value::StringValue("from ****".into()))
    );
}

#[test]
fn bad_patterns_are_config_errors() {
    let check = |yaml: &str| {
        let v: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
        format!("{:?}", (ConfigSpec::of::<RedactConfig>().check)(&v))
    };
    assert!(check("{}").contains("at least one pattern"));
    assert!(check("{patterns: ['(unclosed']}").contains("patterns[0]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn redact_meets_the_component_contract() {
    check_processor(
        factory(),
        &format!("{{patterns: ['{EMAIL}']}}"),
        Flow::PassesThrough,
    )
    .await
    .expect("contract");
}
