use llamacol_api::Batch;
use llamacol_pipeline::testing::{sample_logs, sample_metrics, sample_traces};

use super::*;

#[test]
fn basic_prints_one_line_per_batch_without_decoding() {
    let bytes = prost::Message::encode_to_vec(&sample_traces(2, 3));
    let mut batch = Batch::from_bytes(Signal::Traces, bytes.into()).expect("valid");
    let text = render("debug", &mut batch, Verbosity::Basic).expect("render");
    assert_eq!(text, "debug: traces: 6 spans\n");
}

#[test]
fn normal_prints_one_line_per_item() {
    let mut batch = Batch::from(sample_traces(1, 2));
    let text = render("debug/x", &mut batch, Verbosity::Normal).expect("render");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[1],
        "  span span-0 trace_id=00000000000000000000000000000001 span_id=0000000000000001 duration=500.000ms status=0 gen_ai.request.model=llama-3"
    );
    let mut metrics = Batch::from(sample_metrics(1));
    let text = render("debug", &mut metrics, Verbosity::Normal).expect("render");
    assert!(text.contains("  sum tokens.0{} 2\n"), "{text}");
    assert!(
        text.contains("  histogram latency.0{} count=3 sum=1.5\n"),
        "{text}"
    );
    let mut logs = Batch::from(sample_logs(2));
    let text = render("debug", &mut logs, Verbosity::Normal).expect("render");
    assert!(text.ends_with("  log INFO log 1 \n"), "{text}");
}

#[test]
fn detailed_prints_the_whole_batch_as_otlp_json() {
    let mut batch = Batch::from(sample_logs(1));
    let text = render("debug", &mut batch, Verbosity::Detailed).expect("render");
    let json: serde_json::Value =
        serde_json::from_str(text.split_once('\n').map(|x| x.1).unwrap_or_default()).expect("json");
    assert_eq!(
        json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"]["stringValue"],
        "log 0"
    );
}

/// The Collector's sampling: per second, the first `sampling_initial` batches, then every
/// `sampling_thereafter`-th (the debugexporter testdata's 10 and 50).
#[test]
fn sampling_prints_the_first_batches_of_a_second_then_every_nth() {
    let mut s = super::Sampler {
        initial: 10,
        thereafter: 50,
        second: 0,
        seen: 0,
    };
    let printed: Vec<u64> = (1..=200).filter(|_| s.admit(7)).collect::<Vec<_>>();
    assert_eq!(printed.len(), 10 + 190 / 50);
    assert!(s.admit(8), "a new second starts over");
}

#[test]
fn the_logging_exporters_loglevel_becomes_a_verbosity() {
    use super::config::{LogLevel, LoggingConfig};
    let logging = LoggingConfig {
        loglevel: Some(LogLevel::Debug),
        sampling_initial: Some(5),
        sampling_thereafter: Some(200),
        ..LoggingConfig::default()
    };
    let debug = logging.as_debug();
    assert_eq!(debug.verbosity, Verbosity::Detailed);
    assert_eq!(
        (debug.sampling_initial, debug.sampling_thereafter),
        (5, 200)
    );
    let info = LoggingConfig {
        loglevel: Some(LogLevel::Info),
        ..LoggingConfig::default()
    };
    assert_eq!(info.as_debug().verbosity, Verbosity::Normal);
}
