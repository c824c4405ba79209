//! `sluice-bench sse-load`: a small open-loop HTTP/1.1 load client that measures what wrk and
//! oha cannot — the time to the first SSE `data:` line (time to first token) as well as to the
//! end of the stream.
//!
//! Honest about coordinated omission: a dedicated thread decides when each request is due
//! (`t0 + i / rate`, with `std::thread::sleep`, ~50-100 µs late at worst) and every latency is
//! counted from that due time, so a request that waited for a free connection (at most
//! `--conns` are open) carries its wait. It runs on one tokio thread, like wrk's one thread.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::{Mutex, mpsc};

use super::{Endpoint, LoadStats, Percentiles, chat_body, run_tool, tool_command};

/// Flags of `sluice-bench sse-load`.
#[derive(Debug, Clone, clap::Args)]
pub struct SseLoadArgs {
    /// Chat completions URL (http://127.0.0.1:PORT/...; loopback only).
    #[arg(long)]
    pub url: String,
    /// Bearer token.
    #[arg(long, default_value = "sk-bench")]
    pub key: String,
    /// Extra header `Name: value` (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    #[arg(long, default_value = "gpt-4o-mini")]
    pub model: String,
    /// Requests per second (fixed rate).
    #[arg(long)]
    pub rate: u32,
    /// Most connections open at once.
    #[arg(long, default_value_t = 32)]
    pub conns: u32,
    /// Seconds of load.
    #[arg(long)]
    pub secs: u64,
    /// Send `"stream": false` instead (then "ttft" is the time to the first body bytes).
    #[arg(long)]
    pub no_stream: bool,
}

/// Runs the client in its own boosted process (so its CPU and niceness are accounted like
/// wrk's and oha's) and returns what it measured.
#[allow(clippy::too_many_arguments)]
pub fn run(
    exe: &Path,
    ep: &Endpoint,
    rps: u32,
    conc: u32,
    secs: u64,
    log: &Path,
    nice: Option<i32>,
) -> Result<LoadStats> {
    let mut cmd = tool_command(nice, exe);
    cmd.args([
        "sse-load", "--url", &ep.url, "--key", &ep.key, "--model", &ep.model,
    ])
    .args(["--rate", &rps.to_string(), "--conns", &conc.to_string()])
    .args(["--secs", &secs.to_string()]);
    for (k, v) in &ep.headers {
        cmd.args(["--header", &format!("{k}: {v}")]);
    }
    let out = run_tool("sse-load", cmd, log, Duration::from_secs(secs + 40))?;
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("sse-load printed no result (see {})", log.display()))?;
    serde_json::from_str(line).context("sse-load's result line")
}

/// One finished request.
struct Sample {
    ttft_ns: u64,
    total_ns: u64,
    ok: bool,
}

/// The client itself (the `sse-load` subcommand).
pub fn client(a: &SseLoadArgs) -> Result<LoadStats> {
    if a.rate == 0 || a.secs == 0 || a.conns == 0 {
        bail!("--rate, --secs and --conns must be greater than 0");
    }
    let uri: http::Uri = a.url.parse().context("--url")?;
    let host = uri.host().context("--url has no host")?;
    if !(host == "127.0.0.1" || host == "localhost" || host == "[::1]") {
        bail!("sse-load only targets this machine (127.0.0.1, localhost or [::1]), not {host}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(drive(a, uri))
}

struct Shared {
    /// Origin-form request target (`/v1/chat/completions`).
    path: http::Uri,
    addr: String,
    authority: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    stream: bool,
    due: Mutex<mpsc::UnboundedReceiver<Instant>>,
}

async fn drive(a: &SseLoadArgs, uri: http::Uri) -> Result<LoadStats> {
    let authority = uri
        .authority()
        .context("--url has no authority")?
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let host = uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("authorization".to_owned(), format!("Bearer {}", a.key)),
    ];
    for h in &a.headers {
        let (k, v) = h.split_once(':').context("--header wants `Name: value`")?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        addr: format!("{host}:{port}"),
        authority,
        path: uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .context("--url path")?,
        headers,
        body: Bytes::from(chat_body(&a.model, !a.no_stream)),
        stream: !a.no_stream,
        due: Mutex::new(rx),
    });
    let total = u64::from(a.rate) * a.secs;
    let period = Duration::from_secs_f64(1.0 / f64::from(a.rate));
    let t0 = Instant::now() + Duration::from_millis(20);
    // The schedule runs on its own thread: tokio's timer has millisecond granularity.
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let due = t0 + period.mul_f64(i as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if tx.send(due).is_err() {
                break;
            }
        }
    });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..a.conns {
        workers.spawn(worker(shared.clone()));
    }
    let mut samples = Vec::with_capacity(total as usize);
    let deadline = t0 + Duration::from_secs(a.secs + 15);
    loop {
        match tokio::time::timeout_at(deadline.into(), workers.join_next()).await {
            Ok(Some(done)) => samples.extend(done.context("an sse-load worker panicked")?),
            Ok(None) => break,
            Err(_) => {
                workers.abort_all();
                break;
            }
        }
    }
    let _ = pacer.join();
    let elapsed = t0.elapsed().as_secs_f64().min(a.secs as f64 + 15.0);
    let answered = samples.len() as u64;
    let failed = samples.iter().filter(|s| !s.ok).count() as u64 + (total - answered.min(total));
    let (mut ttft, mut lat): (Vec<u64>, Vec<u64>) = samples
        .iter()
        .filter(|s| s.ok)
        .map(|s| (s.ttft_ns, s.total_ns))
        .unzip();
    Ok(LoadStats {
        requests: answered,
        errors: failed,
        duration_s: elapsed,
        rps: answered as f64 / elapsed.max(1e-9),
        lat: Percentiles::of_nanos(&mut lat),
        ttft: Some(Percentiles::of_nanos(&mut ttft)),
    })
}

async fn worker(shared: Arc<Shared>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let due = {
            let mut rx = shared.due.lock().await;
            match rx.recv().await {
                Some(d) => d,
                None => break,
            }
        };
        let sample = match one(&shared, &mut conn, due).await {
            Ok(s) => s,
            Err(_) => {
                conn = None;
                Sample {
                    ttft_ns: 0,
                    total_ns: due.elapsed().as_nanos() as u64,
                    ok: false,
                }
            }
        };
        samples.push(sample);
    }
    samples
}

async fn one(
    shared: &Shared,
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    due: Instant,
) -> Result<Sample> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        let tcp = tokio::net::TcpStream::connect(&shared.addr).await?;
        tcp.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        *conn = Some(sender);
    }
    let sender = conn.as_mut().expect("connected above");
    sender.ready().await?;
    let mut req = http::Request::post(shared.path.clone())
        .header(http::header::HOST, &shared.authority)
        .body(Full::new(shared.body.clone()))?;
    for (k, v) in &shared.headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes())?,
            http::HeaderValue::from_str(v)?,
        );
    }
    let res = sender.send_request(req).await?;
    let status_ok = res.status().is_success();
    let mut body = res.into_body();
    let mut ttft_ns = None;
    // The last bytes seen, so that a marker split across two reads is still found.
    let mut window: Vec<u8> = Vec::with_capacity(256);
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        window.extend_from_slice(data);
        if ttft_ns.is_none() && (!shared.stream || contains(&window, b"data:")) {
            ttft_ns = Some(due.elapsed().as_nanos() as u64);
        }
        if window.len() > 64 {
            window.drain(..window.len() - 64);
        }
    }
    let total_ns = due.elapsed().as_nanos() as u64;
    let complete = !shared.stream || contains(&window, b"[DONE]");
    Ok(Sample {
        ttft_ns: ttft_ns.unwrap_or(total_ns),
        total_ns,
        ok: status_ok && complete,
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u64> = (1..=1000).map(|i| i * 1_000_000).collect();
        let p = Percentiles::of_nanos(&mut v);
        assert_eq!((p.p50, p.p99, p.p999, p.max), (500.0, 990.0, 999.0, 1000.0));
    }

    #[test]
    fn markers_split_across_reads_are_found() {
        assert!(contains(b"xxda\ndata: {", b"data:"));
        assert!(!contains(b"dat", b"data:"));
    }
}
