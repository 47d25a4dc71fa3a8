//! Tracestate reading and writing against what the Collector's `pkg/sampling` v0.161.0
//! printed for the same inputs (a Go program over `NewW3CTraceState` + `Serialize`), the
//! legacy hash against known buckets, and the processor's traces and logs paths.

use std::sync::Arc;

use llamacol_api::attributes::{int, string};
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use llamacol_api::otlp::trace::v1::Span;
use llamacol_pipeline::testing::{traces_of, Capture};

use super::sampler::hash_randomness;
use super::*;

/// (input, parse error, serialized, th, rv)
type Case = (&'static str, bool, &'static str, Option<u64>, Option<u64>);

#[test]
fn tracestates_read_and_write_as_the_collector_does() {
    let cases: [Case; 16] = [
        ("", false, "", None, None),
        ("ot=th:8", false, "ot=th:8", Some(1 << 55), None),
        (
            "ot=rv:abcdefabcdef12;th:c",
            false,
            "ot=rv:abcdefabcdef12;th:c",
            Some(54043195528445952),
            Some(48358650280800018),
        ),
        (
            "vendor=x,ot=th:8;extra:y, other=z",
            false,
            "ot=th:8;extra:y,vendor=x,other=z",
            Some(1 << 55),
            None,
        ),
        ("ot=th:", true, "", None, None),
        ("ot=rv:123", true, "", None, None),
        ("ot=th:8;", true, "", None, None),
        ("ot=TH:8", true, "", None, None),
        ("ot=th:g", true, "", None, None),
        ("ot=th:123456789abcdef", true, "", None, None),
        ("Bad=1", true, "", None, None),
        ("a=b,,c=d", false, "a=b,c=d", None, None),
        (
            "ot=th:8,ot=th:c",
            false,
            "ot=th:c",
            Some(54043195528445952),
            None,
        ),
        ("k= v", false, "k= v", None, None),
        ("a@b=1", false, "a@b=1", None, None),
        ("1@b=1", false, "1@b=1", None, None),
    ];
    for (input, error, out, th, rv) in cases {
        let (state, e) = W3cTraceState::parse(input);
        assert_eq!(e.is_some(), error, "{input:?}: {e:?}");
        assert_eq!(state.serialize(), out, "{input:?}");
        assert_eq!(state.ot.threshold().map(|t| t.0), th, "{input:?}");
        assert_eq!(state.ot.randomness().map(|r| r.0), rv, "{input:?}");
    }
    // Oversized inputs are errors, never panics.
    assert!(W3cTraceState::parse(&"a=b,".repeat(300)).1.is_some());
    let many: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
    assert!(
        W3cTraceState::parse(&many.join(",")).1.is_some(),
        "32 members"
    );
    assert!(
        W3cTraceState::parse(&many[..31].join(",")).1.is_none(),
        "31 members"
    );
    assert!(W3cTraceState::parse("ot=\u{e9}:1").1.is_some());
}

#[test]
fn a_kept_thresholds_probability_is_never_raised() {
    let (mut state, _) = W3cTraceState::parse("ot=th:c");
    assert!(state
        .ot
        .update_threshold(Threshold::parse("8").expect("valid"))
        .is_err());
    assert_eq!(state.serialize(), "ot=th:c");
    state
        .ot
        .update_threshold(Threshold::parse("e").expect("valid"))
        .expect("lower probability");
    assert_eq!(state.serialize(), "ot=th:e");
}

#[test]
fn the_legacy_hash_keeps_the_buckets_below_the_rate() {
    // FNV-1a 32 over the seed's little-endian bytes then the id; bucket = low 14 bits.
    let fnv = |bytes: &[u8]| {
        bytes.iter().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        })
    };
    let id = [7u8; 16];
    let mut input = 22u32.to_le_bytes().to_vec();
    input.extend_from_slice(&id);
    let bucket = u64::from(fnv(&input) & 0x3fff);
    let r = hash_randomness(&id, 22);
    for pct in [1.0f32, 10.0, 33.3, 50.0, 99.0] {
        let config = ProbabilisticSamplerConfig {
            sampling_percentage: pct,
            hash_seed: 22,
            ..Default::default()
        };
        let Sampler::Hashing { threshold, .. } = Sampler::new(&config) else {
            panic!("hash_seed is the default mode");
        };
        let scaled = (pct * 163.84f32) as u64;
        assert_eq!(threshold.should_sample(r), bucket < scaled, "{pct}%");
    }
}

fn span(trace_id: [u8; 16], trace_state: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace_id.to_vec(),
        span_id: vec![1; 8],
        trace_state: trace_state.into(),
        name: "s".into(),
        attributes,
        ..Default::default()
    }
}

fn sampler(yaml: &str) -> ProbabilisticSampler {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let config =
        llamacol_api::config::parse_block::<ProbabilisticSamplerConfig>(&value).expect("config");
    ProbabilisticSampler::new(&config, OutcomeCounter::default())
}

/// A trace id whose low 56 bits are `r`.
fn id_with_randomness(r: u64) -> [u8; 16] {
    let mut id = [0xabu8; 16];
    id[8..].copy_from_slice(&r.to_be_bytes());
    id
}

#[test]
fn proportional_keeps_randomness_at_or_above_the_threshold_and_writes_th() {
    let p = sampler("{mode: proportional, sampling_percentage: 25}");
    // th for 25% is c (0xc << 52): randomness just below and at it.
    let below = id_with_randomness((0xc << 52) - 1);
    let at = id_with_randomness(0xc << 52);
    let mut r = traces_of(vec![
        span(below, "", vec![]),
        span(at, "vendor=1", vec![]),
        span(below, "", vec![int("sampling.priority", 1)]),
    ]);
    p.traces(&mut r);
    let kept: Vec<&str> = r.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.trace_state.as_str())
        .collect();
    assert_eq!(
        kept,
        vec!["ot=th:c,vendor=1", "ot=th:0"],
        "priority 1 keeps at probability 1"
    );
    // An arriving 50% threshold: proportional multiplies (12.5% -> e).
    let mut r = traces_of(vec![span(id_with_randomness(0xf << 52), "ot=th:8", vec![])]);
    p.traces(&mut r);
    assert_eq!(
        r.resource_spans[0].scope_spans[0].spans[0].trace_state,
        "ot=th:e"
    );
}

#[test]
fn equalizing_keeps_an_arriving_lower_probability() {
    let p = sampler("{mode: equalizing, sampling_percentage: 50}");
    let mut r = traces_of(vec![
        span(id_with_randomness(0xf << 52), "ot=th:e", vec![]),
        span(id_with_randomness(0x9 << 52), "", vec![]),
    ]);
    p.traces(&mut r);
    let kept: Vec<&str> = r.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.trace_state.as_str())
        .collect();
    assert_eq!(kept, vec!["ot=th:e", "ot=th:8"]);
}

#[test]
fn unusable_inputs_follow_fail_closed() {
    let spans = || {
        traces_of(vec![
            span([0; 16], "", vec![]),
            span([1; 16], "ot=th:zz", vec![]),
        ])
    };
    let closed = sampler("{mode: proportional, sampling_percentage: 100}");
    let mut r = spans();
    closed.traces(&mut r);
    assert!(
        r.resource_spans.is_empty(),
        "fail_closed (the default) drops both"
    );
    let open = sampler("{mode: proportional, sampling_percentage: 1, fail_closed: false}");
    let mut r = spans();
    open.traces(&mut r);
    let states: Vec<&str> = r.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.trace_state.as_str())
        .collect();
    // No randomness: kept with th 0; a bad tracestate: kept and left as it came.
    assert_eq!(states, vec!["ot=th:0", "ot=th:zz"]);
}

#[test]
fn hash_seed_writes_the_hash_randomness_and_threshold() {
    let p = sampler("{sampling_percentage: 100, hash_seed: 7}");
    let id = [3u8; 16];
    let mut r = traces_of(vec![span(id, "", vec![])]);
    p.traces(&mut r);
    let rv = hash_randomness(&id, 7).rvalue();
    assert_eq!(
        r.resource_spans[0].scope_spans[0].spans[0].trace_state,
        format!("ot=rv:{rv};th:0")
    );
    // An arriving rv or th is an error in this mode (dropped: fail_closed).
    let mut r = traces_of(vec![span(id, "ot=th:8", vec![])]);
    p.traces(&mut r);
    assert!(r.resource_spans.is_empty());
}

#[tokio::test]
async fn sampled_out_items_are_counted_and_never_handed_on_empty() {
    use llamacol_api::outcome::Counters;
    use llamacol_api::Outcome;
    use llamacol_pipeline::telemetry::Telemetry;
    let telemetry = Telemetry::new();
    let counters: Arc<Counters> = telemetry.counters(llamacol_pipeline::telemetry::Scope {
        kind: llamacol_api::Kind::Processor,
        component: "probabilistic_sampler".into(),
        signal: Signal::Traces,
        pipeline: Some("traces".into()),
    });
    let capture = Arc::new(Capture::default());
    let value: serde_yaml::Value =
        serde_yaml::from_str("{mode: proportional, sampling_percentage: 50}").expect("yaml");
    let config =
        llamacol_api::config::parse_block::<ProbabilisticSamplerConfig>(&value).expect("config");
    let p = llamacol_api::stateless::processor(
        ProbabilisticSampler::new(
            &config,
            OutcomeCounter::new(counters.clone(), Outcome::SampledOut),
        ),
        capture.clone(),
    );
    let low = id_with_randomness(1);
    let high = id_with_randomness(0xf << 52);
    let batch = |spans| Batch::Traces(llamacol_api::Payload::from_message(traces_of(spans)));
    p.consume(batch(vec![span(low, "", vec![]), span(high, "", vec![])]))
        .await
        .expect("ok");
    p.consume(batch(vec![span(low, "", vec![])]))
        .await
        .expect("ok");
    assert_eq!(
        capture.batches().len(),
        1,
        "an emptied batch is not handed on"
    );
    assert_eq!(capture.batches()[0].items(), 1);
    assert_eq!(
        counters
            .sampled_out
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(
        counters.dropped.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "not a loss"
    );
}

fn logs(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn logs_sample_by_trace_id_attribute_or_priority() {
    let p = sampler("{mode: proportional, sampling_percentage: 50, sampling_priority: prio}");
    let record = |trace_id: [u8; 16], attributes: Vec<KeyValue>| LogRecord {
        trace_id: trace_id.to_vec(),
        attributes,
        ..Default::default()
    };
    let mut r = logs(vec![
        record(id_with_randomness(0xf << 52), vec![]),
        record(id_with_randomness(1), vec![]),
        record(id_with_randomness(1), vec![int("prio", 100)]),
        record(
            [0; 16],
            vec![string("sampling.randomness", "ffffffffffffff")],
        ),
    ]);
    p.logs(&mut r);
    let kept: Vec<Vec<(String, String)>> = r.resource_logs[0].scope_logs[0]
        .log_records
        .iter()
        .map(|l| {
            l.attributes
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map(value_string).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(
        kept[0],
        vec![("sampling.threshold".to_string(), "8".to_string())]
    );
    assert_eq!(
        kept[1][1],
        ("sampling.threshold".to_string(), "0".to_string()),
        "priority 100"
    );
    assert_eq!(
        kept[2][1],
        ("sampling.threshold".to_string(), "8".to_string()),
        "explicit randomness"
    );

    let hashed =
        sampler("{sampling_percentage: 100, attribute_source: record, from_attribute: id}");
    let mut r = logs(vec![record([0; 16], vec![string("id", "abc")])]);
    hashed.logs(&mut r);
    let attrs = &r.resource_logs[0].scope_logs[0].log_records[0].attributes;
    let rv = hash_randomness(b"abc", 0).rvalue();
    assert_eq!(attrs[1].value.as_ref().map(value_string), Some(rv));
    assert_eq!(
        attrs[2].value.as_ref().map(value_string),
        Some("0".to_string())
    );
}

#[test]
fn the_wire_path_decides_and_writes_as_the_decoded_path() {
    use prost::Message;
    let states = [
        "",
        "ot=th:8",
        "ot=rv:00112233445566",
        "vendor=1,ot=th:c;x:y",
        "ot=th:zz",
        "ot=rv:ffffffffffffff;th:4",
    ];
    let mut spans = Vec::new();
    let mut seed = 99u64;
    for i in 0..600 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut id = seed.to_be_bytes().to_vec();
        id.extend_from_slice(&seed.rotate_left(17).to_be_bytes());
        let mut trace_id = [0u8; 16];
        trace_id.copy_from_slice(&id);
        let attributes = match i % 7 {
            0 => vec![int("sampling.priority", 1)],
            1 => vec![string("sampling.priority", "0")],
            2 => vec![string("other", "x")],
            _ => vec![],
        };
        spans.push(span(trace_id, states[i % states.len()], attributes));
    }
    for yaml in [
        "{sampling_percentage: 30}",
        "{mode: proportional, sampling_percentage: 30}",
        "{mode: equalizing, sampling_percentage: 60, fail_closed: false}",
    ] {
        let p = sampler(yaml);
        let mut decoded = traces_of(spans.clone());
        p.traces(&mut decoded);
        let encoded = traces_of(spans.clone()).encode_to_vec();
        let sampled = wire::sample(&p.sampler, p.fail_closed, &encoded).expect("walks");
        let on_wire =
            ExportTraceServiceRequest::decode(sampled.bytes.as_ref()).expect("valid protobuf");
        assert_eq!(sampled.total, spans.len());
        let kept = |r: &ExportTraceServiceRequest| -> Vec<Span> {
            r.resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| ss.spans.clone())
                .collect()
        };
        assert_eq!(kept(&on_wire), kept(&decoded), "{yaml}");
        assert_eq!(sampled.kept, kept(&decoded).len());
        assert!(
            sampled.kept > 0 && sampled.kept < spans.len(),
            "{yaml}: a real sample"
        );
    }
}
