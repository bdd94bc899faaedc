mod commands;
mod manifests;
mod mqtt;
mod rollouts;
mod scale;
mod serve;

/// Logs for a failing test: `RUST_LOG=muster_hub=debug cargo test -p muster-hub`.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The 10,000-member test takes most of the machine (and of the open-files limit): it runs
/// alone, the others side by side.
static MACHINE: std::sync::LazyLock<tokio::sync::RwLock<()>> =
    std::sync::LazyLock::new(|| tokio::sync::RwLock::new(()));

/// Held by an ordinary test for its whole run.
pub async fn shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// Held by the scale test for its whole run.
pub async fn alone() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// [`shared`] for a synchronous test.
pub fn shared_blocking() -> tokio::sync::RwLockReadGuard<'static, ()> {
    MACHINE.blocking_read()
}
