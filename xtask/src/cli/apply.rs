//! What deploy, destroy and plan share: the environment's lock around a run that changes
//! something, and the end of every such run (orphans, cached outputs, the summary).

use std::future::Future;

use anyhow::Result;

use super::session::Online;
use super::Exit;
use crate::cloud::{self, TargetKind};
use crate::engine::{self, Outcome};
use crate::events::{self, Calls, ErrorKind, Event, Summary};
use crate::lifecycle::lock;
use crate::model::Stack;

/// Which of the three runs this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Deploy,
    Destroy,
    Plan,
}

/// Runs `work` holding the environment's lock (exit 3 when another run holds it), then
/// releases it; a lock broken meanwhile fails the run.
pub async fn locked<F>(
    run: &Online<'_>,
    work: impl FnOnce(Option<events::Lock>) -> F,
) -> Result<Exit>
where
    F: Future<Output = Result<Exit>>,
{
    let held = match take(run).await {
        Ok(held) => held,
        Err(exit) => return Ok(exit),
    };
    let info = events::Lock {
        waited_seconds: events::tenths(held.waited.as_secs_f64()),
        took_over_from: held.took_over.as_ref().map(|l| l.holder.clone()),
        api_calls: Calls { mutating: 0, read: 0 },
    };
    let result = work(Some(info)).await;
    let lost = held.lost.is_set();
    held.release().await;
    if lost {
        run.out.warn(&format!(
            "error: the lock of env `{}` was broken or taken over by another run while this one ran: it stopped; check what that run did, then run `{}` again",
            run.g.env,
            run.g.command_line(run.command)
        ));
        return Ok(Exit::Failed);
    }
    result
}

/// Takes the environment's lock, waiting up to `--lock-timeout`; the exit code when it cannot
/// (3: held by another run, named in the error).
async fn take(run: &Online<'_>) -> std::result::Result<lock::Held, Exit> {
    let (env, out, timeout) = (&run.g.env, run.out, run.g.lock_timeout);
    let locks = lock::Locks::new(&run.clients);
    let holder = lock::Holder::this_process(run.command);
    let waiting = |l: &lock::Lease| {
        out.warn(&format!(
            "waiting up to {} for the lock of env `{env}`: held by {} since {} (lease until {})",
            humantime::format_duration(timeout),
            l.holder,
            l.acquired_at,
            l.expires_at
        ))
    };
    match locks.acquire(env, &holder, timeout, &run.stop, &waiting).await {
        Ok(held) => {
            if let Some(old) = &held.took_over {
                out.warn(&format!(
                    "took over the expired lock of env `{env}` from {} (last renewed {})",
                    old.holder, old.renewed_at
                ));
            }
            Ok(held)
        }
        Err(lock::LockError::Held { env, lease }) => {
            let message = format!(
                "{}; nothing was changed\n  hint: wait for it (--lock-timeout 10m); if that run is gone, its lease expires by itself {}s after its last renewal, or break it now: cargo xtask unlock --env {env}",
                lock::LockError::Held { env: env.clone(), lease: lease.clone() },
                lease.lease_seconds
            );
            out.warn(&format!("error: {message}"));
            out.event(Event::Error(events::Error {
                holder: Some(lease.holder),
                acquired_at: Some(lease.acquired_at),
                expires_at: Some(lease.expires_at),
                ..events::Error::new(ErrorKind::Locked, &message)
            }));
            Err(Exit::Locked)
        }
        Err(e @ lock::LockError::Interrupted(_)) => {
            out.error(ErrorKind::Interrupted, &e.to_string());
            Err(Exit::Interrupted)
        }
        Err(e) => {
            out.error(ErrorKind::Failed, &e.to_string());
            Err(Exit::Failed)
        }
    }
}

/// The end of a deploy, destroy or plan: orphans looked up (plan, destroy), outputs cached,
/// open SQL transactions of an interrupted run rolled back, the summary (event and line), and
/// the exit code.
pub async fn finish(
    run: &Online<'_>,
    what: Run,
    outcomes: &[Outcome],
    lock: Option<events::Lock>,
) -> Exit {
    let (g, out, command, stacks) = (run.g, run.out, run.command, run.stacks());
    // Resources removed from a stack file are invisible to deploy and destroy: find them by tag.
    let orphans = if what == Run::Plan || what == Run::Destroy {
        report_orphans(run, &stacks, (what == Run::Destroy).then_some(outcomes)).await
    } else {
        0
    };
    let ok = outcomes.iter().all(Outcome::ok);
    if what == Run::Deploy || (what == Run::Destroy && ok) {
        save_outputs(run, outcomes, &stacks);
    }
    let interrupted = run.stop.is_set();
    if interrupted {
        let n = cloud::data_api::roll_back_open(&run.clients).await;
        if n > 0 {
            out.warn(&format!("rolled back {n} open SQL transaction(s) of this run"));
        }
    }
    let calls = Calls::of(run.clients.calls.snapshot());
    let counts = engine::count_actions(outcomes);
    out.event(Event::Summary(Summary::Run {
        command,
        env: g.env.clone(),
        target: g.target,
        ok,
        interrupted,
        counts: counts.clone(),
        api_calls: calls,
        orphans,
        lock: lock
            .map(|l| events::Lock { api_calls: Calls::of(run.clients.lock_calls.snapshot()), ..l }),
        seconds: events::tenths(run.started.elapsed().as_secs_f64()),
    }));
    let summary: Vec<String> =
        counts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{n} {k}")).collect();
    if ok && what != Run::Destroy && counts["noop"] == outcomes.len() {
        out.say(&format!("No changes: {} resources are as the stack files say.", outcomes.len()));
    }
    out.say(&format!(
        "{} {command} of env `{}` on {}{}: {} ({} mutating and {} read API calls, {:.1}s)",
        if ok { "✓" } else { "✗" },
        g.env,
        run.target_name(),
        if interrupted { " (interrupted)" } else { "" },
        if summary.is_empty() { "nothing".to_string() } else { summary.join(", ") },
        calls.mutating,
        calls.read,
        run.started.elapsed().as_secs_f64()
    ));
    let not_started = format!("{}: not started", engine::INTERRUPTED);
    for o in outcomes.iter().filter(|o| !o.ok() && o.error.as_deref() != Some(&not_started)) {
        out.warn(&format!(
            "error: {}/{}: {}",
            o.stack,
            o.id,
            o.error.as_deref().unwrap_or_default()
        ));
    }
    let waiting = outcomes.iter().filter(|o| o.error.as_deref() == Some(&not_started)).count();
    if waiting > 0 {
        out.warn(&format!(
            "{waiting} resource(s) were not started: run `{}` again to go on",
            g.command_line(command)
        ));
    }
    Exit::of(ok, interrupted)
}

/// Warns of what carries this environment's tags but is not (or, after a destroy, no longer)
/// accounted for by the selected stacks. Returns how many. After a destroy (`destroyed`: its
/// outcomes), a declared resource still listed is one only if the destroy deleted it (the
/// tagging API lagging); one it did not reach (interrupted, failed) is reported as such, not
/// as an orphan.
async fn report_orphans(
    run: &Online<'_>,
    stacks: &[&Stack],
    destroyed: Option<&[Outcome]>,
) -> usize {
    let out = run.out;
    let found =
        match crate::lifecycle::owned::every_environment(&run.clients, Some(&run.g.env)).await {
            Ok(found) => found,
            Err(e) => {
                out.warn(&format!(
                    "note: could not look for resources left outside the stack files: {e}"
                ));
                return 0;
            }
        };
    let mut count = 0;
    for t in found.into_iter().filter(|t| stacks.iter().any(|s| s.name == t.stack)) {
        let declared = stacks
            .iter()
            .any(|s| s.name == t.stack && s.resources.iter().any(|r| r.id == t.logical_id));
        // A destroy that did not reach it (failed, interrupted) reported it already; a second
        // resource with the same tags but another name (an old name, a crashed replacement's
        // leftover) is still one.
        let not_reached = |outcomes: &[Outcome]| {
            outcomes.iter().any(|o| {
                o.stack == t.stack
                    && o.id == t.logical_id
                    && !o.ok()
                    && (o.physical_name.is_empty() || o.physical_name == t.name)
            })
        };
        match destroyed {
            None if declared => continue,
            Some(outcomes) if declared && not_reached(outcomes) => continue,
            _ => {}
        }
        count += 1;
        let why = if declared {
            "is still listed after the destroy (on AWS the tagging API can lag deletions by minutes: run status to check)"
        } else {
            "carries this environment's tags but is no longer in the stack file, so deploy and destroy do not touch it: put it back and destroy, or delete it by hand"
        };
        out.warn(&format!("! {}/{} {}: {why}", t.stack, t.logical_id, t.arn));
        out.event(Event::Orphan(events::Orphan {
            stack: t.stack,
            id: t.logical_id,
            arn: t.arn,
            declared,
            deleted: None,
            error: None,
        }));
    }
    count
}

/// Keeps `.xtask/outputs/<target>/<env>.json` in step with what is deployed, for people and for
/// scripts (never secrets; correctness never depends on it): a deploy writes its stacks'
/// outputs (leaving other stacks' entries), a destroy removes its stacks' entries, and the file
/// goes with the last of them.
fn save_outputs(run: &Online<'_>, outcomes: &[Outcome], stacks: &[&Stack]) {
    let target = match run.g.target {
        TargetKind::Local => "local",
        TargetKind::Aws => "aws",
    };
    let file = run.home.state_dir.join("outputs").join(target).join(format!("{}.json", run.g.env));
    let mut doc: serde_json::Map<String, serde_json::Value> =
        std::fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    for s in stacks {
        doc.remove(&s.name);
    }
    for o in outcomes {
        if let Some(outputs) = &o.outputs {
            let entry = doc.entry(o.stack.clone()).or_insert_with(|| serde_json::json!({}));
            entry[&o.id] = serde_json::json!(outputs);
        }
    }
    if doc.is_empty() {
        let _ = std::fs::remove_file(&file);
    } else if std::fs::create_dir_all(file.parent().expect("a directory")).is_ok() {
        let _ = std::fs::write(&file, serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
}
