//! IAM, which the local cloud does not enforce, evaluated by a real IAM evaluator
//! (@cloud-copilot/iam-simulate, `xtask/iam-eval/`, its own process) on what the provisioner
//! really sends: every request of a deploy, a re-deploy, verify, gc and destroy of every
//! tutorial (recorded, decoded by `contract.py`, turned into action, resource ARNs of the types
//! the Service Authorization Reference lists, and condition keys by `iam_eval.py`) against the
//! policy `permissions --env` prints; another environment's mutating requests against it; the
//! attacks a pull request's identity might try; and what the Knowledge Base and the agents do
//! with their roles, under the account's permissions boundary. Then a static escalation scan
//! (cloudsplaining) of the deploy policy and the boundary.

mod common;

use std::path::Path;
use std::process::Command;

use common::{record, root, venv, Cloud};
use serde_json::Value;

/// What `cargo xtask permissions` (these args) grants, in a file of the state directory.
fn policy(cloud: &Cloud, name: &str, args: &[&str]) -> std::path::PathBuf {
    let file = cloud.state.path().join(name);
    std::fs::write(&file, serde_json::to_vec_pretty(&common::granted(args)).unwrap()).unwrap();
    file
}

/// `iam_eval.py`'s report.
fn evaluate(args: &[&str]) -> Value {
    let out = Command::new(venv().join("bin/python"))
        .arg(root().join("xtask/tests/iam_eval.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn show(report: &Value) -> String {
    format!(
        "{} requests ({} operations) -> {} evaluations of {} action/resource pairs: {}",
        report["requests"],
        report["operations"],
        report["evaluations"],
        report["pairs"],
        report["decisions"]
    )
}

#[test]
fn every_request_is_allowed_by_the_policy_in_force_and_nothing_else_is() {
    let cloud = Cloud::up();
    let state = cloud.state.path();
    let own = state.join("pr-1.jsonl");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    record(&cloud, &own, &["deploy", "--env", "pr-1"]);
    // The roles as deployed (their inline policies, references resolved), before they go.
    let roles = cloud.emulator("role-policies", "agentcore-mt-pr-1-");
    assert_eq!(roles.as_object().unwrap().len(), 8, "{roles}");
    let roles_file = state.join("roles.json");
    std::fs::write(&roles_file, roles.to_string()).unwrap();
    record(&cloud, &own, &["deploy", "--env", "pr-1"]);
    record(&cloud, &own, &["gc", "--older-than", "1000h", "--prefix", "pr-", "--dry-run"]);
    // Another environment lives beside it from here on: pr-1's verify and destroy (which lists
    // what pr-1 owns) must not need to read anything of pr-2's.
    let other = state.join("pr-2.jsonl");
    record(&cloud, &other, &["deploy", "--env", "pr-2"]);
    record(&cloud, &own, &["verify", "--env", "pr-1"]);
    record(&cloud, &own, &["destroy", "--env", "pr-1"]);
    // pr-1 takes the express path by default; the full path's requests are its work too.
    let full = ["--tutorial", "2", "--env", "pr-1", "--choose", "database=full"];
    record(&cloud, &own, &[&["deploy"][..], &full[..]].concat());
    record(&cloud, &own, &[&["destroy"][..], &full[..]].concat());
    // The rest of the other environment's life.
    record(&cloud, &other, &["destroy", "--env", "pr-2"]);

    let p1 = policy(&cloud, "pr-1.json", &["permissions", "--env", "pr-1"]);
    let boundary = policy(&cloud, "boundary.json", &["permissions", "--boundary"]);

    // pr-1's own work: every request allowed (every resource it names, every role it passes).
    let mine = evaluate(&[&path(&own), &path(&p1), "--env", "pr-1"]);
    eprintln!("own work: {}", show(&mine));
    assert_eq!(mine["errors"], serde_json::json!([]), "{mine:#}");
    assert_eq!(mine["unexpected"], serde_json::json!([]), "denied: {mine:#}");
    assert!(mine["operations"].as_u64().unwrap() >= 90, "{}", show(&mine));

    // pr-2's mutating requests with pr-1's policy: every one denied.
    let theirs = evaluate(&[
        &path(&other),
        &path(&p1),
        "--env",
        "pr-2",
        "--expect",
        "Denied",
        "--mutating-only",
    ]);
    eprintln!("pr-2's mutating requests with pr-1's policy: {}", show(&theirs));
    assert_eq!(theirs["errors"], serde_json::json!([]), "{theirs:#}");
    assert_eq!(theirs["unexpected"], serde_json::json!([]), "allowed: {theirs:#}");
    assert!(theirs["checked"].as_u64().unwrap() >= 150, "{}", show(&theirs));

    // The attacks on what is not pr-1's, AWS's findings, and the roles under the boundary.
    let cases = evaluate(&[
        "-",
        &path(&p1),
        "--env",
        "pr-1",
        "--attacks",
        "pr-2",
        "--roles",
        &path(&roles_file),
        "--boundary-doc",
        &path(&boundary),
    ]);
    eprintln!("attacks, findings and roles: {} cases, {}", cases["checked"], cases["decisions"]);
    assert_eq!(cases["errors"], serde_json::json!([]), "{cases:#}");
    assert_eq!(cases["unexpected"], serde_json::json!([]), "{cases:#}");
    assert!(cases["checked"].as_u64().unwrap() >= 80, "{cases:#}");
}

/// The deploy policy and the boundary pass cloudsplaining's escalation scan, except the findings
/// the README explains, each held by a condition or a name the scan cannot read.
#[test]
fn the_policies_have_no_unexplained_escalation_or_exposure() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, args: &[&str]| {
        let file = dir.path().join(name);
        std::fs::write(&file, serde_json::to_vec_pretty(&common::granted(args)).unwrap()).unwrap();
        file.to_str().unwrap().to_string()
    };
    let files = [
        write("env.json", &["permissions", "--env", "pr-1"]),
        write("any.json", &["permissions", "--any-env"]),
        write("boundary.json", &["permissions", "--boundary"]),
    ];
    let out = Command::new(venv().join("bin/python"))
        .arg(root().join("xtask/tests/iam_scan.py"))
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // What the README ("Privilege escalation scan") explains, and nothing more.
    let explained = serde_json::json!({
        "PrivilegeEscalation": ["EditExistingLambdaFunctionWithRole", "PassExistingRoleToNewLambdaThenAddPermission", "PutRolePolicy", "UpdateLambdaFunctionAndAddPermission"],
        "ResourceExposure": ["bedrock-agentcore:InvokeGateway", "bedrock-agentcore:ManageResourceScopedPolicy", "iam:DeleteRole", "lambda:AddPermission", "lambda:RemovePermission", "rds-db:connect", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"],
        "DataExfiltration": ["s3:GetObject", "secretsmanager:GetSecretValue"],
        "CredentialsExposure": ["rds-db:connect"],
        "ServiceWildcard": [],
    });
    for file in &files[..2] {
        let r = &report[file];
        for kind in [
            "PrivilegeEscalation",
            "ResourceExposure",
            "DataExfiltration",
            "CredentialsExposure",
            "ServiceWildcard",
        ] {
            assert_eq!(r[kind], explained[kind], "{file}: {kind}: {r:#}");
        }
    }
    let b = &report[&files[2]];
    for kind in ["PrivilegeEscalation", "CredentialsExposure", "ServiceWildcard"] {
        assert_eq!(b[kind], serde_json::json!([]), "boundary: {kind}: {b:#}");
    }
    // A gateway's role asks its policy engine for decisions: "permissions management" to the
    // scan, on the environment's own engines and gateways only (README).
    assert_eq!(
        b["ResourceExposure"],
        serde_json::json!([
            "bedrock-agentcore:AuthorizeAction",
            "bedrock-agentcore:PartiallyAuthorizeActions"
        ]),
        "boundary: {b:#}"
    );
    eprintln!("{}", serde_json::to_string(&report).unwrap());
}
