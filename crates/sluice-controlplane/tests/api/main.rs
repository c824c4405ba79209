//! Admin API tests through the real router and real databases: every test runs on SQLite (temp
//! file) and on PostgreSQL (a fresh database; see `sluice_store::testing` for how it is found).

/// Runs each body once per backend, as `<name>::sqlite` and `<name>::postgres`, with `$app` a
/// [`support::TestApp`] on a fresh database.
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: crate::support::TestApp) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(crate::support::TestApp::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = crate::support::TestApp::postgres().await {
                    run(app).await
                }
            }
        }
    )*};
}

mod auth;
mod concurrency;
mod config_feed;
mod hierarchy;
mod providers;
mod seed_sequence;
mod support;
mod usage;
mod validation;
mod virtual_keys;
