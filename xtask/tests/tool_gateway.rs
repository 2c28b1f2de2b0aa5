//! Tutorial 4 deployed as a pull request deploys it (issue 26): the gateway, its Lambda target,
//! the policy engine and the repository's policies on the local cloud, verified through the
//! gateway's MCP endpoint as each broker and as an attacker with a valid token; a gateway
//! switched to LOG_ONLY, its interceptor taken off, or a policy deleted by hand, fails verify and
//! is put back by the next deploy, and with either wall down the other still keeps every call to
//! the caller's tenant; a re-deploy changes nothing; destroy leaves nothing, even from a checkout
//! that no longer declares tutorial 4.

mod common;

use common::{empty_inventory, summary, Cloud};
use serde_json::{json, Value};

fn cases(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["type"] == "case").collect()
}

fn failed(events: &[Value]) -> Vec<String> {
    cases(events)
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// `plan` shows the gateway as an update, `deploy` makes it, and `verify` passes again.
fn the_gateway_is_repaired(cloud: &Cloud, env: &str) {
    let plan = cloud.ok(&["plan", "--tutorial", "4", "--env", env]);
    let gateway = plan.iter().find(|e| e["type"] == "resource" && e["id"] == "gateway").unwrap();
    assert_eq!(gateway["action"], "update", "{gateway}");
    cloud.ok(&["deploy", "--tutorial", "4", "--env", env]);
    let fixed = cloud.ok(&["verify", "--tutorial", "4", "--env", env]);
    assert_eq!(summary(&fixed)["failed"], 0, "{:?}", failed(&fixed));
}

/// `verify` after someone broke `what`: it fails (exit 1); its events.
fn verify_fails(cloud: &Cloud, env: &str, what: &str) -> Vec<Value> {
    let out = cloud.xtask(&["verify", "--tutorial", "4", "--env", env, "--output-format", "json"]);
    assert_eq!(out.status.code(), Some(1), "verify passed {what}");
    common::events(&out)
}

#[test]
fn the_tool_layer_is_deployed_verified_repaired_and_destroyed() {
    let cloud = Cloud::up();
    let env = "pr-4";
    let first = cloud.ok(&["deploy", "--tutorial", "4", "--env", env]);
    assert_eq!(summary(&first)["ok"], true);
    let inv = cloud.inventory(env);
    assert_eq!(
        inv["gateways"],
        json!([{"name": "agentcore-mt-pr-4-t4-gateway", "targets": ["ClaimsTools"]}]),
        "{inv}"
    );
    assert_eq!(inv["policy_engines"], json!(["agentcore_mt_pr_4_t4_policy_engine"]));
    assert_eq!(
        inv["policies"],
        json!([
            "agentcore_mt_pr_4_t4_files_large",
            "agentcore_mt_pr_4_t4_files_own",
            "agentcore_mt_pr_4_t4_reads_own"
        ])
    );
    assert_eq!(
        inv["functions"],
        json!([
            "agentcore-mt-pr-4-t2-token-trigger",
            "agentcore-mt-pr-4-t4-tenant-interceptor",
            "agentcore-mt-pr-4-t4-tools"
        ])
    );

    // Every case passes: each broker's own calls, the attacker's denied by the policy engine,
    // another tenant's claim number not found under one's own tenant (Row-Level Security).
    let verified = cloud.ok(&["verify", "--tutorial", "4", "--env", env]);
    let s = summary(&verified);
    assert_eq!(s["failed"], 0, "{:?}", failed(&verified));
    let all = cases(&verified);
    let tool: Vec<&&Value> = all.iter().filter(|c| c["category"] == "tool").collect();
    assert!(tool.len() >= 20, "the tool cases shrank: {}", tool.len());
    let denied = tool
        .iter()
        .filter(|c| c["name"].as_str().unwrap().contains("denied by the policy engine"))
        .count();
    assert!(denied >= 8, "{denied} denial cases");
    eprintln!("tutorial 4: {} tool cases passed, {denied} of them denials", tool.len());

    // Converged: nothing to do.
    let again = cloud.ok(&["deploy", "--tutorial", "4", "--env", env]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0, "{}", summary(&again));

    // Someone switches the gateway to LOG_ONLY: every call is then allowed by the engine, so
    // verify must fail (the mode, and the attacker's calls no longer denied by the policy
    // engine), and deploy must put ENFORCE back. The interceptor still holds: the attacker's
    // forged tenant reaches the tools as no tenant, and nothing of the other tenant comes back.
    cloud.emulator("gateway-log-only", "agentcore-mt-pr-4-t4-gateway");
    let events = verify_fails(&cloud, env, "with the gateway in LOG_ONLY mode");
    let broken = failed(&events);
    assert!(broken.iter().any(|n| n.contains("ENFORCE mode")), "{broken:?}");
    let forged = cases(&events)
        .into_iter()
        .find(|c| c["name"].as_str().unwrap().contains("asks for the other tenant's claims"))
        .unwrap();
    assert_eq!(forged["outcome"], "fail", "{forged}");
    let detail = forged["detail"].as_str().unwrap();
    assert!(
        detail.contains("tenant_id is the caller's tenant"),
        "not refused by the tools: {forged}"
    );
    assert!(!detail.contains("CLM-B-"), "the other tenant's claims reached the attacker: {forged}");
    the_gateway_is_repaired(&cloud, env);

    // Someone takes the interceptor off: verify fails (the configuration, and a call that names
    // no tenant is denied), while the policy engine alone still denies every forged tenant;
    // deploy puts the interceptor back.
    cloud.emulator("gateway-without-interceptor", "agentcore-mt-pr-4-t4-gateway");
    let events = verify_fails(&cloud, env, "without the interceptor");
    let broken = failed(&events);
    assert!(broken.iter().any(|n| n.contains("REQUEST interceptor")), "{broken:?}");
    assert!(broken.iter().any(|n| n.contains("names no tenant")), "{broken:?}");
    let still: Vec<&Value> = cases(&events)
        .into_iter()
        .filter(|c| c["name"].as_str().unwrap().contains("other tenant"))
        .filter(|c| c["name"].as_str().unwrap().contains("denied by the policy engine"))
        .collect();
    assert!(still.len() >= 3 && still.iter().all(|c| c["outcome"] == "pass"), "{still:?}");
    the_gateway_is_repaired(&cloud, env);

    // Someone deletes the policy that lets brokers read their claims: verify fails (a broker's
    // own reads are denied), deploy creates it again.
    cloud.emulator("delete-policy", "agentcore_mt_pr_4_t4_reads_own");
    let events = verify_fails(&cloud, env, "without the read policy");
    let broken = failed(&events);
    assert!(broken.iter().any(|n| n.contains("lists their own claims")), "{broken:?}");
    let repaired = cloud.ok(&["deploy", "--tutorial", "4", "--env", env]);
    assert_eq!(summary(&repaired)["counts"]["create"], 1, "{}", summary(&repaired));
    let fixed = cloud.ok(&["verify", "--tutorial", "4", "--env", env]);
    assert_eq!(summary(&fixed)["failed"], 0, "{:?}", failed(&fixed));

    // Destroy: tutorial 4 alone, then the rest; nothing left, the functions' logs included.
    let four = cloud.ok(&["destroy", "--tutorial", "4", "--env", env]);
    assert_eq!(summary(&four)["counts"]["delete"], 20, "{}", summary(&four));
    let inv = cloud.inventory(env);
    for key in ["gateways", "policy_engines", "policies", "memories"] {
        assert!(inv.get(key).is_none(), "{key} left: {inv}");
    }
    assert_eq!(inv["functions"], json!(["agentcore-mt-pr-4-t2-token-trigger"]), "{inv}");
    cloud.ok(&["destroy", "--env", env]);
    assert_eq!(cloud.inventory(env), empty_inventory());
}

/// A checkout that does not declare tutorial 4 (an older branch, a gc run from main before it
/// merged) still finds everything tutorial 4 made, by name prefix and tags: the gateway (its
/// target with it), the policy engine (its policies first), the memory, the runtime, the
/// functions, roles and secrets: `destroy --orphans` deletes each and leaves nothing. Nothing
/// else: not env pr-410's tutorial 4 (whose names start like pr-41's), not a gateway that
/// carries pr-41's tags under another name.
#[test]
fn a_checkout_without_tutorial_4_still_finds_and_destroys_all_of_it() {
    let cloud = Cloud::up();
    let env = "pr-41";
    cloud.ok(&["deploy", "--tutorial", "4", "--env", env]);
    cloud.ok(&["deploy", "--tutorial", "4", "--env", "pr-410"]);
    let neighbour = cloud.inventory("pr-410");
    cloud.emulator("make-gateway", "agentcore-mt-pr-41-t4-other");
    let old = tempfile::tempdir().unwrap();
    for file in ["01-unstructured-rag.yaml", "02-structured-rls.yaml", "03-enterprise-demo.yaml"] {
        std::fs::write(old.path().join(file), common::stack_text(file)).unwrap();
    }
    let dir = old.path().to_str().unwrap();
    let gone = cloud.ok(&["destroy", "--env", env, "--orphans", "--stacks-dir", dir]);
    let deleted: Vec<&str> = gone
        .iter()
        .filter(|e| e["type"] == "orphan" && e["deleted"] == true)
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for id in [
        "gateway",
        "gateway_role",
        "interceptor_role",
        "memory",
        "policy_engine",
        "tenant_interceptor",
        "tool_key",
        "tools",
        "tools_agent",
        "tools_agent_role",
        "tools_role",
    ] {
        assert!(deleted.contains(&id), "{id} not deleted as an orphan: {deleted:?}");
    }
    assert_eq!(summary(&gone)["orphans"], 0, "{gone:?}");
    // Only the gateway with pr-41's tags but not its name is left of what starts like pr-41.
    let mut left = cloud.inventory(env);
    assert_eq!(
        left.as_object_mut().unwrap().remove("gateways"),
        Some(json!([{"name": "agentcore-mt-pr-41-t4-other", "targets": []}]))
    );
    assert_eq!(left, empty_inventory());
    assert_eq!(cloud.inventory("pr-410"), neighbour, "env pr-410 was touched");
    cloud.ok(&["destroy", "--env", "pr-410"]);
    assert_eq!(cloud.inventory("pr-410"), empty_inventory());
}
