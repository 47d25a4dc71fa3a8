use llamacol_api::config::{parse, ComponentConfig};
use llamacol_api::serde_yaml;

use super::config::{FilelogConfig, Multiline};
use super::decode::Decoder;
use super::operators::{Entry, OperatorConfig, Operators};
use super::split::Splitter;

fn splitter(start: Option<&str>, end: Option<&str>, omit: bool) -> Splitter {
    let config = FilelogConfig {
        multiline: Some(Multiline {
            line_start_pattern: start.map(str::to_string),
            line_end_pattern: end.map(str::to_string),
            omit_pattern: omit,
        }),
        // The split functions' own cases: no trimming.
        preserve_leading_whitespaces: true,
        preserve_trailing_whitespaces: true,
        ..FilelogConfig::default()
    };
    Splitter::new(&config, Decoder::Utf8)
}

/// Runs `s` over `input` as a reader would (the whole input read, at the file's end),
/// returning each token's (advance, text).
fn tokens(s: &Splitter, input: &str, flush: bool) -> Vec<(usize, String)> {
    let data = input.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    while let Some(t) = s.next(&data[pos..], true, flush) {
        if t.advance == 0 {
            break;
        }
        out.push((
            t.advance,
            String::from_utf8_lossy(&data[pos + t.start..pos + t.end]).into_owned(),
        ));
        pos += t.advance;
    }
    out
}

/// The Collector's own cases for its multiline split functions
/// (`pkg/stanza/split/split_test.go`, contrib v0.160.0: `TestLineStartSplitFunc` and
/// `TestLineEndSplitFunc`), each (name, pattern, omit, flush at EOF, input, expected
/// (advance, token)).
#[test]
fn multiline_splits_follow_the_collectors_cases() {
    type Case = (
        &'static str,
        &'static str,
        bool,
        bool,
        &'static str,
        Vec<(usize, &'static str)>,
    );
    let start: Vec<Case> = vec![
        ("OneLogSimple", r"LOGSTART \d+ ", false, false, "LOGSTART 123 log1LOGSTART 123 a", vec![(17, "LOGSTART 123 log1")]),
        ("OneLogSimpleOmitPattern", r"LOGSTART \d+ ", true, false, "LOGSTART 123 log1LOGSTART 123 a", vec![(17, "log1")]),
        ("TwoLogsSimple", r"LOGSTART \d+ ", false, false, "LOGSTART 123 log1 LOGSTART 234 log2 LOGSTART 345 foo", vec![(18, "LOGSTART 123 log1 "), (18, "LOGSTART 234 log2 ")]),
        ("TwoLogsSimpleOmitPattern", r"LOGSTART \d+ ", true, false, "LOGSTART 123 log1 LOGSTART 234 log2 LOGSTART 345 foo", vec![(18, "log1 "), (18, "log2 ")]),
        ("TwoLogsLineStart", r"^LOGSTART \d+ ", false, false, "LOGSTART 123 LOGSTART 345 log1\nLOGSTART 234 log2\nLOGSTART 345 foo", vec![(31, "LOGSTART 123 LOGSTART 345 log1\n"), (18, "LOGSTART 234 log2\n")]),
        ("TwoLogsLineStartOmitPattern", r"^LOGSTART \d+ ", true, false, "LOGSTART 123 LOGSTART 345 log1\nLOGSTART 234 log2\nLOGSTART 345 foo", vec![(31, "LOGSTART 345 log1\n"), (18, "log2\n")]),
        ("TwoLogsLineStartOmitPatternNoStringBeginningToken", r"LOGSTART \d+ ", true, false, "LOGSTART 123 LOGSTART 345 log1\nLOGSTART 234 log2\nLOGSTART 345 foo", vec![(31, "LOGSTART 345 log1\n"), (18, "log2\n")]),
        ("NoMatches", r"LOGSTART \d+ ", false, false, "file that has no matches in it", vec![]),
        ("PrecedingNonMatches", r"LOGSTART \d+ ", false, false, "part that doesn't match LOGSTART 123 part that matchesLOGSTART 123 foo", vec![(24, "part that doesn't match "), (30, "LOGSTART 123 part that matches")]),
        ("PrecedingNonMatchesOmitPattern", r"LOGSTART \d+ ", true, false, "part that doesn't match LOGSTART 123 part that matchesLOGSTART 123 foo", vec![(24, "part that doesn't match "), (30, "part that matches")]),
        ("MultipleMultilineLogs", r"^LOGSTART \d+ ", false, false, "LOGSTART 12 log1\t  \nLOGPART log1\nLOGPART log1\t   \nLOGSTART 17 log2\nLOGPART log2\nanother line\nLOGSTART 43 log5", vec![(50, "LOGSTART 12 log1\t  \nLOGPART log1\nLOGPART log1\t   \n"), (43, "LOGSTART 17 log2\nLOGPART log2\nanother line\n")]),
        ("FlushAtEOFNoMatch", r"^LOGSTART \d+ ", false, true, "LOGPART log1\nLOGPART log1\t   \n", vec![(30, "LOGPART log1\nLOGPART log1\t   \n")]),
        ("FlushAtEOFMatchThenNoMatch", r"^LOGSTART \d+ ", false, true, "LOGSTART 12 log1\t  \nLOGPART log1\nLOGPART log1\t   \nLOGSTART 17 log2\nLOGPART log2\nanother line", vec![(50, "LOGSTART 12 log1\t  \nLOGPART log1\nLOGPART log1\t   \n"), (42, "LOGSTART 17 log2\nLOGPART log2\nanother line")]),
    ];
    for (name, pattern, omit, flush, input, want) in start {
        let got = tokens(&splitter(Some(pattern), None, omit), input, flush);
        let want: Vec<(usize, String)> =
            want.into_iter().map(|(a, t)| (a, t.to_string())).collect();
        assert_eq!(got, want, "line_start {name}");
    }
    let end: Vec<Case> = vec![
        (
            "OneLogSimple",
            r"LOGEND \d+ ",
            false,
            false,
            "my log LOGEND 123 ",
            vec![(18, "my log LOGEND 123 ")],
        ),
        (
            "OneLogSimpleOmitPattern",
            r"LOGEND \d+ ",
            true,
            false,
            "my log LOGEND 123 ",
            vec![(18, "my log ")],
        ),
        (
            "TwoLogsSimple",
            r"LOGEND \d+ ",
            false,
            false,
            "log1 LOGEND 123 log2 LOGEND 234 ",
            vec![(16, "log1 LOGEND 123 "), (16, "log2 LOGEND 234 ")],
        ),
        (
            "TwoLogsSimpleOmitPattern",
            r"LOGEND \d+ ",
            true,
            false,
            "log1 LOGEND 123 log2 LOGEND 234 ",
            vec![(16, "log1 "), (16, "log2 ")],
        ),
        (
            "TwoLogsLineEndSimple",
            r"LOGEND$",
            false,
            false,
            "log1 LOGEND LOGEND\nlog2 LOGEND\n",
            vec![(18, "log1 LOGEND LOGEND"), (12, "\nlog2 LOGEND")],
        ),
        (
            "TwoLogsLineEndSimpleOmitPattern",
            r"LOGEND$",
            true,
            false,
            "log1 LOGEND LOGEND\nlog2 LOGEND\n",
            vec![(18, "log1 LOGEND "), (12, "\nlog2 ")],
        ),
        (
            "NoMatches",
            r"LOGEND \d+ ",
            false,
            false,
            "file that has no matches in it",
            vec![],
        ),
        (
            "NoMatchesOmitPattern",
            r"LOGEND \d+ ",
            true,
            false,
            "file that has no matches in it",
            vec![],
        ),
    ];
    for (name, pattern, omit, flush, input, want) in end {
        let got = tokens(&splitter(None, Some(pattern), omit), input, flush);
        let want: Vec<(usize, String)> =
            want.into_iter().map(|(a, t)| (a, t.to_string())).collect();
        assert_eq!(got, want, "line_end {name}");
    }
}

#[test]
fn lines_are_split_trimmed_and_cut_at_max_log_size() {
    let config = FilelogConfig {
        max_log_size: llamacol_api::config::ByteSize(8),
        ..FilelogConfig::default()
    };
    let s = Splitter::new(&config, Decoder::Utf8);
    let got: Vec<String> = tokens(&s, "  one  \r\ntwo\n0123456789abc\n\npartial", false)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        got,
        ["one", "two", "01234567", "89abc", ""],
        "CRLF and spaces trimmed, long line in pieces, the partial line waits"
    );
    let utf16: Vec<u8> = "a\nb\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let s = Splitter::new(
        &FilelogConfig::default(),
        Decoder::new("utf-16le").expect("known"),
    );
    let t = s.next(&utf16, true, false).expect("a line");
    assert_eq!(
        (t.start, t.end, t.advance),
        (0, 2, 4),
        "a UTF-16 line ends at its two-byte newline"
    );
}

fn operators(yaml: &str) -> Operators {
    let configs: Vec<OperatorConfig> = serde_yaml::from_str(yaml).expect("yaml");
    Operators::build(&configs).expect("builds")
}

fn run(ops: &Operators, body: &str) -> Entry {
    let mut entry = Entry {
        body: serde_json::Value::String(body.to_string()),
        ..Entry::default()
    };
    ops.apply(&mut entry, &mut |id, e| panic!("{id}: {e}"));
    entry
}

#[test]
fn parsers_fill_attributes_time_and_severity() {
    let ops = operators(
        r#"
- type: json_parser
  timestamp: {parse_from: attributes.ts, layout_type: epoch, layout: ms}
  severity: {parse_from: attributes.level}
- type: move
  from: attributes.msg
  to: body
- type: add
  field: resource["service.name"]
  value: llama-server
- type: remove
  field: attributes.ts
"#,
    );
    let e = run(
        &ops,
        r#"{"ts": 1733560000123, "level": "WARNING", "msg": "slot released", "n_ctx": 4096}"#,
    );
    assert_eq!(e.body, serde_json::json!("slot released"));
    assert_eq!(e.timestamp, Some(1_733_560_000_123_000_000));
    assert_eq!((e.severity, e.severity_text.as_str()), (13, "WARNING"));
    assert_eq!(
        e.attributes.get("n_ctx"),
        Some(&serde_json::json!(4096.0)),
        "a double, as the Collector's"
    );
    assert!(!e.attributes.contains_key("ts"));
    assert_eq!(
        e.resource.get("service.name"),
        Some(&serde_json::json!("llama-server"))
    );

    let ops = operators(
        r#"
- type: regex_parser
  regex: '^(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) (?P<sev>[A-Z]+) (?P<msg>.*)$'
  timestamp: {parse_from: attributes.time, layout: '%Y-%m-%dT%H:%M:%S.%LZ'}
  severity:
    parse_from: attributes.sev
    mapping: {error: [E, ERR]}
"#,
    );
    let e = run(&ops, "2024-12-07T08:15:30.250Z ERR request failed");
    assert_eq!(e.timestamp, Some(1_733_559_330_250_000_000));
    assert_eq!(e.severity, 17);
    assert_eq!(
        e.attributes.get("msg"),
        Some(&serde_json::json!("request failed"))
    );
}

#[test]
fn config_errors_name_the_place_and_the_fix() {
    let issues = |yaml: &str| -> String {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
        match parse::<FilelogConfig>(&value) {
            Ok(c) => c.validate(),
            Err(i) => i,
        }
        .iter()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect::<Vec<_>>()
        .join("\n")
    };
    assert!(issues("{}").contains("include: lists no file"));
    assert!(issues("{include: [a.log], encoding: klingon}").contains("unknown encoding `klingon`"));
    assert!(issues("{include: [a.log], fingerprint_size: 8}").contains("at least 16"));
    assert!(
        issues("{include: [a.log], multiline: {line_start_pattern: a, line_end_pattern: b}}")
            .contains("exactly one")
    );
    assert!(
        issues("{include: [a.log], operators: [{type: jsn_parser}]}").contains(
            "operators[0].type: unknown operator `jsn_parser` (did you mean `json_parser`?)"
        )
    );
    assert!(issues("{include: [a.log], operators: [{type: recombine}]}")
        .contains("not built in llamacol yet"));
    assert!(issues("{include: [a.log], operators: [{type: router}]}").contains("needs `routes`"));
    assert!(issues(
        "{include: [a.log], operators: [{type: add, field: body, value: 1, output: add}]}"
    )
    .contains("outputs must name a later operator"));
    assert!(
        issues("{include: [a.log], operators: [{type: json_parser, parse_form: body}]}")
            .contains("`parse_form` is not a key of `json_parser`")
    );
    assert!(issues("{include: [a.log], delete_after_read: true}").contains("start_at: beginning"));
    assert!(issues("{include: [a.log], fingerprint_size: 1kb, max_log_size: 2MiB}").is_empty());
}

/// Every line of the real llama-server's log (llama.cpp commit 0c1e570, the peer the
/// tests run; `testdata/llamacpp/server-log-0c1e570*.txt`) parses, and the timing lines
/// give their numbers.
#[test]
fn llamacpp_parser_reads_the_real_servers_log() {
    let ops = operators("- type: llamacpp_parser\n");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/llamacpp");
    let mut timings = Vec::new();
    for name in ["server-log-0c1e570.txt", "server-log-0c1e570-lv4.txt"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("capture");
        for line in text
            .lines()
            .filter(|l| l.as_bytes().first().is_some_and(u8::is_ascii_digit))
        {
            let mut entry = Entry {
                body: serde_json::Value::String(line.to_string()),
                ..Entry::default()
            };
            let mut failure = None;
            ops.apply(&mut entry, &mut |_, e| failure = Some(e));
            assert_eq!(failure, None, "{line}");
            assert!(entry.severity > 0, "{line}");
            if let Some(phase) = entry.attributes.get("llamacpp.timing.phase") {
                timings.push((
                    phase.as_str().unwrap_or_default().to_string(),
                    entry.attributes.get("llamacpp.slot.id").cloned(),
                    entry.attributes.get("llamacpp.task.id").cloned(),
                    entry.attributes.get("llamacpp.timing.tokens").cloned(),
                    entry
                        .attributes
                        .get("llamacpp.timing.tokens_per_second")
                        .cloned(),
                ));
            }
        }
    }
    assert_eq!(
        timings[..3],
        [
            (
                "prompt_eval".to_string(),
                Some(serde_json::json!(1)),
                Some(serde_json::json!(0)),
                Some(serde_json::json!(12)),
                Some(serde_json::json!(23391.81))
            ),
            (
                "eval".to_string(),
                Some(serde_json::json!(1)),
                Some(serde_json::json!(0)),
                Some(serde_json::json!(8)),
                Some(serde_json::json!(9222.66))
            ),
            (
                "total".to_string(),
                Some(serde_json::json!(1)),
                Some(serde_json::json!(0)),
                Some(serde_json::json!(20)),
                None
            ),
        ]
    );
    let e = run(&ops, "0.04.016.219 I slot      release: id  1 | task 0 | stop processing: n_tokens = 19, truncated = 0");
    assert_eq!(
        e.body,
        serde_json::json!("stop processing: n_tokens = 19, truncated = 0")
    );
    assert_eq!(
        e.attributes.get("llamacpp.slot.n_tokens"),
        Some(&serde_json::json!(19))
    );
    assert_eq!(
        e.attributes.get("llamacpp.log.elapsed_us"),
        Some(&serde_json::json!(4_016_219))
    );
    let w = run(
        &ops,
        "0.00.002.450 W srv  llama_server: security: no API key is set and CORS allows all origins",
    );
    assert_eq!(
        (w.severity, w.attributes.get("llamacpp.log.function")),
        (13, Some(&serde_json::json!("llama_server")))
    );
    // The formats of llama.cpp's server source (`print_timings`, `prompt processing`),
    // and the older builds' continuation lines without a prefix.
    let p = run(&ops, "1.02.345.678 I slot update_slots: id  0 | task 4 | prompt processing, n_tokens =   2049, progress = 0.25, t =   3.55 s / 577.18 tokens per second");
    assert_eq!(
        p.attributes.get("llamacpp.prompt.progress"),
        Some(&serde_json::json!(0.25))
    );
    let old = run(&ops, "prompt eval time =     990.30 ms /    33 tokens (   30.01 ms per token,    33.32 tokens per second)");
    assert_eq!(
        old.attributes.get("llamacpp.timing.tokens"),
        Some(&serde_json::json!(33))
    );
}

/// The examples of the Collector's `container` operator documentation
/// (`pkg/stanza/docs/operators/container.md`, contrib v0.160.0): Docker, CRI-O,
/// containerd, and a containerd line split in two partial lines.
#[test]
fn container_lines_follow_the_collectors_examples() {
    let ops = operators("- type: container\n");
    let path = "/var/log/pods/some_kube-controller-kind-control-plane_49cc7c1fd3702c40b2686ea7486091d6/kube-controller/1.log";
    let entry = |body: &str| {
        let mut e = Entry {
            body: serde_json::Value::String(body.to_string()),
            ..Entry::default()
        };
        e.attributes
            .insert("log.file.path".into(), serde_json::json!(path));
        e
    };
    let parse = |body: &str| -> Option<Entry> {
        let mut e = entry(body);
        ops.apply(&mut e, &mut |id, err| panic!("{id}: {err}"))
            .then_some(e)
    };
    let docker = parse(r#"{"log":"INFO: log line here","stream":"stdout","time":"2024-03-30T08:31:20.545192187Z"}"#).expect("a record");
    assert_eq!(docker.body, serde_json::json!("INFO: log line here"));
    assert_eq!(docker.timestamp, Some(1_711_787_480_545_192_187));
    assert_eq!(
        docker.attributes.get("log.iostream"),
        Some(&serde_json::json!("stdout"))
    );
    assert_eq!(
        docker.resource.get("k8s.pod.name"),
        Some(&serde_json::json!("kube-controller-kind-control-plane"))
    );
    assert_eq!(
        docker.resource.get("k8s.namespace.name"),
        Some(&serde_json::json!("some"))
    );
    assert_eq!(
        docker.resource.get("k8s.pod.uid"),
        Some(&serde_json::json!("49cc7c1fd3702c40b2686ea7486091d6"))
    );
    assert_eq!(
        docker.resource.get("k8s.container.name"),
        Some(&serde_json::json!("kube-controller"))
    );
    assert_eq!(
        docker.resource.get("k8s.container.restart_count"),
        Some(&serde_json::json!("1"))
    );

    let crio =
        parse("2024-04-13T07:59:37.505201169-05:00 stdout F standalone crio line which is awesome")
            .expect("a record");
    assert_eq!(
        crio.body,
        serde_json::json!("standalone crio line which is awesome")
    );
    assert_eq!(
        crio.timestamp,
        Some(1_713_013_177_505_201_169),
        "2024-04-13 12:59:37.505201169 UTC"
    );
    assert_eq!(crio.attributes.get("logtag"), Some(&serde_json::json!("F")));

    let containerd = parse(
        "2023-06-22T10:27:25.813799277Z stdout F standalone containerd line that is super awesome",
    )
    .expect("a record");
    assert_eq!(
        containerd.body,
        serde_json::json!("standalone containerd line that is super awesome")
    );

    assert!(
        parse("2023-06-22T10:27:25.813799277Z stdout P multiline containerd line that i").is_none(),
        "held"
    );
    let joined = parse("2023-06-22T10:27:25.813799277Z stdout F s super awesomne").expect("joined");
    assert_eq!(
        joined.body,
        serde_json::json!("multiline containerd line that is super awesomne")
    );
}

#[test]
fn routers_conditions_and_outputs_send_entries_down_their_branch() {
    // The shape of the Collector's router example (`pkg/stanza/docs/operators/router.md`):
    // JSON lines to a json_parser, the rest to a regex_parser, both ending at one operator.
    let ops = operators(
        r#"
- type: router
  routes:
    - output: parse_json
      expr: 'body matches "^\\{"'
      attributes: {format: json}
  default: parse_text
- id: parse_json
  type: json_parser
  output: tag
- id: parse_text
  type: regex_parser
  regex: '^(?P<level>\w+) (?P<msg>.*)$'
- id: tag
  type: add
  field: attributes.seen
  value: true
- type: add
  if: 'attributes.level == "ERROR" or attributes["format"] == "json" && not (attributes.msg startsWith "ok")'
  field: attributes.alert
  value: yes
"#,
    );
    let json = run(&ops, r#"{"msg": "slot released"}"#);
    assert_eq!(
        json.attributes.get("format"),
        Some(&serde_json::json!("json"))
    );
    assert_eq!(
        json.attributes.get("msg"),
        Some(&serde_json::json!("slot released"))
    );
    assert_eq!(
        json.attributes.get("alert"),
        Some(&serde_json::json!("yes"))
    );
    let text = run(&ops, "ERROR out of memory");
    assert_eq!(
        text.attributes.get("level"),
        Some(&serde_json::json!("ERROR"))
    );
    assert_eq!(
        text.attributes.get("alert"),
        Some(&serde_json::json!("yes"))
    );
    let fine = run(&ops, "INFO all good");
    assert!(!fine.attributes.contains_key("alert"));

    // No default: what no route takes is dropped, as the Collector's router does.
    let only_errors = operators("- type: router\n  routes: [{expr: 'body contains \"ERROR\"', output: keep}]\n- {id: keep, type: add, field: attributes.kept, value: 1}\n");
    let mut dropped = Entry {
        body: serde_json::json!("INFO fine"),
        ..Entry::default()
    };
    assert!(!only_errors.apply(&mut dropped, &mut |id, e| panic!("{id}: {e}")));

    let bad: Vec<OperatorConfig> = serde_yaml::from_str(
        "- {type: router, routes: [{expr: 'body == \"x\"', output: nowhere}]}\n",
    )
    .expect("yaml");
    assert!(Operators::build(&bad)
        .err()
        .is_some_and(|e| e.contains("`nowhere`, which is no operator's id")));
}
