//! Tutorial 3's web page in a real browser: `cargo xtask demo` against the local cloud, driven
//! through Debian's Chromium by playwright-core (`web/tests/browser.mjs`). Screenshots of every
//! step are kept in `<target>/tmp/demo-screenshots/`.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{root, summary, venv, Cloud};
use serde_json::Value;

/// The demo server, stopped (SIGINT, as Ctrl-C) when dropped.
struct Demo {
    child: Child,
    url: String,
    out: PathBuf,
    err: PathBuf,
}

impl Demo {
    fn start(state: &Path, logs: &Path) -> Demo {
        Demo::start_with(state, logs, &[])
    }

    fn start_with(state: &Path, logs: &Path, args: &[&str]) -> Demo {
        let (out, err) = (logs.join("demo.out"), logs.join("demo.err"));
        let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["demo", "--port", "0", "--output-format", "json"])
            .args(args)
            .env("XTASK_STATE_DIR", state)
            .env("XTASK_VENV", venv())
            .env_remove("XTASK_ENV")
            .env_remove("XTASK_TARGET")
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let mut demo = Demo { child, url: String::new(), out, err };
        // The first start builds the page (npm ci, vite build): minutes on a new machine.
        let deadline = Instant::now() + Duration::from_secs(600);
        while demo.url.is_empty() {
            let text = std::fs::read_to_string(&demo.out).unwrap_or_default();
            if let Some(e) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|e| e["type"] == "demo")
            {
                demo.url = e["url"].as_str().unwrap().to_string();
            } else if let Ok(Some(status)) = demo.child.try_wait() {
                panic!("the demo stopped ({status}): {}", demo.logs());
            } else {
                assert!(Instant::now() < deadline, "the demo did not start: {}", demo.logs());
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        demo
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
            + &std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// The printed URL without its token.
    fn base(&self) -> &str {
        self.url.split_once('?').map_or(self.url.as_str(), |(b, _)| b)
    }

    /// Status line and body of a raw HTTP/1.1 request (headers exactly as given).
    fn raw(&self, request: &str) -> (u16, String) {
        let addr = self.base().trim_start_matches("http://").trim_end_matches('/');
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, answer)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `web/tests/<script>` against the demo in Debian's Chromium, screenshots in the target's
/// tmp dir under `shots`; fails the test on any failed case. Its report and everything it printed.
fn browser(demo: &Demo, script: &str, shots: &str, extra: &[&str]) -> (Value, String) {
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(shots);
    let _ = std::fs::remove_dir_all(&shots);
    let browser = Command::new("node")
        .arg(format!("tests/{script}"))
        .arg(&demo.url)
        .arg(&shots)
        .args(extra)
        .current_dir(root().join("web"))
        .stderr(Stdio::inherit())
        .output()
        .expect("node (Node.js 20 or later) runs the browser test");
    let text = String::from_utf8_lossy(&browser.stdout).to_string();
    let report: Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from {script}: {text}\n{}", demo.logs()));
    eprintln!(
        "{script}: {} passed, {} failed, first load {} ms, screenshots in {}",
        report["passed"],
        report["failed"],
        report["first_load_ms"],
        shots.display()
    );
    let failed: Vec<&Value> =
        report["cases"].as_array().unwrap().iter().filter(|c| c["ok"] != true).collect();
    assert!(failed.is_empty(), "{failed:#?}\n{}", demo.logs());
    assert!(browser.status.success());
    (report, text)
}

#[test]
fn the_demo_page_shows_each_user_only_their_own_data_in_a_real_browser() {
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM_PATH").is_some(),
        "the browser test needs Debian's Chromium: apt-get install chromium (or set CHROMIUM_PATH)"
    );
    let cloud = Cloud::up();
    // Tutorial 3 alone on an empty environment deploys 1 and 2 with it.
    let up = cloud.ok(&["deploy", "--tutorial", "3"]);
    assert_eq!(summary(&up)["counts"]["create"], 50, "{}", summary(&up));
    let logs = tempfile::tempdir().unwrap();
    let demo = Demo::start(cloud.state.path(), logs.path());
    let host = demo.base().trim_start_matches("http://").trim_end_matches('/').to_string();
    let token =
        demo.url.split_once("?token=").expect("the printed URL carries a token").1.to_string();

    // The API answers only the person who started the demo: without the run's cookie, 401;
    // a wrong token, 403; the printed URL's token becomes an HttpOnly, SameSite=Strict cookie.
    let (status, answer) =
        demo.raw(&format!("GET /api/agents HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
    assert_eq!(status, 401, "{answer}");
    let (status, _) = demo.raw(&format!(
        "GET /?token=not-{token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(status, 403);
    let (status, answer) = demo
        .raw(&format!("GET /?token={token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
    assert_eq!(status, 303, "{answer}");
    assert!(answer.to_lowercase().contains("httponly; samesite=strict"), "{answer}");
    let cookie = format!("Cookie: agentcore_mt_demo={token}\r\n");
    let (status, answer) = demo.raw(&format!(
        "GET /api/agents HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"
    ));
    assert_eq!(status, 200, "{answer}");

    // Only requests for its own address, from its own origin (no DNS rebinding, no CSRF).
    let (status, _) =
        demo.raw("GET /api/agents HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 403);
    let body = r#"{"agent":"claims","username":"mike-broker-a"}"#;
    let (status, _) = demo.raw(&format!(
        "POST /api/sign-in HTTP/1.1\r\nHost: {host}\r\nOrigin: http://attacker.example\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(status, 403, "a cross-origin sign-in was not refused");
    // Only the listed demo users sign in without a password.
    let body = r#"{"agent":"claims","username":"admin"}"#;
    let (status, answer) = demo.raw(&format!(
        "POST /api/sign-in HTTP/1.1\r\nHost: {host}\r\n{cookie}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(status, 400, "{answer}");
    let (status, page) =
        demo.raw(&format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
    assert_eq!(status, 200);
    assert!(page.contains("content-security-policy: default-src 'self'"), "{page}");

    let (report, text) = browser(&demo, "browser.mjs", "demo-screenshots", &[]);
    let shots = PathBuf::from(report["screenshots"].as_str().unwrap());
    assert!(report["passed"].as_u64().unwrap() >= 23, "{report}");
    assert!(shots.join("01-start.png").is_file());

    // Issue 28 item 10: the environment destroyed and deployed again while the demo runs (new
    // app clients, new runtimes). Destroyed: a sign-in says the agent is not deployed and how to
    // deploy it; deployed again: the server reads the agents anew and the sign-in works, without
    // a restart.
    let sign_in = || {
        let body = r#"{"agent":"claims","username":"mike-broker-a"}"#;
        demo.raw(&format!(
            "POST /api/sign-in HTTP/1.1\r\nHost: {host}\r\n{cookie}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    let (status, answer) = sign_in();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(summary(&cloud.ok(&["destroy", "--tutorial", "3"]))["counts"]["delete"], 4);
    let (status, answer) = sign_in();
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer.contains("not_deployed") && answer.contains("(cargo xtask deploy --tutorial 3)"),
        "{answer}"
    );
    assert_eq!(summary(&cloud.ok(&["deploy", "--tutorial", "3"]))["counts"]["create"], 4);
    let (status, answer) = sign_in();
    assert_eq!(status, 200, "a stale demo server: {answer}\n{}", demo.logs());
    assert!(answer.contains("access_token") && answer.contains("broker-a"), "{answer}");
    assert!(demo.logs().contains("reading its agents again"), "{}", demo.logs());

    // No demo user's password in anything the demo or the browser test printed.
    let demo_logs = demo.logs();
    drop(demo);
    let secrets: Vec<Value> =
        serde_json::from_value(cloud.emulator("secrets", "agentcore-mt-dev-")).unwrap();
    for s in &secrets {
        let pw = s["value"].as_str().unwrap();
        assert!(!demo_logs.contains(pw), "{} was printed by the demo", s["secret"]);
        assert!(!text.contains(pw), "{} reached the browser test's output", s["secret"]);
    }
    let gone = cloud.ok(&["destroy", "--tutorial", "3"]);
    assert_eq!(summary(&gone)["counts"]["delete"], 4);
}

/// Tutorial 4's view in the demo (its API, as the page uses it): the tools agent is listed as
/// such; one sign-in is one conversation, so the agent recalls what was asked in it, and another
/// broker's sign-in recalls none of it; what the policies refuse reaches the page in the policy
/// engine's words.
#[test]
fn the_demo_shows_the_tools_agent_and_its_memory_per_sign_in() {
    let cloud = Cloud::up();
    cloud.ok(&["deploy", "--tutorial", "4"]);
    let logs = tempfile::tempdir().unwrap();
    let demo = Demo::start_with(cloud.state.path(), logs.path(), &["--tutorial", "4"]);
    let host = demo.base().trim_start_matches("http://").trim_end_matches('/').to_string();
    let token = demo.url.split_once("?token=").unwrap().1.to_string();
    let cookie = format!("Cookie: agentcore_mt_demo={token}\r\n");
    let post = |path: &str, bearer: Option<&str>, body: &str| {
        let auth = bearer.map(|b| format!("Authorization: Bearer {b}\r\n")).unwrap_or_default();
        demo.raw(&format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    let (status, listed) = demo.raw(&format!(
        "GET /api/agents HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"
    ));
    assert_eq!(status, 200, "{listed}");
    assert!(
        listed.contains("Tools agent (tutorial 4)") && listed.contains("tools_agent"),
        "{listed}"
    );
    let sign_in = |user: &str| {
        let (status, answer) = post(
            "/api/sign-in",
            None,
            &format!(r#"{{"agent":"tools_agent","username":"{user}"}}"#),
        );
        assert_eq!(status, 200, "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let start = body.find('{').unwrap_or(0);
        let v: Value = serde_json::from_str(body[start..].trim_end_matches(|c| c != '}')).unwrap();
        v["access_token"].as_str().unwrap().to_string()
    };
    let ask = |bearer: &str, prompt: &str| {
        let (status, answer) = post(
            "/api/invoke",
            Some(bearer),
            &serde_json::json!({"agent": "tools_agent", "prompt": prompt}).to_string(),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let mike = sign_in("mike-broker-a");
    let marker = format!("web-memory-{}", std::process::id());
    let first = ask(&mike, &format!("Show me all claims, reference {marker}"));
    assert!(first.contains("CLM-A-001") && first.contains(r#""type":"done""#), "{first}");
    let recalled = ask(&mike, "What did I ask before?");
    assert!(recalled.contains(&marker), "not recalled in the same sign-in: {recalled}");
    let emma = sign_in("emma-broker-b");
    let theirs = ask(&emma, "What did I ask before?");
    assert!(!theirs.contains(&marker) && theirs.contains("memory, tenant broker-b"), "{theirs}");
    let denied = ask(&mike, "File a home claim of 20000 USD for Mallory");
    assert!(denied.contains("Tool call not allowed due to policy enforcement"), "{denied}");

    // The same in a real browser: the page's own sign-in, answer, sources panel and sign-out.
    let marker = format!("browser-memory-{}", std::process::id());
    let (report, _) = browser(&demo, "browser-tools.mjs", "demo-tools-screenshots", &[&marker]);
    assert_eq!(report["passed"], 6, "{report}");
    drop(demo);
    cloud.ok(&["destroy", "--tutorial", "4"]);
}
