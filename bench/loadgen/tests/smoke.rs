//! A few-second run of the whole benchmark (CI must not run it at full length): every
//! scenario runs, the table prints, and the accounting holds.

use std::process::Command;

/// `loadgen bench` for 1 s per scenario, with `extra` arguments; returns stdout.
fn smoke_run(extra: &[std::ffi::OsString]) -> String {
    let loadgen = std::path::PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let llamacol = loadgen.with_file_name("llamacol");
    assert!(
        llamacol.exists(),
        "build the workspace first: {} missing",
        llamacol.display()
    );
    // One folder per run: the two tests run at once in one process.
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let work =
        std::env::temp_dir().join(format!("llamacol-bench-smoke-{}-{run}", std::process::id()));
    let out = Command::new(&loadgen)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args([
            "bench",
            "--duration",
            "1s",
            "--connections",
            "2",
            "--batch-size",
            "100",
            "--floor-items",
            "20000",
        ])
        .arg("--llamacol")
        .arg(&llamacol)
        .arg("--work-dir")
        .arg(&work)
        .args(extra)
        .output()
        .expect("run loadgen bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(work);
    stdout.into_owned()
}

#[test]
fn benchmark_smoke_run_prints_the_table() {
    let stdout = smoke_run(&[]);
    assert!(stdout.contains("CPU-s per 1M spans"), "{stdout}");
    assert!(stdout.contains("idle RSS"), "{stdout}");
    for scenario in ["| otlp-batch-otlp |", "| otlp-batch-file |", "| overload"] {
        assert!(stdout.contains(scenario), "missing {scenario}:\n{stdout}");
    }
    assert!(!stdout.contains("ACCOUNTING MISMATCH"), "{stdout}");
    assert!(
        !stdout.contains("otelcol"),
        "no Collector rows without --otelcol"
    );
}

#[test]
#[ignore = "needs otelcol: run scripts/test"]
fn benchmark_smoke_run_against_the_real_collector() {
    let otelcol = llamacol_pipeline::testing::external_program("otelcol");
    let stdout = smoke_run(&["--otelcol".into(), otelcol.into_os_string()]);
    for row in [
        "| otlp-batch-otlp, no compression: llamacol |",
        "| otlp-batch-otlp, no compression: otelcol 0.161.0 |",
        "| otlp-batch-otlp, gzip: otelcol 0.161.0 |",
        "| otlp-batch-debug (basic): otelcol 0.161.0 |",
        "spans per collector CPU-second, llamacol / otelcol",
    ] {
        assert!(stdout.contains(row), "missing {row}:\n{stdout}");
    }
    assert!(!stdout.contains("ACCOUNTING MISMATCH"), "{stdout}");
}
