//! Every input hostile: one module per class of attack from the hostile-input review, each
//! trying several variants against a simulated fleet through the `muster` binary, asserting
//! the error (naming the field, file or cluster) and that no cluster received a request it
//! should not have.

mod bounds;
mod connections;
mod exec_args;
mod kubeconfigs;
mod manifests;
mod names;
mod scope;
mod secrets;
mod selection;
mod small;

use crate::support::{Cli, code, text};

/// Run muster expecting a usage or policy error (exit 2) whose stderr contains `says`, and
/// no request at any cluster; returns stderr.
fn refused(cli: &Cli, args: &[&str], says: &str) -> String {
    let before = cli.fleet.requests();
    let o = cli.muster(args);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "{args:?} should be refused: {err}\n{}", text(&o.stdout));
    assert!(err.contains(says), "{args:?}: expected {says:?} in: {err}");
    assert_eq!(cli.fleet.requests(), before, "{args:?} reached a cluster");
    err
}
