//! The command line as people and CI meet it, on a local cloud of its own: Ctrl-C during a
//! deploy, plan against the deploy that follows it, human output, the confirmation on AWS, and
//! an AWS that does not answer.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{empty_inventory, events, root, summary, Cloud};
use serde_json::Value;

/// The psql of the PostgreSQL the local cloud runs (Debian keeps it beside initdb).
fn psql() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|v| v.path().join("bin/psql"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| "psql".into())
}

/// Sessions of the local clusters' PostgreSQL servers left `idle in transaction` (a run that
/// stopped while holding a transaction's locks).
fn idle_in_transaction(cloud: &Cloud) -> usize {
    let dir = cloud.state.path().join("local/clusters");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(pid) = std::fs::read_to_string(entry.path().join("postmaster.pid")) else {
            continue;
        };
        let lines: Vec<&str> = pid.lines().collect();
        // The pid file is written in steps: one read before its port and socket lines are in
        // holds no session to count.
        if lines.len() < 5 || lines[4].is_empty() {
            continue;
        }
        // A server still starting (its pid file is written before its socket) or stopping (an
        // auto-pause) accepts no connections and so holds no session. Seen in a CI run.
        let socket = std::path::Path::new(lines[4]).join(format!(".s.PGSQL.{}", lines[3]));
        if !socket.exists() {
            continue;
        }
        let out = Command::new(psql())
            .args(["-h", lines[4], "-p", lines[3], "-U", "postgres", "-d", "postgres"])
            .args([
                "-Atc",
                "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'",
            ])
            .output()
            .unwrap();
        // The server of a cluster destroyed by an earlier round is stopped by the local Data
        // API's garbage collection, which may happen between the check above and psql's
        // connection, or during it (both seen in CI: "server closed the connection
        // unexpectedly" with the socket still there): a server stopping holds no session either.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stopping = ["server closed the connection unexpectedly", "shutting down"]
            .iter()
            .any(|m| stderr.contains(m));
        if !out.status.success() && (!socket.exists() || stopping) {
            continue;
        }
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        n += String::from_utf8_lossy(&out.stdout).trim().parse::<usize>().unwrap();
    }
    n
}

/// Counts of a plan or deploy summary, without the resources a plan cannot fail on.
fn counts(events: &[Value]) -> Value {
    summary(events)["counts"].clone()
}

/// Sends SIGINT (by pid) to a full deploy once `after` resources have finished; returns the
/// run's events and exit code.
fn deploy_interrupted(cloud: &Cloud, env: &str, after: usize) -> (Vec<Value>, Option<i32>) {
    let (events, code, _) = interrupted(cloud, &["deploy", "--env", env], after, 1);
    (events, code)
}

/// Runs `args` (JSON output) and sends it `signals` SIGINTs (by pid) once `after` resources
/// have finished: the second when the run has said it is stopping (a person pressing Ctrl-C
/// again while it waits for calls in flight). Its events, exit code and stderr.
fn interrupted(
    cloud: &Cloud,
    args: &[&str],
    after: usize,
    signals: usize,
) -> (Vec<Value>, Option<i32>, String) {
    let mut full = args.to_vec();
    full.extend(["--output-format", "json"]);
    let mut child = common::xtask(cloud.state.path(), &full)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (stopping_tx, stopping) = std::sync::mpsc::channel();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("interrupted:") {
                let _ = stopping_tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let sigint = |pid: u32| {
        let kill = Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
        assert!(kill.success());
    };
    let mut lines = Vec::new();
    let mut finished = 0;
    let mut sent = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["type"] == "resource" {
            finished += 1;
        }
        lines.push(event);
        if finished >= after && !sent {
            sigint(child.id());
            if signals > 1 {
                stopping
                    .recv_timeout(std::time::Duration::from_secs(20))
                    .expect("the run did not say it is stopping");
                sigint(child.id());
            }
            sent = true;
        }
    }
    let status = child.wait().unwrap();
    (lines, status.code(), errors.join().unwrap())
}

/// Issue 28 item 6: Ctrl-C during a destroy. What it did not reach is reported as interrupted
/// (status `interrupted`), not as orphans: the summary counts none, no orphan event names a
/// declared resource, and `report` says nothing of orphaned resources. A second Ctrl-C (here
/// during a deploy) stops at once and says how the lock it leaves is freed; the next run on
/// this machine takes it over at once and destroys everything.
#[test]
fn ctrl_c_during_destroy_reports_what_it_did_not_reach_not_orphans() {
    let cloud = Cloud::up();
    let env = "int-d";
    cloud.ok(&["deploy", "-t", "1", "--env", env]);
    let (events, code, _) = interrupted(&cloud, &["destroy", "-t", "1", "--env", env], 1, 1);
    let s = summary(&events);
    assert_eq!(s["interrupted"], true, "the destroy finished before the signal: {s}");
    assert_eq!(code, Some(130), "{s}");
    assert!(s["counts"]["interrupted"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["orphans"], 0, "resources the destroy did not reach counted as orphans: {s}");
    assert!(!events.iter().any(|e| e["type"] == "orphan"), "{events:?}");
    let not_reached: Vec<&Value> =
        events.iter().filter(|e| e["type"] == "resource" && e["status"] == "interrupted").collect();
    assert_eq!(
        not_reached.len() as u64,
        s["counts"]["interrupted"].as_u64().unwrap(),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e["type"] == "resource" && e["status"] == "failed"),
        "{events:?}"
    );
    let ndjson: String = events.iter().map(|e| format!("{e}\n")).collect();
    let mut report = common::xtask(cloud.state.path(), &["report"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut report.stdin.take().unwrap(), ndjson.as_bytes()).unwrap();
    let markdown = String::from_utf8(report.wait_with_output().unwrap().stdout).unwrap();
    assert!(!markdown.contains("orphaned"), "{markdown}");
    assert!(
        markdown.contains(" interrupted**") && markdown.contains("| interrupted: not started |"),
        "{markdown}"
    );

    // Ctrl-C twice during a deploy (calls in flight: the first stop waits for them): stopped at
    // once, the lock left held; the message says how it is freed.
    cloud.ok(&["destroy", "-t", "1", "--env", env]);
    let (events, code, stderr) = interrupted(&cloud, &["deploy", "-t", "1", "--env", env], 1, 2);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("stopped at once")
            && stderr.contains("takes it over at once")
            && stderr.contains("`cargo xtask unlock --env int-d`"),
        "{stderr}"
    );
    // Stopped at once: no summary (the process ended where it was).
    assert!(!events.iter().any(|e| e["type"] == "summary"), "{events:?}");
    // The next run (no --lock-timeout) takes the dead run's lease over at once and goes on.
    let next = cloud.ok(&["destroy", "-t", "1", "--env", env]);
    let s = summary(&next);
    assert_eq!(s["lock"]["took_over_from"]["command"], "deploy", "{s}");
    assert_eq!(s["orphans"], 0, "{s}");
    assert_eq!(cloud.inventory(env), empty_inventory());
}

/// Ctrl-C at several points of a full deploy: the run says so, starts nothing new, rolls back
/// its open SQL transactions, ends with a summary (`interrupted: true`) and exit 130. Each
/// time, a plan then lists exactly what the next deploy does (no failures for what does not
/// exist yet), that deploy converges, and destroy leaves nothing.
#[test]
fn ctrl_c_during_deploy_stops_cleanly_and_the_next_deploy_converges() {
    let cloud = Cloud::up();
    for (env, after) in [("int-a", 1), ("int-b", 12), ("int-c", 30)] {
        let (events, code) = deploy_interrupted(&cloud, env, after);
        let s = summary(&events);
        eprintln!("Ctrl-C after {after} resources: exit {code:?}, {}", s["counts"]);
        if s["interrupted"] == true {
            assert_eq!(code, Some(130), "{s}");
            assert_eq!(s["ok"], false, "{s}");
        } else {
            // The deploy finished before the signal arrived: a normal end.
            assert_eq!(code, Some(0), "{s}");
        }
        assert_eq!(idle_in_transaction(&cloud), 0, "a transaction was left open");
        let plan = cloud.ok(&["plan", "--env", env]);
        assert_eq!(counts(&plan)["failed"], 0, "plan after Ctrl-C at {after}: {plan:?}");
        let deploy = cloud.ok(&["deploy", "--env", env]);
        assert_eq!(summary(&deploy)["ok"], true);
        assert_eq!(counts(&plan), counts(&deploy), "plan and deploy after Ctrl-C at {after}");
        let again = cloud.ok(&["deploy", "--env", env]);
        assert_eq!(counts(&again)["noop"], 70, "{}", summary(&again));
        cloud.ok(&["destroy", "--env", env]);
        assert_eq!(cloud.inventory(env), empty_inventory(), "after Ctrl-C at {after}");
    }
}

/// A copy of the stacks directory, for edits a test makes.
fn stacks_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("stacks")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        std::fs::write(dir.path().join(&name), common::stack_text(&name)).unwrap();
    }
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} holds no `{from}`");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// For a run of edits, each plan announces exactly the actions of the deploy that follows:
/// a group's description (UpdateGroup), a document (sync and a new ingestion job), the
/// chunking (a replaced data source and the ingestion that goes with it), and back.
#[test]
fn each_plan_counts_what_the_following_deploy_does() {
    let cloud = Cloud::up();
    let stacks = stacks_copy();
    let docs = tempfile::tempdir().unwrap();
    let copy = Command::new("cp")
        .args(["-r"])
        .arg(root().join("sample-data/policies"))
        .arg(docs.path())
        .status()
        .unwrap();
    assert!(copy.success());
    let sample = root().join("sample-data/policies").display().to_string();
    let policies = docs.path().join("policies").display().to_string();
    edit(stacks.path(), "01-unstructured-rag.yaml", &sample, &policies);
    let dir = stacks.path().to_str().unwrap().to_string();
    let step = |what: &str| {
        let plan = cloud.ok(&["plan", "-t", "1", "--stacks-dir", &dir]);
        let deploy = cloud.ok(&["deploy", "-t", "1", "--stacks-dir", &dir]);
        let acting = |events: &[Value]| -> Vec<String> {
            events
                .iter()
                .filter(|e| e["type"] == "resource" && e["action"] != "noop")
                .map(|e| format!("{} {}", e["action"], e["id"]))
                .collect()
        };
        assert_eq!(
            counts(&plan),
            counts(&deploy),
            "{what}: {:?} vs {:?}",
            acting(&plan),
            acting(&deploy)
        );
        assert_eq!(counts(&deploy)["failed"], 0, "{what}");
        counts(&deploy)
    };
    assert_eq!(step("first deploy")["create"], 20);
    edit(
        stacks.path(),
        "01-unstructured-rag.yaml",
        "description: Regular tier customers",
        "description: Regular tier customers (edited)",
    );
    assert_eq!(step("a group's description")["update"], 1);
    let doc = docs.path().join("policies/regular/auto-insurance.md");
    let mut text = std::fs::read_to_string(&doc).unwrap();
    text.push_str("\nOne more line.\n");
    std::fs::write(&doc, text).unwrap();
    assert_eq!(step("a document")["update"], 2);
    edit(
        stacks.path(),
        "01-unstructured-rag.yaml",
        "chunk_max_tokens: 300",
        "chunk_max_tokens: 350",
    );
    let chunking = step("the chunking");
    assert_eq!((chunking["replace"].clone(), chunking["create"].clone()), (1.into(), 1.into()));
    edit(
        stacks.path(),
        "01-unstructured-rag.yaml",
        "chunk_max_tokens: 350",
        "chunk_max_tokens: 300",
    );
    step("the chunking back");
    assert_eq!(step("nothing")["noop"], 20);
    // Issue 28 item 1: the documents bucket renamed in the stack (a new bucket). What refers to
    // it (its role, the data source, the Knowledge Base and the agent behind them) exists: plan
    // must not announce them as creates (it said "8 create" where deploy made 2).
    let file = stacks.path().join("01-unstructured-rag.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("  documents:\n", "  docs:\n").replace("${documents.", "${docs."),
    )
    .unwrap();
    let renamed = step("the documents bucket renamed");
    assert_eq!(renamed["create"], 2, "the new bucket and its documents: {renamed}");
    // Item 2: the data source moved, so the Knowledge Base is ingested again, and what it
    // returns comes from the new bucket only (no vector of the old one's is left).
    assert_eq!(renamed["update"], 3, "kb_role, the data source, the ingestion: {renamed}");
    let asked = cloud.ok(&[
        "retrieve",
        "-t",
        "1",
        "--user",
        "john-regular",
        "--stacks-dir",
        &dir,
        "What is the deductible for auto insurance?",
    ]);
    let found = asked.iter().find(|e| e["type"] == "retrieval").unwrap();
    let uris: Vec<&str> =
        found["results"].as_array().unwrap().iter().map(|r| r["uri"].as_str().unwrap()).collect();
    assert!(!uris.is_empty(), "{found}");
    assert!(uris.iter().all(|u| u.contains("-t1-docs-")), "the old bucket's documents: {uris:?}");
    cloud.ok(&["destroy", "--stacks-dir", &dir]);
}

/// Runs in human mode: (exit code, stdout, stderr with times and call counts masked).
fn human(cloud: &Cloud, args: &[&str]) -> (Option<i32>, String, String) {
    let out = cloud.xtask(args);
    let mask = regex::Regex::new(r"\[\d+\.\ds\]|\(\d+ mutating and \d+ read API calls, [\d.]+s\)")
        .unwrap();
    let stderr = mask.replace_all(&String::from_utf8_lossy(&out.stderr), "[…]").to_string();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), stderr)
}

/// People see what changes (+ ~ -/+ -), not every unchanged resource; "No changes." when
/// nothing does; `status` is a table on stdout with totals; `cost` prices what is deployed;
/// destroy removes the cached outputs.
#[test]
fn human_output_shows_changes_and_status_is_a_table() {
    let cloud = Cloud::up();
    let (code, stdout, stderr) = human(&cloud, &["deploy", "-t", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.is_empty(), "human mode writes nothing on stdout: {stdout}");
    let created: Vec<&str> = stderr.lines().filter(|l| l.starts_with('✓')).collect();
    assert_eq!(created.len(), 21, "{stderr}"); // 20 resources and the summary
    assert!(created[..20].iter().all(|l| l.starts_with("✓   + create ")), "{stderr}");
    let outputs = cloud.state.path().join("outputs/local/dev.json");
    assert!(outputs.exists(), "deploy caches the outputs");

    let (_, _, again) = human(&cloud, &["deploy", "-t", "1"]);
    let (_, _, plan) = human(&cloud, &["plan", "-t", "1"]);
    let stacks = stacks_copy();
    edit(
        stacks.path(),
        "01-unstructured-rag.yaml",
        "description: Platinum tier customers",
        "description: Platinum tier customers (edited)",
    );
    let dir = stacks.path().to_str().unwrap();
    let (_, _, edited) = human(&cloud, &["plan", "-t", "1", "--stacks-dir", dir]);
    let (_, _, verbose) = human(&cloud, &["plan", "-t", "1", "-v", "--stacks-dir", dir]);
    assert_eq!(verbose.lines().filter(|l| l.starts_with("  = noop")).count(), 19);
    let (code, table, status_err) = human(&cloud, &["status", "-t", "1"]);
    assert_eq!(code, Some(0));
    assert!(status_err.is_empty(), "status writes its table on stdout: {status_err}");
    insta::assert_snapshot!(format!(
        "deploy again:\n{again}\nplan:\n{plan}\nplan after an edit:\n{edited}\nstatus:\n{table}"
    ));

    // The idle cost of what is deployed: one line per resource, priced from the committed
    // table, the total their sum.
    let cost = cloud.ok(&["cost", "-t", "1"]);
    let prices: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("xtask/prices/idle-monthly.json")).unwrap(),
    )
    .unwrap();
    let lines: Vec<&Value> = cost.iter().filter(|e| e["type"] == "cost").collect();
    assert_eq!(lines.len(), 20);
    let mut expected = 0.0;
    for l in &lines {
        let price = prices["kinds"][l["kind"].as_str().unwrap()]["monthly"].as_f64().unwrap();
        assert_eq!(l["monthly_usd"].as_f64().unwrap(), price, "{l}");
        expected += price;
    }
    let total = summary(&cost)["monthly_usd"].as_f64().unwrap();
    assert!((total - expected).abs() < 0.001, "{total} != {expected}");
    assert!(total > 0.4, "a secret at least: {total}");

    // What CI puts in its job summary: the JSON of deploy and cost, as Markdown.
    let mut ndjson = cloud.xtask(&["deploy", "-t", "1", "--output-format", "json"]).stdout;
    ndjson.extend(cloud.xtask(&["cost", "-t", "1", "--output-format", "json"]).stdout);
    let mut report = common::xtask(cloud.state.path(), &["report"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut report.stdin.take().unwrap(), &ndjson).unwrap();
    let markdown = String::from_utf8(report.wait_with_output().unwrap().stdout).unwrap();
    assert!(markdown.contains("### ✅ deploy of env `dev` on local\n\n20 noop in "), "{markdown}");
    assert!(
        markdown.contains(&format!("**${total:.2} per month while idle** (20 resources")),
        "{markdown}"
    );

    let (code, _, _) = human(&cloud, &["destroy", "-t", "1"]);
    assert_eq!(code, Some(0));
    assert!(!outputs.exists(), "destroy removes the cached outputs");
    let (_, table, _) = human(&cloud, &["status", "-t", "1"]);
    assert!(
        table.ends_with(
            "20 resources: 0 deployed, 20 not deployed, 0 failed (-v shows their outputs)\n"
        ),
        "{table}"
    );
}

/// `--target aws` against the local cloud's endpoints (AWS_ENDPOINT_URL): the plan comes first,
/// then the question; without a terminal to ask on, nothing is changed.
#[test]
fn on_aws_the_plan_comes_before_the_question() {
    let cloud = Cloud::up();
    let aws = |args: &[&str], vectors: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .args(["-t", "1", "--target", "aws", "--env", "confirm"])
            .env("XTASK_STATE_DIR", cloud.state.path())
            .env_remove("CI")
            .env("AWS_ENDPOINT_URL", cloud.endpoint("ministack"))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null());
        if let Some(url) = vectors {
            command.env("AWS_ENDPOINT_URL_S3VECTORS", url);
        }
        let out = command.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, stderr) = aws(&["deploy"], Some(cloud.endpoint("moto")));
    assert_eq!(code, Some(1), "{stderr}");
    let plan = stderr.find("  + create  unstructured-rag/user_pool").expect(&stderr);
    let refusal = stderr
        .find("refusing to change an AWS account without confirmation (20 to create planned above)")
        .expect(&stderr);
    assert!(plan < refusal, "{stderr}");
    // Declined: no lease and no deployment record are left; the lock bucket stays, so that
    // its global name is never free for another account to take.
    let locks = cloud.inventory("locks")["buckets"].clone();
    assert_eq!(locks.as_array().map(Vec::len), Some(1), "{locks}");
    assert_eq!(
        locks[0]["objects"],
        serde_json::json!([]),
        "a declined deploy left a lease or record"
    );
    // A plan with errors (S3 Vectors sent to an endpoint that is not S3 Vectors) stops before
    // the question.
    let (code, stderr) = aws(&["deploy"], None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the plan has errors (unstructured-rag/vectors"), "{stderr}");
    assert!(!stderr.contains("refusing"), "{stderr}");
    // Nothing to change: no question, and the run succeeds.
    let (code, stderr) = aws(&["destroy"], Some(cloud.endpoint("moto")));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("refusing") && !stderr.contains("Continue?"), "{stderr}");
    assert_eq!(cloud.inventory("confirm"), empty_inventory());
    // gc asks too: the environments it would destroy, then the refusal; nothing destroyed.
    cloud.ok(&["deploy", "-t", "1", "--env", "leaked"]);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["gc", "--older-than", "0s", "--target", "aws"])
        .env("XTASK_STATE_DIR", cloud.state.path())
        .env_remove("CI")
        .env("AWS_ENDPOINT_URL", cloud.endpoint("ministack"))
        .env("AWS_ENDPOINT_URL_S3VECTORS", cloud.endpoint("moto"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let listed = stderr.find("- leaked: its youngest resource is").expect(&stderr);
    let refusal = stderr
        .find("refusing to change an AWS account without confirmation (1 environment(s) to destroy, listed above)")
        .expect(&stderr);
    assert!(listed < refusal, "{stderr}");
    assert_ne!(cloud.inventory("leaked"), empty_inventory());
}

/// An AWS endpoint that refuses connections, or answers something that is not AWS: one
/// readable line naming the endpoint and the cause, the right hint, within seconds.
#[test]
fn an_unreachable_aws_is_named_in_one_line() {
    let state = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    // Something that answers every request with 404 and no AWS error.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let not_aws = format!("http://{}", server.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in server.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 65536];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
            );
        }
    });
    for (endpoint, cause) in [
        (&refused, "cannot connect: Connection refused"),
        (&not_aws, "answered HTTP 404 without an AWS error"),
    ] {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["status", "-t", "1", "--target", "aws", "--output-format", "json"])
            .env("XTASK_STATE_DIR", state.path())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let line = stderr.lines().find(|l| l.starts_with("error: ")).expect(&stderr);
        assert!(line.contains(endpoint.as_str()) && line.contains(cause), "{stderr}");
        assert!(
            !stderr.contains("DispatchFailure") && !stderr.contains("ConnectorError"),
            "{stderr}"
        );
        assert!(stderr.contains("hint: AWS did not answer"), "{stderr}");
        let events = events(&out);
        assert_eq!(events[1]["type"], "error");
        assert_eq!(summary(&events)["exit_code"], 1);
        eprintln!("{endpoint}: failed in {seconds:.1}s");
    }
}

/// Help that explains: every subcommand has examples, `--tutorial` lists what the stack files
/// define, no option repeats another's text, every option has a description; an unknown demo
/// user is invalid input (exit 2) for retrieve and invoke alike, with a hint naming the users.
/// Issue 28 item 7: a command line that does not parse still ends, in JSON mode, with an error
/// and a summary on stdout (it printed nothing there before), and exits 2.
#[test]
fn argument_errors_end_with_a_json_summary() {
    for args in [
        &["gc", "--older-than", "1x"][..],
        &["invoke", "-t", "2", "--user", "mike-broker-a"][..],
        &["deploy", "--enviroment", "pr-1"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .args(["--output-format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let events: Vec<Value> =
            common::events(&out).into_iter().filter(|e| e["type"] != "version").collect();
        assert_eq!(events.len(), 2, "{args:?}: {events:?}");
        assert_eq!(events[0]["type"], "error");
        assert_eq!(events[0]["kind"], "invalid_arguments", "{args:?}");
        assert!(!events[0]["message"].as_str().unwrap().is_empty());
        assert_eq!(events[1]["type"], "summary");
        assert_eq!(events[1]["command"], args[0]);
        assert_eq!(events[1]["ok"], false);
        assert_eq!(events[1]["exit_code"], 2);
        assert!(!out.stderr.is_empty(), "clap's message for people stays on stderr");
    }
    // `report` of nothing (an empty file, an empty pipe) is invalid input, not an empty report.
    let empty = tempfile::NamedTempFile::new().unwrap();
    for input in [Some(empty.path()), None] {
        let mut report = Command::new(env!("CARGO_BIN_EXE_xtask"));
        report.arg("report").args(input).args(["--output-format", "json"]).stdin(Stdio::null());
        let out = report.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{input:?}");
        let events = common::events(&out);
        let error = events.iter().find(|e| e["type"] == "error").expect("an error event");
        assert!(error["message"].as_str().unwrap().contains("no events to report"), "{error}");
        assert_eq!(summary(&events)["exit_code"], 2);
        assert!(!String::from_utf8_lossy(&out.stdout).contains("## agentcore-multitenant"));
    }
    // --help is not an error.
    let help = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["gc", "--help", "--output-format", "json"])
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
}

#[test]
fn help_and_messages() {
    let help = |args: &[&str]| {
        let out =
            Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).arg("--help").output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let top = help(&[]);
    let commands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 13, "{commands:?}");
    for c in &commands {
        let text = help(&[c]);
        assert!(text.contains("Examples:\n  cargo xtask "), "{c} has no examples:\n{text}");
        // An option's help line is followed by its description, never by the next option.
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.trim_start().starts_with("--") && !l.contains("  ") {
                let next = lines.get(i + 1).map(|n| n.trim()).unwrap_or_default();
                assert!(
                    !next.is_empty() && !next.starts_with('-'),
                    "{c}: `{}` has no description",
                    l.trim()
                );
            }
        }
    }
    let deploy = help(&["deploy"]);
    assert!(
        deploy.split_whitespace().collect::<Vec<_>>().join(" ").contains(
            "1 (unstructured-rag), 2 (structured-rls), 3 (enterprise-demo), 4 (tool-gateway), several with commas (1,2), or all"
        ),
        "{deploy}"
    );
    let package = help(&["package"]);
    let for_option = package.split("--for").nth(1).unwrap().split("-h, --help").next().unwrap();
    assert!(!for_option.contains("free, no account needed"), "{package}");
    assert!(for_option.contains("manylinux2014 aarch64"), "{package}");

    let state = tempfile::tempdir().unwrap();
    let bench = common::run(state.path(), &["bench", "--runs", "1"]);
    assert!(bench.status.success());
    assert!(
        String::from_utf8_lossy(&bench.stderr).contains(", 1 run:"),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );

    let cloud = Cloud::up();
    for args in [
        vec!["retrieve", "-t", "1", "--user", "nobody", "question"],
        vec!["retrieve", "-t", "2", "--user", "mike-broker-a", "question"],
        vec!["invoke", "-t", "1", "--user", "nobody", "question"],
    ] {
        let mut json = args.clone();
        json.extend(["--output-format", "json"]);
        let out = cloud.xtask(&json);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let events = events(&out);
        assert_eq!(events[1]["kind"], "unknown_user", "{args:?}: {events:?}");
        assert!(stderr.contains("hint: "), "{stderr}");
    }
    let out = cloud.xtask(&["retrieve", "-t", "2", "--user", "mike-broker-a", "question"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "retrieve works on tutorial 1 (its Knowledge Base), as john-regular or sarah-platinum"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `cargo xtask --help` lists each command on one short line, as cargo and kubectl do; the
/// detail is in `cargo xtask <command> --help`.
#[test]
fn help_lists_one_line_per_command() {
    let mut help = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    help.arg("--help").env_remove("COLUMNS");
    for var in
        ["XTASK_ENV", "XTASK_TARGET", "XTASK_STATE_DIR", "XTASK_STACKS_DIR", "XTASK_LOCK_TIMEOUT"]
    {
        help.env_remove(var); // (their values would show in the help)
    }
    let out = help.output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(commands.len() >= 15, "{help}");
    for line in &commands {
        assert!(!line.starts_with("   "), "a command's entry runs over one line: {line:?}\n{help}");
        assert!(line.len() <= 100, "{line:?}");
    }
    insta::assert_snapshot!(help);
    // The detail stays in the command's own help.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["verify", "--help"])
        .output()
        .unwrap();
    let verify = String::from_utf8(out.stdout).unwrap();
    assert!(verify.contains("Authorization headers"), "{verify}");
}

/// What may break another run's lock, or delete on AWS, names its environment: without --env
/// (or XTASK_ENV) `unlock` and `destroy --target aws` refuse (exit 2) before anything, since the
/// default `dev` may be someone else's live environment.
#[test]
fn breaking_or_deleting_on_aws_needs_the_environment_named() {
    let state = tempfile::tempdir().unwrap();
    for args in [&["unlock"][..], &["destroy", "--target", "aws"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env("XTASK_STATE_DIR", state.path())
            .env_remove("XTASK_ENV")
            .env_remove("XTASK_TARGET")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("needs the environment named: --env NAME"), "{args:?}: {stderr}");
        assert!(!state.path().join("local").exists(), "{args:?} started the local cloud");
    }
}

/// `permissions --parts DIR`: the deploy policy as managed policies (each within IAM's 6,144
/// characters, whitespace not counted), written as files, one event each; together the same
/// statements as the one document `permissions` prints.
#[test]
fn permissions_as_managed_policies_grant_what_the_one_document_does() {
    let dir = tempfile::tempdir().unwrap();
    let parts_dir = dir.path().join("policies");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["permissions", "--env", "pr-1", "-t", "1", "--output-format", "json", "--parts"])
        .arg(&parts_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = common::events(&out);
    let parts: Vec<&Value> = events.iter().filter(|e| e["type"] == "policy").collect();
    assert!(parts.len() >= 2, "{events:?}");
    let mut statements = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["part"], i + 1);
        let file = std::path::PathBuf::from(p["file"].as_str().unwrap());
        assert_eq!(
            file.file_name().unwrap().to_string_lossy(),
            format!("agentcore-mt-deploy-pr-1-{}.json", i + 1)
        );
        let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(written, p["document"]);
        assert!(serde_json::to_string(&written).unwrap().len() <= 6_144);
        statements.extend(written["Statement"].as_array().unwrap().clone());
    }
    let whole = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["permissions", "--env", "pr-1", "-t", "1"])
        .output()
        .unwrap();
    let whole: Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert_eq!(&statements, whole["Statement"].as_array().unwrap());
    // Every tutorial's policy is over a role's inline limit (10,240): one document is refused,
    // with the way out.
    let all = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["permissions", "--env", "pr-1"])
        .output()
        .unwrap();
    assert_eq!(all.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&all.stderr).contains("--parts"),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let human = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["permissions", "--env", "pr-1", "--parts"])
        .arg(&parts_dir)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&human.stderr);
    assert!(
        said.contains("aws iam create-policy --policy-name agentcore-mt-deploy-pr-1-1"),
        "{said}"
    );
}
