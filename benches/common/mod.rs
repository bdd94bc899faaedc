//! Shared by the benchmarks: a `muster sim` fleet in its own process (so its RSS and CPU
//! are its own), killed when dropped.
#![allow(dead_code)] // each benchmark uses a different part

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `muster sim` process and the kubeconfig it wrote.
pub struct SimProcess {
    pub child: Child,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
    /// From spawn to the summary line (every cluster listening).
    pub startup: Duration,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `muster sim --clusters N`, with `scenario` (a scenario file's YAML) if given, and
/// wait until it serves.
pub fn start_sim(clusters: usize, scenario: Option<&str>) -> SimProcess {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut command = Command::new(env!("CARGO_BIN_EXE_muster"));
    command
        .args(["sim", "--clusters", &clusters.to_string(), "--kubeconfig-out"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    if let Some(yaml) = scenario {
        let path = dir.path().join("scenario.yaml");
        std::fs::write(&path, yaml).expect("scenario written");
        command.arg("--scenario").arg(path);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("muster sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("summary line");
    assert!(line.starts_with("muster sim:"), "unexpected first line: {line}");
    SimProcess {
        child,
        kubeconfig,
        dir,
        startup: started.elapsed(),
    }
}

/// Run a command to its end, sampling its peak RSS from /proc: (wall time, peak RSS KiB,
/// exit code, stdout).
pub fn measure(command: &mut Command) -> (Duration, u64, Option<i32>, Vec<u8>) {
    let out = tempfile::NamedTempFile::new().expect("a temporary file");
    let started = Instant::now();
    let mut child = command
        .stdout(out.reopen().expect("reopen"))
        .stderr(Stdio::null())
        .spawn()
        .expect("the command runs");
    let pid = child.id();
    let mut peak = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    (wall, peak, status.code(), std::fs::read(out.path()).unwrap_or_default())
}
