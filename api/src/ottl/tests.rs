//! The parser's errors, inference and limits, and runtime edge cases that must fail
//! cleanly (the Collector's own cases run in `api/tests/ottl_conformance.rs`).

use super::*;
use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::common::v1::{any_value, AnyValue};
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::Batch;

fn logs(body: &str) -> Batch {
    Batch::from(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(body.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

/// Runs one log statement; the attribute `out` afterwards, or the error.
fn run(statement: &str, body: &str) -> Result<Option<Value>, String> {
    let s = Statement::parse(statement, Some(ContextName::Log)).map_err(|e| e.to_string())?;
    let mut batch = logs(body);
    run_statements(&mut batch, &[s], &[], ErrorMode::Propagate, &mut |_, _| {})
        .map_err(|e| e.to_string())?;
    let Batch::Logs(p) = &batch else {
        unreachable!()
    };
    let record = &p.decoded().expect("decoded").resource_logs[0].scope_logs[0].log_records[0];
    Ok(record
        .attributes
        .iter()
        .find(|kv| kv.key == "out")
        .and_then(|kv| kv.value.as_ref())
        .map(Value::from_any))
}

#[test]
fn parse_errors_name_the_column_and_what_was_expected() {
    let cases = [
        (
            "set(attributes[\"a\"], 1",
            "column 23: unexpected token the end of the statement (expected \",\" or \")\")",
        ),
        (
            "set(attributes[\"a\"] 1)",
            "column 21: unexpected token 1 (expected \",\" or \")\")",
        ),
        ("Set(name, 1)", "is a converter"),
        ("set(name, \"unclosed)", "string is not closed"),
        (
            "set(name, 1) where name = \"x\"",
            "column 25: a condition needs a comparison",
        ),
        (
            "set(name, 1) where",
            "column 19: unexpected token the end of the statement (expected a value)",
        ),
    ];
    for (text, expected) in cases {
        let e = Statement::parse(text, Some(ContextName::Log)).expect_err(text);
        assert!(e.to_string().contains(expected), "{text}: {e}");
    }
}

#[test]
fn the_flat_form_infers_the_narrowest_context_and_refuses_mixed_lines() {
    let s = Statement::parse(
        "set(span.attributes[\"a\"], resource.attributes[\"b\"])",
        None,
    )
    .expect("binds");
    assert_eq!(s.context, ContextName::Span);
    let s = Statement::parse("set(resource.attributes[\"a\"], \"b\")", None).expect("binds");
    assert_eq!(s.context, ContextName::Resource);
    let s = Statement::parse("set(datapoint.attributes[\"m\"], metric.name)", None).expect("binds");
    assert_eq!(s.context, ContextName::DataPoint);
    let e = Statement::parse("set(span.name, log.body)", None).expect_err("mixed");
    assert!(e.to_string().contains("cannot meet"), "{e}");
    let e = Statement::parse("set(attributes[\"a\"], 1)", None).expect_err("no context");
    assert!(e.to_string().contains("no path names a context"), "{e}");
    // With a group's context, a path may or may not name it.
    assert!(Statement::parse("set(span.name, name)", Some(ContextName::Span)).is_ok());
    let e = Statement::parse("set(log.body, 1)", Some(ContextName::Span)).expect_err("unreachable");
    assert!(e.to_string().contains("cannot reach"), "{e}");
}

#[test]
fn nesting_is_bounded() {
    let deep = format!(
        "set(attributes[\"out\"], {}1{})",
        "(".repeat(500),
        ")".repeat(500)
    );
    let e = Statement::parse(&deep, Some(ContextName::Log)).expect_err("too deep");
    assert!(e.to_string().contains("levels deep"), "{e}");
    let not = format!("set(name, 1) where {}true", "not ".repeat(500));
    assert!(Statement::parse(&not, Some(ContextName::Log)).is_err());
}

#[test]
fn runtime_edge_cases_fail_cleanly() {
    // Substring starting inside a multi-byte character.
    assert_eq!(
        run("set(attributes[\"out\"], Substring(body, 1, 1))", "€uro"),
        Ok(Some(Value::Str(String::new())))
    );
    // Integer division by zero, and time arithmetic past the range.
    assert!(run("set(attributes[\"out\"], 1 / 0)", "x").is_err_and(|e| e.contains("divide by 0")));
    assert!(run(
        "set(attributes[\"out\"], Now() + Duration(\"2562047h\"))",
        "x"
    )
    .is_err_and(|e| e.contains("overflow")));
    // A list is not created up to an absurd index.
    assert!(run("set(attributes[\"out\"][99999999999], 1)", "x")
        .is_err_and(|e| e.contains("out of bounds")));
    // Padding is bounded.
    let Ok(Some(Value::Str(s))) = run(
        "set(attributes[\"out\"], Format(\"%999999999d\", [1]))",
        "x",
    ) else {
        panic!("formatted")
    };
    assert_eq!(s.len(), 4096);
    // Types that do not fit are errors, not panics.
    assert!(run("set(attributes[\"out\"], Int(body))", "twelve").is_err());
    assert!(run("set(attributes[\"out\"], Len(1))", "x").is_err());
    assert!(run("set(attributes[\"out\"], body[0])", "x").is_err());
    // An invalid time format is refused when bound.
    assert!(
        run("set(attributes[\"out\"], FormatTime(Now(), \"%Q\"))", "x")
            .is_err_and(|e| e.contains("invalid time format"))
    );
}

#[test]
fn comparisons_follow_the_collectors_rules() {
    use value::CompareOp::*;
    assert!(Value::Int(1).compare(&Value::Double(1.0), Eq));
    assert!(Value::Nil.compare(&Value::Nil, Eq));
    assert!(Value::Nil.compare(&Value::Int(0), Ne));
    assert!(!Value::Str("1".into()).compare(&Value::Int(1), Eq));
    assert!(Value::Str("1".into()).compare(&Value::Int(1), Ne));
    assert!(!Value::Str("a".into()).compare(&Value::Int(1), Lt));
    assert!(Value::Bool(false).compare(&Value::Bool(true), Lt));
    assert!(Value::Double(f64::NAN).compare(&Value::Double(f64::NAN), Ne));
}

#[test]
fn trace_state_members_read_valid_states_and_an_update_moves_to_the_front() {
    use crate::tracestate::{member, with_member};
    assert_eq!(member("a=1,b=2", "b"), Some("2"));
    assert_eq!(member("a=1,b=2", "c"), None);
    assert_eq!(
        member("a=1,=bad", "a"),
        None,
        "an invalid tracestate has no members"
    );
    assert_eq!(with_member("a=1,b=2", "b", "3"), "b=3,a=1");
    assert_eq!(with_member("", "k", "v"), "k=v");
}
