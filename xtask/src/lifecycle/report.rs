//! `cargo xtask report`: turns the NDJSON of deploy, plan, destroy, verify and cost runs (one
//! file each, or all on stdin, one after the other) into a Markdown summary for people: a CI
//! job summary (`>> $GITHUB_STEP_SUMMARY`), a pull-request comment.

use std::fmt::Write;

use serde_json::Value;

/// One run: its events, the version line first, the summary last.
fn runs(events: &[Value]) -> Vec<&[Value]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, e) in events.iter().enumerate() {
        if e["type"] == "version" && i > start {
            out.push(&events[start..i]);
            start = i;
        }
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// A Markdown table cell: one line, no pipes.
fn cell(v: &str) -> String {
    v.replace('|', "\\|")
        .replace('\n', " ")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A resource table longer than this folds its plain creations and deletions away.
const FOLD_OVER: usize = 10;

/// A resource event that neither failed nor was interrupted.
fn settled(e: &Value) -> bool {
    e["status"] == "done" || e["status"] == "planned"
}

/// Kinds and fields whose values may be personal or set by anyone with access to the resource
/// (a user's attributes, their tenant, a role's settings): a pull-request comment shows that
/// they changed, not to what.
const NOT_SHOWN: &[(&str, &str)] =
    &[("cognito.user", ""), ("rdsdata.sql_tenant_users", ""), ("", "role_settings")];

/// A value in a table cell: compact, at most 40 characters, in a code span; a value with
/// anything but plain name characters (spaces, quotes, markup, `@`) is not shown.
fn short(v: &Value) -> String {
    let t = match v {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) | Value::Null => v.to_string(),
        _ => return "(a structure)".into(),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "_.:/,=+-".contains(c);
    if !t.chars().all(plain) {
        return "(not shown)".into();
    }
    if t.chars().count() > 40 {
        format!("`{}…`", t.chars().take(39).collect::<String>())
    } else {
        format!("`{t}`")
    }
}

/// The changed fields of a resource event, `field: before → after` each.
fn changes(e: &Value) -> String {
    let kind = text(&e["kind"]);
    let list: Vec<String> = e["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let field = text(&c["field"]);
            let hidden = NOT_SHOWN
                .iter()
                .any(|(k, f)| (k.is_empty() || *k == kind) && (f.is_empty() || field.ends_with(f)));
            let values = if hidden {
                String::new()
            } else {
                format!(": {} → {}", short(&c["current"]), short(&c["desired"]))
            };
            format!(
                "`{}`{values}{}",
                field.replace('`', "'"),
                if c["replaces"] == true { " (replaces)" } else { "" }
            )
        })
        .collect();
    cell(&list.join("; "))
}

/// The table of resource events `rows` (nothing when there are none).
fn resource_table(md: &mut String, rows: &[&Value]) {
    if rows.is_empty() {
        return;
    }
    md.push_str(
        "\n| resource | kind | action | status | changes | seconds |\n|---|---|---|---|---|---|\n",
    );
    for e in rows {
        let action = if e["replace"] == true { "replace".to_string() } else { text(&e["action"]) };
        let status = match e["error"].as_str() {
            // "interrupted: not started" says it once.
            Some(err) if err.starts_with(&text(&e["status"])) => cell(err),
            Some(err) => format!("{}: {}", text(&e["status"]), cell(err)),
            None => text(&e["status"]),
        };
        let _ = writeln!(
            md,
            "| `{}/{}` | {} | {} | {} | {} | {} |",
            text(&e["stack"]),
            text(&e["id"]),
            text(&e["kind"]),
            action,
            status,
            changes(e),
            text(&e["seconds"])
        );
    }
}

/// The Markdown summary of `events` (the lines of one or more runs).
pub fn markdown(events: &[Value]) -> String {
    let mut md = String::from("## agentcore-multitenant\n");
    for run in runs(events) {
        let summary = run.iter().rev().find(|e| e["type"] == "summary");
        let Some(s) = summary else {
            let _ =
                writeln!(md, "\n### ❌ a run that ended without a summary ({} events)", run.len());
            continue;
        };
        let command = text(&s["command"]);
        let ok = s["ok"] != false && s["failed"].as_u64().unwrap_or(0) == 0;
        let env = s["env"].as_str().map(|e| format!(" of env `{e}`")).unwrap_or_default();
        let target = s["target"].as_str().map(|t| format!(" on {t}")).unwrap_or_default();
        let _ = writeln!(md, "\n### {} {command}{env}{target}", mark(ok));
        for e in run.iter().filter(|e| e["type"] == "error") {
            let _ = writeln!(
                md,
                "\n> **error** ({}): {}",
                text(&e["kind"]),
                cell(&text(&e["message"]))
            );
        }
        match command.as_str() {
            "deploy" | "plan" | "destroy" if s.get("counts").is_some() => {
                let counts: Vec<String> = s["counts"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(k, n)| {
                        if k == "interrupted" {
                            format!("**{n} interrupted**")
                        } else {
                            format!("{n} {k}")
                        }
                    })
                    .collect();
                let _ = writeln!(
                    md,
                    "\n{}{} in {} s ({} mutating and {} read API calls){}",
                    if counts.is_empty() { "nothing".to_string() } else { counts.join(", ") },
                    // (said once: the counts name what an interruption left)
                    if s["interrupted"] == true
                        && s["counts"]["interrupted"].as_u64().unwrap_or(0) == 0
                    {
                        ", **interrupted**"
                    } else {
                        ""
                    },
                    text(&s["seconds"]),
                    text(&s["api_calls"]["mutating"]),
                    text(&s["api_calls"]["read"]),
                    match s["orphans"].as_u64() {
                        Some(n) if n > 0 =>
                            format!("; {n} orphaned resource(s) carry the environment's tags"),
                        _ => String::new(),
                    }
                );
                let changed: Vec<&Value> = run
                    .iter()
                    .filter(|e| e["type"] == "resource" && (e["action"] != "noop" || !settled(e)))
                    .collect();
                // What needs a reader's eye (a failure, an interruption, a change of fields)
                // is always in view; a long list of plain creations or deletions (a first
                // deploy, a destroy) folds away under its count.
                // (what a stop left alone, "not started", is as plain: the counts say how many)
                let (plain, notable): (Vec<&Value>, Vec<&Value>) = changed.iter().partition(|e| {
                    (settled(e) && (e["action"] == "create" || e["action"] == "delete"))
                        || e["error"] == "interrupted: not started"
                });
                if changed.len() <= FOLD_OVER || plain.is_empty() {
                    resource_table(&mut md, &changed);
                } else {
                    resource_table(&mut md, &notable);
                    // What is folded, counted by what happened: "40 created, 3 not started".
                    let mut what: Vec<(String, usize)> = Vec::new();
                    for e in &plain {
                        let word = match (e["status"].as_str(), e["action"].as_str()) {
                            (Some("interrupted"), _) => "not started",
                            (Some("planned"), Some("create")) => "to create",
                            (Some("planned"), _) => "to delete",
                            (_, Some("create")) => "created",
                            _ => "deleted",
                        };
                        match what.iter_mut().find(|(w, _)| w == word) {
                            Some((_, n)) => *n += 1,
                            None => what.push((word.to_string(), 1)),
                        }
                    }
                    let what: Vec<String> = what.iter().map(|(w, n)| format!("{n} {w}")).collect();
                    let _ = writeln!(md, "\n<details><summary>{}</summary>\n", what.join(", "));
                    resource_table(&mut md, &plain);
                    md.push_str("\n</details>\n");
                }
            }
            "verify" => {
                let _ = writeln!(
                    md,
                    "\n{} cases: {} passed, {} failed, {} not run",
                    text(&s["cases"]),
                    text(&s["passed"]),
                    text(&s["failed"]),
                    text(&s["not_run"])
                );
                let shown: Vec<&Value> =
                    run.iter().filter(|e| e["type"] == "case" && e["outcome"] != "pass").collect();
                if !shown.is_empty() {
                    md.push_str(
                        "\n| tutorial | agent | case | outcome | detail |\n|---|---|---|---|---|\n",
                    );
                    for e in shown {
                        let _ = writeln!(
                            md,
                            "| {} | {} | {} | {} | {} |",
                            text(&e["tutorial"]),
                            text(&e["agent"]),
                            cell(&text(&e["name"])),
                            text(&e["outcome"]),
                            cell(&text(&e["detail"]))
                        );
                    }
                }
            }
            "cost" => {
                let _ = writeln!(
                    md,
                    "\n**${:.2} per month while idle** ({} resources; {} prices of {}; usage on top)",
                    s["monthly_usd"].as_f64().unwrap_or(0.0),
                    text(&s["resources"]),
                    text(&s["prices"]["region"]),
                    text(&s["prices"]["checked"])
                );
                let priced: Vec<&Value> = run
                    .iter()
                    .filter(|e| {
                        e["type"] == "cost" && e["monthly_usd"].as_f64().unwrap_or(0.0) > 0.0
                    })
                    .collect();
                if !priced.is_empty() {
                    md.push_str("\n| resource | kind | $/month |\n|---|---|---|\n");
                    for e in priced {
                        let _ = writeln!(
                            md,
                            "| `{}/{}` | {} | {:.3} |",
                            text(&e["stack"]),
                            text(&e["id"]),
                            text(&e["kind"]),
                            e["monthly_usd"].as_f64().unwrap_or(0.0)
                        );
                    }
                }
            }
            "gc" => {
                let envs: Vec<&Value> = run.iter().filter(|e| e["type"] == "environment").collect();
                let counts: Vec<String> = s["environments"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
                    .collect();
                let _ = writeln!(
                    md,
                    "
{}{} in {} s",
                    if counts.is_empty() {
                        "no environment found".to_string()
                    } else {
                        counts.join(", ")
                    },
                    if s["dry_run"] == true { " (dry run)" } else { "" },
                    text(&s["seconds"])
                );
                if !envs.is_empty() {
                    md.push_str(
                        "\n| environment | status | why | resources |\n|---|---|---|---|\n",
                    );
                    for e in envs {
                        let _ = writeln!(
                            md,
                            "| `{}` | {} | {} | {} |",
                            text(&e["env"]),
                            text(&e["status"]).replace('_', " "),
                            cell(&text(&e["reason"])),
                            text(&e["resources"])
                        );
                    }
                }
            }
            _ => {}
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// A deploy with a replacement and a failure, a verify with a failed and a skipped case, a
    /// cost, a run that failed before its work, an interrupted destroy and a first deploy:
    /// each reads as people expect (interrupted rows say so, changed fields are shown, a long
    /// list of creations folds away, every section names its environment).
    #[test]
    fn a_ci_run_reads_as_markdown() {
        let mut events = vec![
            json!({"type": "version", "version": 1}),
            json!({"type": "resource", "stack": "unstructured-rag", "id": "user_pool", "kind": "cognito.user_pool", "action": "noop", "replace": false, "status": "done", "seconds": 0.1}),
            json!({"type": "resource", "stack": "unstructured-rag", "id": "policy_source", "kind": "bedrock.data_source", "action": "update", "replace": true, "status": "done", "seconds": 2.5, "changes": [{"field": "chunking.max_tokens", "current": 300, "desired": 512, "replaces": true}]}),
            json!({"type": "resource", "stack": "unstructured-rag", "id": "tier_group", "kind": "cognito.group", "action": "update", "replace": false, "status": "done", "seconds": 0.4, "changes": [{"field": "description", "current": "Platinum", "desired": "Platinum tier | the long description that does not fit in a cell", "replaces": false}, {"field": "precedence", "current": 1, "desired": 2, "replaces": false}]}),
            json!({"type": "resource", "stack": "structured-rls", "id": "mike", "kind": "cognito.user", "action": "update", "replace": false, "status": "done", "seconds": 0.1, "changes": [{"field": "attributes.email", "current": "mike@example.com", "desired": "mike@evil.example", "replaces": false}]}),
            json!({"type": "resource", "stack": "structured-rls", "id": "app_login", "kind": "rdsdata.sql_login", "action": "update", "replace": false, "status": "done", "seconds": 0.1, "changes": [{"field": "role_settings", "current": "search_path=x", "desired": "", "replaces": false}, {"field": "name", "current": "a</details><img src=x>", "desired": "b", "replaces": false}]}),
            json!({"type": "resource", "stack": "structured-rls", "id": "schema", "kind": "rdsdata.sql_migrations", "action": "update", "replace": false, "status": "failed", "seconds": 1.0, "error": "relation | x"}),
            json!({"type": "summary", "command": "deploy", "env": "pr-42", "target": "aws", "ok": false, "interrupted": false, "counts": {"create": 0, "update": 3, "replace": 1, "failed": 1, "noop": 1}, "api_calls": {"mutating": 3, "read": 40}, "orphans": 0, "seconds": 12.3}),
            json!({"type": "version", "version": 1}),
            json!({"type": "case", "tutorial": 2, "agent": "claims_agent", "category": "data", "name": "mike-broker-a sees broker-a's claims", "outcome": "pass", "detail": ""}),
            json!({"type": "case", "tutorial": 2, "agent": "claims_agent", "category": "token", "name": "a forged token", "outcome": "fail", "detail": "answered 200"}),
            json!({"type": "case", "tutorial": 1, "agent": "policy_agent", "category": "request", "name": "two headers", "outcome": "not run", "detail": "no second client"}),
            json!({"type": "summary", "command": "verify", "env": "pr-42", "target": "aws", "cases": 3, "passed": 1, "failed": 1, "not_run": 1}),
            json!({"type": "version", "version": 1}),
            json!({"type": "cost", "stack": "structured-rls", "id": "claims_db", "kind": "rds.cluster", "monthly_usd": 0.5}),
            json!({"type": "cost", "stack": "structured-rls", "id": "vpc", "kind": "ec2.vpc", "monthly_usd": 0.0}),
            json!({"type": "summary", "command": "cost", "env": "pr-42", "target": "aws", "ok": true, "resources": 2, "monthly_usd": 0.5, "prices": {"region": "us-east-1", "checked": "2026-12-01"}}),
            json!({"type": "version", "version": 1}),
            json!({"type": "error", "kind": "invalid_env", "message": "--env: invalid environment name `a--b`"}),
            json!({"type": "summary", "command": "destroy", "env": "a--b", "ok": false, "exit_code": 2}),
            json!({"type": "version", "version": 1}),
            json!({"type": "resource", "stack": "unstructured-rag", "id": "kb", "kind": "bedrock.knowledge_base", "action": "delete", "replace": false, "status": "done", "seconds": 3.0}),
            json!({"type": "resource", "stack": "unstructured-rag", "id": "user_pool", "kind": "cognito.user_pool", "action": "delete", "replace": false, "status": "interrupted", "seconds": 0.0, "error": "interrupted: not started"}),
            json!({"type": "summary", "command": "destroy", "env": "pr-42", "target": "aws", "ok": false, "interrupted": true, "counts": {"delete": 1, "interrupted": 1}, "api_calls": {"mutating": 1, "read": 9}, "orphans": 0, "seconds": 4.0}),
            json!({"type": "version", "version": 1}),
        ];
        for i in 0..12 {
            events.push(json!({"type": "resource", "stack": "structured-rls", "id": format!("user_{i}"), "kind": "cognito.user", "action": "create", "replace": false, "status": "done", "seconds": 0.2}));
        }
        events.push(json!({"type": "resource", "stack": "structured-rls", "id": "schema", "kind": "rdsdata.sql_migrations", "action": "create", "replace": false, "status": "failed", "seconds": 1.0, "error": "syntax error"}));
        events.push(json!({"type": "summary", "command": "deploy", "env": "pr-43", "target": "local", "ok": false, "interrupted": false, "counts": {"create": 12, "failed": 1}, "api_calls": {"mutating": 30, "read": 50}, "orphans": 0, "seconds": 20.0}));
        insta::assert_snapshot!(super::markdown(&events));
    }
}
