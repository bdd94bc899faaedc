//! Open connections are bounded by the concurrency, not by the fleet size: a command over
//! more clusters than the process may open files for still succeeds everywhere.

use crate::support::{Cli, code, text};

#[test]
fn more_clusters_than_file_descriptors() {
    // NB: 300 clusters, 200 descriptors for muster (a hard limit it cannot raise): holding
    // one connection per finished cluster would run out.
    let cli = Cli::with_clusters(300);
    let o = cli
        .command(
            "bash",
            &[
                "-c",
                &format!(
                    "ulimit -n 200; exec {} get ns/default --concurrency 32 -o json",
                    env!("CARGO_BIN_EXE_muster")
                ),
            ],
        )
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let results: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(results.len(), 300);
    assert!(results.iter().all(|r| r["status"] == "Succeeded"));
}
