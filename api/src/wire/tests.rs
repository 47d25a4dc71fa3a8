use super::*;
use crate::testing::{sample_logs, sample_metrics, sample_traces};
use crate::SignalMessage;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use rand::{Rng, SeedableRng};

#[test]
fn counts_items_of_each_signal_like_the_decoded_message() {
    let traces = sample_traces(3, 7);
    let metrics = sample_metrics(2);
    let logs = sample_logs(4);
    assert_eq!(
        count_items(Signal::Traces, &traces.encode_to_vec()).ok(),
        Some(21)
    );
    assert_eq!(traces.count_items(), 21);
    assert_eq!(
        count_items(Signal::Metrics, &metrics.encode_to_vec()).ok(),
        Some(metrics.count_items())
    );
    assert!(metrics.count_items() > 2);
    assert_eq!(
        count_items(Signal::Logs, &logs.encode_to_vec()).ok(),
        Some(4)
    );
}

#[test]
fn concatenated_requests_are_one_request() {
    let a = sample_traces(1, 2).encode_to_vec();
    let b = sample_traces(2, 3).encode_to_vec();
    let joined = [a, b].concat();
    assert_eq!(count_items(Signal::Traces, &joined).ok(), Some(8));
    let decoded = ExportTraceServiceRequest::decode(joined.as_slice()).expect("decodes");
    assert_eq!(decoded.resource_spans.len(), 3);
}

#[test]
fn rejects_truncation_and_bad_utf8_with_an_offset() {
    let bytes = sample_traces(1, 1).encode_to_vec();
    let err = count_items(Signal::Traces, &bytes[..bytes.len() - 3]).expect_err("truncated");
    assert!(
        err.to_string().starts_with("malformed protobuf at byte"),
        "{err}"
    );

    // A resource_spans whose schema_url (field 3, string) is not UTF-8.
    let bad = [0x0a, 0x04, 0x1a, 0x02, 0xff, 0xfe];
    let err = count_items(Signal::Traces, &bad).expect_err("bad utf8");
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    assert!(ExportTraceServiceRequest::decode(&bad[..]).is_err());
}

#[test]
fn plain_text_is_not_a_request() {
    assert!(count_items(Signal::Logs, b"hello, this is not protobuf").is_err());
}

/// The walker must never accept what prost refuses, or a batch accepted by a receiver
/// could fail to decode later. Mutate valid payloads at random and compare.
#[test]
fn walker_accepts_only_what_prost_decodes() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let seeds: [(Signal, Vec<u8>); 3] = [
        (Signal::Traces, sample_traces(2, 3).encode_to_vec()),
        (Signal::Metrics, sample_metrics(2).encode_to_vec()),
        (Signal::Logs, sample_logs(3).encode_to_vec()),
    ];
    let mut accepted = 0;
    for round in 0..20_000 {
        let (signal, seed) = &seeds[round % 3];
        let mut buf = seed.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..buf.len());
            match rng.random_range(0..3) {
                0 => buf[at] = rng.random(),
                1 => buf.truncate(at),
                _ => buf.insert(at, rng.random()),
            }
            if buf.is_empty() {
                break;
            }
        }
        let Ok(items) = count_items(*signal, &buf) else {
            continue;
        };
        accepted += 1;
        let decoded = match signal {
            Signal::Traces => {
                ExportTraceServiceRequest::decode(buf.as_slice()).map(|m| m.count_items())
            }
            Signal::Metrics => {
                ExportMetricsServiceRequest::decode(buf.as_slice()).map(|m| m.count_items())
            }
            Signal::Logs => {
                ExportLogsServiceRequest::decode(buf.as_slice()).map(|m| m.count_items())
            }
        };
        match decoded {
            Ok(n) => assert_eq!(n, items, "count differs for {signal} payload {buf:?}"),
            Err(e) => panic!("walker accepted what prost refuses ({e}): {signal} {buf:?}"),
        }
    }
    assert!(
        accepted > 100,
        "mutations too destructive to test anything: {accepted}"
    );
}

#[test]
fn fields_are_found_by_number_with_gaps_and_out_of_range() {
    // LOG_RECORD has no field 4: 5..12 sit one place before their number.
    let numbers: Vec<Option<u32>> = (0..=13)
        .map(|n| LOG_RECORD.field(n).map(|f| f.number))
        .collect();
    let expected: Vec<Option<u32>> = (0..=13)
        .map(|n| (n != 0 && n != 4 && n != 13).then_some(n))
        .collect();
    assert_eq!(numbers, expected);
    assert!(LOG_RECORD.field(u32::MAX).is_none());
    assert!(matches!(LOG_RECORD.field(12).map(|f| f.kind), Some(Str)));
}

/// Every `KeyValue` layout near the ones encoders write: the byte-matching check accepts
/// the usual ones, and whatever it accepts the field-by-field walk accepts too.
#[test]
fn plain_key_values_are_what_the_walk_accepts() {
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
    let kv = |key: &str, value: Option<Value>| {
        KeyValue {
            key: key.into(),
            value: value.map(|v| AnyValue { value: Some(v) }),
            ..Default::default()
        }
        .encode_to_vec()
    };
    let usual = [
        kv(
            "gen_ai.request.model",
            Some(Value::StringValue("qwen2.5-7b".into())),
        ),
        kv("server.port", Some(Value::IntValue(8080))),
        kv("n", Some(Value::IntValue(-1))),
        kv("ok", Some(Value::BoolValue(true))),
        kv("t", Some(Value::DoubleValue(0.7))),
        kv("k", Some(Value::StringValue(String::new()))),
    ];
    for b in &usual {
        assert!(plain_key_value(b), "usual layout not taken: {b:?}");
    }
    let unusual = [
        kv(&"k".repeat(200), Some(Value::StringValue("v".into()))),
        kv("k", Some(Value::StringValue("v".repeat(126)))),
        kv("k", Some(Value::StringValue("é".into()))),
        kv("k", None),
        kv("", Some(Value::StringValue("no key field".into()))),
        kv("k", Some(Value::BytesValue(vec![1, 2]))),
    ];
    for b in &unusual {
        assert!(!plain_key_value(b), "unusual layout taken: {b:?}");
        assert!(Walker { buf: b, base: 0 }.message(&KEY_VALUE, 0).is_ok());
    }
    // Lengths of 128 or more take two bytes: a first byte that happens to equal what
    // follows must not be read as the length.
    // (0x80 0x0a is 1280, past the end.)
    let mut two_byte_length = vec![0x0a, 1, b'k', 0x12, 0x80, 0x0a, 0x7e];
    two_byte_length.extend([b'a'; 0x7e]);
    assert!(!plain_key_value(&two_byte_length));
    assert!(Walker {
        buf: &two_byte_length,
        base: 0
    }
    .message(&KEY_VALUE, 0)
    .is_err());
    // Each byte of each layout set to every value, and each layout cut short: nothing the
    // byte match accepts is refused by the walk (or by prost).
    let mut accepted = 0;
    let crafted = [two_byte_length];
    for seed in usual.iter().chain(&unusual).chain(&crafted) {
        let mut variants: Vec<Vec<u8>> = (0..seed.len()).map(|n| seed[..n].to_vec()).collect();
        for at in 0..seed.len() {
            for byte in 0..=255u8 {
                let mut b = seed.clone();
                b[at] = byte;
                variants.push(b);
            }
        }
        for b in variants {
            if plain_key_value(&b) {
                accepted += 1;
                let walked = Walker { buf: &b, base: 0 }.message(&KEY_VALUE, 0);
                assert!(walked.is_ok(), "accepted what the walk refuses: {b:?}");
                assert!(
                    KeyValue::decode(b.as_slice()).is_ok(),
                    "prost refuses {b:?}"
                );
            }
        }
    }
    assert!(
        accepted > 1000,
        "too few variants accepted to test anything: {accepted}"
    );
}

#[test]
fn a_varint_is_whole_only_when_it_ends_at_the_end() {
    assert!(whole_varint(&[0x00]));
    assert!(whole_varint(&[0xff, 0x01]));
    assert!(!whole_varint(&[]));
    assert!(!whole_varint(&[0x80]));
    assert!(!whole_varint(&[0x01, 0x01]));
    let mut max = vec![0xff; 9];
    max.push(0x01);
    assert!(whole_varint(&max));
    max[9] = 0x02;
    assert!(!whole_varint(&max), "overflows 64 bits");
    max.insert(0, 0xff);
    assert!(!whole_varint(&max), "longer than 10 bytes");
}
