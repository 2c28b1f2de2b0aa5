//! `cargo xtask gc`: the reaper for environments a pipeline left behind (a job killed before its
//! destroy, a pull request closed while CI was down). Environments are found by their ownership
//! tags, across every kind (`cloud::tagged::every_environment`), and dated by their tags: an
//! environment is due when its expiry (`deploy --ttl`) has passed or, without one, when even its
//! youngest resource is older than `--older-than`. A due environment is destroyed whole (every
//! stack, under its lock, as `destroy` would); resources without our tags are never touched.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::events::{self, Calls, Event, Summary};
use anyhow::Result;

use crate::cli::Exit;
use crate::cloud::tagged::{every_environment, Dated};
use crate::cloud::Clients;
use crate::engine::{self, Engine, Outcome};
use crate::lock;
use crate::model::Stack;
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

/// One environment as its resources' tags describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub env: String,
    pub resources: usize,
    /// The newest `created-at` among its resources.
    pub youngest: Option<SystemTime>,
    /// The earliest `expires-at` among its resources.
    pub expires: Option<SystemTime>,
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
        // Ours by tags but undated (made by hand with our tags?): never reaped by age.
        None => None,
    }
}

/// Groups resources by environment.
pub fn environments(resources: &[Dated]) -> Vec<Found> {
    let time = |s: &Option<String>| s.as_deref().and_then(|t| humantime::parse_rfc3339(t).ok());
    let mut by_env: BTreeMap<&str, Found> = BTreeMap::new();
    for r in resources {
        let f = by_env.entry(&r.env).or_insert_with(|| Found {
            env: r.env.clone(),
            resources: 0,
            youngest: None,
            expires: None,
        });
        f.resources += 1;
        if let Some(c) = time(&r.created_at) {
            f.youngest = Some(f.youngest.map_or(c, |y| y.max(c)));
        }
        if let Some(e) = time(&r.expires_at) {
            f.expires = Some(f.expires.map_or(e, |x| x.min(e)));
        }
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
    let spin = out.spinner("finding environments by their tags");
    let resources = every_environment(clients, None).await;
    spin.finish_and_clear();
    let found = environments(&resources?);
    let now = SystemTime::now();
    let stacks: Vec<&Stack> = all.iter().collect();
    let leases = lock::Locks::new(clients);
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
        crate::cli::ask(&format!("{} environment(s) to destroy, listed above", due_now.len()))?;
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
                (None, None) => "no created-at tag".into(),
            };
            out.say(&format!("= {}: kept ({reason}; {} resources)", f.env, f.resources));
            out.event(Event::Environment(event("kept", &reason)));
            *counts.get_mut("kept").unwrap() += 1;
            continue;
        };
        if args.dry_run {
            out.say(&format!("- {}: would be destroyed: {why} ({} resources)", f.env, f.resources));
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
        out.say(&format!("- {}: destroying: {why} ({} resources)", f.env, f.resources));
        let env_engine = Arc::new(Engine {
            kinds: crate::kinds::registry(clients),
            env: f.env.clone(),
            account: engine.account.clone(),
            reporter: engine.reporter.clone(),
            backoff: engine::Backoff::default(),
            stop: engine.stop.clone(),
        });
        let outcomes = env_engine.destroy(&stacks, &[]).await;
        // What no stack declares any more (its tags prove it is this environment's).
        let (orphans, orphans_failed) = match every_environment(clients, Some(&f.env)).await {
            Ok(left) => {
                let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                let undeclared = crate::orphans::undeclared(&left, all, &names, true);
                crate::orphans::delete(&undeclared, &env_engine.kinds, &engine.stop, out).await
            }
            Err(e) => {
                out.warn(&format!("error: {}: could not look for orphans: {e:#}", f.env));
                (0, 1)
            }
        };
        held.release().await;
        let deleted = engine::count_actions(&outcomes)["delete"] + orphans;
        let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
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
    if counts["destroyed"] > 0 {
        leases.remove_bucket_if_empty().await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    fn dated(env: &str, created: &str, expires: Option<&str>) -> Dated {
        Dated {
            env: env.into(),
            arn: format!("arn:{env}:{created}"),
            stack: "unstructured-rag".into(),
            logical_id: "user_pool".into(),
            created_at: Some(created.into()),
            expires_at: expires.map(str::to_string),
        }
    }

    #[test]
    fn an_environment_is_as_young_as_its_youngest_resource_and_expires_with_its_first_expiry() {
        let found = environments(&[
            dated("pr-1", "2026-01-01T00:00:00Z", None),
            dated("pr-1", "2026-01-01T05:00:00Z", None),
            dated("pr-2", "2026-01-01T00:00:00Z", Some("2026-01-02T00:00:00Z")),
            dated("pr-2", "2026-01-01T01:00:00Z", Some("2026-01-01T12:00:00Z")),
        ]);
        assert_eq!(found.len(), 2);
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
        let undated = Found { env: "x".into(), resources: 1, youngest: None, expires: None };
        assert_eq!(due(&undated, Duration::ZERO, at("2030-01-01T00:00:00Z")), None);
    }
}
