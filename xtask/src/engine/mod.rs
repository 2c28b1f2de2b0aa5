//! The reconcile engine: plan, deploy and destroy over the dependency graph. It knows nothing
//! about any service; every kind is a `ResourceKind` looked up by name.
//!
//! Contract (as kube-rs states it for reconcilers): deploy and destroy are idempotent, destroy
//! tolerates deploy never having run or having stopped anywhere, deleting what is gone is
//! success, and a resource with our name but not our tags is never touched.

pub mod info;
pub mod kind;
pub mod retry;
pub mod typed;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::model::{self, names, Naming, Resource, Stack};
pub use kind::{
    found, CloudError, CloudResult, FieldChange, Observed, Outputs, Progress, ResourceKind, Target,
};
pub use retry::Backoff;
pub use typed::{change, Found, Kind, Observation, Orphan, SeenOf, Typed, Update};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    /// An update the service cannot make in place: delete, then create.
    Replace,
    Delete,
    Noop,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Noop => "noop",
        }
    }
}

/// Receives what the engine does, as it does it. The CLI turns it into progress lines or JSON.
pub trait Reporter: Send + Sync {
    fn started(&self, _stack: &str, _id: &str, _kind: &str, _what: &str) {}
    fn progress(&self, _stack: &str, _id: &str, _message: &str) {}
    /// A call failed in a way that is retried (eventual consistency, a busy resource).
    fn retrying(&self, stack: &str, id: &str, why: &str) {
        self.progress(stack, id, why)
    }
    fn finished(&self, outcome: &Outcome);
}

/// A reporter that hears nothing; for tests and the benchmark.
pub struct Silent;
impl Reporter for Silent {
    fn finished(&self, _: &Outcome) {}
}

/// What happened (or, in a plan, would happen) to one resource.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub stack: String,
    pub id: String,
    pub kind: String,
    pub physical_name: String,
    pub action: Action,
    /// None: done. Some: why it failed (or, in a plan, why it cannot be done).
    pub error: Option<String>,
    pub changes: Vec<FieldChange>,
    /// Why a plan says create although the resource may exist (its parent does not yet).
    pub note: Option<String>,
    pub seconds: f64,
    /// The resource's attributes once it converged (deploy only).
    #[serde(skip)]
    pub outputs: Option<Outputs>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

pub struct Engine {
    pub kinds: HashMap<&'static str, Arc<dyn ResourceKind>>,
    pub env: String,
    pub account: String,
    pub reporter: Arc<dyn Reporter>,
    pub backoff: Backoff,
    /// Set on the first Ctrl-C: nothing new starts, waits end, calls in flight get `GRACE`.
    pub stop: Stop,
}

/// The outcome text of a resource a stop left alone; counted as `interrupted`.
/// The note of a destroy that found nothing under the resource's name (or could not resolve
/// its references to look).
pub const NOT_FOUND: &str = "not found";

pub const INTERRUPTED: &str = "interrupted";

/// How long calls in flight may take to finish after a stop, before they are abandoned.
pub const GRACE: Duration = Duration::from_secs(20);

/// A stop request shared by the CLI (which sets it on Ctrl-C) and the engine.
#[derive(Clone)]
pub struct Stop(Arc<watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Stop(Arc::new(watch::channel(false).0))
    }
}

impl Stop {
    pub fn set(&self) {
        self.0.send_replace(true);
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once the stop is set.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|set| *set).await;
    }
}

/// A resource of one of the selected stacks.
#[derive(Clone)]
struct Unit {
    stack: String,
    tutorial: u8,
    res: Resource,
}

impl Unit {
    fn key(&self) -> String {
        key(&self.stack, &self.res.id)
    }
}

fn key(stack: &str, id: &str) -> String {
    format!("{stack}/{id}")
}

/// How far a resource has come during a deploy.
/// How a resource is looked at: compared with the checked-out stack (deploy, plan), or found
/// from what the cloud holds alone (destroy, status).
#[derive(Debug, Clone, Copy)]
enum Look {
    Compare,
    Find,
}

#[derive(Debug, Clone)]
enum Phase {
    Waiting,
    /// Created or found; attributes other than the ready ones are known.
    Known(Outputs),
    /// Usable; every attribute is known.
    Ready(Outputs),
    Failed,
}

/// Every resource of `stacks`, stacks in tutorial order (a stack's references to an earlier one
/// then always point backwards), each stack's resources in dependency order.
fn units(stacks: &[&Stack]) -> Vec<Unit> {
    let mut stacks = stacks.to_vec();
    stacks.sort_by_key(|s| s.tutorial);
    let mut out = Vec::new();
    for s in stacks {
        let order =
            model::graph::topo_order(&s.resources).expect("stacks are validated before use");
        for id in order {
            let res =
                s.resources.iter().find(|r| r.id == id).cloned().expect("id from the same stack");
            out.push(Unit { stack: s.name.clone(), tutorial: s.tutorial, res });
        }
    }
    out
}

impl Engine {
    fn kind(&self, unit: &Unit) -> Result<Arc<dyn ResourceKind>, String> {
        self.kinds.get(unit.res.kind.kind).cloned().ok_or_else(|| {
            format!("no implementation for kind {} on this target", unit.res.kind.kind)
        })
    }

    fn target(&self, unit: &Unit, mut properties: Value) -> Target {
        let naming = Naming {
            env: self.env.clone(),
            tutorial: unit.tutorial,
            account: self.account.clone(),
        };
        names::fill_placeholders(&mut properties, &naming);
        Target {
            logical_id: unit.res.id.clone(),
            physical_name: names::physical_name(
                unit.res.kind.name_style,
                &naming,
                &unit.res.id,
                &properties,
            ),
            tags: names::ownership_tags(&naming, &unit.stack, &unit.res.id),
            properties,
        }
    }

    fn deadline(unit: &Unit) -> Instant {
        Instant::now() + Duration::from_secs(unit.res.kind.deadline_secs)
    }

    async fn observe(
        &self,
        kind: &dyn ResourceKind,
        unit: &Unit,
        target: &Target,
    ) -> Result<Option<Observed>, CloudError> {
        self.look(kind, unit, target, Look::Compare).await
    }

    /// `observe` for deploy and plan, which compare with the checked-out files; `find` for
    /// destroy and inventories, which must find what exists whatever is checked out.
    async fn look(
        &self,
        kind: &dyn ResourceKind,
        unit: &Unit,
        target: &Target,
        look: Look,
    ) -> Result<Option<Observed>, CloudError> {
        let reporter = &self.reporter;
        let observed = retry::retry(
            self.backoff,
            Self::deadline(unit),
            |why| reporter.retrying(&unit.stack, &unit.res.id, why),
            || async {
                match look {
                    Look::Compare => kind.observe(target).await,
                    Look::Find => kind.find(target).await,
                }
            },
        )
        .await;
        match observed {
            // Found, then gone before a follow-up read (its tags) while a delete finished:
            // as gone as if never found.
            Err(CloudError::NotFound(_)) => Ok(None),
            other => other,
        }
    }

    fn outcome(&self, unit: &Unit, physical_name: &str, action: Action) -> Outcome {
        Outcome {
            stack: unit.stack.clone(),
            id: unit.res.id.clone(),
            kind: unit.res.kind.kind.to_string(),
            physical_name: physical_name.to_string(),
            action,
            error: None,
            changes: Vec::new(),
            note: None,
            seconds: 0.0,
            outputs: None,
        }
    }

    /// Finds every resource in dependency order (`Look::Find`: whatever is checked out). For
    /// each: its target (if its references could be resolved) and what exists under its name.
    async fn observe_all(
        &self,
        units: &[Unit],
    ) -> Vec<(Option<Target>, Result<Option<Observed>, String>)> {
        let mut known: HashMap<String, Outputs> = HashMap::new();
        let mut out = Vec::new();
        for unit in units {
            let lookup = |r: &model::Ref| {
                known
                    .get(&key(r.stack_or(&unit.stack), &r.resource))
                    .and_then(|o| o.get(&r.attribute))
                    .cloned()
            };
            let Some(props) = model::refs::resolve(&unit.res.properties, &lookup) else {
                out.push((None, Ok(None)));
                continue;
            };
            let target = self.target(unit, props);
            let observed = match self.kind(unit) {
                Ok(kind) => self
                    .look(kind.as_ref(), unit, &target, Look::Find)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            if let Ok(Some(o)) = &observed {
                if o.owned {
                    known.insert(unit.key(), o.outputs.clone());
                }
            }
            out.push((Some(target), observed));
        }
        out
    }

    /// What exists of each resource, with its outputs. Read-only.
    #[allow(clippy::type_complexity)]
    pub async fn observed_outputs(
        &self,
        stacks: &[&Stack],
    ) -> Vec<(String, String, String, String, Result<Option<Outputs>, String>)> {
        let units = units(stacks);
        let observed = self.observe_all(&units).await;
        units
            .iter()
            .zip(observed)
            .map(|(u, (target, found))| {
                let name = target.map(|t| t.physical_name).unwrap_or_default();
                let state = found.map(|o| o.filter(|o| o.owned).map(|o| o.outputs));
                (u.stack.clone(), u.res.id.clone(), u.res.kind.kind.to_string(), name, state)
            })
            .collect()
    }

    /// What deploy would do, field by field, in the order deploy does it. Makes read calls
    /// only. A value that only deploy will know (the id of a resource it creates, a new job's
    /// id) is shown as `(known after deploy)`; a resource that exists is compared with it,
    /// and one whose parent is made anew is planned as made anew too.
    pub async fn plan(&self, stacks: &[&Stack]) -> Vec<Outcome> {
        let units = units(stacks);
        // Attributes as they are now, and as they will be after deploy (where known before).
        let mut current: HashMap<String, Outputs> = HashMap::new();
        let mut planned: HashMap<String, Outputs> = HashMap::new();
        let mut made_anew: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for unit in &units {
            let unknown = std::cell::Cell::new(false);
            let get = |map: &HashMap<String, Outputs>, r: &model::Ref| {
                map.get(&key(r.stack_or(&unit.stack), &r.resource))
                    .and_then(|o| o.get(&r.attribute))
                    .cloned()
            };
            let desired = model::refs::resolve(&unit.res.properties, &|r| {
                get(&planned, r).or_else(|| {
                    unknown.set(true);
                    Some(Value::String(KNOWN_AFTER_DEPLOY.into()))
                })
            })
            .expect("every reference resolves to a value or the placeholder");
            let now = model::refs::resolve(&unit.res.properties, &|r| get(&current, r));
            let target = self.target(unit, desired);
            let mut o = self.outcome(unit, &target.physical_name, Action::Create);
            let kind = match self.kind(unit) {
                Ok(k) => k,
                Err(e) => {
                    o.error = Some(e);
                    out.push(o);
                    continue;
                }
            };
            let parent_made_anew =
                unit.res.dependencies().iter().any(|d| made_anew.contains(&key(&unit.stack, d)));
            // Observed under the name it has now: with unknown values, the desired target
            // cannot be looked up (it would send the placeholder), the current one can. When
            // even that is unknown (it refers to a resource deploy makes, say a bucket renamed
            // in the stack) but its name is its own (not a property), it is looked up by that
            // name: it may well exist, and then deploy updates it rather than creating it
            // (issue 28: plan announced creates that deploy did not make). A look that fails
            // on the placeholder says nothing: the resource is planned as not found.
            let by_name = unknown.get()
                && now.is_none()
                && !matches!(unit.res.kind.name_style, model::NameStyle::Property(_));
            // A resource that waits (`depends_on`) for what deploy has yet to make or finish is
            // not looked at: deploy does not touch it before then either, and looking can only
            // fail or stall (SQL on a cluster whose writer instance does not exist yet: the
            // Data API answers DatabaseUnavailableException, retried for the kind's whole
            // deadline; CI of 2026-12-03 spent 55 minutes on it after a Ctrl-C).
            // What it waits for is judged as it is now: one that exists and is ready (an
            // ingestion job that deploy will replace, say) lets it be looked at.
            let waits = unit.res.depends_on.iter().any(|r| get(&current, r).is_none());
            let lookup = if waits {
                None
            } else if by_name {
                Some(target.clone())
            } else if unknown.get() {
                now.map(|p| self.target(unit, p))
            } else {
                Some(target.clone())
            };
            let mut found = match &lookup {
                None => Ok(None),
                Some(t) => match self.observe(kind.as_ref(), unit, t).await {
                    Err(_) if by_name => Ok(None),
                    other => other,
                },
            };
            if unit.res.kind.cascades && parent_made_anew {
                // It goes with its parent and is made again; what exists now is still what
                // its dependents are found by.
                if let Ok(Some(obs)) = &found {
                    if obs.owned {
                        current.insert(unit.key(), obs.outputs.clone());
                    }
                }
                found = Ok(None);
            }
            match found {
                Err(e) => o.error = Some(e.to_string()),
                Ok(None) => {
                    if lookup.is_none() || by_name {
                        o.note = Some("depends on a resource that does not exist yet".into());
                    } else if unit.res.kind.cascades && parent_made_anew {
                        o.note = Some("made anew with what it belongs to".into());
                    }
                }
                Ok(Some(obs)) if !obs.owned => o.error = Some(not_ours(unit, &target)),
                Ok(Some(obs)) => {
                    current.insert(unit.key(), obs.outputs.clone());
                    let changes = kind.diff(&target, &obs);
                    o.action = if changes.is_empty() {
                        Action::Noop
                    } else if changes.iter().any(|c| c.replaces) {
                        Action::Replace
                    } else {
                        Action::Update
                    };
                    o.changes = changes;
                    if o.action != Action::Replace {
                        planned.insert(unit.key(), obs.outputs);
                    }
                }
            }
            // What is known of its attributes before deploy (a content digest, say) overrides
            // what exists now; the rest of a resource made anew is known only after deploy.
            if !unknown.get() {
                let before = kind.planned_outputs(&target);
                planned.entry(unit.key()).or_default().extend(before);
            }
            // Replaced only: what goes with a parent that is created did not exist to be found
            // (and one found, say an ingestion job whose documents are new, lives on).
            if o.action == Action::Replace && o.error.is_none() {
                made_anew.push(unit.key());
            }
            out.push(o);
        }
        out
    }

    /// Converges every resource of `stacks`, independent ones concurrently. A resource starts
    /// as soon as the attributes it references are known; it waits for readiness only where it
    /// references a ready attribute.
    pub async fn deploy(self: &Arc<Self>, stacks: &[&Stack]) -> Vec<Outcome> {
        let units = units(stacks);
        let mut senders = HashMap::new();
        let mut receivers = HashMap::new();
        for u in &units {
            let (tx, rx) = watch::channel(Phase::Waiting);
            senders.insert(u.key(), tx);
            receivers.insert(u.key(), rx);
        }
        let mut tasks = tokio::task::JoinSet::new();
        let mut running = HashMap::new();
        for unit in units.clone() {
            let deps: Vec<(model::Ref, bool, watch::Receiver<Phase>)> = unit
                .res
                .refs
                .iter()
                .map(|r| {
                    let dep = units
                        .iter()
                        .find(|u| u.stack == r.stack_or(&unit.stack) && u.res.id == r.resource)
                        .expect("the stacks a stack builds on are deployed with it");
                    let needs_ready = dep.res.kind.ready_attributes.contains(&r.attribute.as_str());
                    (r.clone(), needs_ready, receivers[&dep.key()].clone())
                })
                .collect();
            let tx = senders.remove(&unit.key()).expect("one sender per unit");
            let engine = Arc::clone(self);
            let blank = self.outcome(&unit, "", Action::Noop);
            let handle = tasks.spawn(async move {
                let outcome = engine.deploy_unit(&unit, deps, &tx).await;
                if !outcome.ok() {
                    tx.send_replace(Phase::Failed);
                }
                engine.reporter.finished(&outcome);
                outcome
            });
            running.insert(handle.id(), blank);
        }
        self.collect(tasks, running).await
    }

    /// Every task's outcome. After a stop, tasks still running get `GRACE` to finish; then
    /// they are abandoned (their resources are where the last call left them: a deploy or
    /// destroy run again takes them from there).
    async fn collect(
        &self,
        mut tasks: tokio::task::JoinSet<Outcome>,
        mut running: HashMap<tokio::task::Id, Outcome>,
    ) -> Vec<Outcome> {
        let mut out = Vec::new();
        let mut abandon_at: Option<Instant> = None;
        loop {
            let joined = match abandon_at {
                None => tokio::select! {
                    joined = tasks.join_next_with_id() => joined,
                    _ = self.stop.wait() => {
                        abandon_at = Some(Instant::now() + GRACE);
                        continue;
                    }
                },
                Some(at) => match tokio::time::timeout_at(at, tasks.join_next_with_id()).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        tasks.abort_all();
                        while tasks.join_next().await.is_some() {}
                        for (_, mut o) in running.drain() {
                            o.error = Some(format!(
                                "{INTERRUPTED}: still busy {}s after the stop, abandoned; run again to go on",
                                GRACE.as_secs()
                            ));
                            self.reporter.finished(&o);
                            out.push(o);
                        }
                        break;
                    }
                },
            };
            match joined {
                None => break,
                Some(Ok((id, o))) => {
                    running.remove(&id);
                    out.push(o)
                }
                Some(Err(e)) => {
                    let mut o = running.remove(&e.id()).unwrap_or_else(blank_outcome);
                    o.error = Some(format!("internal error: {e}"));
                    out.push(o)
                }
            }
        }
        out
    }

    async fn deploy_unit(
        &self,
        unit: &Unit,
        deps: Vec<(model::Ref, bool, watch::Receiver<Phase>)>,
        tx: &watch::Sender<Phase>,
    ) -> Outcome {
        let mut values: HashMap<model::Ref, Value> = HashMap::new();
        for (r, needs_ready, mut rx) in deps {
            loop {
                let phase = rx.borrow_and_update().clone();
                let outputs = match phase {
                    Phase::Failed => {
                        let mut o = self.outcome(unit, "", Action::Noop);
                        o.error = Some(if self.stop.is_set() {
                            format!("{INTERRUPTED}: not started")
                        } else {
                            format!("skipped: `{}` failed", r.resource)
                        });
                        return o;
                    }
                    Phase::Ready(o) => Some(o),
                    Phase::Known(o) if !needs_ready => Some(o),
                    _ => None,
                };
                if let Some(outputs) = outputs {
                    let v = outputs.get(&r.attribute).cloned().unwrap_or(Value::Null);
                    values.insert(r.clone(), v);
                    break;
                }
                if rx.changed().await.is_err() {
                    let mut o = self.outcome(unit, "", Action::Noop);
                    o.error = Some(format!("skipped: `{}` stopped", r.resource));
                    return o;
                }
            }
        }
        let props = model::refs::resolve(&unit.res.properties, &|r| values.get(r).cloned())
            .expect("every reference was waited for");
        let target = self.target(unit, props);
        let mut outcome = self.outcome(unit, &target.physical_name, Action::Noop);
        if self.stop.is_set() {
            outcome.error = Some(format!("{INTERRUPTED}: not started"));
            return outcome;
        }
        let kind = match self.kind(unit) {
            Ok(k) => k,
            Err(e) => {
                outcome.error = Some(e);
                return outcome;
            }
        };
        self.reporter.started(&unit.stack, &unit.res.id, unit.res.kind.kind, "observing");
        // Its own time: from when its inputs were there, not from the start of the run.
        let started = Instant::now();
        match self.converge(kind.as_ref(), unit, &target, &mut outcome, tx).await {
            Ok(()) => {}
            Err(e) => outcome.error = Some(e.to_string()),
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        outcome
    }

    async fn converge(
        &self,
        kind: &dyn ResourceKind,
        unit: &Unit,
        target: &Target,
        outcome: &mut Outcome,
        tx: &watch::Sender<Phase>,
    ) -> Result<(), CloudError> {
        let deadline = Self::deadline(unit);
        let (stack, id) = (&unit.stack, &unit.res.id);
        let note = |why: &str| self.reporter.retrying(stack, id, why);
        let found = self.observe(kind, unit, target).await?;
        let outputs = match found {
            Some(obs) if !obs.owned => return Err(CloudError::Fatal(not_ours(unit, target))),
            Some(obs) => {
                let changes = kind.diff(target, &obs);
                outcome.changes = changes.clone();
                if changes.is_empty() {
                    outcome.action = Action::Noop;
                    obs.outputs
                } else if changes.iter().any(|c| c.replaces) {
                    outcome.action = Action::Replace;
                    self.reporter.started(stack, id, unit.res.kind.kind, "replacing");
                    match retry::retry(self.backoff, deadline, note, || kind.delete(target, &obs))
                        .await
                    {
                        Ok(()) | Err(CloudError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                    self.wait_gone(kind, unit, target, deadline).await?;
                    self.create(kind, unit, target, deadline).await?
                } else {
                    outcome.action = Action::Update;
                    self.reporter.started(stack, id, unit.res.kind.kind, "updating");
                    retry::retry(self.backoff, deadline, note, || {
                        kind.update(target, &obs, &changes)
                    })
                    .await?
                }
            }
            None => {
                outcome.action = Action::Create;
                self.reporter.started(stack, id, unit.res.kind.kind, "creating");
                self.create(kind, unit, target, deadline).await?
            }
        };
        tx.send_replace(Phase::Known(outputs.clone()));
        let ready = self.wait_ready(kind, unit, target, outputs, deadline).await?;
        outcome.outputs = Some(ready.clone());
        tx.send_replace(Phase::Ready(ready));
        Ok(())
    }

    /// Creates; when a call fails for a while (throttling the SDK gave up on, say), looks again
    /// before retrying: a create of several calls may have made the resource already, and must
    /// then be finished by an update rather than started over.
    async fn create(
        &self,
        kind: &dyn ResourceKind,
        unit: &Unit,
        target: &Target,
        deadline: Instant,
    ) -> Result<Outputs, CloudError> {
        let note = |why: &str| self.reporter.retrying(&unit.stack, &unit.res.id, why);
        let mut budget = retry::Budget::new(deadline);
        loop {
            let error = match kind.create(target).await {
                Err(e) => e,
                ok => return ok,
            };
            let (pause, why) = budget.next(self.backoff, error)?;
            note(&why);
            tokio::time::sleep(pause).await;
            match self.observe(kind, unit, target).await? {
                None => continue,
                Some(obs) if !obs.owned => return Err(CloudError::Fatal(not_ours(unit, target))),
                Some(obs) => {
                    let changes = kind.diff(target, &obs);
                    if changes.is_empty() {
                        return Ok(obs.outputs);
                    }
                    return retry::retry(self.backoff, deadline, note, || {
                        kind.update(target, &obs, &changes)
                    })
                    .await;
                }
            }
        }
    }

    async fn wait_ready(
        &self,
        kind: &dyn ResourceKind,
        unit: &Unit,
        target: &Target,
        outputs: Outputs,
        deadline: Instant,
    ) -> Result<Outputs, CloudError> {
        let note = |why: &str| self.reporter.retrying(&unit.stack, &unit.res.id, why);
        let mut attempt = 0;
        let since = Instant::now();
        loop {
            match retry::retry(self.backoff, deadline, note, || kind.poll_ready(target, &outputs))
                .await?
            {
                Progress::Done(o) => return Ok(o),
                Progress::Pending(state) => {
                    self.reporter.progress(&unit.stack, &unit.res.id, &state);
                    let pause = self.backoff.poll(attempt, since.elapsed());
                    if Instant::now() + pause > deadline {
                        return Err(CloudError::Fatal(format!(
                            "not ready before the deadline; last state: {state}"
                        )));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = self.stop.wait() => {
                            return Err(CloudError::Fatal(format!(
                                "{INTERRUPTED} while waiting until it is ready (last state: {state}); deploy again to go on"
                            )));
                        }
                    }
                    attempt += 1;
                }
            }
        }
    }

    async fn wait_gone(
        &self,
        kind: &dyn ResourceKind,
        unit: &Unit,
        target: &Target,
        deadline: Instant,
    ) -> Result<(), CloudError> {
        let mut attempt = 0;
        loop {
            match self.look(kind, unit, target, Look::Find).await? {
                None => return Ok(()),
                Some(_) => {
                    self.reporter.progress(&unit.stack, &unit.res.id, "deleting");
                    let pause = self.backoff.delay(attempt);
                    if Instant::now() + pause > deadline {
                        return Err(CloudError::Fatal("still there after the deadline".into()));
                    }
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Deletes everything of `stacks` that exists and is ours, dependents before what they
    /// depend on. Never touches what lacks our tags. `context`: stacks that `stacks` build on,
    /// only observed (their attributes name what `stacks` made inside them), never deleted.
    pub async fn destroy(self: &Arc<Self>, stacks: &[&Stack], context: &[&Stack]) -> Vec<Outcome> {
        let everything: Vec<&Stack> = context.iter().chain(stacks).copied().collect();
        let units = units(&everything);
        let observed = self.observe_all(&units).await;
        let (units, observed): (Vec<Unit>, Vec<_>) = units
            .into_iter()
            .zip(observed)
            .filter(|(u, _)| stacks.iter().any(|s| s.name == u.stack))
            .unzip();
        // One channel per unit saying "this one is gone (or was never there)".
        let mut gone_tx = HashMap::new();
        let mut gone_rx = HashMap::new();
        for u in &units {
            let (tx, rx) = watch::channel(None::<bool>);
            gone_tx.insert(u.key(), tx);
            gone_rx.insert(u.key(), rx);
        }
        let mut tasks = tokio::task::JoinSet::new();
        let mut running = HashMap::new();
        for (unit, (target, found)) in units.iter().cloned().zip(observed) {
            let dependents: Vec<(String, watch::Receiver<Option<bool>>)> = units
                .iter()
                .filter(|d| {
                    d.res
                        .refs
                        .iter()
                        .any(|r| r.stack_or(&d.stack) == unit.stack && r.resource == unit.res.id)
                })
                .map(|d| (d.res.id.clone(), gone_rx[&d.key()].clone()))
                .collect();
            let tx = gone_tx.remove(&unit.key()).expect("one sender per unit");
            let engine = Arc::clone(self);
            let blank = self.outcome(&unit, "", Action::Delete);
            let handle = tasks.spawn(async move {
                let outcome = engine.destroy_unit(&unit, target, found, dependents).await;
                tx.send_replace(Some(outcome.ok()));
                engine.reporter.finished(&outcome);
                outcome
            });
            running.insert(handle.id(), blank);
        }
        self.collect(tasks, running).await
    }

    async fn destroy_unit(
        &self,
        unit: &Unit,
        target: Option<Target>,
        found: Result<Option<Observed>, String>,
        dependents: Vec<(String, watch::Receiver<Option<bool>>)>,
    ) -> Outcome {
        let name = target.as_ref().map(|t| t.physical_name.clone()).unwrap_or_default();
        let mut outcome = self.outcome(unit, &name, Action::Noop);
        let (target, obs) = match (target, found) {
            (_, Err(e)) => {
                outcome.error = Some(e);
                return outcome;
            }
            (Some(t), Ok(Some(obs))) => (t, obs),
            _ => {
                outcome.note = Some(NOT_FOUND.into());
                return outcome;
            }
        };
        if !obs.owned {
            outcome.note = Some(format!("left alone: {}", not_ours(unit, &target)));
            return outcome;
        }
        // From here it is to be deleted: a stop or a failure below leaves a delete not done.
        outcome.action = Action::Delete;
        for (id, mut rx) in dependents {
            let ok = loop {
                if let Some(ok) = *rx.borrow_and_update() {
                    break ok;
                }
                if rx.changed().await.is_err() {
                    break false;
                }
            };
            if !ok {
                outcome.error = Some(if self.stop.is_set() {
                    format!("{INTERRUPTED}: not started")
                } else {
                    format!("skipped: `{id}`, which depends on it, was not deleted")
                });
                return outcome;
            }
        }
        if self.stop.is_set() {
            outcome.error = Some(format!("{INTERRUPTED}: not started"));
            return outcome;
        }
        // A cascading resource goes with what it depends on, but only after its own dependents
        // are gone: they may need its attributes to be found again if this destroy stops.
        if unit.res.kind.cascades {
            outcome.action = Action::Delete;
            outcome.note = Some(format!("deleted with {}", unit.res.dependencies().join(", ")));
            return outcome;
        }
        outcome.action = Action::Delete;
        let kind = match self.kind(unit) {
            Ok(k) => k,
            Err(e) => {
                outcome.error = Some(e);
                return outcome;
            }
        };
        self.reporter.started(&unit.stack, &unit.res.id, unit.res.kind.kind, "deleting");
        // Its own time: from when what depends on it was gone.
        let started = Instant::now();
        let deadline = Self::deadline(unit);
        let note = |why: &str| self.reporter.retrying(&unit.stack, &unit.res.id, why);
        let result =
            match retry::retry(self.backoff, deadline, note, || kind.delete(&target, &obs)).await {
                Ok(()) | Err(CloudError::NotFound(_)) => {
                    self.wait_gone(kind.as_ref(), unit, &target, deadline).await
                }
                Err(e) => Err(e),
            };
        if let Err(e) = result {
            outcome.error = Some(e.to_string());
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        outcome
    }
}

/// How a plan shows a value that only deploy will know.
pub const KNOWN_AFTER_DEPLOY: &str = "(known after deploy)";

fn not_ours(unit: &Unit, target: &Target) -> String {
    format!(
        "a {} named `{}` exists but does not carry this environment's ownership tags (or belongs \
         to another account), so it is not ours: it will not be adopted, changed or deleted. \
         Remove or rename it yourself, or deploy with another --env",
        unit.res.kind.kind, target.physical_name
    )
}

fn blank_outcome() -> Outcome {
    Outcome {
        stack: String::new(),
        id: String::new(),
        kind: String::new(),
        physical_name: String::new(),
        action: Action::Noop,
        error: None,
        changes: Vec::new(),
        note: None,
        seconds: 0.0,
        outputs: None,
    }
}

/// Counts of outcomes per action (failed ones separately).
pub fn count_actions(outcomes: &[Outcome]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> =
        ["create", "update", "replace", "delete", "noop", "failed", "interrupted"]
            .into_iter()
            .map(|a| (a, 0))
            .collect();
    for o in outcomes {
        let k = match &o.error {
            None => o.action.as_str(),
            Some(e) if e.starts_with(INTERRUPTED) => "interrupted",
            Some(_) => "failed",
        };
        *counts.entry(k).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests;
