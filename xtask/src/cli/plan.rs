//! `plan`: what deploy would change, field by field, without changing anything; and the
//! question deploy and destroy ask on AWS after showing their plan.

use anyhow::{bail, Result};

use super::apply::{self, Run};
use super::session::Online;
use super::Exit;
use crate::engine::{self, Action, Outcome};
use crate::events::Resource;
use crate::output::ask;
use crate::output::Tense;

pub async fn run(run: &Online<'_>) -> Result<Exit> {
    let planned = run.engine.plan(&run.stacks()).await;
    for o in &planned {
        run.out.resource_line(o, Tense::Planned);
        run.out.event(Resource::of(o, "planned"));
    }
    Ok(apply::finish(run, Run::Plan, &planned, None).await)
}

/// Shows what is planned (deploy's plan, or what destroy would delete), then asks. Nothing to
/// change: no question. Errors end the run before anything was changed.
pub fn confirm(run: &Online<'_>, planned: &[Outcome]) -> Result<()> {
    for o in planned {
        run.out.resource_line(o, Tense::Planned);
    }
    if let Some(failed) = planned.iter().find(|o| !o.ok()) {
        bail!(
            "the plan has errors ({}/{}: {}); nothing was changed",
            failed.stack,
            failed.id,
            failed.error.as_deref().unwrap_or_default()
        );
    }
    if planned.iter().all(|o| o.action == Action::Noop) {
        return Ok(());
    }
    let counts = engine::count_actions(planned);
    let summary: Vec<String> = ["create", "update", "replace", "delete"]
        .iter()
        .filter(|k| counts[**k] > 0)
        .map(|k| format!("{} to {k}", counts[*k]))
        .collect();
    ask(&format!("{} planned above", summary.join(", ")))
}
