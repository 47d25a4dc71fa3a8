//! `loadgen filelog`: reading and parsing logs. A llama-server-shaped log of `megabytes`
//! is written twice, as JSON lines (the fields of llama.cpp's former `--log-format json`
//! server log) parsed by `json_parser`, and as the real server's text lines (cycled from
//! `testdata/llamacpp/server-log-0c1e570.txt` with varying slot and task ids) parsed by
//! `regex_parser`; llamacol's `filelog` and the real Collector's read each from its start
//! on the same core, one after the other, into the counting sink. Lines per second per
//! CPU second, counted at the sink, and peak RSS.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::bench::{received_count, start_collector, start_sink, Options, Which, COLLECTOR_CPU};
use crate::cpu::{process_seconds, status_mib};

fn write_json(path: &std::path::Path, bytes: u64) -> anyhow::Result<u64> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let (mut written, mut lines) = (0u64, 0u64);
    while written < bytes {
        let task = lines;
        let line = format!(
            r#"{{"tid":"140234","timestamp":{},"level":"INFO","function":"print_timings","line":327,"msg":"prompt eval time = {:.2} ms / {} tokens","id_slot":{},"id_task":{task},"t_prompt_processing":{:.3},"n_prompt_tokens_processed":{},"t_token":{:.3},"n_tokens_second":{:.2}}}"#,
            1_733_560_000 + lines / 100,
            12.5 + (lines % 97) as f64,
            64 + lines % 512,
            lines % 4,
            12.5 + (lines % 97) as f64,
            64 + lines % 512,
            0.19 + (lines % 13) as f64 / 100.0,
            5120.0 + (lines % 1000) as f64,
        );
        writeln!(f, "{line}")?;
        written += line.len() as u64 + 1;
        lines += 1;
    }
    f.flush()?;
    Ok(lines)
}

fn write_text(path: &std::path::Path, bytes: u64) -> anyhow::Result<u64> {
    let capture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/llamacpp/server-log-0c1e570.txt");
    let source: Vec<String> = std::fs::read_to_string(capture)?
        .lines()
        .filter(|l| l.as_bytes().first().is_some_and(u8::is_ascii_digit))
        .map(str::to_string)
        .collect();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let (mut written, mut lines) = (0u64, 0u64);
    while written < bytes {
        let base = &source[(lines as usize) % source.len()];
        let line = base
            .replace("task 0 |", &format!("task {} |", lines / 8))
            .replace("id  1 |", &format!("id  {} |", lines % 4));
        writeln!(f, "{line}")?;
        written += line.len() as u64 + 1;
        lines += 1;
    }
    f.flush()?;
    Ok(lines)
}

// The table is this command's output.
#[allow(clippy::print_stdout)]
pub async fn run(opts: &Options, megabytes: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let bytes = megabytes * 1024 * 1024;
    let json = opts.work_dir.join("filelog-bench.json.log");
    let text = opts.work_dir.join("filelog-bench.text.log");
    let json_lines = write_json(&json, bytes)?;
    let text_lines = write_text(&text, bytes)?;
    println!("{megabytes} MiB per file, read from the start, one collector at a time on core {COLLECTOR_CPU}; lines counted at the sink");
    println!();
    println!("| collector | file, parser | lines delivered | wall s | CPU s | lines read per CPU second | lines delivered per CPU second | peak RSS MiB |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let files = [
        ("JSON, json_parser", &json, json_lines, "filelog-json.yaml"),
        (
            "text, regex_parser",
            &text,
            text_lines,
            "filelog-regex.yaml",
        ),
    ];
    for (label, file, lines, config) in files {
        let mut runs = vec![(Which::Llamacol, "llamacol", configs.join(config))];
        if opts.otelcol.is_some() {
            let otelcol = configs.join("otelcol");
            runs.push((
                Which::Otelcol,
                "otelcol 0.161.0 (filelog 0.160.0)",
                otelcol.join(config),
            ));
            // Its documented remedy for refused batches, not its default.
            let retry = config.replace(".yaml", "-retry.yaml");
            runs.push((
                Which::Otelcol,
                "otelcol, `retry_on_failure: {enabled: true}`",
                otelcol.join(retry),
            ));
        }
        for (which, who, config) in runs {
            let name = format!(
                "filelog-{}-{}",
                which as u8,
                config
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            let (mut sink, sink_port, count_file) =
                start_sink(opts, "0ms", 1000, &format!("{name}-sink"), 0)?;
            let env = [
                ("BENCH_SINK_ENDPOINT", format!("127.0.0.1:{sink_port}")),
                ("BENCH_LOG_FILE", file.display().to_string()),
            ];
            let started = Instant::now();
            let (mut proc, _) = start_collector(
                opts,
                COLLECTOR_CPU,
                which,
                Some(&config.display().to_string()),
                &env,
                &name,
            )?;
            // Done when everything arrived, or nothing more arrived for 5 s (a collector
            // that dropped lines stops short), or at `duration`.
            let deadline = started + opts.duration;
            let (mut last, mut last_change) = (0, Instant::now());
            loop {
                let now = received_count(&count_file);
                if now != last {
                    (last, last_change) = (now, Instant::now());
                }
                if now >= lines
                    || Instant::now() > deadline
                    || (now > 0 && last_change.elapsed() > Duration::from_secs(5))
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let stalled =
                last_change.elapsed().as_secs_f64().min(5.0) * f64::from(u8::from(last < lines));
            let wall = started.elapsed().as_secs_f64() - stalled;
            let cpu = process_seconds(proc.pid()).unwrap_or(0.0);
            let delivered = received_count(&count_file);
            let rss = status_mib(proc.pid(), "VmHWM:").unwrap_or(0.0);
            proc.stop()?;
            sink.stop()?;
            let done = if delivered < lines {
                format!("{delivered} of {lines}")
            } else {
                delivered.to_string()
            };
            println!(
                "| {who} | {label} | {done} | {wall:.1} | {cpu:.1} | {:.0} | {:.0} | {rss:.1} |",
                lines as f64 / cpu.max(1e-9),
                delivered as f64 / cpu.max(1e-9),
            );
        }
    }
    std::fs::remove_file(&json).ok();
    std::fs::remove_file(&text).ok();
    Ok(())
}
