//! Exec arguments cannot walk out of their patterns, and programs that run other programs
//! are denied like shells unless the policy lists them with argument patterns.

use super::refused;
use crate::support::Cli;

const POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/policy.example.yaml");

#[test]
fn exec_arguments_and_wrappers() {
    let cli = Cli::new();
    let exec = |argv: &[&str]| {
        let mut args = vec!["exec", "deploy/web", "-n", "shop", "--policy", POLICY, "--"];
        args.extend_from_slice(argv);
        args.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()
    };
    for argv in [
        &["cat", "/etc/app/../../etc/shadow"][..],
        &["cat", "/etc/app/./../../etc/shadow"],
        &["cat", "/etc/app//..//..//etc/shadow"],
        &["cat", "/etc/app/sub/../../../etc/shadow"],
        &["cat", "/etc/app/a/b"],
        &["cat", "/etc/shadow"],
        &["cat", "/etc/app/config.yaml", "/root/.ssh/id_rsa"],
        &["ls", "/etc/app/../.."],
    ] {
        let args = exec(argv);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&cli, &args, "ExecCommandNotAllowed");
    }
    for (argv, rule) in [
        (&["env", "sh", "-c", "id"][..], "ExecWrapperDenied"),
        (&["xargs", "sh"], "ExecWrapperDenied"),
        (&["find", "/", "-exec", "sh", "{}", ";"], "ExecWrapperDenied"),
        (&["timeout", "5", "sh"], "ExecWrapperDenied"),
        (&["nice", "cat", "/etc/shadow"], "ExecWrapperDenied"),
        (&["/usr/bin/env", "cat"], "ExecWrapperDenied"),
        (&["busybox", "sh"], "ExecShellDenied"),
        (&["sh", "-c", "cat /etc/shadow"], "ExecShellDenied"),
        (&["/bin/../bin/bash"], "ExecShellDenied"),
        (&["python3.12", "-c", "1"], "ExecShellDenied"),
        (&["awk", "BEGIN{system(\"id\")}"], "ExecShellDenied"),
    ] {
        let args = exec(argv);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&cli, &args, rule);
    }
}
