//! `kubectl-muster`: the same CLI as `muster`, named so `kubectl muster ...` finds it as a plugin.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    muster::cli::main()
}
