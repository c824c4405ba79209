//! The control plane's side of `ConfigService.Watch`: streams the current versioned config to a
//! data plane on connect and every later one as it is published. [`serve_with_usage`] serves
//! `UsageService` ([`crate::usage`]) next to it.
//!
//! It reads a `tokio::sync::watch` channel rather than the store, so it does not depend on the
//! control-plane crate and every connected data plane shares one source of truth. A watch
//! channel keeps only the latest value, which is the right semantics for config: a slow data
//! plane skips intermediate versions and goes straight to the newest.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use sluice_core::VersionedConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::encode_snapshot;
use crate::usage::{UsageLedger, UsageReceiver};
use crate::v1::config_service_server::{ConfigService, ConfigServiceServer};
use crate::v1::{ConfigSnapshot, WatchRequest};

/// Implements `ConfigService` over a watch channel of versioned configs.
///
/// ```no_run
/// # async fn demo(rx: tokio::sync::watch::Receiver<std::sync::Arc<sluice_core::VersionedConfig>>) {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await.unwrap();
/// sluice_proto::server::serve(listener, rx, std::future::pending()).await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct ConfigFeed {
    configs: watch::Receiver<Arc<VersionedConfig>>,
    /// Set when the server shuts down: Watch streams never end on their own, and a graceful
    /// shutdown waits for every open stream.
    closing: Option<watch::Receiver<bool>>,
}

impl ConfigFeed {
    pub fn new(configs: watch::Receiver<Arc<VersionedConfig>>) -> Self {
        ConfigFeed {
            configs,
            closing: None,
        }
    }

    /// Ends every Watch stream once `closing` turns true (or its sender is dropped).
    pub fn closing_on(mut self, closing: watch::Receiver<bool>) -> Self {
        self.closing = Some(closing);
        self
    }

    /// The tonic service, to add to a `tonic::transport::Server`.
    pub fn into_service(self) -> ConfigServiceServer<ConfigFeed> {
        ConfigServiceServer::new(self)
    }
}

/// Serves `ConfigService` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    configs: watch::Receiver<Arc<VersionedConfig>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    serve_services(listener, configs, None::<UsageReceiver<NoLedger>>, shutdown).await
}

/// Serves `ConfigService` and `UsageService` (over `ledger`) on `listener` until `shutdown`
/// resolves: the control plane's whole gRPC side.
pub async fn serve_with_usage<L: UsageLedger>(
    listener: TcpListener,
    configs: watch::Receiver<Arc<VersionedConfig>>,
    ledger: L,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    serve_services(
        listener,
        configs,
        Some(UsageReceiver::new(ledger)),
        shutdown,
    )
    .await
}

async fn serve_services<L: UsageLedger>(
    listener: TcpListener,
    configs: watch::Receiver<Arc<VersionedConfig>>,
    usage: Option<UsageReceiver<L>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let (close, closing) = watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = close.send(true);
    };
    tonic::transport::Server::builder()
        // A data plane behind a dead NAT entry or a silently dropped connection would otherwise
        // hold a stream open for ever; pings find out within ~15 s.
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(5)))
        .add_service(ConfigFeed::new(configs).closing_on(closing).into_service())
        .add_optional_service(usage.map(UsageReceiver::into_service))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// The ledger type of a server without `UsageService`; never called.
struct NoLedger;

#[tonic::async_trait]
impl UsageLedger for NoLedger {
    async fn record(&self, _: Vec<crate::v1::UsageRecord>) -> Result<u32, Status> {
        Err(Status::unimplemented("this server keeps no usage ledger"))
    }

    async fn current(&self) -> Result<Vec<crate::v1::ScopeUsage>, Status> {
        Err(Status::unimplemented("this server keeps no usage ledger"))
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<ConfigSnapshot, Status>> + Send>>;

#[tonic::async_trait]
impl ConfigService for ConfigFeed {
    type WatchStream = SnapshotStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let peer = request.remote_addr();
        let WatchRequest {
            known_version,
            dataplane_id,
        } = request.into_inner();
        let mut configs = self.configs.clone();
        // Marks the current value seen, so `changed()` below wakes only for newer ones.
        let current = configs.borrow_and_update().clone();
        tracing::info!(dataplane = %dataplane_id, peer = ?peer, known_version, current_version = current.version, "data plane connected");
        // 0 means "nothing yet": an untouched store (version 0, empty config) is still a
        // config, and a data plane is not ready until it has one.
        let first = (known_version == 0 || current.version != known_version)
            .then(|| encode_snapshot(&current));
        let state = Watcher {
            configs,
            closing: self.closing.clone(),
            sent: if first.is_some() {
                current.version
            } else {
                known_version
            },
            dataplane_id,
            peer,
        };
        let rest = futures_util::stream::unfold(state, |mut w| async move {
            let next = w.next_change().await?;
            Some((Ok(next), w))
        });
        let first = futures_util::stream::iter(first.map(Ok));
        let stream: SnapshotStream = Box::pin(futures_util::StreamExt::chain(first, rest));
        Ok(Response::new(stream))
    }
}

/// One data plane's stream state; its drop is the moment that data plane went away.
struct Watcher {
    configs: watch::Receiver<Arc<VersionedConfig>>,
    closing: Option<watch::Receiver<bool>>,
    /// The version the data plane has (sent, or known at connect).
    sent: u64,
    dataplane_id: String,
    peer: Option<SocketAddr>,
}

impl Watcher {
    /// The next config to send, or `None` when the publisher is gone or the server is closing
    /// (the stream then ends and the data plane reconnects, to this control plane after a
    /// restart or to another replica).
    async fn next_change(&mut self) -> Option<ConfigSnapshot> {
        loop {
            let closing = async {
                match &mut self.closing {
                    // A dropped sender counts as closing too.
                    Some(c) => drop(c.wait_for(|closing| *closing).await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = self.configs.changed() => changed.ok()?,
                () = closing => return None,
            }
            let latest = self.configs.borrow_and_update().clone();
            // A republish of the version the data plane already has is not news.
            if latest.version != self.sent {
                self.sent = latest.version;
                return Some(encode_snapshot(&latest));
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        tracing::info!(dataplane = %self.dataplane_id, peer = ?self.peer, version = self.sent, "data plane stream closed");
    }
}

#[cfg(test)]
mod tests;
