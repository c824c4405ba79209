use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::*;

fn versioned(version: u64, key_value: &str) -> Arc<VersionedConfig> {
    let config: Config = serde_json::from_value(serde_json::json!({
        "providers": {"openai": {"keys": [{"name": "k", "value": key_value}]}}
    }))
    .unwrap();
    Arc::new(VersionedConfig { version, config })
}

fn no_env() -> EnvLookup {
    Arc::new(|_| None)
}

fn key_value(gateway: &Gateway) -> Option<String> {
    let rt = gateway.runtime();
    rt.snapshot.provider("openai").ok()?.keys[0].value.clone()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An in-process control plane: the real gRPC server over a watch channel.
struct FakeControlPlane {
    publish: watch::Sender<Arc<VersionedConfig>>,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<()>,
}

impl FakeControlPlane {
    async fn start(addr: SocketAddr, initial: Arc<VersionedConfig>) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let (publish, configs) = watch::channel(initial);
        let (stop, stopped) = oneshot::channel();
        let done = tokio::spawn(async move {
            let _ = sluice_proto::server::serve(listener, configs, async {
                let _ = stopped.await;
            })
            .await;
        });
        FakeControlPlane {
            publish,
            stop: Some(stop),
            done,
        }
    }

    async fn kill(mut self) {
        let _ = self.stop.take().unwrap().send(());
        // Ends the open Watch streams too (graceful shutdown waits for them).
        drop(self.publish);
        let _ = self.done.await;
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn fast_source(addr: SocketAddr, dir: &Path) -> ControlPlaneSource {
    ControlPlaneSource::new(&format!("http://{addr}"), dir, "test-dp")
        .unwrap()
        .with_env(no_env())
        .with_reconnect(Reconnect::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
}

#[test]
fn only_plain_http_endpoints_are_accepted() {
    let dir = Path::new(".");
    for bad in ["localhost:50051", "https://cp:50051", "ftp://cp", "http://"] {
        assert!(
            matches!(
                ControlPlaneSource::new(bad, dir, "x"),
                Err(ConfigSourceError::BadEndpoint(_))
            ),
            "{bad}"
        );
    }
    assert!(ControlPlaneSource::new("http://10.0.0.5:50051/", dir, "x").is_ok());
}

#[test]
fn a_persisted_config_is_restored_and_makes_the_gateway_ready() {
    let dir = tempfile::tempdir().unwrap();
    LastConfig::in_dir(dir.path())
        .store(&versioned(4, "sk-4"))
        .unwrap();
    let gateway = Gateway::waiting_for_config();
    assert!(!gateway.is_ready());
    let source = fast_source(free_addr(), dir.path());
    assert_eq!(source.restore(&gateway), Some(4));
    assert!(gateway.is_ready());
    assert_eq!(key_value(&gateway).as_deref(), Some("sk-4"));
}

#[test]
fn a_corrupt_or_unbuildable_persisted_config_leaves_the_gateway_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::waiting_for_config();
    let source = fast_source(free_addr(), dir.path());
    std::fs::write(dir.path().join(LastConfig::FILE_NAME), b"not json").unwrap();
    assert_eq!(source.restore(&gateway), None);
    LastConfig::in_dir(dir.path())
        .store(&versioned(2, "env.SLUICE_TEST_UNSET_KEY"))
        .unwrap();
    assert_eq!(source.restore(&gateway), None);
    assert!(!gateway.is_ready());
}

#[tokio::test]
async fn snapshots_are_installed_and_persisted_as_they_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let cp = FakeControlPlane::start(addr, versioned(1, "sk-1")).await;
    let gateway = Gateway::waiting_for_config();
    let task = fast_source(addr, dir.path()).spawn(gateway.clone());

    eventually("version 1", || {
        key_value(&gateway).as_deref() == Some("sk-1")
    })
    .await;
    assert!(gateway.is_ready());
    cp.publish.send(versioned(2, "sk-2")).unwrap();
    eventually("version 2", || {
        key_value(&gateway).as_deref() == Some("sk-2")
    })
    .await;
    let last = LastConfig::in_dir(dir.path());
    eventually("version 2 persisted", || {
        last.load().ok().flatten().map(|c| c.version) == Some(2)
    })
    .await;
    task.abort();
    cp.kill().await;
}

#[tokio::test]
async fn a_config_that_does_not_build_is_skipped_and_the_previous_one_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let cp = FakeControlPlane::start(addr, versioned(1, "sk-1")).await;
    let gateway = Gateway::waiting_for_config();
    let task = fast_source(addr, dir.path()).spawn(gateway.clone());
    eventually("version 1", || gateway.runtime().snapshot.version == 1).await;

    cp.publish
        .send(versioned(2, "env.SLUICE_TEST_UNSET_KEY"))
        .unwrap();
    cp.publish.send(versioned(3, "sk-3")).unwrap();
    eventually("version 3", || gateway.runtime().snapshot.version == 3).await;
    // A bad config with nothing good after it: the last good one stays.
    cp.publish
        .send(versioned(4, "env.SLUICE_TEST_UNSET_KEY"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gateway.runtime().snapshot.version, 3);
    assert_eq!(key_value(&gateway).as_deref(), Some("sk-3"));
    let last = LastConfig::in_dir(dir.path());
    eventually("version 3 persisted", || {
        last.load().ok().flatten().map(|c| c.version) == Some(3)
    })
    .await;
    task.abort();
    cp.kill().await;
}

#[tokio::test]
async fn the_data_plane_keeps_serving_through_an_outage_and_catches_up_after() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let cp = FakeControlPlane::start(addr, versioned(1, "sk-1")).await;
    let gateway = Gateway::waiting_for_config();
    let task = fast_source(addr, dir.path()).spawn(gateway.clone());
    eventually("version 1", || gateway.runtime().snapshot.version == 1).await;

    cp.kill().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gateway.is_ready());
    assert_eq!(key_value(&gateway).as_deref(), Some("sk-1"));

    // Back, with a change made meanwhile (another replica, say).
    let cp = FakeControlPlane::start(addr, versioned(2, "sk-2")).await;
    eventually("version 2 after reconnecting", || {
        key_value(&gateway).as_deref() == Some("sk-2")
    })
    .await;
    task.abort();
    cp.kill().await;
}

#[tokio::test]
async fn a_control_plane_that_went_back_in_versions_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    LastConfig::in_dir(dir.path())
        .store(&versioned(40, "sk-old"))
        .unwrap();
    let addr = free_addr();
    let cp = FakeControlPlane::start(addr, versioned(3, "sk-new")).await;
    let gateway = Gateway::waiting_for_config();
    let source = fast_source(addr, dir.path());
    assert_eq!(source.restore(&gateway), Some(40));
    let task = source.spawn(gateway.clone());
    eventually("version 3", || {
        key_value(&gateway).as_deref() == Some("sk-new")
    })
    .await;
    assert_eq!(gateway.runtime().snapshot.version, 3);
    task.abort();
    cp.kill().await;
}

#[tokio::test]
async fn follow_installs_the_current_config_then_each_change_prepared() {
    let (publish, configs) = watch::channel(versioned(1, "sk-1"));
    let gateway = Gateway::waiting_for_config();
    let prepare = |c: &mut Config| {
        c.providers.get_mut("openai").unwrap().models = vec!["prepared".into()];
    };
    let following = follow(gateway.clone(), configs, no_env(), prepare);
    following.initial.unwrap();
    // Installed before `follow` returned.
    assert_eq!(gateway.runtime().snapshot.version, 1);
    let models = |gw: &Gateway| {
        gw.runtime()
            .snapshot
            .provider("openai")
            .unwrap()
            .models
            .clone()
    };
    assert_eq!(models(&gateway), vec!["prepared".to_string()]);

    publish.send(versioned(2, "sk-2")).unwrap();
    eventually("version 2", || {
        key_value(&gateway).as_deref() == Some("sk-2")
    })
    .await;
    assert_eq!(models(&gateway), vec!["prepared".to_string()]);
    following.task.abort();
}

#[tokio::test]
async fn follow_reports_an_initial_config_that_does_not_build_and_waits_for_a_good_one() {
    let (publish, configs) = watch::channel(versioned(1, "env.SLUICE_TEST_UNSET_KEY"));
    let gateway = Gateway::waiting_for_config();
    let following = follow(gateway.clone(), configs, no_env(), |_| {});
    let e = following.initial.unwrap_err();
    assert!(e.to_string().contains("SLUICE_TEST_UNSET_KEY"), "{e}");
    assert!(!gateway.is_ready());

    publish.send(versioned(2, "sk-2")).unwrap();
    eventually("version 2", || gateway.is_ready()).await;
    assert_eq!(key_value(&gateway).as_deref(), Some("sk-2"));
    following.task.abort();
}
