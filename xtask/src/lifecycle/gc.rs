//! `cargo xtask gc`: the reaper for environments a pipeline left behind (a job killed before its
//! destroy, a pull request closed while CI was down). Environments are found by their ownership
//! tags, across every kind (`crate::lifecycle::owned::every_environment`), and dated by their tags: an
//! environment is due when its expiry (`deploy --ttl`) has passed or, without one, when even its
//! youngest resource is older than `--older-than`. A due environment is destroyed whole (every
//! stack, under its lock, as `destroy` would); resources without our tags are never touched.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::events::{self, Calls, Event, Summary};
use anyhow::Result;

use crate::cloud::Clients;
use crate::engine::{self, Engine, Outcome};
use crate::lifecycle::lock;
use crate::lifecycle::owned::{every_environment, Dated};
use crate::model::Stack;
use crate::output::Exit;
use crate::output::Output;

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Destroy environments whose youngest resource is older than this (for example 6h, 2d),
    /// unless an expiry set by `deploy --ttl` says otherwise.
    #[arg(long, value_parser = humantime::parse_duration)]
    older_than: Duration,
    /// Only environments whose name starts with this (for example pr-).
    #[arg(long, default_value = "", hide_default_value = true)]
    prefix: String,
    /// Say what would be destroyed, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// One environment: how many resources it owns, and what its deployment record says.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub env: String,
    pub resources: usize,
    /// Its last deploy, by its record.
    pub youngest: Option<SystemTime>,
    /// Its expiry, by its record.
    pub expires: Option<SystemTime>,
    /// It has a deployment record in this account and region.
    pub recorded: bool,
}

/// Why an environment is due, or `None` if it is kept.
pub fn due(found: &Found, older_than: Duration, now: SystemTime) -> Option<String> {
    if let Some(expires) = found.expires {
        return (expires <= now).then(|| {
            format!("its expiry ({}) has passed", humantime::format_rfc3339_seconds(expires))
        });
    }
    match found.youngest {
        Some(youngest) => {
            let age = now.duration_since(youngest).unwrap_or_default();
            (age >= older_than).then(|| {
                format!(
                    "its youngest resource is {} old",
                    humantime::format_duration(Duration::from_secs(age.as_secs()))
                )
            })
        }
        // No deployment record (another region's, or made by hand): never reaped by age.
        None => None,
    }
}

/// Groups resources by environment, dated by the deployment records (`records`: each recorded
/// environment's record; an environment with a record and nothing left is listed too).
pub fn environments(resources: &[Dated], records: &[lock::Record]) -> Vec<Found> {
    let time = |s: Option<&str>| s.and_then(|t| humantime::parse_rfc3339(t).ok());
    let mut by_env: BTreeMap<&str, Found> = BTreeMap::new();
    let blank = |env: &str| Found {
        env: env.to_string(),
        resources: 0,
        youngest: None,
        expires: None,
        recorded: false,
    };
    for r in resources {
        by_env.entry(&r.env).or_insert_with(|| blank(&r.env)).resources += 1;
    }
    for record in records {
        let f = by_env.entry(&record.env).or_insert_with(|| blank(&record.env));
        f.recorded = true;
        f.youngest = time(Some(&record.deployed_at));
        f.expires = time(record.expires_at.as_deref());
    }
    by_env.into_values().collect()
}

pub async fn run(
    args: &GcArgs,
    all: &[Stack],
    engine: &Arc<Engine>,
    clients: &Clients,
    lock_timeout: Duration,
    ask: bool,
    out: &Output,
) -> Result<Exit> {
    let started = std::time::Instant::now();
    let spin = out.spinner("finding environments by their names, tags and deployment records");
    let resources = every_environment(clients, None).await;
    let leases = lock::Locks::new(clients);
    let mut records = Vec::new();
    let recorded =
        leases.recorded().await.map_err(|e| anyhow::anyhow!("listing deployment records: {e}"))?;
    for env in recorded.iter().filter(|e| e.starts_with(&args.prefix)) {
        if crate::model::names::check_env_name(env).is_err() {
            continue;
        }
        match leases.record(env).await {
            Ok(Some(r)) if &r.env == env => records.push(r),
            Ok(_) => {}
            Err(e) => {
                out.warn(&format!("note: the deployment record of `{env}` is unreadable: {e}"))
            }
        }
    }
    spin.finish_and_clear();
    let found = environments(&resources?, &records);
    let now = SystemTime::now();
    let mut counts: BTreeMap<&'static str, usize> =
        ["destroyed", "would_destroy", "kept", "in_use", "failed"]
            .into_iter()
            .map(|k| (k, 0))
            .collect();
    let found: Vec<&Found> = found.iter().filter(|f| f.env.starts_with(&args.prefix)).collect();
    let due_now: Vec<String> = found
        .iter()
        .filter_map(|f| due(f, args.older_than, now).map(|why| format!("{}: {why}", f.env)))
        .collect();
    if ask && !args.dry_run && !due_now.is_empty() {
        for line in &due_now {
            out.say(&format!("- {line}"));
        }
        crate::output::ask(&format!("{} environment(s) to destroy, listed above", due_now.len()))?;
    }
    for f in found {
        if engine.stop.is_set() {
            break;
        }
        let age = f.youngest.map(|y| now.duration_since(y).unwrap_or_default().as_secs());
        let expires = f.expires.map(|e| humantime::format_rfc3339_seconds(e).to_string());
        let event = |status: &'static str, reason: &str| events::Environment {
            env: f.env.clone(),
            status,
            reason: reason.to_string(),
            resources: f.resources,
            youngest_age_seconds: age,
            expires_at: expires.clone(),
            holder: None,
            deleted: None,
            failed: None,
        };
        let Some(why) = due(f, args.older_than, now) else {
            let reason = match (&expires, age) {
                (Some(at), _) => format!("expires {at}"),
                (None, Some(a)) => format!(
                    "youngest resource {} old",
                    humantime::format_duration(Duration::from_secs(a))
                ),
                (None, None) if !f.recorded => {
                    "no deployment record in this account and region (deployed elsewhere, or by hand): never reaped".into()
                }
                (None, None) => "its deployment record has no date".into(),
            };
            out.say(&format!("= {}: kept ({reason}; {} tagged resources)", f.env, f.resources));
            out.event(Event::Environment(event("kept", &reason)));
            *counts.get_mut("kept").unwrap() += 1;
            continue;
        };
        if args.dry_run {
            out.say(&format!(
                "- {}: would be destroyed: {why} ({} tagged resources)",
                f.env, f.resources
            ));
            out.event(Event::Environment(event("would_destroy", &why)));
            *counts.get_mut("would_destroy").unwrap() += 1;
            continue;
        }
        let holder = lock::Holder::this_process(&format!("gc of env {}", f.env));
        let held = match leases.acquire(&f.env, &holder, lock_timeout, &engine.stop, &|_| {}).await
        {
            Ok(held) => held,
            Err(lock::LockError::Held { lease, .. }) => {
                let reason = format!("{why}, but {} holds its lock", lease.holder);
                out.say(&format!("= {}: left alone: {reason}", f.env));
                out.event(Event::Environment(events::Environment {
                    holder: Some(lease.holder),
                    ..event("in_use", &reason)
                }));
                *counts.get_mut("in_use").unwrap() += 1;
                continue;
            }
            Err(e) => {
                out.warn(&format!("error: {}: {e}", f.env));
                out.event(Event::Environment(event("failed", &e.to_string())));
                *counts.get_mut("failed").unwrap() += 1;
                continue;
            }
        };
        out.say(&format!("- {}: destroying: {why} ({} tagged resources)", f.env, f.resources));
        let env_engine = Arc::new(Engine {
            kinds: crate::kinds::registry(clients),
            env: f.env.clone(),
            account: engine.account.clone(),
            reporter: engine.reporter.clone(),
            backoff: engine::Backoff::default(),
            stop: engine.stop.clone(),
        });
        // The stacks as this environment has them (a pull request's express database).
        let made = match crate::model::choices::for_environment(all.to_vec(), &f.env, &[]) {
            Ok(made) => made,
            Err(e) => {
                out.warn(&format!("error: {}: {e}", f.env));
                *counts.get_mut("failed").unwrap() += 1;
                continue;
            }
        };
        let all = made.as_slice();
        let stacks: Vec<&Stack> = all.iter().collect();
        let outcomes = env_engine.destroy(&stacks, &[]).await;
        // What no stack declares any more (its tags prove it is this environment's).
        let (orphans, orphans_failed) = match every_environment(clients, Some(&f.env)).await {
            Ok(left) => {
                let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                let undeclared = crate::lifecycle::orphans::undeclared(&left, all, &names, true);
                crate::lifecycle::orphans::delete(&undeclared, &env_engine.kinds, &engine.stop, out)
                    .await
            }
            Err(e) => {
                out.warn(&format!("error: {}: could not look for orphans: {e:#}", f.env));
                (0, 1)
            }
        };
        // What AgentCore left behind untagged (a runtime's log groups), found by name.
        let (logs, logs_failed) = delete_log_groups(clients, &f.env, out).await;
        let (orphans, orphans_failed) = (orphans + logs, orphans_failed + logs_failed);
        let deleted = engine::count_actions(&outcomes)["delete"] + orphans;
        let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
        if failed.is_empty() && orphans_failed == 0 {
            if let Err(e) = leases.forget(&f.env).await {
                out.warn(&format!("note: the deployment record of `{}` stays: {e}", f.env));
            }
        }
        held.release().await;
        if failed.is_empty() && orphans_failed == 0 {
            out.say(&format!("✓ {}: destroyed ({deleted} deleted)", f.env));
            out.event(Event::Environment(events::Environment {
                deleted: Some(deleted),
                ..event("destroyed", &why)
            }));
            *counts.get_mut("destroyed").unwrap() += 1;
        } else {
            for o in &failed {
                out.warn(&format!(
                    "error: {}: {}/{}: {}",
                    f.env,
                    o.stack,
                    o.id,
                    o.error.as_deref().unwrap_or_default()
                ));
            }
            out.event(Event::Environment(events::Environment {
                deleted: Some(deleted),
                failed: Some(failed.len() + orphans_failed),
                ..event("failed", &why)
            }));
            *counts.get_mut("failed").unwrap() += 1;
        }
    }
    let interrupted = engine.stop.is_set();
    let ok = counts["failed"] == 0;
    out.event(Event::Summary(Summary::Gc {
        command: "gc",
        ok,
        interrupted,
        dry_run: args.dry_run,
        environments: counts.clone(),
        api_calls: Calls::of(clients.calls.snapshot()),
        seconds: events::tenths(started.elapsed().as_secs_f64()),
    }));
    let summary: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
        .collect();
    out.say(&format!(
        "{} gc of environments{}: {} ({:.1}s)",
        if ok { "✓" } else { "✗" },
        if args.prefix.is_empty() {
            String::new()
        } else {
            format!(" starting with `{}`", args.prefix)
        },
        if summary.is_empty() { "none found".to_string() } else { summary.join(", ") },
        started.elapsed().as_secs_f64()
    ));
    Ok(Exit::of(ok, interrupted))
}

/// Deletes the log groups AgentCore made for the environment's runtimes and left behind
/// (untagged: AWS creates them), found by the runtime names' prefix `agentcore_mt_<env>_t<N>_`,
/// which only this environment's runtimes carry (no environment name has a part `t<digit>`).
/// Returns how many went and failed.
async fn delete_log_groups(clients: &Clients, env: &str, out: &Output) -> (usize, usize) {
    let prefix = format!(
        "{}{}_{}_t",
        crate::kinds::agentcore_runtime::LOG_GROUPS,
        crate::model::names::PROJECT.replace('-', "_"),
        env.replace('-', "_")
    );
    let ours = |name: &str| {
        let rest = &name[prefix.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with('_')
    };
    match crate::kinds::agentcore_runtime::delete_log_groups(clients, &prefix, ours).await {
        Ok(names) => {
            for name in &names {
                out.say(&format!("✓ - delete  {name} (a runtime's log group left behind)"));
            }
            (names.len(), 0)
        }
        Err(e) => {
            out.warn(&format!("error: {env}: runtime log groups: {e}"));
            (0, 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    /// A resource of `env` (its tags may say anything: made and expired in 2001, forged).
    fn dated(env: &str) -> Dated {
        Dated {
            env: env.into(),
            arn: format!("arn:aws:s3:::agentcore-mt-{env}-t1-x-0"),
            name: format!("agentcore-mt-{env}-t1-x-0"),
            stack: "unstructured-rag".into(),
            logical_id: "x".into(),
        }
    }

    fn record(env: &str, deployed: &str, expires: Option<&str>) -> lock::Record {
        lock::Record {
            env: env.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            deployed_at: deployed.into(),
            expires_at: expires.map(str::to_string),
            deployed_by: lock::Holder::this_process("deploy"),
        }
    }

    /// Age and expiry come from the deployment record only; the resources' tags (forged here:
    /// made and expired in 2001) change nothing.
    #[test]
    fn an_environment_is_dated_by_its_record_never_by_tags() {
        let found = environments(
            &[dated("pr-1"), dated("pr-1"), dated("pr-2"), dated("pr-3")],
            &[
                record("pr-1", "2026-01-01T05:00:00Z", None),
                record("pr-2", "2026-01-01T01:00:00Z", Some("2026-01-01T12:00:00Z")),
            ],
        );
        assert_eq!(found.len(), 3);
        // pr-3: tags only, no record: never due, whatever its tags say.
        assert!(!found[2].recorded);
        assert_eq!(due(&found[2], Duration::ZERO, at("2030-01-01T00:00:00Z")), None);
        assert_eq!(found[0].youngest, Some(at("2026-01-01T05:00:00Z")));
        assert_eq!(found[1].expires, Some(at("2026-01-01T12:00:00Z")));
        let six = Duration::from_secs(6 * 3600);
        // pr-1: youngest 5h old at 10:00 -> kept; 6h old at 11:00 -> due.
        assert_eq!(due(&found[0], six, at("2026-01-01T10:00:00Z")), None);
        assert!(due(&found[0], six, at("2026-01-01T11:00:00Z")).is_some());
        // pr-2: its expiry decides, whatever its age.
        assert_eq!(due(&found[1], six, at("2026-01-01T11:59:59Z")), None);
        assert!(due(&found[1], Duration::from_secs(1 << 40), at("2026-01-01T12:00:00Z")).is_some());
        // Undated: never by age.
        let undated =
            Found { env: "x".into(), resources: 1, youngest: None, expires: None, recorded: false };
        assert_eq!(due(&undated, Duration::ZERO, at("2030-01-01T00:00:00Z")), None);
    }
}
