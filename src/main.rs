//! The `muster` binary: parse arguments and hand over to [`muster::cli`].
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    muster::cli::main()
}
