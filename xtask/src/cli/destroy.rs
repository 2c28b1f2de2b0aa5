//! `destroy`: delete what the selection owns, dependents first; with `--orphans`, also what
//! carries the environment's tags but no stack declares any more.

use anyhow::Result;

use super::apply::{self, Run};
use super::session::Online;
use super::{plan, Exit};
use crate::engine::{Action, Outcome};
use crate::events::{self, ErrorKind, Event};
use crate::model::{self, Stack};

pub async fn run(run: &Online<'_>, orphans: bool) -> Result<Exit> {
    apply::locked(run, Run::Destroy, |lock| async move {
        let (stacks, context) = (run.stacks(), run.context());
        if let Some(exit) = refuse_if_built_on(run, &stacks).await {
            return Ok(exit);
        }
        if run.needs_confirmation() {
            plan::confirm(run, &deletions(run, &stacks).await)?;
        }
        let outcomes = run.engine.destroy(&stacks, &context).await;
        if orphans {
            delete_orphans(run, &stacks, &context).await;
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

/// What carries the environment's tags but no stack declares any more (its tags prove it is
/// the environment's), deleted.
async fn delete_orphans(run: &Online<'_>, stacks: &[&Stack], context: &[&Stack]) {
    let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
    match crate::cloud::tagged::every_environment(&run.clients, Some(&run.g.env)).await {
        Ok(found) => {
            let everything = stacks.len() + context.len() == run.all.len();
            let undeclared = crate::orphans::undeclared(&found, &run.all, &names, everything);
            crate::orphans::delete(&undeclared, &run.engine.kinds, &run.stop, run.out).await;
        }
        Err(e) => run.out.warn(&format!("error: could not look for orphans: {e:#}")),
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
        "tutorial {} builds on what you asked to destroy and is deployed; nothing was changed\n  hint: destroy it first (cargo xtask destroy --tutorial {}), or everything (--tutorial all)",
        names.join(", "),
        first.tutorial
    );
    run.out.warn(&format!("error: {message}"));
    run.out.event(Event::Error(events::Error {
        dependents: Some(deployed.iter().map(|d| d.name.clone()).collect()),
        ..events::Error::new(ErrorKind::BuiltOn, &message)
    }));
    Some(Exit::Invalid)
}
