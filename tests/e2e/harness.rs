//! Starts the real `sluice` binary (gateway and mock) on free ports and talks HTTP to it.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// A child process killed when dropped.
pub struct Proc {
    child: Child,
    pub addr: SocketAddr,
    _dir: Option<tempfile::TempDir>,
}

impl Proc {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr")
}

/// Environment variables that would change what a test means are removed from children.
const SCRUBBED: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "SLUICE_LISTEN",
    "SLUICE_CONFIG",
    "SLUICE_DATA_DIR",
];

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(SLUICE);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("SLUICE_TEST_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .env("RUST_LOG", "warn");
    for k in SCRUBBED {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn wait_healthy(mut child: Child, addr: SocketAddr, dir: Option<tempfile::TempDir>) -> Proc {
    let client = HttpClient::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("sluice exited during start-up with {status}");
        }
        if let Ok(r) = client.get(&format!("http://{addr}/health")).await
            && r.status == StatusCode::OK
        {
            return Proc {
                child,
                addr,
                _dir: dir,
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sluice did not become healthy on {addr} within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `sluice mock --listen <free port> <args>`.
pub async fn start_mock(args: &[&str]) -> Proc {
    let addr = free_addr();
    let listen = addr.to_string();
    let mut all = vec!["mock", "--listen", listen.as_str()];
    all.extend_from_slice(args);
    let child = command(&all, &[]).spawn().expect("spawn sluice mock");
    wait_healthy(child, addr, None).await
}

/// `sluice serve` with `config` as its TOML file and `env` added to its environment.
pub async fn start_gateway(config: &str, env: &[(&str, &str)]) -> Proc {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("sluice.toml");
    std::fs::write(&cfg, config).expect("write config");
    let data = dir.path().join("data");
    let addr = free_addr();
    let listen = addr.to_string();
    let args = [
        "serve",
        "--listen",
        listen.as_str(),
        "--config",
        cfg.to_str().expect("utf-8 path"),
        "--data-dir",
        data.to_str().expect("utf-8 path"),
    ];
    let child = command(&args, env).spawn().expect("spawn sluice serve");
    wait_healthy(child, addr, Some(dir)).await
}

/// Runs `sluice <args>` to completion and returns its exit status and stderr.
pub fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let out = command(args, env)
        .stderr(Stdio::piped())
        .output()
        .expect("run sluice");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `data:` payloads of an SSE body, in order.
    pub fn sse_data(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
            .map(|s| s.trim().to_string())
            .collect()
    }

    /// The `event:` names of an SSE body, in order.
    pub fn sse_events(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .map(|s| s.trim().to_string())
            .collect()
    }
}

#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    pub fn new() -> Self {
        HttpClient {
            inner: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub async fn get(&self, url: &str) -> anyhow::Result<Reply> {
        self.send(Method::GET, url, Bytes::new(), &[]).await
    }

    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.post_raw(url, Bytes::from(body.to_string()), headers)
            .await
    }

    pub async fn post_raw(&self, url: &str, body: Bytes, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, url, body, headers)
            .await
            .unwrap_or_else(|e| panic!("POST {url} failed: {e}"))
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let mut req = Request::builder().method(method).uri(url);
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self.inner.request(req.body(Full::new(body))?).await?;
        let (parts, body) = res.into_parts();
        let body = tokio::time::timeout(Duration::from_secs(60), body.collect())
            .await??
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

pub fn chat(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Flag twins of the split deployment that would change what a test means.
const SCRUBBED_SPLIT: &[&str] = &[
    "SLUICE_DATABASE_URL",
    "SLUICE_GRPC_LISTEN",
    "SLUICE_ADMIN_TOKEN",
    "SLUICE_ENCRYPTION_KEY",
    "SLUICE_CONTROLPLANE",
    "SLUICE_DATAPLANE_ID",
];

fn split_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = command(args, &[]);
    for k in SCRUBBED_SPLIT {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Waits until every address accepts TCP connections (for servers without `/health`).
async fn wait_listening(mut child: Child, addrs: &[SocketAddr], what: &str) -> Child {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited during start-up with {status}");
        }
        let mut all = true;
        for a in addrs {
            all &= tokio::net::TcpStream::connect(a).await.is_ok();
        }
        if all {
            return child;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not listen on {addrs:?} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `sluice controlplane` on the given addresses (fixed by the caller so a restart keeps them),
/// with its data dir owned by the caller. `addr` of the result is the REST address.
pub async fn start_controlplane(
    database_url: &str,
    listen: SocketAddr,
    grpc_listen: SocketAddr,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Proc {
    let (listen_s, grpc_s) = (listen.to_string(), grpc_listen.to_string());
    let args = [
        "controlplane",
        "--database-url",
        database_url,
        "--listen",
        listen_s.as_str(),
        "--grpc-listen",
        grpc_s.as_str(),
        "--data-dir",
        data_dir.to_str().expect("utf-8 path"),
    ];
    let child = split_command(&args, env)
        .spawn()
        .expect("spawn sluice controlplane");
    let child = wait_listening(child, &[listen, grpc_listen], "sluice controlplane").await;
    Proc {
        child,
        addr: listen,
        _dir: None,
    }
}

/// `sluice dataplane --controlplane <url>` on `listen`, with its data dir owned by the caller.
pub async fn start_dataplane(
    controlplane: &str,
    listen: SocketAddr,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Proc {
    let listen_s = listen.to_string();
    let args = [
        "dataplane",
        "--controlplane",
        controlplane,
        "--listen",
        listen_s.as_str(),
        "--data-dir",
        data_dir.to_str().expect("utf-8 path"),
    ];
    let child = split_command(&args, env)
        .spawn()
        .expect("spawn sluice dataplane");
    wait_healthy(child, listen, None).await
}

/// `sluice serve` on `listen` with a caller-owned data dir (so a restart finds its store).
pub async fn start_serve_in(
    data_dir: &std::path::Path,
    listen: SocketAddr,
    config: &str,
    env: &[(&str, &str)],
) -> Proc {
    let cfg = data_dir.join("sluice.toml");
    std::fs::write(&cfg, config).expect("write config");
    let listen_s = listen.to_string();
    let data = data_dir.join("data");
    let args = [
        "serve",
        "--listen",
        listen_s.as_str(),
        "--config",
        cfg.to_str().expect("utf-8 path"),
        "--data-dir",
        data.to_str().expect("utf-8 path"),
    ];
    let child = split_command(&args, env)
        .spawn()
        .expect("spawn sluice serve");
    // A server on 0.0.0.0 is reached through loopback.
    let reach = if listen.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], listen.port()))
    } else {
        listen
    };
    wait_healthy(child, reach, None).await
}

/// Polls `check` every 20 ms until it holds or `within` has passed; returns how long it took.
pub async fn within<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        if start.elapsed() > within {
            panic!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Python with the official SDKs, from `SLUICE_SDK_PYTHON` (`cargo xtask test` sets it).
/// Without it: a panic under CI, else `None` after saying so (the caller skips).
pub fn sdk_python() -> Option<String> {
    match std::env::var("SLUICE_SDK_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if sluice_store::testing::in_ci() => {
            panic!("SLUICE_SDK_PYTHON is not set under CI: run the tests with `cargo xtask test`")
        }
        _ => {
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"SKIPPED: SLUICE_SDK_PYTHON is not set; run `cargo xtask test` to run the SDK tests\n",
            );
            None
        }
    }
}

/// Stops `proc` as an operator would (SIGTERM: a graceful shutdown) and waits for it to exit;
/// kills it if it is still running after 30 s.
pub async fn stop_gracefully(mut proc: Proc) -> std::process::ExitStatus {
    let pid = proc.child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", pid.as_str()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {pid} failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = proc.child.try_wait() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = proc.child.kill();
            panic!("pid {pid} still running 30 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
