mod commands;
mod manifests;
mod scale;
mod serve;

/// Logs for a failing test: `RUST_LOG=muster_hub=debug cargo test -p muster-hub`.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
