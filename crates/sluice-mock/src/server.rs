//! The listener: hyper 1 (HTTP/1.1 and h2c, auto-detected) on a tokio socket, one task per
//! connection, graceful shutdown.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::MockConfig;
use crate::router;
use crate::state::MockState;

/// How long shutdown waits for in-flight requests (a slow stream, say) before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
const BACKLOG: u32 = 4096;

/// A running mock provider. Dropping it stops accepting connections; [`shutdown`] also waits
/// for in-flight requests.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use sluice_mock::{MockConfig, MockServer};
///
/// let mock = MockServer::start("127.0.0.1:0".parse().unwrap(), MockConfig::default()).await?;
/// let url = format!("{}/v1/chat/completions", mock.base_url());
/// // ... point a client or the gateway at `url` ...
/// mock.shutdown().await;
/// # Ok(()) }
/// ```
///
/// [`shutdown`]: MockServer::shutdown
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Binds and serves in a spawned tokio task; returns once listening. An invalid config is
    /// an `InvalidInput` error.
    pub async fn start(addr: SocketAddr, config: MockConfig) -> io::Result<MockServer> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = bind(addr)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(MockState::new(config));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), stopped));
        Ok(MockServer {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, without a trailing slash; append `/v1` for an SDK's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the whole config (`POST /mock/config` merges instead). Counters and limit
    /// windows are kept. An invalid config is ignored with a warning; check it with
    /// [`MockConfig::validate`] first.
    pub fn set_config(&self, config: MockConfig) {
        match config.validate() {
            Ok(()) => self.state.set_config(config),
            Err(e) => tracing::warn!(error = %e, "sluice mock: config not applied"),
        }
    }

    /// The current config.
    pub fn config(&self) -> MockConfig {
        self.state.config()
    }

    /// What `GET /mock/stats` returns.
    pub fn stats(&self) -> serde_json::Value {
        self.state.stats()
    }

    /// What `POST /mock/reset` does: zero counters and limit windows.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Stops accepting, lets in-flight requests finish (up to a grace period), and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<MockState>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "sluice mock: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(router::route(state, req).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            // Errors here are clients going away or streams dropped on purpose.
            let _ = watcher.watch(conn).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}
