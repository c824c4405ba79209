//! A blocking, one-request-per-connection HTTP/1.1 client for everything that is not load:
//! readiness polls, the functional checks before a target is measured, and the admin-API calls
//! of the config-churn test. Loopback only.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// One answer: status and the raw body (chunk-size lines included when chunked; callers only
/// look for markers in it).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// `METHOD url` with optional body and headers; `Connection: close`, read to the end.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    timeout: Duration,
) -> Result<Reply> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("only http:// URLs: {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    if !(host == "127.0.0.1" || host == "localhost" || host == "[::1]") {
        bail!("the bench only talks to this machine, not {host}");
    }
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut s = TcpStream::connect(&addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    if let Some(b) = body {
        s.write_all(b.as_bytes())?;
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no HTTP status from {url}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok(Reply { status, body })
}

/// A JSON POST with a bearer token and extra headers.
pub fn post_json(url: &str, key: &str, extra: &[(String, String)], body: &str) -> Result<Reply> {
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Authorization".to_owned(), format!("Bearer {key}")),
    ];
    headers.extend(extra.iter().cloned());
    request("POST", url, &headers, Some(body), Duration::from_secs(30))
}
