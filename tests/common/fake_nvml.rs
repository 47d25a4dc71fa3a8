//! The fake `libnvidia-ml.so.1` (tests/fake_nvml/libnvidia-ml.c: two GPUs, one with
//! MIG), built with `cc` for the real nvml-wrapper backend to load via LD_LIBRARY_PATH.

use std::process::Command;

/// Builds the fake library into `dir` as `libnvidia-ml.so.1`.
pub fn build_fake_nvml(dir: &std::path::Path) {
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
        .arg(dir.join("libnvidia-ml.so.1"))
        .arg("tests/fake_nvml/libnvidia-ml.c")
        .output()
        .expect("cc (the C compiler Rust links with)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
