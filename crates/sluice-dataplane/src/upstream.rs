//! The upstream HTTP client: pooled hyper connections, HTTPS with rustls (bundled webpki roots),
//! HTTP/2 where the upstream offers it via ALPN, per-provider connect timeouts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Clients by connect timeout. A hyper client fixes its connect timeout at construction, so
/// providers with different `connect_timeout_ms` get different pools; there are only ever a
/// handful, and the map is touched only under a short lock with no await inside.
#[derive(Clone, Default)]
pub struct UpstreamPools {
    clients: Arc<Mutex<HashMap<u64, UpstreamClient>>>,
}

impl UpstreamPools {
    pub fn client(&self, connect_timeout_ms: u64) -> UpstreamClient {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(connect_timeout_ms)
            .or_insert_with(|| build_client(Duration::from_millis(connect_timeout_ms)))
            .clone()
    }
}

fn build_client(connect_timeout: Duration) -> UpstreamClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https)
}

/// Sends one request; the caller applies the attempt deadline.
pub async fn send(
    client: &UpstreamClient,
    req: http::Request<Bytes>,
) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
    client.request(req.map(Full::new)).await
}
