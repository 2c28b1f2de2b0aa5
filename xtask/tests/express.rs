//! The fast path of a pull request's environment (issue 24): tutorial 2 on Aurora's express
//! configuration, beside the full configuration, proving the same isolation. The local cloud
//! emulates express configuration and its internet access gateway (`db_gateway.py`):
//! `tests/gateway_attacks.py` tries the ways in that AWS refuses.

mod common;

use common::{summary, Cloud};
use serde_json::Value;

fn kinds(events: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "resource")
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k.dedup();
    k
}

#[test]
fn a_pull_request_takes_the_express_path_and_proves_the_same_isolation() {
    let cloud = Cloud::up();
    let first = cloud.ok(&["deploy", "--tutorial", "2", "--env", "pr-1"]);
    let made = kinds(&first);
    for k in ["rds.express_cluster", "rdsiam.admin_login"] {
        assert!(made.contains(&k.to_string()), "{made:?}");
    }
    for k in ["rds.cluster", "rds.instance", "ec2.vpc", "ec2.subnet", "rds.db_subnet_group"] {
        assert!(!made.contains(&k.to_string()), "the express path made a {k}: {made:?}");
    }
    let inv = cloud.inventory("pr-1");
    assert_eq!(inv["clusters"], serde_json::json!(["agentcore-mt-pr-1-t2-claims-db-express"]));
    assert_eq!(
        inv["instances"],
        serde_json::json!(["agentcore-mt-pr-1-t2-claims-db-express-instance-1"]),
        "the writer comes with the cluster's one call"
    );
    assert!(inv.get("subnet_groups").is_none(), "{inv}");

    // The isolation verify proves is the same on both paths.
    let verified = cloud.ok(&["verify", "--tutorial", "2", "--env", "pr-1"]);
    let s = summary(&verified);
    assert_eq!(s["failed"], 0, "{s}");
    assert!(s["passed"].as_u64().unwrap() >= 20, "{s}");
    let full = cloud.ok(&["deploy", "--tutorial", "2", "--env", "dev"]);
    assert!(kinds(&full).contains(&"rds.cluster".to_string()), "dev takes the full path");

    // The gateway: IAM tokens only for the master user, checked; TLS; one cluster per name;
    // nothing for the full configuration's cluster. And what express refuses at creation.
    let gateway = cloud.endpoints["database_gateway"].as_str().unwrap().to_string();
    let ca = cloud.state.path().join("local/gateway/ca.pem");
    let cases = cloud.script(
        "gateway_attacks.py",
        &[cloud.endpoint("ministack"), &gateway, ca.to_str().unwrap(), "pr-1", "dev"],
    );
    let cases = cases.as_array().unwrap();
    let wrong: Vec<&Value> = cases.iter().filter(|c| c["ok"] != true).collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(cases.len() >= 30, "the cases shrank: {}", cases.len());
    eprintln!("gateway and control plane: {} cases, all as AWS answers", cases.len());

    // The attack corpus on the claims database, through the Data API, as on the full path.
    let report = cloud.script(
        "rls_attacks.py",
        &[cloud.endpoint("ministack"), cloud.endpoint("data_api"), "pr-1"],
    );
    for section in ["matrix", "pool", "privileges", "data_api"] {
        let failed: Vec<&Value> =
            report[section].as_array().unwrap().iter().filter(|c| c["ok"] != true).collect();
        assert!(failed.is_empty(), "{section}: {failed:#?}");
    }
    let leaked: Vec<&Value> =
        report["attacks"].as_array().unwrap().iter().filter(|a| a["outcome"] == "leaked").collect();
    assert!(leaked.is_empty(), "{leaked:#?}");

    // Converged: the login's password, the database's owner and the Data API read back as
    // deployed (the corpus' drift cases were repaired by the first redeploy).
    cloud.ok(&["deploy", "--tutorial", "2", "--env", "pr-1"]);
    let again = cloud.ok(&["deploy", "--tutorial", "2", "--env", "pr-1"]);
    assert_eq!(summary(&again)["api_calls"]["mutating"], 0, "{again:#?}");

    // The admin login changes its own password: plan shows it, deploy repairs it (ALTER ROLE as
    // the non-superuser master user), then nothing is left to do.
    let drift = cloud.script(
        "express_drift.py",
        &[cloud.endpoint("ministack"), cloud.endpoint("data_api"), "pr-1"],
    );
    assert_eq!(drift["done"], true, "{drift}");
    // (plan names it; what runs SQL as the login cannot be looked at until it is repaired, and
    // says so with PostgreSQL's 28P01, so plan exits 1)
    let plan =
        cloud.xtask(&["plan", "--tutorial", "2", "--env", "pr-1", "--output-format", "json"]);
    let plan = common::events(&plan);
    let login = common::event(&plan, "claims_db_admin");
    assert_eq!(login["action"], "update", "{login}");
    assert_eq!(common::changed_fields(login), ["password"], "{login}");
    let repaired = cloud.ok(&["deploy", "--tutorial", "2", "--env", "pr-1"]);
    assert_eq!(common::event(&repaired, "claims_db_admin")["action"], "update");
    let quiet = cloud.ok(&["plan", "--tutorial", "2", "--env", "pr-1"]);
    assert_eq!(common::event(&quiet, "claims_db_admin")["action"], "noop", "{quiet:#?}");

    // A pull request may take the full path when asked.
    let plan = cloud.ok(&["plan", "--tutorial", "2", "--env", "pr-1", "--choose", "database=full"]);
    assert!(kinds(&plan).contains(&"rds.cluster".to_string()));
    let bad =
        cloud.xtask(&["plan", "--tutorial", "2", "--env", "pr-1", "--choose", "database=fast"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the values are full, express"));

    cloud.ok(&["destroy", "--tutorial", "2", "--env", "pr-1"]);
    let left = cloud.inventory("pr-1");
    assert_eq!(left, common::empty_inventory(), "destroy left: {left}");
}
