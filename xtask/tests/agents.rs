//! The agents on the local cloud, end to end: deploy both tutorials with their agents, invoke
//! each as each demo user through the local runtime host (JWT authorizer and all), run `verify`
//! and the agents' own pytest suite, then change one agent's source, then destroy.

mod common;

use std::path::Path;
use std::process::Command;

use common::{empty_inventory, event, root, summary, venv, Cloud};
use serde_json::Value;

/// An allow-listed header of the policy agent in these tests (AgentCore's custom-header prefix).
const CUSTOM_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Trace";

/// The stack files with the claims agent's sources moved to `claims`, so that a test can
/// change them without touching the repository.
fn stacks_with_claims_agent_at(claims: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // The policy agent also allow-lists a custom header, to show how the host treats it.
    let one = common::stack_text("01-unstructured-rag.yaml").replace(
        "header_allowlist: [Authorization]",
        &format!("header_allowlist: [Authorization, {CUSTOM_HEADER}]"),
    );
    assert!(one.contains(CUSTOM_HEADER));
    std::fs::write(dir.path().join("01.yaml"), one).unwrap();
    let two = common::stack_text("02-structured-rls.yaml").replace(
        &format!("sources: [{}/agents/claims,", root().display()),
        &format!("sources: [{},", claims.display()),
    );
    assert!(two.contains(&claims.display().to_string()));
    std::fs::write(dir.path().join("02.yaml"), two).unwrap();
    dir
}

fn answer(cloud: &Cloud, stacks: &str, tutorial: &str, user: &str, prompt: &str) -> String {
    let events = cloud.ok(&[
        "invoke",
        "--stacks-dir",
        stacks,
        "--tutorial",
        tutorial,
        "--user",
        user,
        prompt,
    ]);
    let a = events.iter().find(|e| e["type"] == "answer").unwrap();
    assert_eq!(a["status"], 200, "{a}");
    a["text"].as_str().unwrap().to_string()
}

#[test]
fn agents_answer_each_user_with_their_own_data_and_verify_passes() {
    let cloud = Cloud::up();
    let claims = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("agents/claims/main.py"), claims.path().join("main.py")).unwrap();
    let stacks = stacks_with_claims_agent_at(claims.path());
    let dir = stacks.path().to_str().unwrap();

    let first = cloud.ok(&["deploy", "--stacks-dir", dir]);
    for id in ["policy_agent", "claims_agent", "policy_agent_package", "claims_agent_package"] {
        assert_eq!(event(&first, id)["action"], "create", "{id}");
    }

    // Each demo user gets exactly their own data.
    let john =
        answer(&cloud, dir, "1", "john-regular", "What is the deductible for auto insurance?");
    assert!(john.contains("$1,000") && john.contains("(tier regular)"), "{john}");
    assert!(!john.contains("Customer tier: platinum") && !john.contains("/platinum/"), "{john}");
    // Answered as a model would: the sentence that answers, not whole documents.
    assert!(john.lines().count() <= 6, "{john}");
    let sarah =
        answer(&cloud, dir, "1", "sarah-platinum", "What is the deductible for auto insurance?");
    assert!(sarah.contains("$500") && sarah.contains("(tier platinum)"), "{sarah}");
    assert!(!sarah.contains("Customer tier: regular") && !sarah.contains("/regular/"), "{sarah}");
    let mike = answer(&cloud, dir, "2", "mike-broker-a", "Show me all claims");
    for c in ["CLM-A-001", "CLM-A-002", "CLM-A-003"] {
        assert!(mike.contains(c), "{mike}");
    }
    assert!(!mike.contains("CLM-B"), "{mike}");
    let emma = answer(&cloud, dir, "2", "emma-broker-b", "Show me all claims");
    assert!(emma.contains("CLM-B-001") && emma.contains("CLM-B-002"), "{emma}");
    assert!(!emma.contains("CLM-A"), "{emma}");

    // The isolation suite: everything runs locally (nothing "not run"), nothing fails.
    let verify = cloud.ok(&["verify", "--stacks-dir", dir]);
    let s = summary(&verify);
    assert_eq!(s["failed"], 0, "{verify:#?}");
    assert_eq!(s["not_run"], 0, "{verify:#?}");
    let cases: Vec<&Value> = verify.iter().filter(|e| e["type"] == "case").collect();
    assert_eq!(s["passed"].as_u64().unwrap() as usize, cases.len());
    for category in ["data", "injection", "token", "request"] {
        assert!(cases.iter().any(|c| c["category"] == category), "{category}");
    }

    // Everything the local cloud runs (emulators, Data API, runtime host, the agents it started,
    // the PostgreSQL server) listens on loopback only.
    let listening = cloud.listening();
    assert!(listening.len() >= 7, "{listening:?}");
    let open: Vec<&(u32, String)> =
        listening.iter().filter(|(_, addr)| !common::is_loopback(addr)).collect();
    assert!(open.is_empty(), "listening beyond loopback: {open:?}");

    // A burst beyond what the host serves at once: every request gets an answer (200, or 429
    // as AWS throttles), never a reset connection, and none crosses a tier or tenant.
    let outputs = cloud.state.path().join("outputs/local/dev.json");
    let load = cloud.script(
        "load.py",
        &[
            cloud.endpoint("ministack"),
            cloud.endpoint("runtime_host"),
            outputs.to_str().unwrap(),
            "200",
            "64",
        ],
    );
    eprintln!("load: {load}");
    // An allow-listed header is passed on when sent once and refused when sent twice.
    let twice = cloud.script(
        "headers.py",
        &[
            cloud.endpoint("ministack"),
            cloud.endpoint("runtime_host"),
            outputs.to_str().unwrap(),
            CUSTOM_HEADER,
        ],
    );
    assert_eq!(twice["once"], 200, "{twice}");
    assert_eq!(twice["twice"], 400, "{twice}");
    assert_eq!(load["errors"], serde_json::json!([]), "{load}");
    assert_eq!(load["crossed"], serde_json::json!([]), "{load}");
    assert_eq!(load["incomplete"], serde_json::json!([]), "{load}");
    let statuses = load["statuses"].as_object().unwrap();
    assert!(statuses.keys().all(|k| k == "200" || k == "429"), "{load}");
    assert!(statuses["200"].as_u64().unwrap() >= 32, "{load}");
    eprintln!("verify: {} cases, all passed", cases.len());

    // The agents' pytest suite, cloud tests included, against this deployment.
    let outputs = cloud.state.path().join("outputs/local/dev.json");
    let deps = std::fs::read_dir(venv().parent().unwrap().join("agent-packages/deps"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("local-"))
        .expect("the local agent dependencies were installed by deploy");
    let pytest = Command::new(venv().join("bin/python"))
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs"])
        .arg(root().join("agents/tests"))
        .current_dir(root().join("agents"))
        .env("PYTHONPATH", &deps)
        .env("AGENT_OUTPUTS", &outputs)
        .env("AWS_ENDPOINT_URL", cloud.endpoint("ministack"))
        .env("AWS_ENDPOINT_URL_RDS_DATA", cloud.endpoint("data_api"))
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&pytest.stdout);
    assert!(
        pytest.status.success(),
        "pytest failed:\n{report}\n{}",
        String::from_utf8_lossy(&pytest.stderr)
    );
    let last = report.lines().last().unwrap_or_default();
    assert!(
        last.contains(" passed") && !last.contains("skipped") && !last.contains("deselected"),
        "{last}"
    );
    eprintln!("pytest: {last}");

    // Converged: no call changes anything, nothing is uploaded.
    let again = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0, "{again:#?}");

    // A changed agent: one new package, one new runtime version, and the new code answers.
    let name = "agentcore_mt_dev_t2_claims_agent";
    assert_eq!(cloud.emulator("runtime-versions", name), serde_json::json!(["1"]));
    let main = claims.path().join("main.py");
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, source.replace("No claims.", "No claims at all.")).unwrap();
    let changed = cloud.ok(&["deploy", "--stacks-dir", dir]);
    assert_eq!(
        summary(&changed)["api_calls"]["mutating"],
        2,
        "PutObject + UpdateAgentRuntime: {changed:#?}"
    );
    assert_eq!(event(&changed, "claims_agent_package")["action"], "create");
    assert_eq!(event(&changed, "claims_agent")["action"], "update");
    assert_eq!(event(&changed, "policy_agent")["action"], "noop");
    assert_eq!(cloud.emulator("runtime-versions", name), serde_json::json!(["2", "1"]));
    let mike = answer(&cloud, dir, "2", "mike-broker-a", "Show me all claims");
    assert!(mike.contains("CLM-A-001"), "{mike}");
    let runtimes = cloud.state.path().join("local/runtimes");
    let logs: Vec<String> = std::fs::read_dir(&runtimes)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(name))
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(logs.contains(&"v2.log".to_string()), "version 2 did not run: {logs:?}");

    // The sources change after the deploy (a pull request closed after other merges), and the
    // migrations directory is gone from the checkout: destroy finds everything from the cloud
    // alone (it used to miss the claims runtime and its role, exit 0, and leak them for good).
    let source = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, source + "\n# changed after the deploy\n").unwrap();
    let stack_two = Path::new(dir).join("02.yaml");
    let text = std::fs::read_to_string(&stack_two).unwrap();
    let sql = format!("directory: {}/sql", root().display());
    assert!(text.contains(&sql), "{text}");
    std::fs::write(&stack_two, text.replace(&sql, "directory: /no/such/sql")).unwrap();
    // Destroy leaves nothing, and the host stops the agents of runtimes that are gone.
    let gone = cloud.ok(&["destroy", "--stacks-dir", dir]);
    assert!(summary(&gone)["counts"]["delete"].as_u64().unwrap() > 0);
    assert_eq!(cloud.inventory("dev"), empty_inventory());
    // Nor does the local cloud keep anything of them: agents, their files and logs, the
    // cluster's PostgreSQL server and its data and log.
    let clusters = cloud.state.path().join("local/clusters");
    let mut left = Vec::new();
    for _ in 0..200 {
        left = [&runtimes, &clusters]
            .iter()
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
            .map(|e| e.path().display().to_string())
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(left.is_empty(), "left behind by destroyed resources: {left:?}");
    let twice = cloud.ok(&["destroy", "--stacks-dir", dir]);
    assert_eq!(summary(&twice)["api_calls"]["mutating"], 0);
}

/// The AWS package: arm64 wheels only, under the runtime's limits, and the same bytes when
/// built again from nothing. It cannot run here; it is checked byte by byte instead.
#[test]
fn aws_package_is_arm64_deterministic_and_within_limits() {
    let state = tempfile::tempdir().unwrap();
    let build = || {
        let out = common::run(
            state.path(),
            &["package", "--tutorial", "2", "--for", "aws", "--output-format", "json"],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        common::events(&out).into_iter().find(|e| e["type"] == "package").unwrap()["package"]
            .clone()
    };
    let first = build();
    let path = first["path"].as_str().unwrap().to_string();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let second = build();
    assert_eq!(first["digest"], second["digest"]);
    assert_eq!(bytes, std::fs::read(&path).unwrap(), "the same sources gave other bytes");
    assert!(first["size"].as_u64().unwrap() < 250 * 1024 * 1024);
    assert!(first["unzipped"].as_u64().unwrap() < 750 * 1024 * 1024);
    // Every native library is aarch64 (ELF e_machine 183), read from the zip independently.
    let check = Command::new(venv().join("bin/python"))
        .args(["-c", r#"
import json, sys, zipfile
machines = {}
with zipfile.ZipFile(sys.argv[1]) as z:
    names = z.namelist()
    assert names == sorted(names), "entries are not sorted"
    for info in z.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert (info.external_attr >> 16) in (0o100644, 0o100755), (info.filename, oct(info.external_attr >> 16))
        head = z.open(info).read(20)
        if head[:4] == b"\x7fELF":
            machines[info.filename] = int.from_bytes(head[18:20], "little")
print(json.dumps({"main": "main.py" in names, "agent_common": "agent_common/identity.py" in names, "machines": machines}))
"#])
        .arg(&path)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let report: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["main"], true);
    assert_eq!(report["agent_common"], true);
    let machines = report["machines"].as_object().unwrap();
    assert!(!machines.is_empty(), "no native library at all: pydantic-core should be one");
    let foreign: Vec<_> = machines.iter().filter(|(_, m)| **m != 183).collect();
    assert!(foreign.is_empty(), "not arm64: {foreign:?}");
    eprintln!(
        "aws package: {} bytes zipped, {} unzipped, {} native libraries, all aarch64",
        first["size"],
        first["unzipped"],
        machines.len()
    );
}

/// A runtime with the agent's name but not our tags is never adopted, changed or deleted.
#[test]
fn a_runtime_with_our_name_but_not_our_tags_is_refused_and_left_alone() {
    let cloud = Cloud::up();
    let name = "agentcore_mt_dev_t1_policy_agent";
    cloud.emulator("make-runtime", name);
    cloud.deploy_refused("1", name, "does not carry this environment's ownership tags");
    let gone = cloud.ok(&["destroy", "--tutorial", "1"]);
    assert_eq!(summary(&gone)["ok"], true);
    let inv = cloud.inventory("dev");
    assert_eq!(inv["agent_runtimes"], serde_json::json!([name]), "destroy touched it");
    assert_eq!(
        cloud.emulator("runtime-versions", name),
        serde_json::json!(["1"]),
        "deploy changed it"
    );
    assert_eq!(inv["user_pools"], serde_json::json!([]));
}

/// `verify` can fail: a policy agent whose retrieval ignores the tier is caught.
#[test]
fn verify_catches_an_agent_that_ignores_the_tier() {
    let cloud = Cloud::up();
    let policy = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(root().join("agents/policy/main.py")).unwrap();
    let broken = source.replace(r#""filter": {"equals": {"key": "tier", "value": tier}},"#, "");
    assert_ne!(broken, source, "the filter line moved: update this test");
    std::fs::write(policy.path().join("main.py"), broken).unwrap();
    let stacks = tempfile::tempdir().unwrap();
    let one = common::stack_text("01-unstructured-rag.yaml").replace(
        &format!("sources: [{}/agents/policy,", root().display()),
        &format!("sources: [{},", policy.path().display()),
    );
    std::fs::write(stacks.path().join("01.yaml"), one).unwrap();
    let dir = stacks.path().to_str().unwrap();
    cloud.ok(&["deploy", "--stacks-dir", dir]);
    let out = cloud.xtask(&["verify", "--stacks-dir", dir, "--output-format", "json"]);
    assert_eq!(out.status.code(), Some(1), "verify passed a leaking agent");
    let events = common::events(&out);
    let failed: Vec<&Value> =
        events.iter().filter(|e| e["type"] == "case" && e["outcome"] == "fail").collect();
    assert!(
        failed.iter().any(|c| c["detail"].as_str().unwrap().contains("reached a")),
        "{failed:#?}"
    );
    // Tokens are the runtime's business: none of those cases fails (another pool's token is
    // "not run" with tutorial 1 alone).
    assert!(events
        .iter()
        .filter(|e| e["type"] == "case" && e["category"] == "token")
        .all(|c| c["outcome"] != "fail"));
    cloud.ok(&["destroy", "--stacks-dir", dir]);
}

/// With only tutorial 1 deployed, `verify` and `invoke` with the default `--tutorial all` work on
/// what is deployed and say what they skipped (they failed: "the agent `claims_agent` of
/// tutorial 2 is not deployed"); asked for tutorial 2 by name, verify says it is not deployed.
#[test]
fn verify_and_invoke_work_on_what_is_deployed() {
    let cloud = Cloud::up();
    cloud.ok(&["deploy", "-t", "1"]);
    let out = cloud.xtask(&["verify", "--output-format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("tutorial 2 (structured-rls) skipped"), "{stderr}");
    let events = common::events(&out);
    assert!(summary(&events)["passed"].as_u64().unwrap() >= 20, "{events:?}");
    let john = answer(
        &cloud,
        &root().join("stacks").display().to_string(),
        "all",
        "john-regular",
        "What is the deductible for auto insurance?",
    );
    assert!(john.contains("$1,000"), "{john}");
    let out = cloud.xtask(&["verify", "-t", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is not deployed") && stderr.contains("deploy --tutorial 2"),
        "{stderr}"
    );
    // Issue 28 item 8: the hint, pasted, deploys in the environment asked about (not in dev).
    let out = cloud.xtask(&["verify", "-t", "2", "--env", "pr-7"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hint: cargo xtask deploy --tutorial 2 --env pr-7"), "{stderr}");
}
