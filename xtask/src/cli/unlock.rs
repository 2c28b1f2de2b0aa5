//! `unlock`: breaks the environment's lease, saying whose it was.

use anyhow::Result;

use super::session::Online;
use super::Exit;
use crate::events::{BrokenLease, Event};
use crate::lock;

pub async fn run(run: &Online<'_>) -> Result<Exit> {
    let (env, out) = (&run.g.env, run.out);
    let locks = lock::Locks::new(&run.clients);
    let lease = locks.break_lease(env).await.map_err(anyhow::Error::msg)?;
    match &lease {
        Some(lease) => out.say(&format!(
            "✓ broke the lock of env `{env}`: it was held by {} since {} (last renewed {}, lease until {}); if that run still goes, it stops at its next renewal",
            lease.holder, lease.acquired_at, lease.renewed_at, lease.expires_at
        )),
        None => out.say(&format!("✓ env `{env}` is not locked: nothing to do")),
    }
    out.event(Event::Unlock {
        env: env.clone(),
        was_locked: lease.is_some(),
        lease: lease.map(|l| BrokenLease {
            holder: l.holder,
            acquired_at: l.acquired_at,
            renewed_at: l.renewed_at,
            expires_at: l.expires_at,
        }),
    });
    Ok(Exit::Ok)
}
