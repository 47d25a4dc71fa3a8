use super::*;

const PROM_237: &str =
    include_str!("../../../../testdata/prometheus/exposition/alltypes.237mfs.prom.txt");
const OM_PROMETHEUS: &str =
    include_str!("../../../../testdata/prometheus/exposition/prometheus.om1.txt");
const OM_5: &str = include_str!("../../../../testdata/prometheus/exposition/alltypes.5mfs.om.txt");

fn sample_count(families: &[Family]) -> usize {
    families.iter().map(|f| f.samples.len()).sum()
}

/// Prometheus' own parser fixtures: every `# TYPE` is one family, every sample line lands in
/// the family its `# TYPE` announced.
#[test]
fn prometheus_fixtures_parse_into_their_families() {
    for (body, format, families, samples) in [
        (PROM_237, Format::Text, 237, 1857),
        (OM_PROMETHEUS, Format::OpenMetrics, 265, 2531),
        (OM_5, Format::OpenMetrics, 5, 53),
    ] {
        let got = parse(body, format).expect("parses");
        assert_eq!(got.len(), families);
        assert_eq!(sample_count(&got), samples);
        assert!(
            got.iter().all(|f| f.kind != Kind::Unknown),
            "every family typed"
        );
    }
}

#[test]
fn openmetrics_counters_created_and_exemplars() {
    let got = parse(OM_5, Format::OpenMetrics).expect("parses");
    let errors = got
        .iter()
        .find(|f| f.name == "promhttp_metric_handler_errors")
        .expect("family");
    assert_eq!(errors.kind, Kind::Counter);
    let names: Vec<&str> = errors.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "promhttp_metric_handler_errors_total",
            "promhttp_metric_handler_errors_created",
            "promhttp_metric_handler_errors_total",
            "promhttp_metric_handler_errors_created"
        ]
    );
    assert_eq!(errors.samples[1].value, 1.726839813016397e9);
    let histogram = got
        .iter()
        .find(|f| f.name == "rpc_durations_histogram_seconds")
        .expect("histogram");
    let with_exemplar = histogram
        .samples
        .iter()
        .find(|s| s.exemplar.is_some())
        .expect("an exemplar");
    let e = with_exemplar.exemplar.as_ref().expect("exemplar");
    assert_eq!(e.labels, vec![("dummyID".to_string(), "17783".to_string())]);
    assert_eq!(e.value, -0.0003825067330956884);
    assert_eq!(e.timestamp_s, Some(1.7268398142239082e9));
}

#[test]
fn text_escapes_timestamps_and_untyped_samples() {
    let body = "# HELP a_total Line one\\nline \\\\two\n# TYPE a_total counter\na_total{path=\"/x\\\"y\\\\z\\n\"} 3 1700000000123\nplain_value -Inf\n";
    let got = parse(body, Format::Text).expect("parses");
    assert_eq!(got[0].help, "Line one\nline \\two");
    assert_eq!(got[0].samples[0].labels[0].1, "/x\"y\\z\n");
    assert_eq!(got[0].samples[0].timestamp_ms, Some(1_700_000_000_123));
    assert_eq!(
        (got[1].name.as_str(), got[1].kind, got[1].samples[0].value),
        ("plain_value", Kind::Unknown, f64::NEG_INFINITY)
    );
}

#[test]
fn malformed_bodies_name_the_line() {
    for (body, format, line, what) in [
        ("ok 1\nbad{a=1} 2\n", Format::Text, 2, "quoted"),
        ("ok 1\n9bad 1\n", Format::Text, 2, "invalid metric name"),
        ("a{x=\"1\",x=\"2\"} 1\n", Format::Text, 1, "twice"),
        ("a 1 2 3\n", Format::Text, 1, "unexpected"),
        ("a one\n", Format::Text, 1, "invalid number"),
        ("# TYPE a widget\n", Format::Text, 1, "unknown metric type"),
        ("a 1\n", Format::OpenMetrics, 1, "# EOF"),
        ("a 1\n# EOF\nb 2\n", Format::OpenMetrics, 3, "after"),
    ] {
        let e = parse(body, format).expect_err(body);
        assert_eq!(e.line, line, "{body:?}: {e}");
        assert!(e.what.contains(what), "{body:?}: {e}");
    }
}
