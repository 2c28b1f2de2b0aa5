//! Deleting what carries an environment's ownership tags but no stack file declares any more
//! (`destroy --orphans`, and `gc` after it destroyed an environment's stacks). With no state
//! file, deploy and destroy cannot see such a resource; its tags (found by the tagging API, or
//! on an IAM role) are the proof that it is the environment's, and its ARN names the kind whose
//! `delete` removes it. Orphans are deleted in rounds, since one may have to wait for another
//! (a role still used by a runtime, a VPC by its subnets).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::events::{self, Event};

use crate::engine::{CloudError, ResourceKind, Stop};
use crate::lifecycle::owned::Dated;
use crate::model::Stack;
use crate::output::Output;

/// How long the rounds may go on.
const DEADLINE: Duration = Duration::from_secs(15 * 60);

/// Resources of `found` that no stack of `all` declares, among `stacks` (by their stack tag) or,
/// when `any_stack`, also those of stacks no file defines any more.
pub fn undeclared<'a>(
    found: &'a [Dated],
    all: &[Stack],
    stacks: &[&str],
    any_stack: bool,
) -> Vec<&'a Dated> {
    found
        .iter()
        .filter(|d| {
            let known = all.iter().find(|s| s.name == d.stack);
            let declared = known.is_some_and(|s| s.resources.iter().any(|r| r.id == d.logical_id));
            !declared && (stacks.contains(&d.stack.as_str()) || (any_stack && known.is_none()))
        })
        .collect()
}

/// Deletes `orphans`; returns how many are gone and how many are not. Each gets an `orphan`
/// event with `deleted` and, if it is not, the `error`.
pub async fn delete(
    orphans: &[&Dated],
    kinds: &HashMap<&'static str, Arc<dyn ResourceKind>>,
    stop: &Stop,
    out: &Output,
) -> (usize, usize) {
    let started = Instant::now();
    let mut pending: Vec<(&Dated, String)> = orphans.iter().map(|d| (*d, String::new())).collect();
    let mut deleted = 0;
    let mut failed = Vec::new();
    let backoff = crate::engine::Backoff::default();
    let mut round = 0;
    while !pending.is_empty() {
        let mut retry = Vec::new();
        for (d, _) in pending {
            let result = match crate::kinds::from_arn(&d.arn) {
                None => Err(crate::engine::typed::not_deletable()),
                Some((kind, orphan)) => match kinds.get(kind) {
                    Some(k) => k.delete_orphan(&orphan).await,
                    None => Err(CloudError::Fatal(format!("no kind {kind} is registered"))),
                },
            };
            match result {
                Ok(()) | Err(CloudError::NotFound(_)) => {
                    deleted += 1;
                    out.say(&format!(
                        "✓ - delete  {}/{} (orphan) {}",
                        d.stack, d.logical_id, d.arn
                    ));
                    out.event(orphan_event(d, None));
                }
                Err(CloudError::Retryable(e) | CloudError::RetryableFor(e, _))
                    if started.elapsed() < DEADLINE && !stop.is_set() =>
                {
                    retry.push((d, e))
                }
                Err(e) => failed.push((d, e.to_string())),
            }
        }
        pending = retry;
        round += 1;
        if !pending.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(backoff.delay(round)) => {}
                _ = stop.wait() => {}
            }
        }
    }
    for (d, e) in &failed {
        out.warn(&format!("error: orphan {}/{} {}: {e}", d.stack, d.logical_id, d.arn));
        out.event(orphan_event(d, Some(e.clone())));
    }
    (deleted, failed.len())
}

/// The event of an orphan that delete tried: deleted, or not with `error`.
fn orphan_event(d: &Dated, error: Option<String>) -> Event {
    Event::Orphan(events::Orphan {
        stack: d.stack.clone(),
        id: d.logical_id.clone(),
        arn: d.arn.clone(),
        declared: false,
        deleted: Some(error.is_none()),
        error,
    })
}
