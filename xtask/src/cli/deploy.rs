//! `deploy`: create or update everything the selection needs, then wait until it is usable.

use std::time::Duration;

use anyhow::Result;

use super::apply::{self, Run};
use super::session::Online;
use super::{plan, Exit};
use crate::events::ErrorKind;
use crate::lifecycle::lock;

pub async fn run(run: &Online<'_>, ttl: Option<Duration>) -> Result<Exit> {
    if let Some(ttl) = ttl {
        crate::model::names::set_expiry(ttl);
    }
    apply::locked(run, |lock| async move {
        let stacks = run.stacks();
        if run.needs_confirmation() {
            plan::confirm(run, &run.engine.plan(&stacks).await)?;
        }
        // Before anything is made: what gc dates the environment by (never its tags).
        let holder = lock::Holder::this_process(run.command);
        if let Err(e) = lock::Locks::new(&run.clients).record_deploy(&run.g.env, ttl, &holder).await
        {
            run.out.error(
                ErrorKind::Failed,
                &format!(
                    "cannot write the deployment record of env `{}`: {e}; nothing was changed",
                    run.g.env
                ),
            );
            return Ok(Exit::Failed);
        }
        let outcomes = run.engine.deploy(&stacks).await;
        Ok(apply::finish(run, Run::Deploy, &outcomes, lock).await)
    })
    .await
}
