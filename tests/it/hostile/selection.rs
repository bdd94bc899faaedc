//! Selections are exact: an unknown name is an error before anything runs, and a pattern may
//! match nothing only when the user says so.

use super::refused;
use crate::support::{Cli, code, text};

#[test]
fn unknown_names_and_empty_patterns_stop_the_command() {
    let cli = Cli::new();
    for clusters in ["sim-000,ghost", "ghost,sim-001", "sim-000,sim-0001", "SIM-000,sim-001"] {
        let err = refused(
            &cli,
            &["delete", "cm/x", "-n", "default", "--yes", "--clusters", clusters],
            "match no cluster",
        );
        assert!(err.contains("nothing was run"), "{err}");
    }
    refused(
        &cli,
        &["get", "ns/default", "--clusters", "prod-*,sim-000"],
        "--allow-unmatched",
    );
    let o = cli.muster(&["get", "ns/default", "--clusters", "prod-*,sim-000", "--allow-unmatched"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("sim-000") && !text(&o.stdout).contains("sim-001"));
    // --allow-unmatched never lets an exact name through.
    refused(
        &cli,
        &["get", "ns/default", "--clusters", "ghost,sim-000", "--allow-unmatched"],
        "ghost",
    );
}
