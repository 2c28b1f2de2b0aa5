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
    v.replace('|', "\\|").replace('\n', " ")
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
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect();
                let _ = writeln!(
                    md,
                    "\n{}{} in {} s ({} mutating and {} read API calls){}",
                    if counts.is_empty() { "nothing".to_string() } else { counts.join(", ") },
                    if s["interrupted"] == true { ", **interrupted**" } else { "" },
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
                    .filter(|e| {
                        e["type"] == "resource"
                            && (e["action"] != "noop" || e["status"] == "failed")
                    })
                    .collect();
                if !changed.is_empty() {
                    md.push_str("\n| resource | kind | action | status | seconds |\n|---|---|---|---|---|\n");
                    for e in changed {
                        let action = if e["replace"] == true {
                            "replace".to_string()
                        } else {
                            text(&e["action"])
                        };
                        let status = match e["error"].as_str() {
                            Some(err) => format!("{}: {}", text(&e["status"]), cell(err)),
                            None => text(&e["status"]),
                        };
                        let _ = writeln!(
                            md,
                            "| `{}/{}` | {} | {} | {} | {} |",
                            text(&e["stack"]),
                            text(&e["id"]),
                            text(&e["kind"]),
                            action,
                            status,
                            text(&e["seconds"])
                        );
                    }
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
    /// cost, and a run that failed before its work: each reads as people expect.
    #[test]
    fn a_ci_run_reads_as_markdown() {
        let events = vec![
            json!({"type": "version", "version": 1}),
            json!({"type": "resource", "stack": "unstructured-rag", "id": "user_pool", "kind": "cognito.user_pool", "action": "noop", "replace": false, "status": "done", "seconds": 0.1}),
            json!({"type": "resource", "stack": "unstructured-rag", "id": "policy_source", "kind": "bedrock.data_source", "action": "update", "replace": true, "status": "done", "seconds": 2.5}),
            json!({"type": "resource", "stack": "structured-rls", "id": "schema", "kind": "rdsdata.sql_migrations", "action": "update", "replace": false, "status": "failed", "seconds": 1.0, "error": "relation | x"}),
            json!({"type": "summary", "command": "deploy", "env": "pr-42", "target": "aws", "ok": false, "interrupted": false, "counts": {"create": 0, "replace": 1, "failed": 1, "noop": 1}, "api_calls": {"mutating": 3, "read": 40}, "orphans": 0, "seconds": 12.3}),
            json!({"type": "version", "version": 1}),
            json!({"type": "case", "tutorial": 2, "agent": "claims_agent", "category": "data", "name": "mike-broker-a sees broker-a's claims", "outcome": "pass", "detail": ""}),
            json!({"type": "case", "tutorial": 2, "agent": "claims_agent", "category": "token", "name": "a forged token", "outcome": "fail", "detail": "answered 200"}),
            json!({"type": "case", "tutorial": 1, "agent": "policy_agent", "category": "request", "name": "two headers", "outcome": "not run", "detail": "no second client"}),
            json!({"type": "summary", "command": "verify", "cases": 3, "passed": 1, "failed": 1, "not_run": 1}),
            json!({"type": "version", "version": 1}),
            json!({"type": "cost", "stack": "structured-rls", "id": "claims_db", "kind": "rds.cluster", "monthly_usd": 0.5}),
            json!({"type": "cost", "stack": "structured-rls", "id": "vpc", "kind": "ec2.vpc", "monthly_usd": 0.0}),
            json!({"type": "summary", "command": "cost", "ok": true, "resources": 2, "monthly_usd": 0.5, "prices": {"region": "us-east-1", "checked": "2026-12-01"}}),
            json!({"type": "version", "version": 1}),
            json!({"type": "error", "kind": "invalid_env", "message": "--env: invalid environment name `a--b`"}),
            json!({"type": "summary", "command": "destroy", "env": "a--b", "ok": false, "exit_code": 2}),
        ];
        insta::assert_snapshot!(super::markdown(&events));
    }
}
