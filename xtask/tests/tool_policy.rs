//! Tutorial 4's tool layer (issue 26), its first part: every tool call through the gateway is
//! decided by the real Cedar engine (cedarpy, as the local gateway will), with the shipped
//! policies (`agents/tools/policies/*.cedar`) over the schema generated from the shipped tools
//! (`agents/tools/tools.json`). `cedar_attacks.py` holds the cases: a broker acting for the
//! other tenant, above the threshold, with forged or malformed arguments, groups and claims;
//! and what validation refuses before any call.

mod common;

use std::process::Command;

use common::{root, venv};
use serde_json::Value;

#[test]
fn every_tool_call_is_decided_by_cedar_and_no_broker_reaches_another_tenant() {
    // The venv with the pinned Cedar packages (installed once; a no-op when it is there).
    let state = tempfile::tempdir().unwrap();
    let install = common::run(state.path(), &["local", "install"]);
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let out = Command::new(venv().join("bin/python"))
        .arg(root().join("xtask/tests/cedar_attacks.py"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert!(cases.len() >= 45, "{} cases", cases.len());
    assert_eq!(report["failed"], serde_json::json!([]), "{:#}", report["failed"]);
    let allowed = cases.iter().filter(|c| c["allowed"] == true).count();
    eprintln!(
        "tool policy: {} cases passed ({allowed} calls allowed, the rest denied)",
        cases.len()
    );
}

/// The local cloud's AgentCore Gateway and Policy control plane (ministack has none), through
/// boto3 and the pinned service model: engines, gateways with a JWT authorizer in ENFORCE mode,
/// Lambda targets with the claims tools, the repository's policies created one by one and
/// validated against the gateway's tools (a misspelled field, an unknown tool, no resource:
/// CREATE_FAILED with the reason), names and refusals as AWS documents them, teardown in order.
#[test]
fn the_local_gateway_control_plane_keeps_aws_rules() {
    let cloud = common::Cloud::up();
    let report = cloud.script("agentcore_control.py", &[cloud.endpoint("ministack")]);
    let cases = report["cases"].as_array().unwrap();
    assert!(cases.len() >= 32, "{} cases", cases.len());
    assert_eq!(report["failed"], serde_json::json!([]), "{:#}", report["failed"]);
    eprintln!("gateway control plane: {} cases passed", cases.len());
}

/// The local gateway end to end (`gateway_mcp.py`): a pool whose pre token generation trigger
/// (a Lambda, V2_0) puts the tenant into the access token; a gateway with that pool's JWT
/// authorizer and an ENFORCE policy engine holding the repository's policies; a Lambda target
/// with the claims tools; MCP `tools/call` as each broker, and as a broker with a valid token
/// and forged arguments, which the policy engine denies (its words in the answer).
#[test]
fn the_local_gateway_decides_every_tool_call_with_the_policies() {
    let cloud = common::Cloud::up();
    let report = cloud
        .script("gateway_mcp.py", &[cloud.endpoint("ministack"), cloud.endpoint("runtime_host")]);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(report["failed"], serde_json::json!([]), "{:#}", report["failed"]);
    assert!(cases.len() >= 22, "{} cases", cases.len());
    eprintln!("gateway MCP: {} cases passed", cases.len());
}
