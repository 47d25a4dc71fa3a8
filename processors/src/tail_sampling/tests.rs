//! Policies and the final rule on small traces, the bounds (traces, spans per trace,
//! bytes) deciding early, late spans following the decision, and shutdown deciding all.

use llamacol_api::attributes::{int, string};
use llamacol_api::otlp::trace::v1::{status::StatusCode, Span, Status};
use llamacol_api::Outcome;

use llamacol_pipeline::testing::traces_of;

use super::*;

fn config(yaml: &str) -> TailSamplingConfig {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    let c = llamacol_api::config::parse::<TailSamplingConfig>(&value).expect("parses");
    let issues = llamacol_api::config::ComponentConfig::validate(&c);
    assert!(issues.is_empty(), "{issues:?}");
    c
}

fn span(
    trace: u8,
    ms: u64,
    error: bool,
    attributes: Vec<llamacol_api::otlp::common::v1::KeyValue>,
) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![trace, 1, 2, 3, 4, 5, 6, 7],
        name: "s".into(),
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_000_000_000 + ms * 1_000_000,
        status: error.then(|| Status {
            code: StatusCode::Error as i32,
            ..Default::default()
        }),
        attributes,
        ..Default::default()
    }
}

/// Trace ids (first byte) of everything passed on.
fn kept(t: &mut TailSampler) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(Batch::Traces(p)) = t.ready() {
        let r = p.into_message().expect("decoded");
        for s in r
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            if !out.contains(&s.trace_id[0]) {
                out.push(s.trace_id[0]);
            }
        }
    }
    out.sort();
    out
}

const LLM_POLICIES: &str = r#"
decision_wait: 1s
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: slow, type: latency, latency: {threshold_ms: 5000}}
  - {name: big, type: numeric_attribute, numeric_attribute: {key: gen_ai.usage.output_tokens, min_value: 4000}}
  - name: prod-chat
    type: and
    and:
      and_sub_policy:
        - {name: env, type: string_attribute, string_attribute: {key: env, values: [prod]}}
        - {name: chat, type: string_attribute, string_attribute: {key: op, values: ["ch.*"], enabled_regex_matching: true}}
"#;

#[test]
fn policies_keep_errors_slow_expensive_and_matching_traces() {
    let mut t = TailSampler::new(&config(LLM_POLICIES), OutcomeCounter::default());
    let now = Instant::now();
    t.take(
        traces_of(vec![
            span(1, 10, true, vec![]),
            span(2, 6000, false, vec![]),
            span(3, 10, false, vec![int("gen_ai.usage.output_tokens", 5000)]),
            span(
                4,
                10,
                false,
                vec![string("env", "prod"), string("op", "chat")],
            ),
            span(
                5,
                10,
                false,
                vec![string("env", "prod"), string("op", "embed")],
            ),
            span(6, 10, false, vec![int("gen_ai.usage.output_tokens", 10)]),
            // A double is not an int for numeric_attribute (pdata's Int() is 0).
            span(
                7,
                10,
                false,
                vec![llamacol_api::attributes::double(
                    "gen_ai.usage.output_tokens",
                    9000.0,
                )],
            ),
        ]),
        now,
    )
    .expect("taken");
    assert!(kept(&mut t).is_empty(), "nothing before decision_wait");
    t.decide_due(now + Duration::from_millis(500));
    assert!(kept(&mut t).is_empty());
    t.decide_due(now + Duration::from_secs(1));
    assert_eq!(kept(&mut t), vec![1, 2, 3, 4]);
    // Late spans follow the decision.
    t.take(
        traces_of(vec![span(1, 1, false, vec![]), span(5, 1, true, vec![])]),
        now + Duration::from_secs(2),
    )
    .expect("taken");
    assert_eq!(
        kept(&mut t),
        vec![1],
        "trace 5 was not sampled: its late error span is not either"
    );
}

/// The boundaries of the Collector v0.161.0 (its own test cases in
/// `internal/sampling/latency_test.go`: "trace duration is equal to threshold" is not
/// sampled, "equal to lower bound" not, "equals upper bound" sampled; `numeric_tag_filter.go`
/// takes both bounds): a trace exactly at a threshold is decided as the Collector decides it.
#[test]
fn numeric_policies_decide_on_their_boundaries_as_the_collector_does() {
    // (policy, traces as (duration ms, attribute `n`), trace ids kept)
    type Case = (&'static str, Vec<(u64, i64)>, Vec<u8>);
    let cases: [Case; 3] = [
        (
            "{name: slow, type: latency, latency: {threshold_ms: 5000}}",
            vec![(4999, 0), (5000, 0), (5001, 0)],
            vec![3],
        ),
        (
            "{name: band, type: latency, latency: {threshold_ms: 5000, upper_threshold_ms: 6000}}",
            vec![(5000, 0), (5001, 0), (6000, 0), (6001, 0)],
            vec![2, 3],
        ),
        (
            "{name: tokens, type: numeric_attribute, numeric_attribute: {key: n, min_value: 4000, max_value: 5000}}",
            vec![(1, 3999), (1, 4000), (1, 5000), (1, 5001)],
            vec![2, 3],
        ),
    ];
    for (policy, traces, expected) in cases {
        let yaml = format!("{{decision_wait: 1s, policies: [{policy}]}}");
        let mut t = TailSampler::new(&config(&yaml), OutcomeCounter::default());
        let now = Instant::now();
        let spans = traces
            .iter()
            .enumerate()
            .map(|(i, (ms, n))| span(i as u8 + 1, *ms, false, vec![int("n", *n)]))
            .collect();
        t.take(traces_of(spans), now).expect("taken");
        t.decide_due(now + Duration::from_secs(1));
        assert_eq!(kept(&mut t), expected, "{policy}");
    }
}

/// The Collector accepts any `sampling_percentage`: 100 or more samples every trace, 0 or
/// less none.
#[test]
fn probabilistic_percentages_outside_0_to_100_are_accepted_and_clamped() {
    for (pct, expected) in [("150", (1..=20).collect::<Vec<u8>>()), ("-5", vec![])] {
        let yaml = format!(
            "{{decision_wait: 1s, policies: [{{name: p, type: probabilistic, probabilistic: {{sampling_percentage: {pct}}}}}]}}"
        );
        let mut t = TailSampler::new(&config(&yaml), OutcomeCounter::default());
        let now = Instant::now();
        let spans = (1..=20).map(|i| span(i, 1, false, vec![])).collect();
        t.take(traces_of(spans), now).expect("taken");
        t.decide_due(now + Duration::from_secs(1));
        assert_eq!(kept(&mut t), expected, "{pct}%");
    }
}

#[test]
fn a_leading_drop_policy_wins_over_any_sample() {
    let mut t = TailSampler::new(
        &config(
            r#"
policies:
  - name: no-health
    type: drop
    drop: {drop_sub_policy: [{name: health, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}
  - {name: all, type: always_sample}
"#,
        ),
        OutcomeCounter::default(),
    );
    t.take(
        traces_of(vec![
            span(1, 1, true, vec![string("http.route", "/health")]),
            span(2, 1, false, vec![]),
        ]),
        Instant::now(),
    )
    .expect("taken");
    t.closing();
    t.decide_due(Instant::now());
    assert_eq!(kept(&mut t), vec![2]);
}

fn counters() -> Arc<llamacol_api::outcome::Counters> {
    use llamacol_pipeline::telemetry::{Scope, Telemetry};
    Telemetry::new().counters(Scope {
        kind: llamacol_api::Kind::Processor,
        component: "tail_sampling".into(),
        signal: Signal::Traces,
        pipeline: Some("traces".into()),
    })
}

fn read(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::SeqCst)
}

/// The Collector's `trace_flags` policy: a trace with a span whose W3C `sampled` flag
/// (bit 0 of `flags`) is set; the other bits (e.g. 0x100, "has remote parent") do not.
#[test]
fn trace_flags_samples_traces_with_a_sampled_span() {
    let mut t = TailSampler::new(
        &config("{decision_wait: 1s, policies: [{name: f, type: trace_flags}]}"),
        OutcomeCounter::default(),
    );
    let flagged = |trace: u8, flags: u32| Span {
        flags,
        ..span(trace, 1, false, vec![])
    };
    let now = Instant::now();
    t.take(
        traces_of(vec![
            flagged(1, 0x01),
            flagged(2, 0x00),
            flagged(3, 0x101),
            flagged(4, 0x100),
        ]),
        now,
    )
    .expect("taken");
    t.decide_due(now + Duration::from_secs(1));
    assert_eq!(kept(&mut t), vec![1, 3]);
}

/// `maximum_trace_size_bytes`: a trace that grows past it is not sampled at once, whatever
/// the policies say, and so are its later spans; counted as decided early.
#[test]
fn a_trace_over_maximum_trace_size_bytes_is_not_sampled_at_once() {
    let counters = counters();
    let mut t = TailSampler::new(
        &config("{decision_wait: 1s, maximum_trace_size_bytes: 2KiB, policies: [{name: all, type: always_sample}]}"),
        OutcomeCounter::new(counters.clone(), Outcome::SampledOut),
    );
    let now = Instant::now();
    let big = |trace: u8| {
        span(
            trace,
            1,
            false,
            vec![string("gen_ai.prompt", &"p".repeat(1_500))],
        )
    };
    t.take(traces_of(vec![big(1), span(2, 1, false, vec![])]), now)
        .expect("taken");
    t.take(traces_of(vec![big(1)]), now).expect("taken");
    assert_eq!(
        (read(&counters.sampled_out), read(&counters.decided_early)),
        (2, 2)
    );
    t.take(traces_of(vec![span(1, 1, false, vec![])]), now)
        .expect("late span");
    t.decide_due(now + Duration::from_secs(1));
    assert_eq!(
        kept(&mut t),
        vec![2],
        "trace 1 is not sampled, late span included"
    );
    assert_eq!(read(&counters.sampled_out), 3);
}

/// `drop_pending_traces_on_shutdown`: what still waits for its decision at shutdown is
/// dropped and counted, not decided.
#[test]
fn pending_traces_are_dropped_at_shutdown_when_asked() {
    for (drop, kept_at_shutdown, dropped) in [(true, vec![], 2), (false, vec![1, 2], 0)] {
        let counters = counters();
        let mut t = TailSampler::new(
            &config(&format!("{{drop_pending_traces_on_shutdown: {drop}, policies: [{{name: all, type: always_sample}}]}}")),
            OutcomeCounter::new(counters.clone(), Outcome::SampledOut),
        );
        t.dropped = OutcomeCounter::new(counters.clone(), Outcome::Dropped);
        t.take(
            traces_of(vec![span(1, 1, false, vec![]), span(2, 1, false, vec![])]),
            Instant::now(),
        )
        .expect("taken");
        t.closing();
        t.decide_due(Instant::now());
        assert_eq!(kept(&mut t), kept_at_shutdown, "drop: {drop}");
        assert_eq!(read(&counters.dropped), dropped);
        assert_eq!(t.items(), 0);
    }
}

/// `decision_wait_after_root_received`: a trace whose root span arrived is decided that
/// long after it, sooner than `decision_wait`; one without waits the whole time.
#[test]
fn a_root_span_brings_the_decision_forward() {
    let mut t = TailSampler::new(
        &config("{decision_wait: 10s, decision_wait_after_root_received: 1s, policies: [{name: all, type: always_sample}]}"),
        OutcomeCounter::default(),
    );
    let child = |trace: u8| Span {
        parent_span_id: vec![9; 8],
        ..span(trace, 1, false, vec![])
    };
    let now = Instant::now();
    t.take(traces_of(vec![child(1), child(2)]), now)
        .expect("taken");
    assert_eq!(t.deadline(), Some(now + Duration::from_secs(10)));
    t.take(
        traces_of(vec![span(1, 1, false, vec![])]),
        now + Duration::from_secs(2),
    )
    .expect("the root of trace 1");
    assert_eq!(t.deadline(), Some(now + Duration::from_secs(3)));
    t.decide_due(now + Duration::from_secs(3));
    assert_eq!(kept(&mut t), vec![1], "decided 1s after its root");
    assert_eq!(t.deadline(), Some(now + Duration::from_secs(10)));
    t.decide_due(now + Duration::from_secs(10));
    assert_eq!(kept(&mut t), vec![2]);
    assert_eq!(t.deadline(), None);
}

#[test]
fn bounds_decide_the_oldest_early_and_count_it() {
    use llamacol_api::outcome::Counters;
    use llamacol_api::Outcome;
    use llamacol_pipeline::telemetry::{Scope, Telemetry};
    let telemetry = Telemetry::new();
    let counters: Arc<Counters> = telemetry.counters(Scope {
        kind: llamacol_api::Kind::Processor,
        component: "tail_sampling".into(),
        signal: Signal::Traces,
        pipeline: Some("traces".into()),
    });
    let mut t = TailSampler::new(
        &config("{num_traces: 2, max_spans_per_trace: 3, policies: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}]}"),
        OutcomeCounter::new(counters.clone(), Outcome::SampledOut),
    );
    let now = Instant::now();
    t.take(traces_of(vec![span(1, 1, true, vec![])]), now)
        .expect("taken");
    t.take(traces_of(vec![span(2, 1, false, vec![])]), now)
        .expect("taken");
    // A third trace: the oldest (1, an error) is decided at once and kept.
    t.take(traces_of(vec![span(3, 1, false, vec![])]), now)
        .expect("taken");
    assert_eq!(kept(&mut t), vec![1]);
    // Trace 3 reaches 3 spans: decided (not sampled) without waiting.
    t.take(
        traces_of(vec![span(3, 1, false, vec![]), span(3, 1, false, vec![])]),
        now,
    )
    .expect("taken");
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        load(&counters.decided_early),
        1 + 3,
        "trace 1 (1 span) and trace 3 (3 spans)"
    );
    assert_eq!(load(&counters.sampled_out), 3);
    assert_eq!(t.held.len(), 1, "only trace 2 is still held");
    // Shutdown decides what is left.
    t.closing();
    t.decide_due(now);
    assert_eq!(load(&counters.sampled_out), 4);
    assert_eq!(t.items(), 0);
}

/// The Collector's own `ottl_condition` example (`tailsamplingprocessor` README,
/// v0.161.0: `test-policy-11`): span conditions or span-event conditions, any match
/// samples the trace.
#[test]
fn ottl_condition_samples_traces_with_a_matching_span_or_event() {
    let yaml = r#"
decision_wait: 1s
policies:
  - name: test-policy-11
    type: ottl_condition
    ottl_condition:
      error_mode: ignore
      span:
        - attributes["test_attr_key_1"] == "test_attr_val_1"
        - attributes["test_attr_key_2"] != "test_attr_val_1"
      spanevent:
        - name != "test_span_event_name"
        - attributes["test_event_attr_key_2"] != "test_event_attr_val_1"
"#;
    let mut t = TailSampler::new(&config(yaml), OutcomeCounter::default());
    let now = Instant::now();
    let mut with_event = span(
        3,
        10,
        false,
        vec![string("test_attr_key_2", "test_attr_val_1")],
    );
    with_event
        .events
        .push(llamacol_api::otlp::trace::v1::span::Event {
            name: "another_event".into(),
            ..Default::default()
        });
    t.take(
        traces_of(vec![
            span(
                1,
                10,
                false,
                vec![
                    string("test_attr_key_1", "test_attr_val_1"),
                    string("test_attr_key_2", "test_attr_val_1"),
                ],
            ),
            span(
                2,
                10,
                false,
                vec![string("test_attr_key_2", "test_attr_val_1")],
            ),
            with_event,
        ]),
        now,
    )
    .expect("taken");
    t.decide_due(now + Duration::from_secs(1));
    assert_eq!(kept(&mut t), vec![1, 3]);
}

#[test]
fn config_mistakes_are_named() {
    let issues = |yaml: &str| -> Vec<String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
        let c = llamacol_api::config::parse::<TailSamplingConfig>(&value).expect("parses");
        llamacol_api::config::ComponentConfig::validate(&c)
            .into_iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect()
    };
    let cases = [
        ("{policies: [{name: a, type: status_cod}]}", "policies[0].type: unknown policy type `status_cod` (did you mean `status_code`?)"),
        ("{policies: [{name: a, type: status_code, status_code: {status_codes: [BAD]}}]}", "unknown status code `BAD`"),
        ("{policies: [{name: a, type: numeric_attribute, numeric_attribute: {key: k}}]}", "give `min_value`, `max_value` or both"),
        ("{policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]}", "policy name `a` is used twice"),
        ("{policies: [{name: a, type: and, and: {and_sub_policy: [{name: b, type: composite}]}}]}", "policies[0].and.and_sub_policy[0].type: unknown policy type `composite`"),
        ("{}", "no policies"),
        ("{policies: [{name: a, type: ottl_condition, ottl_condition: {span: ['attributes[\"a\"] = 1']}}]}", "policies[0].ottl_condition.span[0]: unable to parse OTTL condition"),
        ("{policies: [{name: a, type: ottl_condition}]}", "give `span` or `spanevent` conditions"),
    ];
    for (yaml, expected) in cases {
        let found = issues(yaml);
        assert!(
            found.iter().any(|i| i.contains(expected)),
            "{yaml}: {found:?}"
        );
    }
}

/// Holding spans per trace copies each trace's resource: a request with a 1 MiB resource
/// on 1,100 traces is refused before anything is held (the stateful processor counts its
/// spans as dropped), not turned into 1.1 GiB of copies.
#[test]
fn a_large_resource_on_very_many_traces_is_refused_before_anything_is_held() {
    let mut t = TailSampler::new(&config(LLM_POLICIES), OutcomeCounter::default());
    let mut request = traces_of(
        (0..1_100u16)
            .map(|n| span(n as u8, 1, false, vec![]))
            .collect(),
    );
    for (n, s) in request.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        s.trace_id = (n as u32).to_be_bytes().repeat(4);
    }
    request.resource_spans[0]
        .resource
        .get_or_insert_with(Default::default)
        .attributes
        .push(string("big", &"x".repeat(1 << 20)));
    let error = t.take(request, Instant::now()).expect_err("refused");
    assert!(
        error.to_string().contains("repeated on every group"),
        "{error}"
    );
    assert_eq!(t.items(), 0);
}

/// Span counts of what the processor passed on.
fn captured_spans(capture: &llamacol_pipeline::testing::Capture) -> usize {
    capture.batches().iter().map(Batch::items).sum()
}

/// `block_on_overflow`: at `num_traces`, no trace is decided early to make room; the
/// third trace waits in the inbox until the first two are decided at their deadline.
/// Without it, the third trace makes the oldest be decided at once.
#[tokio::test(start_paused = true)]
async fn block_on_overflow_waits_for_room_instead_of_deciding_early() {
    // (block, passed on before the first deadline, by 1.5 s)
    for (block, passed_before_deadline, by_1_5s) in [(true, 0, 2), (false, 1, 3)] {
        let capture = Arc::new(llamacol_pipeline::testing::Capture::default());
        let yaml = format!("{{num_traces: 2, decision_wait: 1s, block_on_overflow: {block}, policies: [{{name: all, type: always_sample}}]}}");
        let block_value: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("yaml");
        let ctx = BuildContext::new(
            llamacol_api::ComponentId::parse("tail_sampling").expect("id"),
            vec![Signal::Traces],
        );
        let p = build(&ctx, &block_value, capture.clone()).expect("build");
        p.start().await.expect("start");
        for trace in 1..=3 {
            p.consume(Batch::from(traces_of(vec![span(trace, 1, false, vec![])])))
                .await
                .expect("accepted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            captured_spans(&capture),
            passed_before_deadline,
            "block: {block}"
        );
        // Blocking, the third trace was taken in only once the first two were decided,
        // so its own wait started then.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(captured_spans(&capture), by_1_5s, "block: {block}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            captured_spans(&capture),
            3,
            "block: {block}: all decided in the end"
        );
        p.shutdown().await.expect("shutdown");
    }
}

/// `sampling_strategy: span-ingest` (the Collector's `makeDecisionOnSpanIngest`): each
/// arriving piece is judged alone; a sample releases what was held of the trace at once
/// (no `decision_wait`), a trace no piece decided is not sampled when its wait is over,
/// without a whole-trace evaluation (so a latency only the whole trace shows is missed).
#[test]
fn span_ingest_decides_each_piece_as_it_comes() {
    let policies = "{decision_wait: 10s, sampling_strategy: span-ingest, policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}, {name: slow, type: latency, latency: {threshold_ms: 5000}}]}";
    let counter = counters();
    let mut t = TailSampler::new(
        &config(policies),
        OutcomeCounter::new(counter.clone(), Outcome::SampledOut),
    );
    let now = Instant::now();
    // Trace 1: a quiet piece, then an error: sampled on the error's arrival, both pieces out.
    t.take(traces_of(vec![span(1, 10, false, vec![])]), now)
        .expect("taken");
    assert!(kept(&mut t).is_empty(), "pending");
    t.take(traces_of(vec![span(1, 10, true, vec![])]), now)
        .expect("taken");
    let out = {
        let mut n = 0;
        while let Some(b) = t.ready() {
            n += b.items();
        }
        n
    };
    assert_eq!(out, 2, "the held piece and the error, before decision_wait");
    // Trace 2: two pieces 4s apart in time, each short; only the whole trace is slow.
    let early = Span {
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 2_000_000_000,
        ..span(2, 0, false, vec![])
    };
    let late = Span {
        start_time_unix_nano: 6_000_000_000,
        end_time_unix_nano: 7_000_000_000,
        ..span(2, 0, false, vec![])
    };
    t.take(traces_of(vec![early.clone()]), now).expect("taken");
    t.take(traces_of(vec![late.clone()]), now).expect("taken");
    t.decide_due(now + Duration::from_secs(10));
    assert!(
        kept(&mut t).is_empty(),
        "not sampled at the end of its wait"
    );
    assert_eq!(read(&counter.sampled_out), 2);

    // The same trace under `trace-complete` is slow as a whole: sampled.
    let mut whole = TailSampler::new(
        &config(&policies.replace("span-ingest", "trace-complete")),
        OutcomeCounter::default(),
    );
    whole.take(traces_of(vec![early]), now).expect("taken");
    whole.take(traces_of(vec![late]), now).expect("taken");
    whole.decide_due(now + Duration::from_secs(10));
    assert_eq!(kept(&mut whole), vec![2]);
}

/// A `drop` policy that does not match a piece may still match a later one, so no other
/// policy samples the trace on that piece; one that matches drops it at once.
#[test]
fn span_ingest_waits_on_an_unmatched_drop_policy_and_drops_on_a_match() {
    let mut t = TailSampler::new(
        &config("{decision_wait: 10s, sampling_strategy: span-ingest, policies: [{name: all, type: always_sample}, {name: no-health, type: drop, drop: {drop_sub_policy: [{name: health, type: string_attribute, string_attribute: {key: http.route, values: [/healthz]}}]}}]}"),
        OutcomeCounter::default(),
    );
    let now = Instant::now();
    t.take(traces_of(vec![span(1, 1, false, vec![])]), now)
        .expect("taken");
    assert!(
        kept(&mut t).is_empty(),
        "always_sample waits behind the drop policy"
    );
    t.take(
        traces_of(vec![span(
            1,
            1,
            false,
            vec![string("http.route", "/healthz")],
        )]),
        now,
    )
    .expect("taken");
    t.take(traces_of(vec![span(1, 1, true, vec![])]), now)
        .expect("a late span");
    t.decide_due(now + Duration::from_secs(10));
    assert!(
        kept(&mut t).is_empty(),
        "dropped on the match, late spans follow"
    );
}

#[test]
fn span_ingest_refuses_stateful_policies() {
    let value: serde_yaml::Value = serde_yaml::from_str(
        "{sampling_strategy: span-ingest, policies: [{name: rate, type: rate_limiting, rate_limiting: {spans_per_second: 100}}, {name: few, type: span_count, span_count: {min_spans: 2}}]}",
    )
    .expect("yaml");
    let c = llamacol_api::config::parse::<TailSamplingConfig>(&value).expect("parses");
    let issues: Vec<String> = llamacol_api::config::ComponentConfig::validate(&c)
        .into_iter()
        .map(|i| i.path)
        .collect();
    assert_eq!(
        issues,
        ["policies[0]"],
        "a span count without max_spans is stateless"
    );
}

/// The wire split groups as the decoded split (`split::spans_by`): per resource block, one
/// piece per trace in arrival order, each scope block's spans of a trace together, the
/// resource and scope fields copied; root spans found when asked.
#[test]
fn the_wire_split_gives_the_decoded_split_pieces() {
    use llamacol_api::otlp::common::v1::InstrumentationScope;
    use llamacol_api::otlp::resource::v1::Resource;
    use llamacol_api::otlp::trace::v1::ScopeSpans;
    let scope = |name: &str, spans: Vec<Span>| ScopeSpans {
        scope: Some(InstrumentationScope {
            name: name.into(),
            ..Default::default()
        }),
        spans,
        schema_url: format!("https://example.com/{name}"),
    };
    let mut child = span(2, 1, false, vec![]);
    child.parent_span_id = vec![9; 8];
    let request = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string("service.name", "chat")],
                    ..Default::default()
                }),
                scope_spans: vec![
                    scope(
                        "a",
                        vec![
                            span(1, 1, false, vec![]),
                            child.clone(),
                            span(1, 2, true, vec![]),
                        ],
                    ),
                    scope(
                        "b",
                        vec![span(3, 1, false, vec![int("n", 1)]), child.clone()],
                    ),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            },
            ResourceSpans {
                resource: None,
                scope_spans: vec![scope("c", vec![span(1, 5, false, vec![])])],
                ..Default::default()
            },
        ],
    };
    let bytes = request.encode_to_vec();
    let pieces = llamacol_api::wire::split_by_trace(&bytes, true).expect("splits");
    let expected = llamacol_api::split::spans_by(request, |_, s| {
        llamacol_api::split::trace_id_of(&s.trace_id)
    })
    .expect("within");
    assert_eq!(pieces.len(), expected.len());
    for (piece, (id, rs, spans)) in pieces.iter().zip(&expected) {
        assert_eq!((piece.id, piece.spans), (*id, *spans));
        assert_eq!(
            &ResourceSpans::decode(piece.body.clone()).expect("decodes"),
            rs
        );
        assert_eq!(
            piece.root,
            piece.id != [2; 16],
            "trace 2 has only a child span"
        );
    }
}

/// What is held is the encoding: the bytes counted against `max_bytes` are the pieces'
/// encoded size, and kept traces leave as those bytes, unchanged.
#[test]
fn held_traces_are_their_bytes_and_leave_unchanged() {
    let mut t = TailSampler::new(
        &config("{decision_wait: 1s, policies: [{name: all, type: always_sample}]}"),
        OutcomeCounter::default(),
    );
    let now = Instant::now();
    let request = traces_of(vec![
        span(
            1,
            1,
            false,
            vec![string("gen_ai.prompt", &"p".repeat(4000))],
        ),
        span(2, 1, false, vec![]),
    ]);
    let bytes = request.encode_to_vec();
    t.take(request.clone(), now).expect("taken");
    let held: usize = t
        .held
        .values()
        .flat_map(|h| &h.pieces)
        .map(|p| p.len())
        .sum();
    assert!(
        held <= bytes.len() && t.held_bytes <= bytes.len() + 16,
        "held {held} bytes ({} counted) of a {}-byte request",
        t.held_bytes,
        bytes.len()
    );
    t.decide_due(now + Duration::from_secs(2));
    let Some(Batch::Traces(mut out)) = t.ready() else {
        panic!("kept");
    };
    assert!(out.decoded().is_none(), "passed on encoded");
    let split = |r: ExportTraceServiceRequest| {
        llamacol_api::split::spans_by(r, |_, s| llamacol_api::split::trace_id_of(&s.trace_id))
            .expect("within")
    };
    assert_eq!(
        split(out.message().expect("decodes").clone()),
        split(request),
        "the same spans, resources and scopes"
    );
}

/// The wire split on damaged bytes (every byte set to 0x00, 0x80 and 0xff in turn, every
/// truncation) never panics, and pieces of bytes the receivers would accept decode.
#[test]
fn the_wire_split_of_damaged_requests_never_panics() {
    let bytes = traces_of(vec![
        span(1, 1, false, vec![string("a", "b")]),
        span(2, 1, true, vec![int("n", 3)]),
    ])
    .encode_to_vec();
    let damaged = llamacol_api::testing::damaged(&bytes);
    for d in &damaged {
        let accepted = llamacol_api::wire::count_items(Signal::Traces, d).is_ok();
        if let (true, Ok(pieces)) = (accepted, llamacol_api::wire::split_by_trace(d, true)) {
            for piece in pieces {
                assert!(ResourceSpans::decode(piece.body).is_ok());
            }
        }
    }
}

/// Without OTTL conditions the policies get the span fields they read and the attributes
/// they name, the rest skipped; with them, everything.
#[test]
fn policies_read_only_what_they_need_of_held_bytes() {
    let mut full = span(1, 7, true, vec![string("keep", "x"), string("other", "y")]);
    full.trace_state = "ot=th:8".into();
    full.flags = 0x101;
    full.events.push(Default::default());
    let request = traces_of(vec![full.clone()]);
    let piece = llamacol_api::wire::split_by_trace(&request.encode_to_vec(), false)
        .expect("splits")
        .remove(0)
        .body;
    let needs = Needs {
        everything: false,
        keys: ["keep".to_string()].into(),
    };
    let light = wire::for_policies(&piece, &needs).expect("reads");
    let s = &light.scope_spans[0].spans[0];
    assert_eq!(
        (
            &s.trace_id,
            s.start_time_unix_nano,
            s.end_time_unix_nano,
            &s.status,
            s.flags,
            s.trace_state.as_str()
        ),
        (
            &full.trace_id,
            full.start_time_unix_nano,
            full.end_time_unix_nano,
            &full.status,
            full.flags,
            full.trace_state.as_str()
        )
    );
    assert_eq!(s.attributes, vec![string("keep", "x")]);
    assert!(s.name.is_empty() && s.events.is_empty(), "not read");
    let everything = Needs {
        everything: true,
        ..Needs::default()
    };
    let whole = wire::for_policies(&piece, &everything).expect("reads");
    assert_eq!(whole.scope_spans[0].spans[0], full);
}
