//! A PostgreSQL for the database tests of `cargo xtask test`, found or started before the tests.
//!
//! In order: `DATABASE_URL` if set; else the machine's server at 127.0.0.1:5432 if it lets user
//! `postgres` in (as on the project's machines); else a throwaway cluster from the machine's
//! `initdb`/`pg_ctl` (`../shared/STACK.md` §3A: a temp dir owned by `postgres`, trust auth, a free
//! port, fsync off), stopped and removed when the run ends, failed runs included. The tests get
//! the result as `DATABASE_URL` (see `sluice_store::testing`).
//!
//! Without PostgreSQL installed this fails with the command that installs it: a database test
//! never skips silently, and `cargo xtask test` is what CI runs.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::run::{is_root, on_path};

/// The machine's server, as the project's machines run it (trust auth for `postgres`).
const MACHINE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MACHINE_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 5432);
/// The exact command that provides `initdb`/`pg_ctl` on Debian and Ubuntu.
const INSTALL: &str = "apt-get update && apt-get install -y postgresql";
/// Throwaway clusters live in `$TMPDIR/sluice-xtask-pg-<xtask pid>-<nanos>`.
const DIR_PREFIX: &str = "sluice-xtask-pg-";

/// The database the tests use; a throwaway cluster is stopped and removed when this is dropped.
pub struct TestPostgres {
    url: String,
    /// Keeps the throwaway cluster alive while the tests run.
    _cluster: Option<Cluster>,
}

impl TestPostgres {
    /// What the tests get as `DATABASE_URL`: a database of a role that may `CREATE DATABASE`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Finds or starts the PostgreSQL for this run, printing which one it is.
pub fn ensure() -> Result<TestPostgres> {
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        eprintln!("using DATABASE_URL from the environment: {}", redact(&url));
        return Ok(TestPostgres {
            url,
            _cluster: None,
        });
    }
    let why_not_machine = match machine_server() {
        Ok(note) => {
            eprintln!("using the machine's PostgreSQL: {MACHINE_URL}{note}");
            return Ok(TestPostgres {
                url: MACHINE_URL.to_owned(),
                _cluster: None,
            });
        }
        Err(why) => why,
    };
    eprintln!(
        "DATABASE_URL is not set and 127.0.0.1:5432 is not usable ({why_not_machine}); starting a throwaway cluster"
    );
    remove_stale_clusters();
    let cluster = Cluster::start()?;
    let url = cluster.url();
    eprintln!(
        "using a throwaway cluster ({}) in {}: {url}; it is stopped and removed when this run ends",
        cluster.version,
        cluster.dir.display()
    );
    Ok(TestPostgres {
        url,
        _cluster: Some(cluster),
    })
}

/// Whether 127.0.0.1:5432 lets user `postgres` in; `Ok` carries a note for the log line.
fn machine_server() -> std::result::Result<&'static str, String> {
    let addr = SocketAddr::from(MACHINE_ADDR);
    TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|e| format!("no connection: {e}"))?;
    let (host, port) = ("127.0.0.1", "5432");
    let mut verified = false;
    if let Some(pg_isready) = on_path("pg_isready") {
        let out = quiet(Command::new(pg_isready).args([
            "-h", host, "-p", port, "-U", "postgres", "-d", "postgres", "-t", "5",
        ]))
        .map_err(|e| format!("pg_isready: {e}"))?;
        if !out.status.success() {
            return Err(format!("pg_isready: {}", said(&out)));
        }
        verified = true;
    }
    // pg_isready does not log in; psql shows that trust auth for `postgres` really works.
    if let Some(psql) = on_path("psql") {
        let out = quiet(
            Command::new(psql)
                .args(["-X", "-w", "-h", host, "-p", port, "-U", "postgres"])
                .args(["-d", "postgres", "-tAc", "select 1"])
                .env("PGCONNECT_TIMEOUT", "5"),
        )
        .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() || String::from_utf8_lossy(&out.stdout).trim() != "1" {
            return Err(format!("psql as postgres: {}", said(&out)));
        }
        verified = true;
    }
    Ok(if verified {
        ""
    } else {
        " (a port that accepts TCP; neither pg_isready nor psql is installed to check it)"
    })
}

/// A cluster of our own under a temp dir: `data/`, `pg.log` and the Unix socket.
struct Cluster {
    dir: PathBuf,
    port: u16,
    pg_ctl: PathBuf,
    version: String,
    /// initdb refuses to run as root: as root, the server programs run as `postgres`.
    as_postgres: bool,
    started: bool,
}

impl Cluster {
    fn start() -> Result<Cluster> {
        let Some(initdb) = server_program("initdb") else {
            bail!(
                "no PostgreSQL for the database tests: DATABASE_URL is not set, 127.0.0.1:5432 \
                 does not answer, and PostgreSQL is not installed (no `initdb` on PATH, in \
                 `pg_config --bindir` or /usr/lib/postgresql/*/bin); install it with \
                 `{INSTALL}` (or set DATABASE_URL)"
            );
        };
        let pg_ctl = Some(initdb.with_file_name("pg_ctl"))
            .filter(|p| p.is_file())
            .or_else(|| server_program("pg_ctl"))
            .with_context(|| {
                format!(
                    "{} exists but pg_ctl does not; reinstall with `{INSTALL}`",
                    initdb.display()
                )
            })?;
        let version = quiet(Command::new(&initdb).arg("--version"))
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|_| "initdb".to_owned());
        let as_postgres = is_root();
        if as_postgres
            && !quiet(Command::new("id").args(["-u", "postgres"]))?
                .status
                .success()
        {
            bail!(
                "running as root, initdb must run as user `postgres`, which does not exist; \
                 install PostgreSQL with `{INSTALL}`"
            );
        }

        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // From here on, dropping the cluster removes the dir, whatever fails next.
        let mut cluster = Cluster {
            dir,
            port: free_port()?,
            pg_ctl,
            version,
            as_postgres,
            started: false,
        };
        if as_postgres {
            let chown = quiet(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&cluster.dir),
            )?;
            if !chown.status.success() {
                bail!("chown postgres {}: {}", cluster.dir.display(), said(&chown));
            }
        }

        let data = path_arg(&cluster.dir.join("data"))?;
        let init = cluster.run(
            &initdb,
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        if !init.status.success() {
            bail!("initdb failed: {}", said(&init));
        }

        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off",
            cluster.port,
            sh_quote(&path_arg(&cluster.dir)?)
        );
        let log = cluster.dir.join("pg.log");
        let start = cluster.run(
            &cluster.pg_ctl,
            &[
                "-D",
                &data,
                "-l",
                &path_arg(&log)?,
                "-w",
                "-o",
                &options,
                "start",
            ],
        )?;
        // Even a failed start may have left a server behind; stop it on drop either way.
        cluster.started = true;
        if !start.status.success() {
            let log_tail = std::fs::read_to_string(&log)
                .map(|l| tail(&l, 20))
                .unwrap_or_default();
            bail!(
                "pg_ctl start failed: {}\n{}:\n{log_tail}",
                said(&start),
                log.display()
            );
        }
        Ok(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs a server program, as `postgres` through `su` when we are root.
    fn run(&self, program: &Path, args: &[&str]) -> Result<Output> {
        let mut cmd = if self.as_postgres {
            let mut line = sh_quote(&path_arg(program)?);
            for a in args {
                line.push(' ');
                line.push_str(&sh_quote(a));
            }
            let mut su = Command::new("su");
            su.args(["postgres", "-c", &line]);
            su
        } else {
            let mut direct = Command::new(program);
            direct.args(args);
            direct
        };
        // Our own tests' PG* settings must not redirect the server programs.
        for var in ["PGDATA", "PGPORT", "PGHOST"] {
            cmd.env_remove(var);
        }
        quiet(&mut cmd)
    }

    fn stop(&self) -> std::result::Result<(), String> {
        let data = path_arg(&self.dir.join("data")).map_err(|e| e.to_string())?;
        let mut last = String::new();
        for mode in ["fast", "immediate"] {
            match self.run(&self.pg_ctl, &["-D", &data, "-m", mode, "-w", "stop"]) {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => last = said(&out),
                Err(e) => last = format!("{e:#}"),
            }
        }
        Err(last)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pid_file = self.dir.join("data").join("postmaster.pid");
        if self.started && pid_file.exists() {
            match self.stop() {
                Ok(()) => eprintln!(
                    "==> postgres: stopped the throwaway cluster in {}",
                    self.dir.display()
                ),
                Err(e) => eprintln!(
                    "xtask: warning: could not stop the throwaway cluster in {}: {e}",
                    self.dir.display()
                ),
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!(
                "xtask: warning: could not remove {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// Stops and removes the clusters of runs that were killed before they could (Ctrl-C): their
/// xtask process is gone. Only where `/proc` tells which processes live.
fn remove_stale_clusters() {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        if proc.join(pid.to_string()).exists() {
            continue;
        }
        let Some(pg_ctl) = server_program("pg_ctl") else {
            return;
        };
        eprintln!(
            "removing the throwaway cluster of an interrupted run: {}",
            entry.path().display()
        );
        drop(Cluster {
            dir: entry.path(),
            port: 0,
            pg_ctl,
            version: String::new(),
            as_postgres: is_root(),
            started: true,
        });
    }
}

/// The xtask pid in a throwaway cluster's dir name `sluice-xtask-pg-<pid>-<nanos>`.
fn owner_pid(dir_name: &str) -> Option<u32> {
    let rest = dir_name.strip_prefix(DIR_PREFIX)?;
    let (pid, nanos) = rest.split_once('-')?;
    nanos.parse::<u128>().ok()?;
    pid.parse().ok()
}

/// A PostgreSQL server program: on PATH, else in `pg_config --bindir`, else in Debian's
/// newest `/usr/lib/postgresql/<major>/bin` (Debian keeps them off PATH).
fn server_program(name: &str) -> Option<PathBuf> {
    if let Some(p) = on_path(name) {
        return Some(p);
    }
    let bindir = on_path("pg_config")
        .and_then(|pg_config| quiet(Command::new(pg_config).arg("--bindir")).ok())
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(p) = bindir.map(|d| d.join(name)).filter(|p| p.is_file()) {
        return Some(p);
    }
    let majors = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    let newest = majors
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path())))
        .filter(|(_, dir)| dir.join("bin").join(name).is_file())
        .max_by_key(|(major, _)| *major)?;
    Some(newest.1.join("bin").join(name))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs to completion with no input, capturing both streams.
fn quiet(cmd: &mut Command) -> Result<Output> {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {shown}"))
}

/// What a finished program said: its exit status and the last lines of its output.
fn said(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{} ({})", tail(text.trim(), 10), out.status)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn path_arg(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// One word for `sh -c`: unchanged when it is plain, else single-quoted.
fn sh_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=:,@%+".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A database URL with its password replaced by `***`, for printing.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_urls_hide_the_password_only() {
        assert_eq!(
            redact("postgres://gw:s3cr:et@db:5432/gw?sslmode=disable"),
            "postgres://gw:***@db:5432/gw?sslmode=disable"
        );
        assert_eq!(redact(MACHINE_URL), MACHINE_URL);
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn shell_words_survive_su_dash_c() {
        assert_eq!(
            sh_quote("/tmp/sluice-xtask-pg-1-2/data"),
            "/tmp/sluice-xtask-pg-1-2/data"
        );
        assert_eq!(sh_quote("-p 5 -k /tmp/x"), "'-p 5 -k /tmp/x'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn only_our_cluster_dirs_name_an_owner() {
        assert_eq!(
            owner_pid("sluice-xtask-pg-4242-1795517348123456789"),
            Some(4242)
        );
        assert_eq!(owner_pid("sluice-xtask-pg-4242"), None);
        assert_eq!(owner_pid("sluice-xtask-pg-x-1"), None);
        assert_eq!(owner_pid("pg-4242-1"), None);
    }

    #[test]
    fn only_the_tail_of_long_output_is_kept() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
