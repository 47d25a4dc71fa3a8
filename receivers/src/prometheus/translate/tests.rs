use super::*;
use crate::prometheus::parse::{parse, Format};
use llamacol_api::otlp::common::v1::{any_value, AnyValue};

const OM_5: &str = include_str!("../../../../testdata/prometheus/exposition/alltypes.5mfs.om.txt");

fn target() -> LabelSet {
    [
        ("job".to_string(), "node".to_string()),
        ("instance".to_string(), "gpu-7:9100".to_string()),
        ("rack".to_string(), "r1".to_string()),
    ]
    .into_iter()
    .collect()
}

const PLAIN: Options<'static> = Options {
    honor_labels: false,
    honor_timestamps: true,
    metric_relabel: &[],
    sample_limit: 0,
    label_limit: 0,
};

fn run(state: &mut TargetState, body: &str, format: Format, now_ns: u64) -> Translated {
    state
        .translate(
            parse(body, format).expect("parses"),
            &target(),
            &PLAIN,
            now_ns,
        )
        .expect("translates")
}

fn find<'a>(t: &'a Translated, name: &str) -> &'a Metric {
    t.metrics
        .iter()
        .map(|(_, m)| m)
        .find(|m| m.name == name)
        .unwrap_or_else(|| {
            panic!(
                "{name} in {:?}",
                t.metrics.iter().map(|(_, m)| &m.name).collect::<Vec<_>>()
            )
        })
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => Some(s.as_str()),
            _ => None,
        })
}

#[test]
fn prometheus_openmetrics_fixture_translates_every_type() {
    let mut state = TargetState::default();
    let t = run(
        &mut state,
        OM_5,
        Format::OpenMetrics,
        1_800_000_000_000_000_000,
    );
    assert_eq!(t.samples_scraped, 53);
    assert_eq!(t.samples_post_relabeling, 53);
    assert!(t.dropped.is_empty(), "{:?}", t.dropped);

    // OpenMetrics counter family `promhttp_metric_handler_errors`: a sum named as its
    // samples, each series started at its `_created`.
    let errors = find(&t, "promhttp_metric_handler_errors_total");
    let Some(metric::Data::Sum(sum)) = &errors.data else {
        panic!("sum: {errors:?}")
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.data_points.len(), 2);
    let encoding = sum
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "cause") == Some("encoding"))
        .expect("cause=encoding");
    assert_eq!(
        encoding.start_time_unix_nano,
        (1.726839813016397e9 * 1e9) as u64
    );
    assert_eq!(
        attr(&encoding.attributes, "rack"),
        Some("r1"),
        "target labels"
    );
    assert_eq!(
        attr(&encoding.attributes, "job"),
        None,
        "job goes to the resource"
    );

    let histogram = find(&t, "rpc_durations_histogram_seconds");
    let Some(metric::Data::Histogram(h)) = &histogram.data else {
        panic!("histogram")
    };
    let p = &h.data_points[0];
    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
    assert!(!p.exemplars.is_empty());
    assert!(matches!(
        find(&t, "go_build_info").data,
        Some(metric::Data::Gauge(_))
    ));
}

#[test]
fn counters_start_when_first_seen_and_again_after_a_reset_and_gone_series_go_stale() {
    let mut state = TargetState::default();
    let body = |v: u32, with_b: bool| {
        let mut s = format!("# TYPE reqs_total counter\nreqs_total{{path=\"/a\"}} {v}\n");
        if with_b {
            s.push_str("reqs_total{path=\"/b\"} 1\n");
        }
        s
    };
    let start_of = |t: &Translated, path: &str| {
        let Some(metric::Data::Sum(s)) = &find(t, "reqs_total").data else {
            panic!("sum")
        };
        s.data_points
            .iter()
            .find(|p| attr(&p.attributes, "path") == Some(path))
            .map(|p| p.start_time_unix_nano)
    };
    let first = run(&mut state, &body(10, true), Format::Text, 1_000);
    assert_eq!(
        (start_of(&first, "/a"), first.series_added),
        (Some(1_000), 2)
    );
    let second = run(&mut state, &body(15, true), Format::Text, 2_000);
    assert_eq!(
        (start_of(&second, "/a"), second.series_added),
        (Some(1_000), 0)
    );
    // A decrease is a reset: the series starts again at this point.
    let third = run(&mut state, &body(3, false), Format::Text, 3_000);
    assert_eq!(start_of(&third, "/a"), Some(3_000));
    let stale = state.stale(3_000, false);
    assert_eq!(stale.len(), 1, "only /b disappeared");
    let Some(metric::Data::Sum(s)) = &stale[0].1.data else {
        panic!("stale sum")
    };
    assert_eq!(attr(&s.data_points[0].attributes, "path"), Some("/b"));
    assert_eq!(s.data_points[0].flags, NO_RECORDED_VALUE);
    assert_eq!(s.data_points[0].time_unix_nano, 3_000);
    // The target dies: everything left goes stale.
    assert_eq!(state.stale(4_000, true).len(), 1);
}

#[test]
fn honor_labels_relabeling_and_limits() {
    let body = "up_like{job=\"scraped\",x=\"1\"} 1\nother{y=\"2\"} 2\n";
    let families = || parse(body, Format::Text).expect("parses");
    let mut state = TargetState::default();
    let t = state
        .translate(families(), &target(), &PLAIN, 1)
        .expect("ok");
    let m = find(&t, "up_like");
    let Some(metric::Data::Gauge(g)) = &m.data else {
        panic!("gauge")
    };
    assert_eq!(
        attr(&g.data_points[0].attributes, "exported_job"),
        Some("scraped")
    );

    let drop_other = Rule::compile(relabel::RuleConfig {
        source_labels: vec!["__name__".into()],
        regex: "other".into(),
        action: relabel::Action::Drop,
        ..relabel::RuleConfig::default()
    })
    .expect("rule");
    let rules = [drop_other];
    let options = Options {
        honor_labels: true,
        metric_relabel: &rules,
        sample_limit: 1,
        ..PLAIN
    };
    let t = state
        .translate(families(), &target(), &options, 2)
        .expect("ok");
    assert_eq!((t.samples_scraped, t.samples_post_relabeling), (2, 1));
    assert!(t.metrics.iter().all(|(_, m)| m.name != "other"));

    let strict = Options {
        sample_limit: 1,
        ..PLAIN
    };
    let e = state
        .translate(families(), &target(), &strict, 3)
        .expect_err("limit");
    assert!(e.contains("sample_limit 1"), "{e}");
    let labels = Options {
        label_limit: 2,
        ..PLAIN
    };
    let e = state
        .translate(families(), &target(), &labels, 4)
        .expect_err("limit");
    assert!(e.contains("label_limit 2"), "{e}");
}

#[test]
fn a_histogram_without_its_inf_bucket_is_dropped_alone() {
    let body = "# TYPE lat histogram\nlat_bucket{le=\"1\"} 2\nlat_sum 1\nlat_count 2\n# TYPE ok gauge\nok 1\n";
    let mut state = TargetState::default();
    let t = run(&mut state, body, Format::Text, 1);
    assert_eq!(
        t.dropped,
        vec![("lat".to_string(), "histogram without a `+Inf` bucket")]
    );
    assert!(t.metrics.iter().any(|(_, m)| m.name == "ok"));
}

#[test]
fn a_series_given_twice_keeps_its_first_sample() {
    let body = "# TYPE t gauge\nt{a=\"1\"} 5\nt{a=\"1\"} 7\nt{a=\"2\"} 9\n";
    let mut state = TargetState::default();
    let t = run(&mut state, body, Format::Text, 1);
    assert_eq!(
        t.dropped,
        vec![("t".to_string(), "the same series twice in one scrape")]
    );
    let Some(metric::Data::Gauge(g)) = &find(&t, "t").data else {
        panic!("gauge")
    };
    let first = g
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "a") == Some("1"))
        .expect("a=1");
    assert_eq!(first.value, Some(number_data_point::Value::AsDouble(5.0)));
    assert_eq!(g.data_points.len(), 2);
}

#[test]
fn target_info_becomes_resource_attributes_not_a_metric() {
    let body = "# TYPE target_info gauge\ntarget_info{job=\"node\",host_name=\"gpu-7\"} 1\n# TYPE g gauge\ng 1\n";
    let mut state = TargetState::default();
    let t = run(&mut state, body, Format::Text, 1);
    assert!(t.metrics.iter().all(|(_, m)| m.name != "target_info"));
    let (resource, attrs) = &t.target_info[0];
    assert_eq!(resource.0, "node");
    assert!(attrs.contains(&("host_name".to_string(), "gpu-7".to_string())));
}

fn native_family(count: f64, schema: i32) -> Family {
    use crate::prometheus::parse::NativeSample;
    Family {
        name: "h_seconds".into(),
        kind: Kind::Histogram,
        help: String::new(),
        unit: String::new(),
        samples: Vec::new(),
        native: vec![NativeSample {
            labels: vec![("code".into(), "200".into())],
            timestamp_ms: None,
            histogram: Native {
                schema,
                zero_threshold: 1e-9,
                zero_count: 2.0,
                count,
                sum: 1.5,
                positive: (-161, vec![1.0, 0.0, 3.0]),
                negative: (-162, vec![4.0]),
                gauge: false,
            },
            created_ns: Some(500),
            exemplars: Vec::new(),
        }],
    }
}

#[test]
fn native_histograms_become_exponential_histograms_that_start_and_go_stale() {
    let mut state = TargetState::default();
    let t = state
        .translate(vec![native_family(10.0, 3)], &target(), &PLAIN, 1_000)
        .expect("translates");
    assert_eq!(t.samples_scraped, 1, "a native histogram is one sample");
    let Some(metric::Data::ExponentialHistogram(h)) = &find(&t, "h_seconds").data else {
        panic!("an exponential histogram")
    };
    assert_eq!(
        h.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let p = &h.data_points[0];
    assert_eq!(
        (p.scale, p.count, p.zero_count, p.sum),
        (3, 10, 2, Some(1.5))
    );
    assert_eq!(p.zero_threshold, 1e-9);
    // Prometheus' bucket i is OTLP's i - 1.
    let positive = p.positive.as_ref().expect("positive");
    assert_eq!(
        (positive.offset, positive.bucket_counts.clone()),
        (-162, vec![1, 0, 3])
    );
    assert_eq!(p.negative.as_ref().map(|n| n.offset), Some(-163));
    assert_eq!(p.start_time_unix_nano, 500, "the created time");
    assert_eq!(attr(&p.attributes, "code"), Some("200"));

    // Gone from the next scrape: a stale marker in the same shape.
    state
        .translate(Vec::new(), &target(), &PLAIN, 2_000)
        .expect("translates");
    let stale = state.stale(2_000, false);
    let Some(metric::Data::ExponentialHistogram(h)) = &stale[0].1.data else {
        panic!("an exponential stale marker")
    };
    assert_eq!(h.data_points[0].flags, NO_RECORDED_VALUE);
}

#[test]
fn native_histograms_without_an_otlp_form_are_dropped_alone() {
    let mut state = TargetState::default();
    // Schema -53: Prometheus' custom buckets.
    let t = state
        .translate(vec![native_family(10.0, -53)], &target(), &PLAIN, 1_000)
        .expect("translates");
    assert!(t.metrics.is_empty());
    assert_eq!(t.dropped.len(), 1);
    assert!(t.dropped[0].1.contains("schema"), "{:?}", t.dropped);
}

#[test]
fn otel_scope_labels_place_a_series_in_its_scope() {
    let body = "# TYPE reqs_total counter\n\
        reqs_total{otel_scope_name=\"llm.app\",otel_scope_version=\"1.2.0\",otel_scope_team=\"inference\",code=\"200\"} 3\n\
        reqs_total{code=\"500\"} 1\n\
        otel_scope_info{otel_scope_name=\"llm.app\",otel_scope_version=\"1.2.0\",owner=\"infer\"} 1\n";
    let mut state = TargetState::default();
    let t = run(&mut state, body, Format::Text, 1_000);
    let scoped: Vec<&ScopeKey> = t.metrics.iter().map(|((_, scope), _)| scope).collect();
    assert_eq!(scoped.len(), 2, "one metric per scope");
    let app = scoped
        .iter()
        .find(|s| s.name == "llm.app")
        .expect("the llm.app scope");
    assert_eq!(app.version, "1.2.0");
    assert_eq!(
        app.attributes,
        vec![("team".to_string(), "inference".to_string())]
    );
    assert!(scoped.iter().any(|s| **s == ScopeKey::default()));
    for (_, m) in &t.metrics {
        let Some(metric::Data::Sum(s)) = &m.data else {
            panic!("a sum")
        };
        assert!(s.data_points[0]
            .attributes
            .iter()
            .all(|kv| !kv.key.starts_with("otel_scope_")));
    }
    // `otel_scope_info` gives that scope's attributes (with the target's labels, as the
    // Collector takes every label but job, instance and the scope's own); it is no metric.
    assert_eq!(t.scope_info.len(), 1);
    assert_eq!(t.scope_info[0].0 .1.name, "llm.app");
    let owner = ("owner".to_string(), "infer".to_string());
    let rack = ("rack".to_string(), "r1".to_string());
    assert_eq!(t.scope_info[0].1, vec![owner, rack]);
}
