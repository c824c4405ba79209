//! What is measured: the mock upstream, Sluice (`dataplane --config`, with and without
//! governance; `serve` for start-up and the churn test) and the peers that
//! `../shared/bench/peers/*.sh` can start. Each is started, checked (one non-streaming and one
//! streaming request) and stopped by a guard.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::gateway_config::{self, MODEL, VK_CREDENTIAL};
use crate::http1;
use crate::load::{Endpoint, chat_body};
use crate::procfs;
use crate::procs::{Guard, boosted};

/// Run-wide settings every target needs.
pub struct Ctx {
    pub out: PathBuf,
    pub logs: PathBuf,
    pub sluice: PathBuf,
    /// This binary (for `sse-load`).
    pub exe: PathBuf,
    /// `../shared/bench`, if present.
    pub shared: Option<PathBuf>,
    pub oha: Option<PathBuf>,
    /// Autogroup niceness for every process we start.
    pub nice: Option<i32>,
    pub mock_port: u16,
}

/// The mock upstream, and whether we own it.
pub struct Mock {
    /// Its process group (its tree is measured for the direct side); `None` if it was already
    /// running without a pid file we can read.
    pub pid: Option<u32>,
    pub desc: String,
    pub endpoint: Endpoint,
    _guard: Option<Guard>,
}

impl Mock {
    /// The shared nginx mock (reused if already running), or `sluice mock --no-auth` if shared/
    /// or nginx is missing.
    pub fn start(ctx: &Ctx, prefer_sluice: bool) -> Result<Mock> {
        let port = ctx.mock_port;
        let health = format!("http://127.0.0.1:{port}/health");
        let endpoint = Endpoint {
            url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
            key: "sk-direct".into(),
            headers: Vec::new(),
            model: "gpt-4o-mini".into(),
        };
        let nginx = nginx_version();
        if let (Some(shared), Some(nginx), false) = (&ctx.shared, &nginx, prefer_sluice) {
            let desc = format!("nginx {nginx} mock from shared/bench (1 worker, echo module)");
            let pidfile = shared.join("run/mock.pid");
            if let Some(pid) = read_pid(&pidfile).filter(|p| alive(*p)) {
                log(&format!("reusing the running shared mock (pid {pid})"));
                return Ok(Mock {
                    pid: Some(pid),
                    desc,
                    endpoint,
                    _guard: None,
                });
            }
            if http1::request("GET", &health, &[], None, Duration::from_secs(1)).is_ok() {
                log(&format!(
                    "something already answers on 127.0.0.1:{port}; using it as the mock (its CPU is not measured)"
                ));
                return Ok(Mock {
                    pid: None,
                    desc: format!("unknown server already on port {port}"),
                    endpoint,
                    _guard: None,
                });
            }
            let mut start = Command::new("bash");
            start
                .arg(shared.join("mock/start.sh"))
                .env("MOCK_PORT", port.to_string());
            if let Some(n) = ctx.nice {
                start.env("AUTOGROUP_NICE", n.to_string());
            }
            let status = start
                .stdout(std::process::Stdio::null())
                .status()
                .context("could not run shared/bench/mock/start.sh")?;
            let pid = read_pid(&pidfile).filter(|p| alive(*p));
            if !status.success() || pid.is_none() {
                bail!(
                    "shared/bench/mock/start.sh failed ({status}); see shared/bench/run/mock.log"
                );
            }
            let mut stop = Command::new("bash");
            stop.arg(shared.join("mock/stop.sh"));
            let pid = pid.expect("checked");
            return Ok(Mock {
                pid: Some(pid),
                desc,
                endpoint,
                _guard: Some(Guard::adopt("mock", pid, Some(stop))?.with_pid_file(pidfile)),
            });
        }
        let why = match (&ctx.shared, &nginx) {
            (None, _) => "shared/bench is missing",
            (_, None) => "nginx is not installed",
            _ => "asked for",
        };
        log(&format!(
            "mock: using `sluice mock --no-auth` ({why}); its answers differ a little from the nginx mock's"
        ));
        let mut cmd = boosted(ctx.nice, &ctx.sluice);
        cmd.args([
            "mock",
            "--no-auth",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]);
        let guard = Guard::spawn("mock", cmd, &ctx.logs.join("mock.log"))?;
        let pid = guard.pid;
        wait_ready(&health, Duration::from_secs(20))?;
        Ok(Mock {
            pid: Some(pid),
            desc: format!("sluice mock --no-auth ({why})"),
            endpoint,
            _guard: Some(guard),
        })
    }
}

/// A target kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `sluice dataplane --config`, governance off (anonymous callers) or on (virtual key with
    /// limits and budget).
    Sluice { governance: bool },
    /// `sluice serve` (embedded control plane on SQLite, fresh data dir): start-up, idle memory
    /// and the config-churn test only.
    Serve,
    /// A peer from `shared/bench/peers/NAME.sh`.
    Peer(String),
}

impl Kind {
    pub fn name(&self) -> String {
        match self {
            Kind::Sluice { governance: false } => "sluice".into(),
            Kind::Sluice { governance: true } => "sluice+gov".into(),
            Kind::Serve => "sluice-serve".into(),
            Kind::Peer(p) => p.clone(),
        }
    }

    pub fn is_sluice(&self) -> bool {
        matches!(self, Kind::Sluice { .. } | Kind::Serve)
    }
}

/// Start-up of one target: how long until it answered, and its memory before any load.
#[derive(Debug, Clone, Serialize)]
pub struct StartInfo {
    pub target: String,
    pub rep: u32,
    pub desc: String,
    pub started: bool,
    /// Spawn → first answer on its readiness URL (`/health` for Sluice).
    pub startup_ready_ms: Option<f64>,
    /// Spawn → first successful chat completion through it.
    pub startup_chat_ms: Option<f64>,
    pub rss_idle_kb: u64,
    pub pss_idle_kb: u64,
    pub nonstream_ok: bool,
    pub stream_ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A started target.
pub struct Running {
    pub endpoint: Endpoint,
    /// Root of the measured process tree.
    pub pid: u32,
    pub info: StartInfo,
    _guard: Guard,
}

/// Why a peer cannot run here, or `None` if it can.
pub fn peer_missing(shared: Option<&Path>, peer: &str) -> Option<String> {
    let Some(shared) = shared else {
        return Some("shared/bench is missing".into());
    };
    if !shared.join(format!("peers/{peer}.sh")).is_file() {
        return Some(format!("no shared/bench/peers/{peer}.sh"));
    }
    match peer {
        "litellm" if !shared.join(".venv/bin/litellm").is_file() => Some(
            "not installed: shared/bench/.venv/bin/litellm is missing (see shared/bench/README.md, Install)".into(),
        ),
        "portkey" if !shared.join("portkey/node_modules/@portkey-ai/gateway/build/start-server.js").is_file() => Some(
            "not installed: shared/bench/portkey/node_modules is missing (cd shared/bench/portkey && npm install)".into(),
        ),
        "nginx-proxy" if nginx_version().is_none() => Some("nginx is not installed".into()),
        _ => None,
    }
}

/// Starts `kind`, waits until it answers, checks it, and records its start-up.
pub fn start(ctx: &Ctx, kind: &Kind, rep: u32, port: u16) -> Result<Running> {
    match kind {
        Kind::Sluice { governance } => {
            let cfg = ctx.out.join(if *governance {
                "sluice-gov.toml"
            } else {
                "sluice.toml"
            });
            std::fs::write(&cfg, gateway_config::toml(ctx.mock_port, *governance))?;
            let mut cmd = boosted(ctx.nice, &ctx.sluice);
            cmd.arg("dataplane")
                .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
                .arg(&cfg)
                .env("SLUICE_LOG_FORMAT", "json");
            let endpoint = sluice_endpoint(port, *governance);
            let desc = format!(
                "sluice {} dataplane --config, {}",
                sluice_version(&ctx.sluice),
                if *governance {
                    "governance on: virtual key with request+token limits and budget"
                } else {
                    "governance off"
                }
            );
            let t0 = Instant::now();
            let guard = Guard::spawn(
                &kind.name(),
                cmd,
                &ctx.logs.join(format!("{}-r{rep}.log", kind.name())),
            )?;
            let pid = guard.pid;
            finish_start(
                kind,
                rep,
                desc,
                endpoint,
                &format!("http://127.0.0.1:{port}/health"),
                Duration::from_secs(30),
                t0,
                pid,
                guard,
            )
        }
        Kind::Serve => {
            let cfg = ctx.out.join("sluice-serve.toml");
            std::fs::write(&cfg, gateway_config::toml(ctx.mock_port, false))?;
            let data = ctx.out.join(format!("serve-data-r{rep}"));
            let _ = std::fs::remove_dir_all(&data);
            let mut cmd = boosted(ctx.nice, &ctx.sluice);
            cmd.arg("serve")
                .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
                .arg(&cfg)
                .arg("--data-dir")
                .arg(&data)
                .env("SLUICE_LOG_FORMAT", "json")
                .env_remove("SLUICE_ADMIN_TOKEN");
            let desc = format!(
                "sluice {} serve (SQLite control plane in a fresh data dir, admin API on loopback), governance off",
                sluice_version(&ctx.sluice)
            );
            let t0 = Instant::now();
            let guard = Guard::spawn(
                "sluice-serve",
                cmd,
                &ctx.logs.join(format!("sluice-serve-r{rep}.log")),
            )?;
            let pid = guard.pid;
            finish_start(
                kind,
                rep,
                desc,
                sluice_endpoint(port, false),
                &format!("http://127.0.0.1:{port}/health"),
                Duration::from_secs(30),
                t0,
                pid,
                guard,
            )
        }
        Kind::Peer(peer) => {
            let shared = ctx.shared.as_deref().context("shared/bench is missing")?;
            let vars = peer_vars(shared, peer)?;
            let get = |k: &str| {
                vars.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let endpoint = Endpoint {
                url: get("PEER_URL"),
                key: get("PEER_API_KEY"),
                headers: get("PEER_HEADERS")
                    .split('|')
                    .filter_map(|h| h.split_once(':'))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect(),
                model: get("PEER_MODEL"),
            };
            let proc_name = get("PEER_PROC");
            let timeout = get("PEER_READY_TIMEOUT").parse().unwrap_or(60);
            let t0 = Instant::now();
            let mut startc = peer_script(shared, peer, "peer_start");
            if let Some(n) = ctx.nice {
                startc.env("AUTOGROUP_NICE", n.to_string());
            }
            let status = startc.stdout(std::process::Stdio::null()).status()?;
            let pid = read_pid(&shared.join(format!("run/{proc_name}.pid")))
                .filter(|p| alive(*p) && status.success())
                .with_context(|| {
                    format!("{peer} did not start; see shared/bench/run/{proc_name}.log")
                })?;
            let guard = Guard::adopt(peer, pid, Some(peer_script(shared, peer, "peer_stop")))?
                .with_pid_file(shared.join(format!("run/{proc_name}.pid")));
            finish_start(
                kind,
                rep,
                get("PEER_DESC"),
                endpoint,
                &get("PEER_READY_URL"),
                Duration::from_secs(timeout),
                t0,
                pid,
                guard,
            )
        }
    }
}

/// The endpoint clients of Sluice use.
pub fn sluice_endpoint(port: u16, governance: bool) -> Endpoint {
    Endpoint {
        url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
        key: if governance {
            VK_CREDENTIAL.into()
        } else {
            "sk-bench".into()
        },
        headers: Vec::new(),
        model: MODEL.into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_start(
    kind: &Kind,
    rep: u32,
    desc: String,
    endpoint: Endpoint,
    ready_url: &str,
    timeout: Duration,
    t0: Instant,
    pid: u32,
    mut guard: Guard,
) -> Result<Running> {
    let mut info = StartInfo {
        target: kind.name(),
        rep,
        desc,
        started: false,
        startup_ready_ms: None,
        startup_chat_ms: None,
        rss_idle_kb: 0,
        pss_idle_kb: 0,
        nonstream_ok: false,
        stream_ok: false,
        note: None,
    };
    let deadline = t0 + timeout;
    while Instant::now() < deadline {
        if http1::request("GET", ready_url, &[], None, Duration::from_secs(2)).is_ok() {
            info.startup_ready_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
            break;
        }
        if !guard.alive() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if info.startup_ready_ms.is_none() {
        bail!(
            "{} did not answer {ready_url} within {}s",
            kind.name(),
            timeout.as_secs()
        );
    }
    while Instant::now() < deadline {
        if let Ok(r) = http1::post_json(
            &endpoint.url,
            &endpoint.key,
            &endpoint.headers,
            &chat_body(&endpoint.model, false),
        ) && r.status == 200
        {
            info.startup_chat_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    info.started = true;
    let (ns, st) = check(&endpoint);
    info.nonstream_ok = ns;
    info.stream_ok = st;
    let pids = procfs::tree(pid);
    info.rss_idle_kb = procfs::rss_kb(&pids);
    info.pss_idle_kb = procfs::pss_kb(&pids);
    Ok(Running {
        endpoint,
        pid,
        info,
        _guard: guard,
    })
}

/// One non-streaming and one streaming request: `(non-streaming ok, streaming ok)`.
pub fn check(ep: &Endpoint) -> (bool, bool) {
    let ns = http1::post_json(&ep.url, &ep.key, &ep.headers, &chat_body(&ep.model, false))
        .is_ok_and(|r| {
            r.status == 200
                && r.body.contains("\"chat.completion\"")
                && r.body.contains("\"usage\"")
        });
    let st = http1::post_json(&ep.url, &ep.key, &ep.headers, &chat_body(&ep.model, true))
        .is_ok_and(|r| {
            r.status == 200
                && r.body.contains("chat.completion.chunk")
                && r.body.contains("data: [DONE]")
        });
    (ns, st)
}

/// Polls `url` until it answers at all.
pub fn wait_ready(url: &str, limit: Duration) -> Result<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if http1::request("GET", url, &[], None, Duration::from_secs(2)).is_ok() {
            return Ok(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("{url} did not answer within {}s", limit.as_secs())
}

/// `bash -c 'source lib.sh; source peers/PEER.sh; FUNC'` in shared/bench.
fn peer_script(shared: &Path, peer: &str, func: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            r#"source "$1/lib.sh" && source "$1/peers/$2.sh" && {func}"#
        ))
        .arg("_")
        .arg(shared)
        .arg(peer);
    c
}

/// The `PEER_*` variables a peer file defines.
fn peer_vars(shared: &Path, peer: &str) -> Result<Vec<(String, String)>> {
    let names = [
        "PEER_URL",
        "PEER_READY_URL",
        "PEER_API_KEY",
        "PEER_HEADERS",
        "PEER_MODEL",
        "PEER_PROC",
        "PEER_DESC",
        "PEER_READY_TIMEOUT",
    ];
    let mut c = peer_script(
        shared,
        peer,
        &names
            .iter()
            .map(|n| format!(r#"printf '%s\n' "${{{n}:-}}""#))
            .collect::<Vec<_>>()
            .join(" && "),
    );
    let out = c.output().context("could not source the peer file")?;
    if !out.status.success() {
        bail!(
            "sourcing shared/bench/peers/{peer}.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(names
        .iter()
        .map(|n| n.to_string())
        .zip(text.lines().map(str::to_owned))
        .collect())
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `1.22.1`, or `None` if nginx (with the echo module the mock needs) is not installed.
pub fn nginx_version() -> Option<String> {
    if !Path::new("/usr/lib/nginx/modules/ngx_http_echo_module.so").exists() {
        return None;
    }
    let out = Command::new("nginx").arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    Some(text.rsplit('/').next()?.trim().to_owned())
}

/// `sluice --version` without the name.
pub fn sluice_version(sluice: &Path) -> String {
    Command::new(sluice)
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .trim_start_matches("sluice ")
                .to_owned()
        })
        .unwrap_or_default()
}

pub fn log(msg: &str) {
    eprintln!("[sluice-bench] {msg}");
}
