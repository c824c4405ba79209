//! Cross-replica change notice: control planes sharing one PostgreSQL learn of each other's
//! writes. Every config commit sends `NOTIFY sluice_config_changed` in its transaction; each
//! replica LISTENs and re-reads the store ([`ControlPlane::refresh`]). A slow poll backs this up
//! for notices lost while the listening connection was down. SQLite needs neither: one process.

use std::sync::Weak;
use std::time::Duration;

use sluice_store::CONFIG_CHANNEL;
use sqlx::postgres::{PgListener, PgPool};
use tokio::task::JoinHandle;

use crate::ControlPlane;

/// How often the store is re-read even without a notice.
const POLL_EVERY: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Starts the listener and the poll; both end when the control plane is dropped.
pub(crate) fn spawn(cp: Weak<ControlPlane>, pool: PgPool) -> Vec<JoinHandle<()>> {
    let listener = tokio::spawn(listen_forever(cp.clone(), pool));
    let poll = tokio::spawn(async move {
        let mut every = tokio::time::interval(POLL_EVERY);
        every.tick().await; // the first tick is immediate; open() has just loaded
        loop {
            every.tick().await;
            if !refresh(&cp).await {
                return;
            }
        }
    });
    vec![listener, poll]
}

async fn listen_forever(cp: Weak<ControlPlane>, pool: PgPool) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match listen(&cp, &pool).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "config change listener lost PostgreSQL; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        if cp.strong_count() == 0 {
            return;
        }
    }
}

/// Listens until the control plane is gone (`Ok`) or the listener fails (`Err`).
async fn listen(cp: &Weak<ControlPlane>, pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CONFIG_CHANNEL).await?;
    // Changes committed before LISTEN took effect sent their notice to nobody: catch up.
    if !refresh(cp).await {
        return Ok(());
    }
    loop {
        // `None`: the connection dropped and was re-established (re-LISTENing) before
        // returning, so notices in between are lost; refreshing covers them.
        let _notice = listener.try_recv().await?;
        if !refresh(cp).await {
            return Ok(());
        }
    }
}

/// Re-reads the store; `false` when the control plane no longer exists.
async fn refresh(cp: &Weak<ControlPlane>) -> bool {
    let Some(cp) = cp.upgrade() else {
        return false;
    };
    if let Err(e) = cp.refresh().await {
        tracing::warn!(error = %e, "could not re-read the config store");
    }
    true
}
