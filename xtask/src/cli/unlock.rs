//! `unlock`: breaks the environment's lease, saying whose it was.

use anyhow::Result;

use super::session::Online;
use super::Exit;
use crate::events::{BrokenLease, Event};
use crate::lifecycle::lock;

pub async fn run(run: &Online<'_>, force: bool) -> Result<Exit> {
    let (env, out) = (&run.g.env, run.out);
    let locks = lock::Locks::new(&run.clients);
    // A live lease is a run that may still be changing the environment: say whose, and break it
    // only when told to (or when its holder, on this machine, is gone).
    if let Some((lease, _)) = locks.read(env).await.map_err(anyhow::Error::msg)? {
        if !force && !lease.expired() && !lease.holder.is_dead_here() {
            let message = format!(
                "the lock of env `{env}` is live: {} holds it since {} and renewed it at {} (lease until {}); that run may still be changing the environment, so nothing was changed\n  hint: wait for it; if you know it is gone, break the lock anyway: cargo xtask unlock --env {env} --force",
                lease.holder, lease.acquired_at, lease.renewed_at, lease.expires_at
            );
            out.warn(&format!("error: {message}"));
            out.event(Event::Error(crate::events::Error {
                holder: Some(lease.holder),
                acquired_at: Some(lease.acquired_at),
                expires_at: Some(lease.expires_at),
                ..crate::events::Error::new(crate::events::ErrorKind::Locked, &message)
            }));
            return Ok(Exit::Locked);
        }
    }
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
