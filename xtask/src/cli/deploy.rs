//! `deploy`: create or update everything the selection needs, then wait until it is usable.

use std::time::Duration;

use anyhow::Result;

use super::apply::{self, Run};
use super::session::Online;
use super::{plan, Exit};

pub async fn run(run: &Online<'_>, ttl: Option<Duration>) -> Result<Exit> {
    if let Some(ttl) = ttl {
        crate::model::names::set_expiry(ttl);
    }
    apply::locked(run, Run::Deploy, |lock| async move {
        let stacks = run.stacks();
        if run.needs_confirmation() {
            plan::confirm(run, &run.engine.plan(&stacks).await)?;
        }
        let outcomes = run.engine.deploy(&stacks).await;
        Ok(apply::finish(run, Run::Deploy, &outcomes, lock).await)
    })
    .await
}
