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
