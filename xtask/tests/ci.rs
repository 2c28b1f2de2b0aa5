//! What a CI pipeline relies on: one run at a time per environment (the lease in S3), a reaper
//! for environments a pipeline left behind, and the GitHub Actions workflow itself, linted and
//! its shell steps run against the local cloud.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{events, root, summary, venv, Cloud};
use serde_json::Value;

/// Starts `args` (JSON output) and returns once it has reported its first resource: by then it
/// holds the environment's lock. The rest of its stdout is collected by a thread.
fn started(
    cloud: &Cloud,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, std::thread::JoinHandle<Vec<Value>>) {
    let mut child = common::xtask(cloud.state.path(), args)
        .args(["--output-format", "json"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut told = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let event: Value = serde_json::from_str(&line).unwrap();
            if !told && event["type"] == "resource" {
                let _ = tx.send(());
                told = true;
            }
            seen.push(event);
        }
        seen
    });
    rx.recv_timeout(Duration::from_secs(120)).expect("the run reported no resource");
    (child, reader)
}

/// Starts `args` with a lease of `lease_seconds` and kills it (SIGKILL: no chance to release)
/// once it holds the lock; its pid.
fn killed(cloud: &Cloud, args: &[&str], lease_seconds: &str) -> u32 {
    let (mut child, reader) = started(cloud, args, &[("XTASK_LOCK_LEASE_SECONDS", lease_seconds)]);
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = reader.join();
    pid
}

fn json_run(cloud: &Cloud, args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let mut full = args.to_vec();
    full.extend(["--output-format", "json"]);
    let out = cloud.xtask(&full);
    (out.status.code(), events(&out))
}

#[test]
fn two_runs_on_one_environment_never_interleave() {
    let cloud = Cloud::up();
    let (mut first, reader) = started(&cloud, &["deploy", "-t", "1", "--env", "pr-1"], &[]);
    let holder_pid = first.id();

    // Without --lock-timeout: refused at once, exit 3, naming the holder; nothing changed.
    let (code, refused) = json_run(&cloud, &["deploy", "-t", "1", "--env", "pr-1"]);
    assert_eq!(code, Some(3), "{refused:?}");
    let error = refused.iter().find(|e| e["type"] == "error").unwrap();
    assert_eq!(error["kind"], "locked");
    assert_eq!(error["holder"]["pid"], holder_pid);
    assert_eq!(error["holder"]["command"], "deploy");
    assert!(error["message"].as_str().unwrap().contains("cargo xtask unlock --env pr-1"));
    assert!(!refused.iter().any(|e| e["type"] == "resource"), "the refused run touched resources");

    // With --lock-timeout: waits for the first run, then finds everything converged.
    let waited = Instant::now();
    let (code, second) =
        json_run(&cloud, &["deploy", "-t", "1", "--env", "pr-1", "--lock-timeout", "2m"]);
    assert_eq!(code, Some(0), "{second:?}");
    let first_status = first.wait().unwrap();
    let first_events = reader.join().unwrap();
    assert!(first_status.success(), "{first_events:?}");
    assert_eq!(summary(&first_events)["counts"]["create"], 20);
    let s = summary(&second);
    assert_eq!(s["counts"]["noop"], 20, "the second run did not wait for the first: {s}");
    assert!(s["lock"]["waited_seconds"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(s["lock"]["took_over_from"], Value::Null);
    // The lease's calls are counted apart: a converged deploy still changes nothing of ours.
    assert_eq!(s["api_calls"]["mutating"], 0, "{s}");
    eprintln!(
        "second run waited {:.1}s for the first (lock: {})",
        waited.elapsed().as_secs_f64(),
        s["lock"]
    );

    // Another environment is never blocked by this one's lock.
    let (mut third, reader) = started(&cloud, &["destroy", "-t", "1", "--env", "pr-1"], &[]);
    let (code, other) = json_run(&cloud, &["plan", "-t", "1", "--env", "pr-2"]);
    assert_eq!(code, Some(0), "{other:?}");
    let (code, _) = json_run(&cloud, &["deploy", "-t", "1", "--env", "pr-2"]);
    assert_eq!(code, Some(0));
    assert!(third.wait().unwrap().success());
    assert_eq!(summary(&reader.join().unwrap())["counts"]["delete"], 20);
    cloud.ok(&["destroy", "--env", "pr-2"]);
}

#[test]
fn a_killed_holders_lease_expires_and_the_next_run_takes_over() {
    let cloud = Cloud::up();
    // A run killed (SIGKILL: no chance to release) while it holds a 3-second lease.
    let killed_pid = killed(&cloud, &["deploy", "-t", "1", "--env", "pr-3"], "3");
    let taken = Instant::now();
    let (code, next) =
        json_run(&cloud, &["deploy", "-t", "1", "--env", "pr-3", "--lock-timeout", "60s"]);
    assert_eq!(code, Some(0), "{next:?}");
    let s = summary(&next);
    assert_eq!(s["lock"]["took_over_from"]["pid"], killed_pid, "{s}");
    let waited = s["lock"]["waited_seconds"].as_f64().unwrap();
    assert!(waited < 60.0, "{s}");
    eprintln!(
        "took over a killed run's 3 s lease after {waited:.1}s (run total {:.1}s): {}",
        taken.elapsed().as_secs_f64(),
        s["counts"]
    );

    // A killed run with a long lease, on this machine: its pid is gone, so the next run takes
    // over at once instead of waiting 600 s.
    let killed_pid = killed(&cloud, &["deploy", "-t", "1", "--env", "pr-3"], "600");
    let (code, next) = json_run(&cloud, &["deploy", "-t", "1", "--env", "pr-3"]);
    assert_eq!(code, Some(0), "{next:?}");
    assert_eq!(summary(&next)["lock"]["took_over_from"]["pid"], killed_pid);
    // And `unlock` breaks such a lease without --force, saying whose it was.
    let killed_pid = killed(&cloud, &["destroy", "-t", "1", "--env", "pr-3"], "600");
    let broke = cloud.ok(&["unlock", "--env", "pr-3"]);
    let e = broke.iter().find(|e| e["type"] == "unlock").unwrap();
    assert_eq!(e["was_locked"], true);
    assert_eq!(e["holder"]["pid"], killed_pid);
    assert_eq!(e["holder"]["command"], "destroy");
    let again = cloud.ok(&["unlock", "--env", "pr-3"]);
    assert_eq!(again.iter().find(|e| e["type"] == "unlock").unwrap()["was_locked"], false);

    // A run whose lease is broken while it runs stops at its next renewal, saying so (exit 1).
    cloud.ok(&["destroy", "--env", "pr-3"]);
    let (mut running, reader) = started(
        &cloud,
        &["deploy", "-t", "1", "--env", "pr-3"],
        &[("XTASK_LOCK_LEASE_SECONDS", "3")],
    );
    // Live: refused (exit 3) naming the holder, and nothing broken; then broken with --force.
    let (code, refused) = json_run(&cloud, &["unlock", "--env", "pr-3"]);
    assert_eq!(code, Some(3), "{refused:?}");
    let error = refused.iter().find(|e| e["type"] == "error").unwrap();
    assert_eq!(error["holder"]["pid"], running.id(), "{error}");
    assert!(error["message"].as_str().unwrap().contains("--force"), "{error}");
    let broke = cloud.ok(&["unlock", "--env", "pr-3", "--force"]);
    assert_eq!(
        broke.iter().find(|e| e["type"] == "unlock").unwrap()["holder"]["pid"],
        running.id()
    );
    let status = running.wait().unwrap();
    let events = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{events:?}");
    assert_eq!(summary(&events)["interrupted"], true, "{events:?}");
    let converged = cloud.ok(&["deploy", "-t", "1", "--env", "pr-3"]);
    assert_eq!(summary(&converged)["ok"], true);

    let gone = cloud.ok(&["destroy", "--env", "pr-3"]);
    assert_eq!(summary(&gone)["ok"], true);
    assert_eq!(cloud.inventory("pr-3"), common::empty_inventory());
}

/// The resource counts of an environment's inventory (user pools, secrets, buckets, roles...).
fn held(cloud: &Cloud, env: &str) -> usize {
    cloud
        .inventory(env)
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().map_or(0, Vec::len))
        .sum()
}

#[test]
fn gc_destroys_leaked_environments_whole_and_nothing_else() {
    let cloud = Cloud::up();
    // Old: fully deployed, with two resources the stack file no longer has (orphans); a foreign
    // bucket carries the name its tutorial 2 would use.
    let with_extra = stacks_with_two_more();
    let made = cloud.ok(&[
        "deploy",
        "-t",
        "1",
        "--env",
        "pr-old",
        "--stacks-dir",
        with_extra.path().to_str().unwrap(),
    ]);
    assert_eq!(summary(&made)["counts"]["create"], 22);
    let foreign = "agentcore-mt-pr-old-t2-agent-code-000000000000";
    cloud.emulator("make-bucket", foreign);
    // Half-deployed: killed mid-deploy, leaving its lease behind (2 s).
    killed(&cloud, &["deploy", "-t", "1", "--env", "pr-killed"], "2");
    let boundary = std::time::SystemTime::now();
    std::thread::sleep(Duration::from_secs(3));
    // Young, but with an expiry that has passed; and young without one.
    cloud.ok(&["deploy", "-t", "1", "--env", "pr-ttl", "--ttl", "1s"]);
    cloud.ok(&["deploy", "-t", "1", "--env", "pr-young"]);
    // Forged: someone else's pool and bucket carrying our tags for `pr-99999` (made and expired in
    // 2001), an expiry in 2001 put on the young environment's bucket and one in 2999 on the old
    // one's. gc decides by name and deployment record, never by these tags.
    cloud.emulator("make-forged", "pr-99999");
    // What AgentCore leaves behind untagged: a deleted runtime's log group, of pr-killed and of
    // pr-young (which stays).
    for env in ["pr_killed", "pr_young"] {
        let group = format!(
            "/aws/bedrock-agentcore/runtimes/agentcore_mt_{env}_t1_old_agent-AbCdEf1234-DEFAULT"
        );
        cloud.emulator("make-log-group", &group);
    }
    cloud.emulator(
        "forge-expiry",
        "agentcore-mt-pr-young-t1-documents-000000000000=2001-01-01T00:00:00Z",
    );
    cloud.emulator(
        "forge-expiry",
        "agentcore-mt-pr-old-t1-documents-000000000000=2999-01-01T00:00:00Z",
    );
    let before = held(&cloud, "pr-young");
    assert!(held(&cloud, "pr-killed") > 0, "the killed run made nothing");

    // Everything made before `boundary` is at least this old; pr-young's youngest resource
    // (made 3 s and a whole deploy after it) is younger, for as long as a gc run takes.
    let threshold = || format!("{}s", boundary.elapsed().unwrap().as_secs());
    let gc = |extra: &[&str]| {
        let older_than = threshold();
        let mut args = vec!["gc", "--older-than", older_than.as_str(), "--prefix", "pr-"];
        args.extend(extra);
        cloud.ok(&args)
    };
    let dry = gc(&["--dry-run"]);
    let status = |events: &[Value], env: &str| -> String {
        events
            .iter()
            .find(|e| e["type"] == "environment" && e["env"] == env)
            .map(|e| e["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| "not listed".into())
    };
    for env in ["pr-old", "pr-killed", "pr-ttl"] {
        assert_eq!(status(&dry, env), "would_destroy", "{env}: {dry:?}");
    }
    assert_eq!(status(&dry, "pr-young"), "kept");
    assert_eq!(status(&dry, "pr-99999"), "not listed", "{dry:?}");
    // Every tagged kind of tutorial 1 is found, also those the tagging API does not list (the
    // roles, and here the secret, the vector bucket, the Knowledge Base and the runtime): pool,
    // secret, two buckets, vector bucket, two roles, Knowledge Base, runtime.
    let young = dry.iter().find(|e| e["env"] == "pr-young").unwrap();
    assert!(young["resources"].as_u64().unwrap() >= 9, "{young}");
    assert!(
        held(&cloud, "pr-old") > 0 && held(&cloud, "pr-ttl") > 0,
        "the dry run changed something"
    );
    // Another prefix finds none of them.
    let none = cloud.ok(&["gc", "--older-than", "0s", "--prefix", "qa-", "--dry-run"]);
    assert!(!none.iter().any(|e| e["type"] == "environment"), "{none:?}");

    let started = Instant::now();
    let run = gc(&[]);
    let seconds = started.elapsed().as_secs_f64();
    for env in ["pr-old", "pr-killed", "pr-ttl"] {
        assert_eq!(status(&run, env), "destroyed", "{env}: {run:?}");
    }
    assert_eq!(status(&run, "pr-young"), "kept");
    assert_eq!(summary(&run)["environments"]["destroyed"], 3);
    // Whole: nothing of theirs is left, but the foreign bucket is untouched.
    for env in ["pr-killed", "pr-ttl"] {
        assert_eq!(cloud.inventory(env), common::empty_inventory(), "{env}");
    }
    let old = cloud.inventory("pr-old");
    assert_eq!(
        old["buckets"],
        serde_json::json!([{"name": foreign, "objects": []}]),
        "gc touched the foreign bucket: {old}"
    );
    assert_eq!(held(&cloud, "pr-old"), 1, "{old}");
    assert_eq!(held(&cloud, "pr-young"), before, "gc touched the young environment");
    assert_eq!(status(&run, "pr-99999"), "not listed", "{run:?}");
    assert_eq!(
        cloud.emulator("forged-alive", "-"),
        serde_json::json!({"pools": ["customer-prod-users"], "objects": ["ledger.csv"]}),
        "gc deleted what only carried our tags"
    );
    eprintln!("gc destroyed 3 environments (one killed mid-deploy), kept 1, in {seconds:.1}s");

    // Nothing left to do; then the young one goes too once it is old enough.
    // Nothing of theirs is listed any more; with 0s, the young one goes too.
    let again = cloud.ok(&["gc", "--older-than", "0s", "--prefix", "pr-"]);
    for env in ["pr-old", "pr-killed", "pr-ttl"] {
        assert_eq!(status(&again, env), "not listed", "{env}: {again:?}");
    }
    assert_eq!(status(&again, "pr-young"), "destroyed", "{again:?}");
    assert_eq!(cloud.inventory("pr-young"), common::empty_inventory());
    assert_eq!(status(&again, "pr-99999"), "not listed", "{again:?}");
    assert_eq!(cloud.emulator("forged-alive", "-")["objects"], serde_json::json!(["ledger.csv"]));
}

/// The workflow's jobs in the order a pull request's life runs them, with the event each runs on.
const JOBS: &[(&str, &str)] = &[
    ("deploy", "github.event_name == 'pull_request' && github.event.action != 'closed' && github.event.pull_request.head.repo.full_name == github.repository"),
    ("destroy", "github.event_name == 'pull_request' && github.event.action == 'closed' && github.event.pull_request.head.repo.full_name == github.repository"),
    ("gc", "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'"),
];

fn workflow() -> Value {
    let text =
        std::fs::read_to_string(root().join(".github/workflows/pr-environment.yml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

#[test]
fn the_workflow_passes_actionlint() {
    let bin = venv().join("bin");
    let out = std::process::Command::new(bin.join("actionlint"))
        .arg("-verbose")
        .arg(root().join(".github/workflows/pr-environment.yml"))
        .current_dir(root())
        // actionlint runs shellcheck (from the venv) on every `run:` script.
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .output()
        .expect("actionlint is in the local cloud's venv (cargo xtask local install)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains("Rule \"shellcheck\" was disabled"), "{stderr}");

    // What the issue asks of the pipeline, checked on the parsed file.
    let w = workflow();
    assert_eq!(w["permissions"]["id-token"], "write", "OIDC needs id-token: write");
    let text = w.to_string();
    assert!(!text.contains("AWS_SECRET_ACCESS_KEY") && !text.contains("secrets."), "stored keys");
    for (job, condition) in JOBS {
        let j = &w["jobs"][job];
        assert_eq!(j["if"], *condition, "{job}");
        let steps = j["steps"].as_array().unwrap();
        assert!(
            steps.iter().any(|s| s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
                && s["with"]["role-to-assume"].is_string()),
            "{job}: credentials through OIDC role assumption"
        );
        assert!(j["concurrency"]["group"].is_string(), "{job}: a concurrency group");
    }
    let deploy = &w["jobs"]["deploy"];
    // A pending destroy must never be replaced (and so cancelled) by a reopen's deploy: GitHub
    // keeps one pending run per concurrency group.
    assert_ne!(deploy["concurrency"]["group"], w["jobs"]["destroy"]["concurrency"]["group"]);
    for job in ["deploy", "destroy"] {
        assert!(
            w["jobs"][job]["concurrency"]["group"]
                .as_str()
                .unwrap()
                .contains("github.event.pull_request.number"),
            "{job}: one group per pull request"
        );
    }
    assert!(deploy["concurrency"]["group"]
        .as_str()
        .unwrap()
        .contains("github.event.pull_request.number"));
    let cleanup =
        deploy["steps"].as_array().unwrap().iter().find(|s| s["if"] == "failure() || cancelled()");
    assert!(cleanup.is_some_and(|s| s["run"].as_str().unwrap().contains("cargo xtask destroy")));
    assert!(w["on"]["schedule"].is_array());
}

/// Runs the `run:` steps of each job, in order, with the job's environment (its expressions
/// evaluated for pull request 4242), against the local cloud: XTASK_TARGET=local in place of
/// the workflow's `aws`, and `cargo xtask` as written. `uses:` steps (checkout, toolchains,
/// AWS credentials) are GitHub's and are not run.
#[test]
fn the_workflows_shell_steps_run_against_the_local_cloud() {
    let cloud = Cloud::up();
    let w = workflow();
    let expression = |v: &str| -> String {
        v.replace("${{ github.event.pull_request.number }}", "4242")
            .replace("${{ vars.AWS_REGION || 'us-east-1' }}", "us-east-1")
    };
    let mut env: Vec<(String, String)> = w["env"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), expression(v.as_str().unwrap())))
        .collect();
    env.retain(|(k, _)| k != "XTASK_TARGET");
    let summary_dir = tempfile::tempdir().unwrap();
    // The steps' working directory stands for the checkout: inside the workspace (so that
    // `cargo xtask` finds its alias and the workspace), apart from the sources (the steps
    // write deploy.ndjson and the like there).
    std::fs::create_dir_all(root().join(".xtask")).unwrap();
    let work = tempfile::tempdir_in(root().join(".xtask")).unwrap();
    // `cargo xtask ...` runs the provisioner this test was built with: a `cargo` first on PATH
    // that runs it (and refuses anything else), rather than a nested cargo that would build it
    // again (the tests' dependency features differ from the binary's).
    let shim = tempfile::tempdir().unwrap();
    let cargo = shim.path().join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\n[ \"$1\" = xtask ] || {{ echo \"the workflow test runs only cargo xtask, not cargo $1\" >&2; exit 99; }}\nshift\nexec {} \"$@\"\n",
            env!("CARGO_BIN_EXE_xtask")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", shim.path().display(), std::env::var("PATH").unwrap());
    let mut log = Vec::new();
    for (job, _) in JOBS {
        let j = &w["jobs"][job];
        let mut job_env = env.clone();
        for (k, v) in j["env"].as_object().into_iter().flatten() {
            job_env.push((k.clone(), expression(v.as_str().unwrap())));
        }
        let step_summary = summary_dir.path().join(format!("{job}.md"));
        let mut failed = false;
        for step in j["steps"].as_array().unwrap() {
            let Some(script) = step["run"].as_str() else {
                log.push(format!(
                    "{job}: skipped `uses: {}` (GitHub's)",
                    step["uses"].as_str().unwrap()
                ));
                continue;
            };
            assert!(
                !script.contains("${{"),
                "{job}: expressions belong in env:, not in scripts: {script}"
            );
            let runs = match step["if"].as_str() {
                None => !failed,
                Some("always()") => true,
                Some("failure() || cancelled()") => failed,
                Some(other) => panic!("{job}: a condition the test does not know: {other}"),
            };
            let name = step["name"].as_str().unwrap_or(script);
            if !runs {
                log.push(format!("{job}: not run (if: {}): {name}", step["if"].as_str().unwrap()));
                continue;
            }
            let began = Instant::now();
            // GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}` in the
            // checkout; here the state directory (local cloud) and the venv come from the test.
            let out = std::process::Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
                .current_dir(work.path())
                .envs(job_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("XTASK_TARGET", "local")
                .env("XTASK_STATE_DIR", cloud.state.path())
                .env("XTASK_VENV", venv())
                .env("GITHUB_STEP_SUMMARY", &step_summary)
                .env("CI", "true")
                .env("PATH", &path)
                .output()
                .unwrap();
            let ok = out.status.success();
            log.push(format!(
                "{job}: {} in {:.1}s: {name}",
                if ok { "passed" } else { "FAILED" },
                began.elapsed().as_secs_f64()
            ));
            assert!(
                ok,
                "{job} step `{name}` failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            failed |= !ok;
        }
        let md = std::fs::read_to_string(&step_summary).unwrap_or_default();
        match *job {
            "deploy" => {
                assert!(md.contains("### ✅ deploy of env `pr-4242` on local"), "{md}");
                assert!(md.contains("### ✅ verify"), "{md}");
                assert!(md.contains("per month while idle"), "{md}");
                assert!(held(&cloud, "pr-4242") > 0);
            }
            "destroy" => {
                assert!(md.contains("### ✅ destroy of env `pr-4242` on local"), "{md}");
                assert_eq!(cloud.inventory("pr-4242"), common::empty_inventory());
            }
            _ => assert!(md.contains("### ✅ gc"), "{md}"),
        }
    }
    eprintln!("{}", log.join("\n"));
}

/// The shipped tutorial 1 with two more resources (a bucket, a role that names it): deployed
/// with these, then without, they are orphans.
fn stacks_with_two_more() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"
  scratch:
    kind: s3.bucket
    properties:
      versioning: true

  scratch_role:
    kind: iam.role
    properties:
      service: bedrock.amazonaws.com
      statements:
        - Effect: Allow
          Action: [s3:GetObject]
          Resource: ["arn:aws:s3:::${scratch.name}/*"]
"#;
    let file = "01-unstructured-rag.yaml";
    std::fs::write(dir.path().join(file), common::stack_text(file) + extra).unwrap();
    dir
}

/// Resources removed from a stack file are the environment's by their tags alone: `destroy
/// --orphans` deletes them (a versioned S3 bucket, an IAM role with its inline policy),
/// and nothing without those tags.
#[test]
fn destroy_orphans_deletes_what_no_stack_declares_any_more_and_nothing_else() {
    let cloud = Cloud::up();
    let with_extra = stacks_with_two_more();
    let dir = with_extra.path().to_str().unwrap();
    let made = cloud.ok(&["deploy", "-t", "1", "--env", "pr-orph", "--stacks-dir", dir]);
    assert_eq!(summary(&made)["counts"]["create"], 22);
    let foreign = "agentcore-mt-pr-orph-t1-other-000000000000";
    cloud.emulator("make-bucket", foreign);

    // Back to the shipped stack: plan warns of both, destroy without --orphans leaves them.
    let plan = cloud.ok(&["plan", "-t", "1", "--env", "pr-orph"]);
    let mut warned: Vec<&str> =
        plan.iter().filter(|e| e["type"] == "orphan").map(|e| e["id"].as_str().unwrap()).collect();
    warned.sort();
    assert_eq!(warned, ["scratch", "scratch_role"], "{plan:?}");
    let (code, kept) = json_run(&cloud, &["destroy", "-t", "1", "--env", "pr-orph"]);
    assert_eq!(code, Some(0));
    assert_eq!(summary(&kept)["orphans"], 2);
    assert_eq!(held(&cloud, "pr-orph"), 3, "{}", cloud.inventory("pr-orph"));

    let gone = cloud.ok(&["destroy", "-t", "1", "--env", "pr-orph", "--orphans"]);
    let mut deleted: Vec<&str> = gone
        .iter()
        .filter(|e| e["type"] == "orphan" && e["deleted"] == true)
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["scratch", "scratch_role"], "{gone:?}");
    assert_eq!(summary(&gone)["orphans"], 0, "{gone:?}");
    let inv = cloud.inventory("pr-orph");
    assert_eq!(inv["buckets"], serde_json::json!([{"name": foreign, "objects": []}]), "{inv}");
    assert_eq!(held(&cloud, "pr-orph"), 1, "{inv}");
}
