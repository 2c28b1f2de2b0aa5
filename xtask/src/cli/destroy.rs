//! `destroy`: delete what the selection owns, dependents first; with `--orphans`, also what
//! carries the environment's tags but no stack declares any more.

use anyhow::Result;

use super::apply::{self, Run};
use super::session::Online;
use super::{plan, Exit};
use crate::engine::{Action, Outcome};
use crate::events::{self, ErrorKind, Event};
use crate::lifecycle::lock;
use crate::lifecycle::owned::Dated;
use crate::model::{self, Stack};

pub async fn run(run: &Online<'_>, orphans: bool) -> Result<Exit> {
    apply::locked(run, |lock| async move {
        let (stacks, context) = (run.stacks(), run.context());
        if let Some(exit) = refuse_if_built_on(run, &stacks).await {
            return Ok(exit);
        }
        if run.needs_confirmation() {
            plan::confirm(run, &deletions(run, &stacks).await)?;
        }
        let outcomes = run.engine.destroy(&stacks, &context).await;
        let left = sweep(run, &stacks, &context, &outcomes, orphans).await;
        if left == Some(0) && outcomes.iter().all(Outcome::ok) {
            // Nothing of the environment is left: gc has nothing to date.
            if let Err(e) = lock::Locks::new(&run.clients).forget(&run.g.env).await {
                run.out.warn(&format!(
                    "note: the deployment record of env `{}` stays: {e}",
                    run.g.env
                ));
            }
        }
        Ok(apply::finish(run, Run::Destroy, &outcomes, lock).await)
    })
    .await
}

/// What destroy would delete: every resource of `stacks` that exists.
async fn deletions(run: &Online<'_>, stacks: &[&Stack]) -> Vec<Outcome> {
    run.engine
        .observed_outputs(stacks)
        .await
        .into_iter()
        .filter(|(.., state)| !matches!(state, Ok(None)))
        .map(|(stack, id, kind, physical_name, state)| Outcome {
            stack,
            id,
            kind,
            physical_name,
            action: Action::Delete,
            error: state.err(),
            changes: Vec::new(),
            note: None,
            seconds: 0.0,
            outputs: None,
        })
        .collect()
}

/// After the engine's destroy, what the environment still owns (name and tags) of the selected
/// stacks that the engine could not find from this checkout (a resource whose reference did not
/// resolve: its stack file changed since the deploy) is deleted by its ARN; with `orphans`, also
/// what no stack declares any more. Returns how many resources of the environment are left
/// (`None`: the inventory could not be read).
async fn sweep(
    run: &Online<'_>,
    stacks: &[&Stack],
    context: &[&Stack],
    outcomes: &[Outcome],
    orphans: bool,
) -> Option<usize> {
    let env = &run.g.env;
    let found = match crate::lifecycle::owned::every_environment(&run.clients, Some(env)).await {
        Ok(found) => found,
        Err(e) => {
            run.out.warn(&format!("error: could not list what env `{env}` owns: {e:#}"));
            return None;
        }
    };
    let unseen = |d: &&Dated| {
        outcomes.iter().any(|o| {
            o.stack == d.stack
                && o.id == d.logical_id
                && o.note.as_deref() == Some(crate::engine::NOT_FOUND)
        })
    };
    let mut doomed: Vec<&Dated> = found.iter().filter(unseen).collect();
    if orphans {
        let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
        let everything = stacks.len() + context.len() == run.all.len();
        doomed.extend(crate::lifecycle::orphans::undeclared(&found, &run.all, &names, everything));
    }
    if doomed.is_empty() {
        return Some(found.len()); // nothing deleted since that listing
    }
    crate::lifecycle::orphans::delete(&doomed, &run.engine.kinds, &run.stop, run.out).await;
    match crate::lifecycle::owned::every_environment(&run.clients, Some(env)).await {
        Ok(left) => Some(left.len()),
        Err(_) => None,
    }
}

/// Destroying a tutorial that a deployed one builds on would leave that one broken: refused,
/// saying what to destroy first. `None`: nothing deployed builds on `stacks`.
async fn refuse_if_built_on(run: &Online<'_>, stacks: &[&Stack]) -> Option<Exit> {
    let dependents = model::dependents(&run.all, stacks);
    if dependents.is_empty() {
        return None;
    }
    let everything = model::with_required(&run.all, &dependents);
    let found = run.engine.observed_outputs(&everything).await;
    let deployed: Vec<&Stack> = dependents
        .into_iter()
        .filter(|d| {
            found
                .iter()
                .any(|(stack, _, _, _, state)| stack == &d.name && matches!(state, Ok(Some(_))))
        })
        .collect();
    let [first, ..] = deployed.as_slice() else {
        return None;
    };
    let names: Vec<String> = deployed.iter().map(|d| d.label()).collect();
    let message = format!(
        "tutorial {} builds on what you asked to destroy and is deployed; nothing was changed\n  hint: destroy it first ({}), or everything (--tutorial all)",
        names.join(", "),
        run.g.command_line(&format!("destroy --tutorial {}", first.tutorial))
    );
    run.out.warn(&format!("error: {message}"));
    run.out.event(Event::Error(events::Error {
        dependents: Some(deployed.iter().map(|d| d.name.clone()).collect()),
        ..events::Error::new(ErrorKind::BuiltOn, &message)
    }));
    Some(Exit::Invalid)
}
