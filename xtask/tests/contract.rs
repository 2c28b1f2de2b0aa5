//! The contract test: every request a full deploy, a re-deploy, verify and destroy of all
//! tutorials send to the local cloud is checked against the AWS service models (botocore's, in
//! the pinned venv): required members, unknown members, types, enums, lengths, ranges,
//! patterns. And every operation they call is granted by `cargo xtask permissions`.

mod common;

use std::process::Command;

use common::{record, root, venv, Cloud};
use serde_json::Value;

#[test]
fn every_request_matches_the_aws_service_models_and_the_policy() {
    let cloud = Cloud::up();
    let requests = cloud.state.path().join("requests.jsonl");
    let run = |args: &[&str]| record(&cloud, &requests, args);
    for command in ["deploy", "deploy", "verify", "destroy"] {
        run(&[command]);
    }
    let report = check(&cloud, &requests, &["permissions", "--env", "dev"]);
    let operations = report["operations"].as_array().unwrap();
    eprintln!(
        "contract: {} requests, {} operations, {} violations; patterns Python cannot compile: {}",
        report["requests"],
        operations.len(),
        report["violations"].as_array().unwrap().len(),
        report["patterns_not_checkable"]
    );
    assert!(operations.len() >= 50, "{report:#}");
    // EC2 goes through the provisioner's own Query client (cloud/ec2.rs): its requests are
    // recorded and checked like the SDK's.
    for op in [
        "ec2:CreateVpc",
        "ec2:CreateSubnet",
        "ec2:CreateSecurityGroup",
        "ec2:DescribeAvailabilityZones",
        "ec2:DeleteVpc",
    ] {
        assert!(
            operations.iter().any(|o| o.as_str().is_some_and(|o| o.eq_ignore_ascii_case(op))),
            "{op} not recorded: {operations:?}"
        );
    }
    assert_eq!(report["not_decoded"], serde_json::json!({}), "{report:#}");
    assert_eq!(report["violations"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["not_granted"], serde_json::json!([]), "{report:#}");

    // One tutorial with only the policy `permissions --tutorial` prints for it.
    let two = cloud.state.path().join("tutorial-2.jsonl");
    for command in ["deploy", "destroy"] {
        record(&cloud, &two, &[command, "-t", "2", "--env", "contract"]);
    }
    let report = check(&cloud, &two, &["permissions", "-t", "2", "--env", "contract"]);
    eprintln!("tutorial 2 alone: {} operations", report["operations"].as_array().unwrap().len());
    assert_eq!(report["violations"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["not_granted"], serde_json::json!([]), "{report:#}");
}

/// The contract checker's report on `requests`, with the policy `permissions` (these args)
/// prints.
fn check(cloud: &Cloud, requests: &std::path::Path, permissions: &[&str]) -> Value {
    let policy_file = cloud.state.path().join("policy.json");
    std::fs::write(&policy_file, common::granted(permissions).to_string()).unwrap();
    contract(requests, &policy_file)
}

/// `contract.py`'s report on recorded requests and a policy file.
fn contract(requests: &std::path::Path, policy: &std::path::Path) -> Value {
    let out = Command::new(venv().join("bin/python"))
        .arg(root().join("xtask/tests/contract.py"))
        .arg(requests)
        .arg(policy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The checker itself finds what it is for: a request that breaks the model, in each protocol
/// the provisioner uses, and an operation the policy does not grant.
#[test]
fn the_contract_checker_finds_broken_requests() {
    let dir = tempfile::tempdir().unwrap();
    let broken = [
        // json: a required member missing, an enum value AWS does not know, a name too long
        serde_json::json!({"service": "CognitoIdentityProvider", "operation": "CreateUserPoolClient", "method": "POST", "uri": "/", "headers": {}, "body": {"text": serde_json::json!({"ClientName": "x".repeat(200), "ExplicitAuthFlows": ["ALLOW_EVERYTHING"]}).to_string()}}),
        // query: a number out of range, a required member missing inside a list
        serde_json::json!({"service": "IAM", "operation": "CreateRole", "method": "POST", "uri": "/", "headers": {}, "body": {"text": "Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument=%7B%7D&MaxSessionDuration=60&Tags.member.1.Key=owner"}}),
        // rest-json: a pattern broken in a URI label
        serde_json::json!({"service": "BedrockAgent", "operation": "GetKnowledgeBase", "method": "GET", "uri": "/knowledgebases/not%20an%20id", "headers": {}, "body": null}),
    ];
    let file = dir.path().join("broken.jsonl");
    std::fs::write(&file, broken.iter().map(|b| b.to_string() + "\n").collect::<String>()).unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"Statement": [{"Action": ["cognito-idp:CreateUserPoolClient"]}]}"#)
        .unwrap();
    let report = contract(&file, &policy);
    let rules: Vec<String> = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{} {} {}",
                v["operation"],
                v["field"].as_str().unwrap(),
                v["rule"].as_str().unwrap()
            )
        })
        .collect();
    let has = |needle: &str| rules.iter().any(|r| r.contains(needle));
    assert!(has("UserPoolId required"), "{rules:#?}");
    assert!(has("ClientName at most 128 characters"), "{rules:#?}");
    assert!(has("ExplicitAuthFlows[0] one of"), "{rules:#?}");
    assert!(has("MaxSessionDuration at least 3600"), "{rules:#?}");
    assert!(has("Tags[0].Value required"), "{rules:#?}");
    assert!(has("knowledgeBaseId pattern"), "{rules:#?}");
    assert_eq!(
        report["not_granted"],
        serde_json::json!([
            "bedrock:GetKnowledgeBase (bedrock-agent:GetKnowledgeBase)",
            "iam:CreateRole (iam:CreateRole)"
        ])
    );
}
