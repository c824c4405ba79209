//! `../shared/API.md` is the contract: its `curl` commands, run verbatim and in order with the
//! real `curl`, and its OpenAI SDK snippet, against `sluice serve`.
//!
//! The commands are read from API.md at test time, so an edit there is tested as it is. Only
//! what a reader must change is changed: `http://localhost:8080` becomes the test gateway, and
//! the documented placeholders (`<that id>`, `<team id>`) become the ids earlier commands
//! returned. The gateway's `openai` provider is `OPENAI_API_KEY` + `OPENAI_BASE_URL` pointing at
//! a `sluice mock`, so inference really answers.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sluice_store::testing::in_ci;

use crate::harness::{HttpClient, Proc, sdk_python, start_gateway, start_mock};

const DOC_BASE: &str = "http://localhost:8080";

fn api_md_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/API.md")
}

/// API.md's text; `None` (skipped, loudly) when it is not beside the repository outside CI.
fn api_md() -> Option<String> {
    let path = api_md_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if in_ci() => panic!(
            "the contract {} is required under CI ({e}); CI checks out ../shared beside the repository",
            path.display()
        ),
        Err(e) => {
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: API contract tests, cannot read {} ({e}); with CI set this fails",
                path.display()
            );
            None
        }
    }
}

/// The bodies of the fenced blocks of `lang` (```` ```bash ````), in order.
fn fenced_blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(info)) if info.trim() == lang => current = Some(String::new()),
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some(body), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The commands of a bash block as argument vectors, read the way bash reads them: `\` at a
/// line's end continues it, quotes span lines, `#` starts a comment. Anything that would make
/// bash do more than run one simple command (`$`, backquotes, `;`, `|`, `&`, redirections) is
/// refused, so the test never runs something other than what a reader pasting the block runs.
fn shell_commands(block: &str) -> Vec<Vec<String>> {
    let unsupported = |c: char| -> ! {
        panic!("API.md's bash block uses `{c}`, which this test does not interpret:\n{block}")
    };
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = block.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(escaped) => word.get_or_insert_default().push(escaped),
                None => unsupported('\\'),
            },
            '\'' => {
                let w = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => w.push(ch),
                        None => panic!("unterminated ' in API.md:\n{block}"),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(e @ ('"' | '\\' | '$' | '`')) => w.push(e),
                            Some(other) => {
                                w.push('\\');
                                w.push(other);
                            }
                            None => panic!("unterminated \" in API.md:\n{block}"),
                        },
                        Some(ch @ ('$' | '`')) => unsupported(ch),
                        Some(ch) => w.push(ch),
                        None => panic!("unterminated \" in API.md:\n{block}"),
                    }
                }
            }
            '#' if word.is_none() => while chars.next_if(|&n| n != '\n').is_some() {},
            ' ' | '\t' => words.extend(word.take()),
            '\n' => {
                words.extend(word.take());
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            '$' | '`' | ';' | '|' | '&' | '<' | '>' | '(' | ')' => unsupported(c),
            other => word.get_or_insert_default().push(other),
        }
    }
    words.extend(word);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

/// `argv` as one line to paste into a shell again (for messages).
fn shell_line(argv: &[String]) -> String {
    let words: Vec<String> = argv
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect();
    words.join(" ")
}

/// The first `<placeholder>` (lowercase words) left in `arg`, if any.
fn placeholder(arg: &str) -> Option<&str> {
    let mut rest = arg;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('>') {
            let inner = &after[..close];
            let is_word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase());
            if inner.split(' ').all(is_word) {
                return Some(&rest[open..open + close + 2]);
            }
        }
        rest = after;
    }
    None
}

/// The real `curl`; a missing one fails the test with what installs it.
async fn require_curl() {
    let found = tokio::process::Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .await;
    if !found.is_ok_and(|s| s.success()) {
        panic!(
            "`curl` is not installed, and API.md's commands are curl commands; install it with \
             `apt-get update && apt-get install -y curl`"
        );
    }
}

/// Runs one command line of API.md with the real curl; returns the status and body.
async fn run_curl(argv: &[String]) -> (u16, String) {
    // -q first: no ~/.curlrc. The rest only silences progress, bounds the time, keeps proxies
    // off loopback and appends the status; none of it changes the request.
    let out = tokio::process::Command::new("curl")
        .args(["-q", "-sS", "--noproxy", "*", "--max-time", "60"])
        .args(["-w", "\n%{http_code}"])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl failed ({}): {}{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let status = status.trim().parse().expect("curl's %{http_code}");
    (status, body.to_owned())
}

/// What running API.md's curl commands created.
struct ContractRun {
    customer_id: String,
    team_id: String,
    /// The body of the inference command's answer.
    inference: Value,
}

/// Runs every `curl` of API.md's bash blocks in order against `gw`, asserting each is a 2xx.
async fn run_api_md_curls(api_md: &str, gw: &Proc) -> ContractRun {
    require_curl().await;
    let base = format!("http://{}", gw.addr);
    let commands: Vec<Vec<String>> = fenced_blocks(api_md, "bash")
        .iter()
        .flat_map(|b| shell_commands(b))
        .collect();
    let mut previous_id: Option<String> = None;
    let mut team_id: Option<String> = None;
    let mut customer_id: Option<String> = None;
    let mut inference = None;
    for argv in &commands {
        let shown = shell_line(argv);
        assert_eq!(
            argv[0], "curl",
            "API.md's bash blocks hold curl commands: {shown}"
        );
        assert!(
            argv.iter().any(|a| a.starts_with(DOC_BASE)),
            "every command of API.md targets {DOC_BASE}: {shown}"
        );
        let argv: Vec<String> = argv
            .iter()
            .map(|arg| {
                let mut arg = arg.replace(DOC_BASE, &base);
                for (name, value) in [("<that id>", &previous_id), ("<team id>", &team_id)] {
                    if arg.contains(name) {
                        let value = value.as_deref().unwrap_or_else(|| {
                            panic!("{name} in `{shown}`, but no earlier command returned one")
                        });
                        arg = arg.replace(name, value);
                    }
                }
                if let Some(p) = placeholder(&arg) {
                    panic!("API.md has a placeholder this test does not know, {p}: {shown}");
                }
                arg
            })
            .collect();
        let (status, body) = run_curl(&argv).await;
        assert!(
            (200..300).contains(&status),
            "API.md's command does not work verbatim: {shown}\n→ {status} {body}"
        );
        let json: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("`{shown}` answered {status} with non-JSON ({e}): {body}"));
        previous_id = json["id"].as_str().map(str::to_owned);
        let url = argv.iter().find(|a| a.starts_with(&base)).expect("checked");
        if url.ends_with("/api/governance/teams") {
            team_id.clone_from(&previous_id);
        } else if url.ends_with("/api/governance/customers") {
            customer_id.clone_from(&previous_id);
        } else if url.ends_with("/v1/chat/completions") {
            inference = Some(json);
        }
    }
    ContractRun {
        customer_id: customer_id.expect("API.md creates a customer"),
        team_id: team_id.expect("API.md creates a team"),
        inference: inference.expect("API.md has an inference command"),
    }
}

/// `sluice serve` whose `openai` provider is the mock, as a user with `OPENAI_API_KEY` and
/// `OPENAI_BASE_URL` set starts it.
async fn gateway() -> (Proc, Proc) {
    let mock = start_mock(&[]).await;
    let base = mock.url("/v1");
    let gw = start_gateway(
        "",
        &[("OPENAI_API_KEY", "sk-test"), ("OPENAI_BASE_URL", &base)],
    )
    .await;
    (mock, gw)
}

async fn get_json(c: &HttpClient, url: &str) -> Value {
    let r = c
        .get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(
        r.status.is_success(),
        "GET {url}: {} {}",
        r.status,
        r.text()
    );
    r.json()
}

#[tokio::test]
async fn api_md_curl_commands_work_verbatim_in_order_and_build_the_documented_state() {
    let Some(api_md) = api_md() else { return };
    let (mock, gw) = gateway().await;
    let run = run_api_md_curls(&api_md, &gw).await;
    let c = HttpClient::new();

    let text = run.inference["choices"][0]["message"]["content"].as_str();
    assert!(text.is_some_and(|t| !t.is_empty()), "{}", run.inference);
    let stats = get_json(&c, &mock.url("/mock/stats")).await;
    assert_eq!(
        stats["keys"]["sk-test"]["ok"], 1,
        "the inference command reached the mock through OPENAI_API_KEY: {stats}"
    );

    // Providers: both keys stored, values never returned.
    let providers = c.get(&gw.url("/api/providers")).await.unwrap();
    assert_eq!(providers.status, 200, "{}", providers.text());
    let openai = get_json(&c, &gw.url("/api/providers/openai")).await;
    for listing in [providers.text(), openai.to_string()] {
        for secret in ["sk-1...", "sk-2...", "sk-test"] {
            assert!(!listing.contains(secret), "{secret} is returned: {listing}");
        }
    }
    let names: Vec<&str> = openai["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(names, ["key-1", "key-2"], "{openai}");
    assert_eq!(openai["network_config"]["max_retries"], 5, "{openai}");
    assert_eq!(openai["network_config"]["retry_backoff_initial_ms"], 1);
    assert_eq!(openai["network_config"]["retry_backoff_max_ms"], 10000);

    // vk-prod: the first PUT's provider_configs, merged with the last PUT's team and limit.
    let vk = get_json(&c, &gw.url("/api/governance/virtual-keys/vk-prod")).await;
    let configs: Vec<(&str, f64, u64)> = vk["provider_configs"]
        .as_array()
        .unwrap_or_else(|| panic!("provider_configs kept by the later PUT: {vk}"))
        .iter()
        .map(|p| {
            (
                p["provider"].as_str().unwrap_or_default(),
                p["weight"].as_f64().unwrap_or_default(),
                p["rate_limit"]["request_max_limit"]
                    .as_u64()
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        configs,
        [("openai", 0.8, 16000), ("anthropic", 0.2, 500)],
        "{vk}"
    );
    assert_eq!(vk["team_id"], run.team_id.as_str(), "{vk}");
    let limit = &vk["rate_limit"];
    assert_eq!(limit["request_max_limit"], 1000, "{vk}");
    assert_eq!(limit["request_reset_duration"], "1h", "{vk}");
    assert!(
        limit["token_max_limit"].is_null(),
        "a top-level field present in the PUT replaces the stored one as a whole: {vk}"
    );

    // The hierarchy: team → customer.
    let team = get_json(
        &c,
        &gw.url(&format!("/api/governance/teams/{}", run.team_id)),
    )
    .await;
    assert_eq!(team["name"], "Engineering", "{team}");
    assert_eq!(team["customer_id"], run.customer_id.as_str(), "{team}");
    assert_eq!(team["budget"]["max_limit"], 5000.0, "{team}");
    let customer = get_json(
        &c,
        &gw.url(&format!("/api/governance/customers/{}", run.customer_id)),
    )
    .await;
    assert_eq!(customer["name"], "Acme Corp", "{customer}");
    assert_eq!(customer["budget"]["reset_duration"], "1M", "{customer}");
}

/// Runs a snippet whose last statement is an expression and prints that value as JSON, so the
/// snippet itself runs unchanged.
const RUN_SNIPPET: &str = r#"
import ast, sys
tree = ast.parse(sys.stdin.read())
last = tree.body.pop()
if not isinstance(last, ast.Expr):
    sys.exit("the snippet's last statement is not an expression")
scope = {}
exec(compile(tree, "API.md", "exec"), scope)
print(eval(compile(ast.Expression(last.value), "API.md", "eval"), scope).model_dump_json())
"#;

#[tokio::test]
async fn api_md_python_snippet_routes_the_bare_model_through_vk_prod_to_openai() {
    let Some(api_md) = api_md() else { return };
    let Some(python) = sdk_python() else { return };
    let snippet = fenced_blocks(&api_md, "python")
        .into_iter()
        .next()
        .expect("API.md has a python snippet");
    let (mock, gw) = gateway().await;
    // The snippet's `vk-prod` is the one the management commands create.
    run_api_md_curls(&api_md, &gw).await;
    let c = HttpClient::new();
    let reset = c
        .post_json(&mock.url("/mock/reset"), &serde_json::json!({}), &[])
        .await;
    assert!(reset.status.is_success(), "{}", reset.text());

    let snippet = snippet.replace(DOC_BASE, &format!("http://{}", gw.addr));
    let mut child = tokio::process::Command::new(&python)
        .args(["-c", RUN_SNIPPET])
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("run {python}: {e}"));
    let mut stdin = child.stdin.take().expect("piped");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, snippet.as_bytes())
        .await
        .expect("write the snippet");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the snippet finishes within 120 s")
        .expect("the snippet runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "API.md's python snippet does not work verbatim:\n{snippet}\n{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: Value = serde_json::from_str(stdout.trim()).expect("the completion as JSON");
    let text = reply["choices"][0]["message"]["content"].as_str();
    assert!(text.is_some_and(|t| !t.is_empty()), "{reply}");

    // One request, served by the mock with one of the openai provider's keys from API.md.
    let stats = get_json(&c, &mock.url("/mock/stats")).await;
    assert_eq!(stats["totals"]["requests"], 1, "{stats}");
    let by_openai_keys: u64 = ["sk-1...", "sk-2..."]
        .iter()
        .filter_map(|k| stats["keys"][k]["ok"].as_u64())
        .sum();
    assert_eq!(by_openai_keys, 1, "{stats}");
}

#[test]
fn bash_blocks_split_into_commands_as_bash_reads_them() {
    let block = "curl -X POST http://x/a \\\n  -H \"Content-Type: application/json\" \\\n  -d '{\n  \"a\": 1\n}'\n# → a comment; then\ncurl http://x/b -d '{\"id\": \"<that id>\"}'\n";
    assert_eq!(
        shell_commands(block),
        [
            vec![
                "curl",
                "-X",
                "POST",
                "http://x/a",
                "-H",
                "Content-Type: application/json",
                "-d",
                "{\n  \"a\": 1\n}",
            ],
            vec!["curl", "http://x/b", "-d", "{\"id\": \"<that id>\"}"],
        ]
    );
    assert_eq!(
        shell_commands(r#"echo "a\"b\c" x#y"#),
        [["echo", r#"a"b\c"#, "x#y"]]
    );
}

#[test]
#[should_panic(expected = "does not interpret")]
fn bash_that_would_expand_or_chain_is_refused() {
    shell_commands("curl http://x -H \"Authorization: Bearer $SLUICE_ADMIN_TOKEN\"\n");
}

#[test]
fn fenced_blocks_are_found_by_language() {
    let md = "text\n```bash\ncurl a\n```\n\n```python\nprint(1)\n```\n```bash\ncurl b\n```\n";
    assert_eq!(fenced_blocks(md, "bash"), ["curl a\n", "curl b\n"]);
    assert_eq!(fenced_blocks(md, "python"), ["print(1)\n"]);
}

#[test]
fn unknown_placeholders_are_noticed() {
    assert_eq!(
        placeholder(r#"{"team_id": "<team id>"}"#),
        Some("<team id>")
    );
    assert_eq!(placeholder("a < b > c"), None);
    assert_eq!(placeholder("<Bearer> x"), None);
}
