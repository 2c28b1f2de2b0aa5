//! The provisioner against the real local cloud: ministack, moto and PostgreSQL processes on
//! 127.0.0.1, started per test in a temporary state directory. What exists is checked by
//! asking the emulators directly (tests/emulator.py, boto3), not the provisioner.

mod common;

use common::{changed_fields, empty_inventory, event, events, root, run, summary, Cloud};
use serde_json::Value;

#[test]
fn deploy_redeploy_destroy_every_tutorial() {
    let cloud = Cloud::up();
    let first = cloud.ok(&["deploy", "--tutorial", "all"]);
    let s = summary(&first);
    assert_eq!(s["ok"], true);
    assert_eq!(s["counts"]["create"], 70, "{s}");
    let resources: Vec<&Value> = first.iter().filter(|e| e["type"] == "resource").collect();
    assert_eq!(resources.len(), 70);
    assert!(resources.iter().all(|e| e["status"] == "done" && e["action"] == "create"));

    let inv = cloud.inventory("dev");
    let pools = inv["user_pools"].as_array().unwrap();
    assert_eq!(pools.len(), 2, "{inv}");
    let t1 = &pools[0];
    assert_eq!(t1["name"], "agentcore-mt-dev-t1-user-pool");
    assert_eq!(t1["groups"], serde_json::json!(["platinum", "regular"]));
    assert_eq!(
        t1["clients"],
        serde_json::json!([
            "agentcore-mt-dev-t1-app-client",
            "agentcore-mt-dev-t1-other-client",
            "agentcore-mt-dev-t3-policy-web-client"
        ])
    );
    assert_eq!(t1["users"][0]["username"], "john-regular");
    assert_eq!(t1["users"][0]["groups"], serde_json::json!(["regular"]));
    assert_eq!(t1["users"][0]["status"], "CONFIRMED");
    assert_eq!(t1["users"][1]["groups"], serde_json::json!(["platinum"]));
    let t2 = &pools[1];
    assert_eq!(t2["users"][0]["username"], "emma-broker-b");
    assert_eq!(t2["users"][0]["attributes"]["custom:tenant_id"], "broker-b");
    assert_eq!(t2["users"][1]["attributes"]["custom:tenant_id"], "broker-a");
    // The subnets are in standard Availability Zones, never in the Local Zone whose name sorts
    // first (Aurora has none there).
    let zones = cloud.emulator("subnet-zones", "agentcore-mt-dev-");
    let zones: Vec<&str> =
        zones.as_object().unwrap().values().map(|z| z.as_str().unwrap()).collect();
    assert_eq!(zones.len(), 2, "{zones:?}");
    assert!(
        zones.iter().all(|z| ["us-east-1a", "us-east-1b", "us-east-1c"].contains(z)),
        "{zones:?}"
    );
    // A signed-in user cannot move themselves to another tenant: the app client's
    // WriteAttributes leave custom:tenant_id out (the local cloud enforces them as AWS does).
    let moved = cloud.emulator("self-update-tenant", "dev");
    assert_eq!(moved["outcome"], "NotAuthorizedException", "{moved}");
    assert_eq!(moved["tenant_after"], "broker-a", "{moved}");
    assert_eq!(
        inv["secrets"],
        serde_json::json!([
            "agentcore-mt/dev/t1/demo-passwords",
            "agentcore-mt/dev/t2/app-user-login",
            "agentcore-mt/dev/t2/demo-passwords",
            "agentcore-mt/dev/t2/tenant-token-key",
            "agentcore-mt/dev/t4/passwords",
            "agentcore-mt/dev/t4/tool-key"
        ])
    );
    assert_eq!(inv["clusters"], serde_json::json!(["agentcore-mt-dev-t2-claims-db"]));
    assert_eq!(inv["instances"], serde_json::json!(["agentcore-mt-dev-t2-claims-db-writer"]));
    assert_eq!(inv["subnets"].as_array().unwrap().len(), 2);
    assert_eq!(
        inv["managed_secrets"].as_array().unwrap().len(),
        1,
        "the RDS-managed master secret"
    );
    // buckets: t1 agent code, t1 documents, t2 agent code (sorted by name)
    assert_eq!(inv["buckets"].as_array().unwrap().len(), 3, "{inv}");
    let objects = &inv["buckets"][1]["objects"];
    assert_eq!(objects.as_array().unwrap().len(), 8, "{inv}");
    // One content-addressed package per agent: t1's; t2's claims agent and t4's tools agent
    // (tutorial 4 puts its package in tutorial 2's bucket).
    for (code, n) in [(&inv["buckets"][0], 1), (&inv["buckets"][2], 2)] {
        let keys = code["objects"].as_array().unwrap();
        assert_eq!(keys.len(), n, "one content-addressed package per agent: {code}");
        assert!(keys.iter().all(|k| k.as_str().unwrap().ends_with(".zip")), "{code}");
    }
    assert_eq!(
        inv["agent_runtimes"],
        serde_json::json!([
            "agentcore_mt_dev_t1_policy_agent",
            "agentcore_mt_dev_t2_claims_agent",
            "agentcore_mt_dev_t3_claims_web",
            "agentcore_mt_dev_t3_policy_web",
            "agentcore_mt_dev_t4_tools_agent"
        ])
    );
    assert_eq!(inv["memories"], serde_json::json!(["agentcore_mt_dev_t4_memory"]), "{inv}");
    assert!(objects
        .as_array()
        .unwrap()
        .contains(&"regular/auto-insurance.md.metadata.json".into()));

    let again = cloud.ok(&["deploy", "--tutorial", "all"]);
    let s = summary(&again);
    assert_eq!(s["api_calls"]["mutating"], 0, "a converged re-deploy changed something: {s}");
    assert_eq!(s["counts"]["noop"], 70);

    let plan = cloud.ok(&["plan", "--tutorial", "1"]);
    assert!(plan.iter().filter(|e| e["type"] == "resource").all(|e| e["action"] == "noop"));
    assert_eq!(summary(&plan)["api_calls"]["mutating"], 0);

    let status = cloud.ok(&["status", "--tutorial", "1"]);
    let pool = status.iter().find(|e| e["id"] == "user_pool").unwrap();
    assert_eq!(pool["exists"], true);
    assert!(pool["outputs"]["id"].as_str().unwrap().starts_with("us-east-1_"));

    // Tutorial 3 builds on 1 and 2: destroying 1 under it is refused, and changes nothing.
    let refused = cloud.xtask(&["destroy", "--tutorial", "1", "--output-format", "json"]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("tutorial 3 (enterprise-demo) builds on"), "{err}");
    assert!(err.contains("cargo xtask destroy --tutorial 3"), "{err}");
    assert_eq!(cloud.inventory("dev")["agent_runtimes"].as_array().unwrap().len(), 5);
    // Destroying 3 leaves 1 and 2 as they were; deploying 3 again deploys 1 and 2 with it.
    let three = cloud.ok(&["destroy", "--tutorial", "3"]);
    assert_eq!(summary(&three)["counts"]["delete"], 4, "{:?}", summary(&three));
    let inv = cloud.inventory("dev");
    assert_eq!(
        inv["agent_runtimes"],
        serde_json::json!([
            "agentcore_mt_dev_t1_policy_agent",
            "agentcore_mt_dev_t2_claims_agent",
            "agentcore_mt_dev_t4_tools_agent"
        ])
    );
    assert_eq!(inv["user_pools"][0]["clients"].as_array().unwrap().len(), 2);
    let back = cloud.ok(&["deploy", "--tutorial", "3"]);
    assert_eq!(summary(&back)["counts"]["create"], 4);
    assert_eq!(summary(&back)["counts"]["noop"], 46);

    let gone = cloud.ok(&["destroy"]);
    assert_eq!(summary(&gone)["counts"]["delete"], 70);
    // Nothing left: no cluster, instance, final snapshot, managed secret, network, pool, bucket.
    assert_eq!(cloud.inventory("dev"), empty_inventory());
    let again = cloud.ok(&["destroy"]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0);
    assert_eq!(summary(&again)["counts"]["noop"], 70);
}

#[test]
fn two_environments_side_by_side_do_not_touch_each_other() {
    let cloud = Cloud::up();
    std::thread::scope(|s| {
        let a = s.spawn(|| cloud.ok(&["deploy", "--env", "pr-1", "--tutorial", "1"]));
        let b = s.spawn(|| cloud.ok(&["deploy", "--env", "pr-2", "--tutorial", "1"]));
        assert_eq!(summary(&a.join().unwrap())["counts"]["create"], 20);
        assert_eq!(summary(&b.join().unwrap())["counts"]["create"], 20);
    });
    let before = cloud.inventory("pr-2");
    assert_eq!(before["user_pools"].as_array().unwrap().len(), 1);
    cloud.ok(&["destroy", "--env", "pr-1"]);
    assert_eq!(cloud.inventory("pr-1"), empty_inventory());
    assert_eq!(cloud.inventory("pr-2"), before, "destroying pr-1 touched pr-2");
    let again = cloud.ok(&["deploy", "--env", "pr-2", "--tutorial", "1"]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0);
    cloud.ok(&["destroy", "--env", "pr-2"]);
    assert_eq!(cloud.inventory("pr-2"), empty_inventory());
}

#[test]
fn generated_passwords_are_never_printed_or_written() {
    let cloud = Cloud::up();
    let mut seen = Vec::new();
    for args in [
        vec!["deploy"],
        vec!["deploy", "--output-format", "json"],
        vec!["plan", "--output-format", "json"],
        vec!["status"],
        vec!["status", "--output-format", "json"],
        // The agents see the tokens and the tenant-token key; none of it may reach an output
        // or a log (the runtime host's and the agents' logs are under the state directory).
        vec![
            "invoke",
            "-t",
            "1",
            "--user",
            "john-regular",
            "What is the deductible for auto insurance?",
        ],
        vec![
            "invoke",
            "-t",
            "2",
            "--user",
            "mike-broker-a",
            "Show me all claims",
            "--output-format",
            "json",
        ],
        vec!["verify"],
        vec!["verify", "--output-format", "json"],
    ] {
        let out = cloud.xtask(&args);
        assert!(out.status.success());
        seen.push(out.stdout);
        seen.push(out.stderr);
    }
    let secrets: Vec<Value> =
        serde_json::from_value(cloud.emulator("secrets", "agentcore-mt-dev-")).unwrap();
    // 5 demo users, app_user, the two tenant-token keys and the RDS-managed master password.
    assert_eq!(secrets.len(), 9, "every generated password: {secrets:?}");
    let mut files = Vec::new();
    let mut dirs = vec![cloud.state.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.is_file() {
                files.push(p);
            }
        }
    }
    assert!(!files.is_empty());
    let passwords: Vec<String> =
        secrets.iter().map(|s| s["value"].as_str().unwrap().to_string()).collect();
    for s in &secrets {
        let (secret, pw) = (s["secret"].as_str().unwrap(), s["value"].as_str().unwrap());
        assert!(pw.len() >= 12);
        for (i, text) in seen.iter().enumerate() {
            assert!(
                !String::from_utf8_lossy(text).contains(pw),
                "the value of {secret} was printed (output {i})"
            );
        }
        // The signing key is meant to be in the database (a table only its owner reads); the
        // database passwords are not: PostgreSQL is only ever sent SCRAM verifiers.
        let meant_for_the_database =
            secret.ends_with("/tenant-token-key") || secret.ends_with("/tool-key");
        for f in &files {
            if meant_for_the_database && f.components().any(|c| c.as_os_str() == "clusters") {
                continue;
            }
            // PostgreSQL and the emulators replace files while they run (pg_stat_tmp, a WAL
            // segment recycled): one listed a moment ago may be gone. Seen on a loaded machine.
            let text = match std::fs::read(f) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                other => other.unwrap(),
            };
            assert!(
                !String::from_utf8_lossy(&text).contains(pw),
                "the value of {secret} was written to {}",
                f.display()
            );
        }
    }
    let out = cloud.xtask(&["destroy"]);
    assert!(out.status.success());
    assert!(!passwords.iter().any(|pw| String::from_utf8_lossy(&out.stderr).contains(pw.as_str())));
}

#[test]
fn a_bucket_with_our_name_but_not_our_tags_is_refused_and_left_alone() {
    let cloud = Cloud::up();
    let name = "agentcore-mt-dev-t1-documents-000000000000";
    cloud.emulator("make-bucket", name);
    cloud.deploy_refused("1", name, "does not carry this environment's ownership tags");
    let gone = cloud.ok(&["destroy", "--tutorial", "1"]);
    assert_eq!(summary(&gone)["ok"], true);
    let inv = cloud.inventory("dev");
    assert_eq!(
        inv["buckets"],
        serde_json::json!([{"name": name, "objects": []}]),
        "destroy touched the foreign bucket"
    );
    assert_eq!(inv["user_pools"], serde_json::json!([]));
}

/// Bucket names are global: another account can hold one with our name, and copy our tags too.
/// Every S3 call names our account as the expected owner, so such a bucket is refused (never
/// written to, emptied or deleted), whatever its tags say.
#[test]
fn a_bucket_with_our_name_and_tags_in_another_account_is_refused_and_left_alone() {
    let cloud = Cloud::up();
    let name = "agentcore-mt-dev-t1-documents-000000000000";
    cloud.emulator("make-bucket-in-another-account", name);
    cloud.deploy_refused("1", name, "belongs to another account");
    let gone = cloud.ok(&["destroy", "--tutorial", "1"]);
    assert_eq!(summary(&gone)["ok"], true);
    let theirs = cloud.emulator("bucket-in-another-account", name);
    assert_eq!(theirs["objects"], serde_json::json!(["theirs.txt"]), "{theirs}");
    assert_eq!(theirs["tags"]["agentcore-mt:env"], "dev");
}

/// A cluster being deleted is ours only if it carries our tags, like in any other state: one with
/// our name that is not ours is neither deleted nor handed on (its ARN) to what depends on it.
#[test]
fn a_deleting_cluster_with_our_name_but_not_our_tags_is_not_taken_for_ours() {
    let cloud = Cloud::up_with(tempfile::tempdir().unwrap(), &[("RDS_DELETING_SECONDS", "120")]);
    let name = "agentcore-mt-dev-t2-claims-db";
    let foreign = cloud.emulator("make-deleting-cluster", name);
    assert_eq!(foreign["status"], "deleting", "{foreign}");
    let arn = foreign["arn"].as_str().unwrap();
    let out = cloud.xtask(&["deploy", "--tutorial", "2", "--output-format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(name) && stderr.contains("not ours"), "{stderr}");
    assert!(!stdout.contains(arn), "the foreign cluster's ARN was handed on: {stdout}");
    let status = cloud.xtask(&["status", "--tutorial", "2", "--output-format", "json"]);
    assert!(!String::from_utf8_lossy(&status.stdout).contains(arn));
    let gone = cloud.ok(&["destroy", "--tutorial", "2"]);
    assert_eq!(summary(&gone)["ok"], true);
}

/// Aurora Serverless v2 at minimum capacity 0 pauses when idle, and the first Data API call
/// after that fails with DatabaseResumingException while it resumes. The local cloud does the
/// same (here after 8 s idle, for 3 s; AWS's shortest pause is 300 s); deploy and the claims
/// agent wait it out.
#[test]
fn an_auto_paused_cluster_resumes_and_deploy_and_the_agent_wait_for_it() {
    let cloud = Cloud::up_with(
        tempfile::tempdir().unwrap(),
        &[("DATA_API_PAUSE_AFTER_SECONDS", "8"), ("DATA_API_RESUME_SECONDS", "3")],
    );
    let first = cloud.ok(&["deploy", "--tutorial", "2"]);
    assert_eq!(summary(&first)["ok"], true);
    let idle = std::time::Duration::from_secs(9);
    std::thread::sleep(idle);
    let probe = cloud.emulator("data-api-select", "dev");
    assert_eq!(probe["outcome"], "DatabaseResumingException", "{probe}");
    let events =
        cloud.ok(&["invoke", "--tutorial", "2", "--user", "mike-broker-a", "Show me all claims"]);
    let a = events.iter().find(|e| e["type"] == "answer").unwrap();
    assert_eq!(a["status"], 200, "{a}");
    let text = a["text"].as_str().unwrap();
    assert!(text.contains("CLM-A-001") && !text.contains("Resuming"), "{text}");
    std::thread::sleep(idle);
    let again = cloud.ok(&["deploy", "--tutorial", "2"]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0, "{again:#?}");
    let retried = again
        .iter()
        .any(|e| e["type"] == "retry" && e.to_string().contains("DatabaseResumingException"));
    assert!(retried, "the re-deploy met no paused cluster: {again:#?}");
}

/// The local cloud refuses what AWS refuses and goes through the states AWS goes through (each
/// bridged in `ministack_launcher.py` with the AWS page it comes from). Each state lasts 1.5 s
/// here, not 0.5 s: on a loaded machine the probe's polls missed a short one (the ingestion
/// job's STARTING, in two runs in a row of the full suite beside another build).
#[test]
fn the_local_cloud_refuses_what_aws_refuses() {
    let cloud = Cloud::up_with(tempfile::tempdir().unwrap(), &[("LOCAL_CLOUD_DELAY_SECONDS", "3")]);
    assert_eq!(
        cloud.emulator("aws-rules", "probe"),
        serde_json::json!({
            "kb_with_index_arn_and_bucket": "ValidationException",
            "kb_status_at_create": "CREATING",
            "ds_on_a_creating_kb": "ConflictException",
            "ds_update_without_chunking": "ValidationException",
            "ds_update_with_other_chunking": "ValidationException",
            "ds_update_with_the_same_chunking": "ok",
            // its bucket does not exist: the job fails, after the states every job goes through
            "ingestion_states": ["STARTING", "IN_PROGRESS", "FAILED"],
            // a repeated client token: the original answer, and no second walk
            "ingestion_replay": [true, "STARTING", "FAILED"],
            "runtime_status_after_create": "CREATING",
            "runtime_update_while_creating": "ConflictException",
            "runtime_states_after_delete": ["DELETING", "ResourceNotFoundException"],
            "instance_status_after_create": "creating",
            "modify_while_creating": "InvalidDBClusterStateFault",
            "enable_data_api_while_creating": "InvalidDBClusterStateFault",
            "cluster_states": ["creating", "available"],
            "profile_prefixes_in_us-east-1": ["global", "us"],
            "profile_prefixes_in_eu-west-1": ["eu", "global"],
            "profile_prefixes_in_sa-east-1": ["global"],
            "v2_data_api_after_modify": false,
            "v2_data_api_after_enable_operation": true,
        })
    );
}

/// After an automatic minor upgrade (16.8 -> 16.9) and with its Data API switched off, the
/// cluster is repaired with EnableHttpEndpoint (ModifyDBCluster's parameter does nothing for
/// Serverless v2) and never "updated" back to 16.8 (AWS refuses downgrades; so does the local
/// cloud).
#[test]
fn a_cluster_after_a_minor_upgrade_without_its_data_api_is_repaired_not_downgraded() {
    let cloud = Cloud::up();
    cloud.ok(&["deploy", "--tutorial", "2"]);
    let upgraded = cloud.emulator("minor-upgrade", "dev");
    assert_eq!(upgraded["to"], "16.9", "{upgraded}");
    assert_eq!(cloud.emulator("disable-data-api", "dev")["enabled"], false);
    let plan = events(&cloud.xtask(&["plan", "--tutorial", "2", "--output-format", "json"]));
    assert_eq!(changed_fields(event(&plan, "claims_db")), ["http_endpoint"]);
    let fixed = cloud.ok(&["deploy", "--tutorial", "2"]);
    assert_eq!(event(&fixed, "claims_db")["action"], "update");
    assert_eq!(cloud.emulator("data-api-select", "dev")["outcome"], "ok");
    let again = cloud.ok(&["deploy", "--tutorial", "2"]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0, "{}", summary(&again));
}

#[test]
fn document_changes_are_planned_and_synced_file_by_file() {
    let cloud = Cloud::up();
    let docs = tempfile::tempdir().unwrap();
    for f in ["a.md", "b.md"] {
        std::fs::write(docs.path().join(f), format!("content of {f}")).unwrap();
        std::fs::write(
            docs.path().join(format!("{f}.metadata.json")),
            r#"{"metadataAttributes": {"tier": "regular"}}"#,
        )
        .unwrap();
    }
    let stacks = tempfile::tempdir().unwrap();
    let stack = common::stack_text("01-unstructured-rag.yaml").replace(
        &format!("source: {}/sample-data/policies", root().display()),
        &format!("source: {}", docs.path().display()),
    );
    std::fs::write(stacks.path().join("01.yaml"), stack).unwrap();
    let dir = stacks.path().to_str().unwrap();

    cloud.ok(&["deploy", "--stacks-dir", dir]);
    std::fs::write(docs.path().join("b.md"), "changed").unwrap();
    std::fs::remove_file(docs.path().join("a.md")).unwrap();
    // A document without its sidecar (or a sidecar without its document) is refused before
    // any call: the orphaned sidecar goes too.
    let out = cloud.xtask(&["plan", "--stacks-dir", dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("a.md.metadata.json is a sidecar without its document a.md"));
    std::fs::remove_file(docs.path().join("a.md.metadata.json")).unwrap();
    let plan = cloud.ok(&["plan", "--stacks-dir", dir]);
    let sync = plan.iter().find(|e| e["id"] == "policy_documents").unwrap();
    assert_eq!(sync["action"], "update");
    let fields = common::changed_fields(sync);
    assert_eq!(fields, vec!["files/b.md", "files/a.md", "files/a.md.metadata.json"]);
    let up = cloud.ok(&["deploy", "--stacks-dir", dir]);
    // one upload, one batch delete, and the one ingestion job the change calls for
    assert_eq!(summary(&up)["api_calls"]["mutating"], 3, "{}", summary(&up));
    let inventory = cloud.inventory("dev");
    let documents = inventory["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"].as_str().unwrap().contains("-documents-"))
        .unwrap();
    let keys = &documents["objects"];
    assert_eq!(keys, &serde_json::json!(["b.md", "b.md.metadata.json"]));
    cloud.ok(&["destroy", "--stacks-dir", dir]);
    assert_eq!(cloud.inventory("dev"), empty_inventory());
}

#[test]
fn bad_input_fails_before_any_api_call() {
    let state = tempfile::tempdir().unwrap();
    let stacks = tempfile::tempdir().unwrap();
    std::fs::write(stacks.path().join("01.yaml"), "name: x\ntutorial: 1\ndescription: d\nresources:\n  pool:\n    kind: cognito.user_pool\n    properties:\n      colour: blue\n").unwrap();
    let out = run(state.path(), &["deploy", "--stacks-dir", stacks.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("01.yaml:8:") && stderr.contains("unknown field `colour`"), "{stderr}");
    assert!(!state.path().join("local").exists(), "the local cloud was started for invalid input");

    let out = run(state.path(), &["deploy", "--env", "PR_42"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid environment name"));

    let out = run(state.path(), &["deploy", "--tutorial", "9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stack matches --tutorial 9"));

    // With JSON output every error path ends with an error event and a summary.
    let empty = tempfile::tempdir().unwrap();
    let empty = empty.path().to_str().unwrap().to_string();
    for (args, kind) in [
        (vec!["deploy", "--env", "a--b"], "invalid_env"),
        (vec!["deploy", "--tutorial", "9"], "unknown_tutorial"),
        (vec!["plan", "--stacks-dir", stacks.path().to_str().unwrap()], "invalid_stack"),
        (vec!["validate", "--stacks-dir", empty.as_str()], "invalid_stack"),
        (vec!["permissions", "--env", "a--b"], "invalid_env"),
    ] {
        let mut full = args.clone();
        full.extend(["--output-format", "json"]);
        let out = run(state.path(), &full);
        let events = events(&out);
        let n = events.len();
        assert!(n >= 3, "{args:?}: {events:?}");
        assert_eq!(events[n - 2]["type"], "error", "{args:?}: {events:?}");
        assert_eq!(events[n - 2]["kind"], kind, "{args:?}: {events:?}");
        assert!(events[n - 2]["message"].as_str().is_some_and(|m| !m.is_empty()));
        let s = summary(&events);
        assert_eq!(s["ok"], false, "{args:?}");
        assert_eq!(s["exit_code"].as_u64().map(|c| c as i32), out.status.code(), "{args:?}");
    }
}

#[test]
fn aws_target_without_credentials_says_what_to_do() {
    let state = tempfile::tempdir().unwrap();
    let aws = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["plan", "--tutorial", "1", "--target", "aws"])
            .args(extra)
            .env("XTASK_STATE_DIR", state.path())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", state.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", state.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let out = aws(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no AWS credentials were found")
            && stderr.contains("hint: configure credentials"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "human mode writes no events");
    let json = aws(&["--output-format", "json"]);
    let events = events(&json);
    let error = events.iter().find(|e| e["type"] == "error").expect("an error event");
    assert_eq!(error["kind"], "failed");
    assert!(error["message"].as_str().unwrap().contains("no AWS credentials were found"));
    assert_eq!(summary(&events)["exit_code"], 1);
    assert!(!state.path().join("local").exists(), "the local cloud was started for an AWS run");

    // No region at all: said first, before any call (it used to print `region )` and an
    // endpoint `https://sts..amazonaws.com`).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["plan", "--tutorial", "1", "--target", "aws"])
        .env("XTASK_STATE_DIR", state.path())
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-key")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", state.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", state.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no AWS region is set") && stderr.contains("AWS_REGION=us-east-1"),
        "{stderr}"
    );
    assert!(!stderr.contains("amazonaws.com") && !stderr.contains("(region )"), "{stderr}");
}

#[test]
fn a_resource_removed_from_the_stack_file_is_reported_not_forgotten() {
    let cloud = Cloud::up();
    let stacks = tempfile::tempdir().unwrap();
    let base = common::stack_text("01-unstructured-rag.yaml");
    let file = stacks.path().join("01.yaml");
    let with_scratch = format!("{base}\n  scratch:\n    kind: s3.bucket\n    properties: {{}}\n");
    std::fs::write(&file, &with_scratch).unwrap();
    let dir = stacks.path().to_str().unwrap();
    cloud.ok(&["deploy", "--stacks-dir", dir]);

    std::fs::write(&file, &base).unwrap();
    let plan = cloud.ok(&["plan", "--stacks-dir", dir]);
    let orphan =
        plan.iter().find(|e| e["type"] == "orphan").expect("the removed bucket is reported");
    assert_eq!(orphan["id"], "scratch");
    assert_eq!(orphan["arn"], "arn:aws:s3:::agentcore-mt-dev-t1-scratch-000000000000");
    assert_eq!(summary(&plan)["orphans"], 1);

    let gone = cloud.ok(&["destroy", "--stacks-dir", dir]);
    assert_eq!(summary(&gone)["orphans"], 1, "destroy must say what it could not see");
    let buckets = &cloud.inventory("dev")["buckets"];
    assert_eq!(buckets.as_array().unwrap().len(), 1, "{buckets}");

    std::fs::write(&file, &with_scratch).unwrap();
    let gone = cloud.ok(&["destroy", "--stacks-dir", dir]);
    assert_eq!(summary(&gone)["orphans"], 0);
    assert_eq!(cloud.inventory("dev"), empty_inventory());
}

/// A local cloud that answers late (a busy machine; here its ministack is stopped for 4 s) is
/// waited for, not started anew: a new start would lose everything deployed on it. `local
/// status` meanwhile says it runs but does not answer.
#[test]
fn a_local_cloud_that_answers_late_is_waited_for_not_started_anew() {
    let cloud = Cloud::up();
    let pid = cloud.endpoints["ministack_pid"].as_u64().unwrap().to_string();
    let signal = |pid: &str, sig: &str| {
        let kill = std::process::Command::new("kill").args([sig, pid]).status().unwrap();
        assert!(kill.success());
    };
    signal(&pid, "-STOP");
    let status = cloud.xtask(&["local", "status", "--output-format", "json"]);
    let resume = {
        let pid = pid.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(4));
            signal(&pid, "-CONT");
        })
    };
    let up = cloud.ok(&["local", "up"]);
    resume.join().unwrap();
    let local = up.iter().find(|e| e["type"] == "local").expect("a local event");
    assert_eq!(local["endpoints"], cloud.endpoints, "the local cloud was started anew");

    assert_eq!(status.status.code(), Some(1));
    let status = events(&status);
    let state = status.iter().find(|e| e["type"] == "local").expect("a local event");
    assert_eq!(state["state"], "not_answering", "{status:?}");
    let status = cloud.ok(&["local", "status"]);
    assert!(status.iter().any(|e| e["type"] == "local" && e["state"] == "up"), "{status:?}");
}

/// A local cloud one of whose processes has died is started anew, empty, and the command says
/// so (on stderr, in every output format) rather than silently showing nothing deployed.
#[test]
fn a_local_cloud_with_a_dead_process_is_started_anew_and_says_so() {
    let cloud = Cloud::up();
    let pid = cloud.endpoints["runtime_host_pid"].as_u64().unwrap().to_string();
    let kill = std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(kill.success());
    let status = cloud.xtask(&["local", "status"]);
    assert_eq!(status.status.code(), Some(1));
    let said = String::from_utf8_lossy(&status.stderr);
    assert!(
        said.contains(&format!("has stopped (its runtime-host (pid {pid}) has exited)")),
        "{said}"
    );
    let out = cloud.xtask(&["local", "up", "--output-format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the local cloud had stopped (its runtime-host (pid {pid}) has exited)"
        )) && stderr.contains("what was deployed on it is gone"),
        "{stderr}"
    );
    let again = cloud.xtask(&["local", "up"]);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("had stopped"), "said twice");
}

/// Two commands that find no local cloud at once start one between them, not one each (the
/// second used to stop the first's half-started processes on its way).
#[test]
fn two_commands_at_once_start_one_local_cloud() {
    let state = tempfile::tempdir().unwrap();
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["local", "up", "--output-format", "json"])
            .env("XTASK_STATE_DIR", state.path())
            .env("XTASK_VENV", common::venv())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let endpoints = |out: &std::process::Output| {
        events(out).into_iter().find(|e| e["type"] == "local").map(|e| e["endpoints"].clone())
    };
    let (ea, eb) = (endpoints(&a), endpoints(&b));
    let pid = ea.as_ref().and_then(|e| e["ministack_pid"].as_u64());
    let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
    run(state.path(), &["local", "down"]);
    for out in [&a, &b] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(ea, eb, "two local clouds were started");
    assert!(alive, "the local cloud both use is not running");
}

/// A raw HTTP/1.1 request to `url`'s host and port; the answer's status and its whole text.
fn raw(url: &str, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.replace("{host}", addr).as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let status = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// What a web page the developer visits can send to the local cloud's ports: a cross-origin
/// "simple" request (text/plain, no preflight), a preflight, a DNS-rebound host, an unsigned
/// text/plain POST to the Data API. Every endpoint refuses each (403) and never answers with an
/// Access-Control-Allow-Origin header; what it keeps on disk (the emulators' token-signing keys
/// among it) is readable by its owner only.
#[test]
fn no_web_page_can_drive_the_local_cloud() {
    let cloud = Cloud::up();
    let secret = r#"{"SecretId":"agentcore-mt/dev/t2/tenant-token-key"}"#;
    let attacks = [
        (
            "cross-origin GetSecretValue as text/plain",
            format!("POST / HTTP/1.1\r\nHost: {{host}}\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\nX-Amz-Target: secretsmanager.GetSecretValue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{secret}", secret.len()),
        ),
        (
            "preflight",
            "OPTIONS / HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization\r\nConnection: close\r\n\r\n".to_string(),
        ),
        (
            "sandboxed page (Origin: null)",
            "GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: null\r\nConnection: close\r\n\r\n".to_string(),
        ),
        (
            "DNS rebinding",
            "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".to_string(),
        ),
        (
            "unsigned text/plain POST (no Origin header)",
            "POST /Execute HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string(),
        ),
    ];
    let mut refused = 0;
    for part in ["ministack", "moto", "data_api", "runtime_host"] {
        for (attack, request) in &attacks {
            let (status, answer) = raw(cloud.endpoint(part), request);
            assert_eq!(status, 403, "{part}: {attack} was answered: {answer}");
            assert!(
                !answer.to_lowercase().contains("access-control-allow"),
                "{part}: {attack}: a CORS header: {answer}"
            );
            refused += 1;
        }
    }
    eprintln!("{refused} requests a web page could send, refused");
    // Private state: the directory and the emulators' keys.
    use std::os::unix::fs::PermissionsExt;
    let dir = cloud.state.path().join("local");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert!(mode & 0o066 == 0, "{} is {mode:o}", dir.display());
    // A sign-in makes ministack write its token-signing keys.
    cloud.ok(&["deploy", "--tutorial", "1"]);
    cloud.ok(&["retrieve", "-t", "1", "--user", "john-regular", "deductible"]);
    let mut files = Vec::new();
    let mut todo = vec![dir.join("ministack-state")];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let mode = e.metadata().unwrap().permissions().mode() & 0o777;
            assert!(mode & 0o077 == 0, "{} is {mode:o}", p.display());
            if p.is_dir() {
                todo.push(p);
            } else {
                files.push(p);
            }
        }
    }
    assert!(files.iter().any(|f| f.extension().is_some_and(|x| x == "pem")), "no key: {files:?}");
}

/// A cluster with `protect: true` (deletion protection on) is destroyed when asked: destroy
/// turns the protection off first (it used to fail on every run: InvalidParameterCombination).
#[test]
fn a_protected_cluster_is_destroyed_when_asked() {
    let cloud = Cloud::up();
    let stacks = common::stack_copy("02-structured-rls.yaml", "protect: false", "protect: true");
    let dir = stacks.path().to_str().unwrap();
    cloud.ok(&["deploy", "-t", "2", "--env", "prot", "--stacks-dir", dir]);
    let gone = cloud.ok(&["destroy", "-t", "2", "--env", "prot", "--stacks-dir", dir]);
    assert_eq!(summary(&gone)["ok"], true, "{gone:?}");
    assert_eq!(cloud.inventory("prot"), empty_inventory());
}

/// A stack naming a migrations directory that is not there fails before any call (it used to be
/// found after the VPC and the cluster were made): validate and deploy say which directory.
#[test]
fn a_missing_migrations_directory_is_found_before_any_call() {
    let state = tempfile::tempdir().unwrap();
    let sql = format!("directory: {}/sql", root().display());
    let stacks = common::stack_copy("02-structured-rls.yaml", &sql, "directory: /no/such/sql");
    let dir = stacks.path().to_str().unwrap();
    for command in ["validate", "deploy"] {
        let out = run(state.path(), &[command, "-t", "2", "--stacks-dir", dir]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("/no/such/sql"), "{command}: {stderr}");
    }
    assert!(!state.path().join("local").exists(), "the local cloud was started");
}

/// Every role carries the account's permissions boundary; one that lost it is shown changed by
/// plan and gets it back from deploy (and only that call is made).
#[test]
fn a_role_without_the_boundary_gets_it_back() {
    let cloud = Cloud::up();
    cloud.ok(&["deploy", "-t", "1", "--env", "bnd"]);
    let role = "agentcore-mt-bnd-t1-kb-role";
    let boundary = "arn:aws:iam::000000000000:policy/agentcore-mt-boundary";
    assert_eq!(cloud.emulator("role-boundary", role)["boundary"], boundary);
    cloud.emulator("drop-boundary", role);
    assert_eq!(cloud.emulator("role-boundary", role)["boundary"], Value::Null);
    let plan = cloud.ok(&["plan", "-t", "1", "--env", "bnd"]);
    assert_eq!(event(&plan, "kb_role")["action"], "update", "{plan:?}");
    assert_eq!(changed_fields(event(&plan, "kb_role")), ["permissions_boundary"]);
    let fixed = cloud.ok(&["deploy", "-t", "1", "--env", "bnd"]);
    assert_eq!(summary(&fixed)["api_calls"]["mutating"], 1, "{fixed:?}");
    assert_eq!(cloud.emulator("role-boundary", role)["boundary"], boundary);
    cloud.ok(&["destroy", "--env", "bnd"]);
}
