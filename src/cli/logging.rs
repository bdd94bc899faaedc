//! `tracing` to stderr, filtered by `RUST_LOG` (default `info`, with kube's own client logs
//! off: muster reports every failed request in its results), as text or JSON lines.

use tracing_subscriber::EnvFilter;

use super::LogFormat;

/// Install the global subscriber. Safe to call once per process.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube_client=off"));
    // NB: colour codes only when stderr is a terminal (never in a log file or a pipe).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
