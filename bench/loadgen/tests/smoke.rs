//! A few-second run of the whole benchmark (CI must not run it at full length): every
//! scenario runs, the table prints, and the accounting holds.

use std::process::Command;

#[test]
fn benchmark_smoke_run_prints_the_table() {
    let loadgen = std::path::PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let llamacol = loadgen.with_file_name("llamacol");
    assert!(
        llamacol.exists(),
        "build the workspace first: {} missing",
        llamacol.display()
    );
    let work = std::env::temp_dir().join(format!("llamacol-bench-smoke-{}", std::process::id()));
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
        .output()
        .expect("run loadgen bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CPU-s per 1M spans"), "{stdout}");
    assert!(stdout.contains("idle RSS"), "{stdout}");
    for scenario in ["| otlp-batch-otlp |", "| otlp-batch-file |", "| overload"] {
        assert!(stdout.contains(scenario), "missing {scenario}:\n{stdout}");
    }
    assert!(!stdout.contains("ACCOUNTING MISMATCH"), "{stdout}");
    let _ = std::fs::remove_dir_all(work);
}
