//! `memory_limiter` with `limit_percentage` bounded by the process's own cgroup: the real
//! binary started inside a memory cgroup this test creates (512 MiB; cgroup v1's memory
//! controller or cgroup v2, whichever the machine has), as systemd's `MemoryMax=` or a
//! Kubernetes limit would place it. Needs root, as `scripts/test` runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::Running;
use llamacol_pipeline::testing::free_port;

const LIMIT: u64 = 512 << 20;

/// A memory cgroup of `LIMIT` bytes made for the test, removed when dropped.
struct TestCgroup {
    dir: PathBuf,
    /// The file its limit is in (what llamacol must name as the source).
    limit_file: PathBuf,
}

impl TestCgroup {
    fn create() -> TestCgroup {
        let name = format!("llamacol-test-{}", std::process::id());
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
        let v1_path = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        });
        let (dir, file) = match v1_path {
            Some(path) => (
                Path::new("/sys/fs/cgroup/memory")
                    .join(path.trim_start_matches('/'))
                    .join(&name),
                "memory.limit_in_bytes",
            ),
            // cgroup v2: a child of the root, which delegates the memory controller.
            None => (Path::new("/sys/fs/cgroup").join(&name), "memory.max"),
        };
        std::fs::create_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot create the memory cgroup {} (needs root and a cgroup memory controller): {e}",
                dir.display()
            )
        });
        let limit_file = dir.join(file);
        std::fs::write(&limit_file, LIMIT.to_string())
            .unwrap_or_else(|e| panic!("cannot set {}: {e}", limit_file.display()));
        TestCgroup { dir, limit_file }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Emptied once the process in it has exited.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
#[ignore = "needs root to create a memory cgroup: run scripts/test"]
fn limit_percentage_is_a_share_of_the_processs_own_cgroup_limit() {
    let cgroup = TestCgroup::create();
    let log_dir = tempfile::tempdir().expect("tmp");
    // The shell joins the cgroup, then becomes llamacol: the limit applies from the start.
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg("echo $$ > \"$CGROUP_PROCS\" && exec \"$0\" run -c tests/testdata/e2e/memory-limiter-percentage.yaml")
        .arg(env!("CARGO_BIN_EXE_llamacol"))
        .env("CGROUP_PROCS", cgroup.dir.join("cgroup.procs"))
        .env(
            "LLAMACOL_OTLP_GRPC_ENDPOINT",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "LLAMACOL_ADMIN_ENDPOINT",
            format!("127.0.0.1:{}", free_port()),
        );
    let mut llamacol = Running::spawn("llamacol", &mut command, log_dir.path().join("log"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        llamacol.assert_running();
        if let Some(line) = llamacol
            .log()
            .lines()
            .find(|l| l.contains("memory limits"))
            .map(str::to_string)
        {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "no `memory limits` line: {}",
            llamacol.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    llamacol.kill();
    // 50% of 512 MiB hard, 10% of it the spike: soft 512 * 0.4.
    assert!(
        line.contains("hard_limit_mib=256") && line.contains("soft_limit_mib=204"),
        "{line}"
    );
    assert!(
        line.contains(&cgroup.limit_file.display().to_string()),
        "the cgroup is named as the source: {line}"
    );
}
