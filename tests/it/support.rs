//! What the end-to-end tests share: a simulated fleet with the `muster` binary pointed at
//! it, and small helpers for outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use muster_testkit::{APP_YAML, TestFleet};
use serde_json::Value;

pub struct Cli {
    pub fleet: TestFleet,
    pub audit: PathBuf,
    pub app: PathBuf,
    pub policy: PathBuf,
}

impl Cli {
    pub fn new() -> Self {
        Self::with_clusters(2)
    }

    /// A fleet of `n` clusters, with the app manifest (a Namespace and APP_YAML) and a policy
    /// allowing Namespaces written to its directory.
    pub fn with_clusters(n: usize) -> Self {
        let fleet = TestFleet::start(n);
        let audit = fleet.dir.path().join("audit/audit.log");
        let app = fleet.dir.path().join("app.yaml");
        std::fs::write(
            &app,
            format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n---\n{APP_YAML}"),
        )
        .unwrap();
        let policy = fleet.dir.path().join("policy.yaml");
        std::fs::write(&policy, "clusterScopedKinds: [Namespace]\n").unwrap();
        Self {
            fleet,
            audit,
            app,
            policy,
        }
    }

    pub fn muster(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_muster"), args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("muster runs")
    }

    pub fn command(&self, bin: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .env("KUBECONFIG", &self.fleet.kubeconfig)
            .env("MUSTER_AUDIT_LOG", &self.audit)
            .env("HOME", self.fleet.dir.path())
            .env_remove("MUSTER_POLICY")
            .env_remove("MUSTER_FLEET")
            .env_remove("XDG_STATE_HOME")
            .env_remove("MUSTER_FINGERPRINT_KEY")
            .env("RUST_LOG", "warn");
        c
    }

    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// Write `text` to a file in the fleet's directory; its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.fleet.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

pub fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
