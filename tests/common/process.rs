//! A program a test started (llamacol, the Collector, llama-server): its stderr goes to a
//! log file, and it is killed when dropped, so a failing test leaves nothing running.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Running {
    child: Option<Child>,
    name: String,
    log: PathBuf,
}

impl Running {
    /// Spawns `command` with no stdin or stdout and stderr into `log`.
    pub fn spawn(name: &str, command: &mut Command, log: PathBuf) -> Running {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Running {
            child: Some(child),
            name: name.to_string(),
            log,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// What it wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with its log) if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("{} exited early ({status}): {}", self.name, self.log());
        }
    }

    /// SIGTERM, then waits up to 30 s; returns the status and how long the exit took.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        super::signal(child.id(), "TERM");
        let deadline = started + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (status, started.elapsed());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "{} did not exit within 30s of SIGTERM: {}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}
