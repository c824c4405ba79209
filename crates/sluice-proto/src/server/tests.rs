use std::time::Duration;

use sluice_core::Config;
use tokio::sync::oneshot;

use super::*;
use crate::decode_snapshot;
use crate::v1::config_service_client::ConfigServiceClient;

fn versioned(version: u64, provider: &str) -> Arc<VersionedConfig> {
    let config: Config = serde_json::from_value(serde_json::json!({
        "providers": {provider: {"keys": [{"name": "k", "value": "sk-1"}]}}
    }))
    .unwrap();
    Arc::new(VersionedConfig { version, config })
}

struct Running {
    url: String,
    publish: watch::Sender<Arc<VersionedConfig>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(initial: Arc<VersionedConfig>) -> Running {
    let (publish, configs) = watch::channel(initial);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(serve(listener, configs, async {
        let _ = stopped.await;
    }));
    Running {
        url,
        publish,
        stop: Some(stop),
    }
}

async fn watch_from(url: &str, known_version: u64) -> tonic::Streaming<ConfigSnapshot> {
    let mut client = ConfigServiceClient::connect(url.to_string()).await.unwrap();
    client
        .watch(WatchRequest {
            known_version,
            dataplane_id: "test".into(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn next(stream: &mut tonic::Streaming<ConfigSnapshot>) -> Option<VersionedConfig> {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a message within 5 s")
        .unwrap()
        .map(|s| decode_snapshot(&s).unwrap())
}

#[tokio::test]
async fn a_new_watcher_gets_the_current_config_then_every_change() {
    let cp = start(versioned(1, "openai")).await;
    let mut stream = watch_from(&cp.url, 0).await;
    let first = next(&mut stream).await.unwrap();
    assert_eq!(first.version, 1);
    assert!(first.config.providers.contains_key("openai"));

    cp.publish.send(versioned(2, "anthropic")).unwrap();
    let second = next(&mut stream).await.unwrap();
    assert_eq!(second.version, 2);
    assert!(second.config.providers.contains_key("anthropic"));
}

#[tokio::test]
async fn a_watcher_that_knows_the_current_version_is_not_sent_it_again() {
    let cp = start(versioned(5, "openai")).await;
    let mut stream = watch_from(&cp.url, 5).await;
    // A republish of the same version is skipped too; the next message is version 6.
    cp.publish.send(versioned(5, "openai")).unwrap();
    cp.publish.send(versioned(6, "groq")).unwrap();
    assert_eq!(next(&mut stream).await.unwrap().version, 6);
}

#[tokio::test]
async fn a_slow_watcher_skips_to_the_newest_version() {
    let cp = start(versioned(1, "openai")).await;
    let mut stream = watch_from(&cp.url, 1).await;
    for v in 2..=10 {
        cp.publish.send(versioned(v, "openai")).unwrap();
    }
    assert_eq!(next(&mut stream).await.unwrap().version, 10);
}

#[tokio::test]
async fn the_stream_ends_when_the_publisher_goes_away() {
    let mut cp = start(versioned(1, "openai")).await;
    let mut stream = watch_from(&cp.url, 1).await;
    let (replacement, _) = watch::channel(versioned(0, "openai"));
    drop(std::mem::replace(&mut cp.publish, replacement));
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test]
async fn a_watcher_with_nothing_gets_even_the_empty_version_zero() {
    let cp = start(Arc::new(VersionedConfig {
        version: 0,
        config: Config::default(),
    }))
    .await;
    let mut stream = watch_from(&cp.url, 0).await;
    assert_eq!(next(&mut stream).await.unwrap().version, 0);
}

#[tokio::test]
async fn a_shutdown_ends_open_streams_so_the_server_can_stop() {
    let (_publish, configs) = watch::channel(versioned(1, "openai"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, configs, async {
        let _ = stopped.await;
    }));
    let mut stream = watch_from(&url, 1).await;
    stop.send(()).unwrap();
    assert!(next(&mut stream).await.is_none());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops within 5 s")
        .unwrap()
        .unwrap();
}
