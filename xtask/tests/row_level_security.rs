//! Tutorial 2 on the local cloud: the claims database's tenant isolation, checked through the
//! RDS Data API by `tests/rls_attacks.py` (the isolation matrix, an attack corpus run as
//! app_user, pooled connections, privileges), and its migrations.

mod common;

use common::{root, Cloud};
use serde_json::Value;

/// The residual channels we know of and document: aggregate statistics of the whole table that
/// PostgreSQL shows every role, and that no non-superuser (nor Aurora's master) can revoke.
const DOCUMENTED_RESIDUALS: &[&str] =
    &["table size estimate (pg_class.reltuples)", "table activity counters (pg_stat_user_tables)"];

/// Idle transactions end after this many seconds in this test's local Data API (AWS: 180).
const TX_IDLE_SECONDS: &str = "6";

#[test]
fn tenant_isolation_holds_against_the_attack_corpus() {
    // The state directory inside a directory closed to others, as a home directory is: the
    // local cloud must run PostgreSQL without opening it (or anything else outside its state).
    let outer = tempfile::tempdir().unwrap();
    let closed = outer.path().join("home");
    std::fs::create_dir(&closed).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let state = tempfile::Builder::new().tempdir_in(&closed).unwrap();
    let cloud = Cloud::up_with(state, &[("DATA_API_TX_IDLE_SECONDS", TX_IDLE_SECONDS)]);
    cloud.ok(&["deploy", "--tutorial", "2"]);
    let report = cloud.script(
        "rls_attacks.py",
        &[cloud.endpoint("ministack"), cloud.endpoint("data_api"), "dev", TX_IDLE_SECONDS],
    );
    // app_user changed its own password and settings (the corpus' last cases, which PostgreSQL
    // allows): plan shows the drift on the login resource, deploy repairs it, then all is quiet.
    let drift = report["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 4);
    assert!(drift.iter().all(|d| d["done"] == true), "{drift:#?}");
    let plan = cloud.ok(&["plan", "--tutorial", "2"]);
    let login = common::event(&plan, "app_user_password");
    assert_eq!(login["action"], "update", "{login}");
    let fields = common::changed_fields(login);
    assert!(fields.contains(&"password") && fields.contains(&"role_settings"), "{login}");
    let deploy = cloud.ok(&["deploy", "--tutorial", "2"]);
    assert_eq!(common::event(&deploy, "app_user_password")["action"], "update");
    let again = cloud.ok(&["plan", "--tutorial", "2"]);
    assert_eq!(common::event(&again, "app_user_password")["action"], "noop");
    let after = cloud.script(
        "rls_attacks.py",
        &[cloud.endpoint("ministack"), cloud.endpoint("data_api"), "dev"],
    );
    for section in ["matrix", "pool"] {
        let failed: Vec<&Value> =
            after[section].as_array().unwrap().iter().filter(|c| c["ok"] != true).collect();
        assert!(failed.is_empty(), "after the repair, {section}: {failed:#?}");
    }

    let mode = std::fs::metadata(&closed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the local cloud changed the mode of a directory above its state");
    for section in ["matrix", "pool", "privileges", "data_api"] {
        let cases = report[section].as_array().unwrap();
        assert!(!cases.is_empty());
        let failed: Vec<&Value> = cases.iter().filter(|c| c["ok"] != true).collect();
        assert!(failed.is_empty(), "{section}: {failed:#?}");
        eprintln!("{section}: {} cases, all hold", cases.len());
    }
    let attacks = report["attacks"].as_array().unwrap();
    let leaked: Vec<&Value> = attacks.iter().filter(|a| a["outcome"] == "leaked").collect();
    assert!(leaked.is_empty(), "attacks that got through: {leaked:#?}");
    let residual: Vec<&str> = attacks
        .iter()
        .filter(|a| a["outcome"] == "residual")
        .map(|a| a["case"].as_str().unwrap())
        .collect();
    assert!(
        residual.iter().all(|r| DOCUMENTED_RESIDUALS.contains(r)),
        "undocumented residual channel: {residual:?}"
    );
    let blocked = attacks.iter().filter(|a| a["outcome"] == "blocked").count();
    assert!(blocked >= 40, "the corpus shrank: {blocked} blocked");
    eprintln!(
        "attack corpus: {} cases, {blocked} blocked, {} documented residual(s), 0 leaked",
        attacks.len(),
        residual.len()
    );
}

#[test]
fn migrations_apply_once_and_an_edited_one_is_refused() {
    let cloud = Cloud::up();
    let sql = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("sql")).unwrap().flatten() {
        std::fs::copy(entry.path(), sql.path().join(entry.file_name())).unwrap();
    }
    let stacks = tempfile::tempdir().unwrap();
    let stack = common::stack_text("02-structured-rls.yaml").replace(
        &format!("directory: {}/sql", root().display()),
        &format!("directory: {}", sql.path().display()),
    );
    std::fs::write(stacks.path().join("02.yaml"), stack).unwrap();
    let dir = stacks.path().to_str().unwrap();

    assert!(cloud.xtask(&["deploy", "--tutorial", "2", "--stacks-dir", dir]).status.success());
    let again =
        cloud.xtask(&["deploy", "--tutorial", "2", "--stacks-dir", dir, "--output-format", "json"]);
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&again.stdout).lines().last().unwrap())
            .unwrap();
    assert_eq!(last["api_calls"]["mutating"], 0, "applying twice changed something: {last}");

    // A new file is applied, and only it.
    std::fs::write(
        sql.path().join("007_comment.sql"),
        "COMMENT ON TABLE claims.claims IS 'insurance claims, one row per claim';\n",
    )
    .unwrap();
    let plan = cloud.xtask(&["plan", "--tutorial", "2", "--stacks-dir", dir]);
    assert!(
        String::from_utf8_lossy(&plan.stderr).contains("migrations/007_comment"),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let out =
        cloud.xtask(&["deploy", "--tutorial", "2", "--stacks-dir", dir, "--output-format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let schema = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["id"] == "schema")
        .unwrap();
    assert_eq!(schema["action"], "update");

    // Editing an applied file is refused, with the file named and what to do.
    let path = sql.path().join("002_tables.sql");
    let edited =
        std::fs::read_to_string(&path).unwrap().replace("numeric(12, 2)", "numeric(14, 2)");
    std::fs::write(&path, edited).unwrap();
    let out = cloud.xtask(&["deploy", "--tutorial", "2", "--stacks-dir", dir]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("002_tables.sql was edited after it was applied")
            && stderr.contains("new, higher-numbered file"),
        "{stderr}"
    );

    // A failing file is rolled back whole and named.
    std::fs::write(&path, std::fs::read_to_string(root().join("sql/002_tables.sql")).unwrap())
        .unwrap();
    std::fs::write(
        sql.path().join("008_broken.sql"),
        "CREATE TABLE claims.x (a int);\nSELECT no_such_function();\n",
    )
    .unwrap();
    let out = cloud.xtask(&["deploy", "--tutorial", "2", "--stacks-dir", dir]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("008_broken.sql statement 2") && stderr.contains("rolled back"),
        "{stderr}"
    );
}
