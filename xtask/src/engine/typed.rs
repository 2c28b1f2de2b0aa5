//! The typed side of a resource kind. A kind names its own types (the stack file's properties,
//! what `observe` finds, the attributes it hands on) and never sees untyped JSON: `Typed` erases
//! those types for the engine, which knows nothing about any particular service.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use std::path::Path;

use super::info::KindInfo;
use super::kind::{diff_properties, CloudError, CloudResult, FieldChange, Observed, Progress};
use super::{Outputs, ResourceKind, Target};

/// What `observe` found under our name and is ours: its current state, in the stack file's
/// vocabulary for the fields the stack sets, and its attributes.
#[derive(Debug, Clone)]
pub struct Seen<S, O> {
    pub state: S,
    pub outputs: O,
}

/// What `observe` found: ours, or something with our name that is not (never adopted, changed,
/// deleted or passed on).
#[derive(Debug)]
pub enum Found<S, O> {
    Foreign,
    Ours(Seen<S, O>),
}

impl<S, O> Found<S, O> {
    pub fn ours(state: S, outputs: O) -> Option<Self> {
        Some(Found::Ours(Seen { state, outputs }))
    }
}

/// What a kind's `observe` answers: nothing under our name, something that is not ours, or ours.
pub type Observation<K> = CloudResult<Option<Found<<K as Kind>::State, <K as Kind>::Outputs>>>;

/// A kind's resource as `observe` saw it.
pub type SeenOf<K> = Seen<<K as Kind>::State, <K as Kind>::Outputs>;

/// A resource no stack declares any more, known only by its ARN: `name` is its physical name
/// and `id` its service identifier, where the ARN holds them (empty where it does not).
#[derive(Debug, Clone, Default)]
pub struct Orphan {
    pub arn: String,
    pub name: String,
    pub id: String,
}

/// One AWS resource kind: observe / create / update / delete, each idempotent, on its own types.
#[async_trait]
pub trait Kind: Send + Sync + Sized + 'static {
    /// The stack file's properties, references resolved.
    type Properties: Serialize + DeserializeOwned + Send + Sync;
    /// What `observe` reads back; compared field by field with the properties.
    type State: Serialize + DeserializeOwned + Send + Sync;
    /// The attributes other resources reference.
    type Outputs: Serialize + DeserializeOwned + Clone + Send + Sync;

    /// What the rest of the program knows of the kind (its name, naming, attributes, deadline,
    /// and how the fake cloud and the benchmark model it).
    const INFO: &'static KindInfo;

    /// Checks of what the properties name on disk, made before any API call.
    fn check_files(_p: &Self::Properties, _root: &Path) -> Vec<String> {
        Vec::new()
    }

    /// Fields the service cannot update in place: a change replaces the resource.
    const IMMUTABLE: &'static [&'static str] = &[];

    /// Finds the resource by physical name; `None` if it does not exist. Read-only.
    async fn observe(&self, t: &Target, p: &Self::Properties) -> Observation<Self>;

    /// Finds the resource for teardown and inventories from what the cloud holds alone: kinds
    /// whose `observe` reads the checked-out files (a package's digest, migration files) answer
    /// here without them. The default is `observe`.
    async fn find(&self, t: &Target, p: &Self::Properties) -> Observation<Self> {
        self.observe(t, p).await
    }

    /// Adjusts the field-by-field comparison of the properties with the observed state (a
    /// change that is not one, a state the properties do not name).
    fn diff(
        &self,
        _p: &Self::Properties,
        _seen: &SeenOf<Self>,
        changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        changes
    }

    /// Attributes known from the desired state alone, before deploy (a content digest): a plan
    /// resolves what references them with these, not with what exists now.
    fn planned_outputs(&self, _t: &Target, _p: &Self::Properties) -> Option<Self::Outputs> {
        None
    }

    async fn create(&self, t: &Target, p: &Self::Properties) -> CloudResult<Self::Outputs>;

    /// How an existing resource is brought to new properties (see `Update`).
    const UPDATE: Update = Update::InPlace;

    /// Brings an existing resource to the properties. Kinds whose `UPDATE` is `InPlace`
    /// implement it; the others get what their `UPDATE` says.
    async fn update(
        &self,
        t: &Target,
        p: &Self::Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Self::Outputs> {
        match Self::UPDATE {
            Update::CreateAgain => self.create(t, p).await,
            Update::Nothing => Ok(seen.outputs.clone()),
            Update::InPlace => Err(CloudError::Fatal(format!(
                "{}: its kind updates in place but has no update",
                t.logical_id
            ))),
        }
    }

    /// Called until it returns Done; the engine sleeps with backoff in between.
    async fn poll_ready(
        &self,
        _t: &Target,
        _p: &Self::Properties,
        outputs: &Self::Outputs,
    ) -> CloudResult<Progress<Self::Outputs>> {
        Ok(Progress::Done(outputs.clone()))
    }

    /// Starts deleting. Not-found is success. The engine then calls `observe` until the
    /// resource is gone. Kinds that go with what they depend on (`cascades`) are never asked.
    async fn delete(
        &self,
        t: &Target,
        _p: &Self::Properties,
        _seen: &SeenOf<Self>,
    ) -> CloudResult<()> {
        Err(CloudError::Fatal(format!(
            "{}: its kind is deleted with what it depends on, never by itself",
            t.logical_id
        )))
    }

    /// Deletes a resource known only by its ARN (`destroy --orphans`, `gc`).
    async fn delete_orphan(&self, _orphan: &Orphan) -> CloudResult<()> {
        Err(not_deletable())
    }
}

/// What `update` does for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Calls that change the resource where it is: the kind implements `update`.
    InPlace,
    /// `create` again: it converges (SQL run idempotently; a new ingestion job).
    CreateAgain,
    /// Nothing: every property that can differ forces a replacement.
    Nothing,
}

/// The answer for an orphan whose kind cannot delete it from its ARN alone.
pub fn not_deletable() -> CloudError {
    CloudError::Fatal(
        "its kind cannot be deleted from its ARN alone: put it back in the stack file and destroy"
            .into(),
    )
}

/// A field change from typed values (a state the properties do not name).
pub fn change(field: &str, current: impl Serialize, desired: impl Serialize) -> FieldChange {
    FieldChange {
        field: field.into(),
        current: to_value(current),
        desired: to_value(desired),
        replaces: false,
    }
}

fn to_value(v: impl Serialize) -> Value {
    serde_json::to_value(v).expect("a kind's types serialize to JSON")
}

fn outputs_of(o: &impl Serialize) -> Outputs {
    match to_value(o) {
        Value::Object(map) => map.into_iter().collect(),
        _ => Outputs::new(),
    }
}

fn parse<T: DeserializeOwned>(v: Value, t: &Target, what: &str) -> CloudResult<T> {
    serde_json::from_value(v)
        .map_err(|e| CloudError::Fatal(format!("{}: {what}: {e}", t.logical_id)))
}

/// The engine's view of kind `K`: its types erased to JSON at this one boundary.
pub struct Typed<K>(pub K);

impl<K: Kind> Typed<K> {
    fn properties(&self, t: &Target) -> CloudResult<K::Properties> {
        parse(t.properties.clone(), t, "properties after resolving references")
    }

    fn outputs(&self, t: &Target, o: &Outputs) -> CloudResult<K::Outputs> {
        let map = o.clone().into_iter().collect::<serde_json::Map<_, _>>();
        parse(Value::Object(map), t, "attributes")
    }

    fn seen(&self, t: &Target, o: &Observed) -> CloudResult<Seen<K::State, K::Outputs>> {
        Ok(Seen {
            state: parse(o.properties.clone(), t, "observed state")?,
            outputs: self.outputs(t, &o.outputs)?,
        })
    }
}

fn observed<K: Kind>(found: Found<K::State, K::Outputs>) -> Observed {
    match found {
        Found::Foreign => Observed::foreign(),
        Found::Ours(seen) => Observed {
            owned: true,
            properties: to_value(&seen.state),
            outputs: outputs_of(&seen.outputs),
        },
    }
}

#[async_trait]
impl<K: Kind> ResourceKind for Typed<K> {
    fn immutable_fields(&self) -> &'static [&'static str] {
        K::IMMUTABLE
    }

    async fn observe(&self, t: &Target) -> CloudResult<Option<Observed>> {
        let p = self.properties(t)?;
        Ok(self.0.observe(t, &p).await?.map(observed::<K>))
    }

    async fn find(&self, t: &Target) -> CloudResult<Option<Observed>> {
        let p = self.properties(t)?;
        Ok(self.0.find(t, &p).await?.map(observed::<K>))
    }

    fn diff(&self, t: &Target, observed: &Observed) -> Vec<FieldChange> {
        let changes = diff_properties(&t.properties, &observed.properties, K::IMMUTABLE);
        match (self.properties(t), self.seen(t, observed)) {
            (Ok(p), Ok(seen)) => self.0.diff(&p, &seen, changes),
            _ => changes,
        }
    }

    fn planned_outputs(&self, t: &Target) -> Outputs {
        self.properties(t)
            .ok()
            .and_then(|p| self.0.planned_outputs(t, &p))
            .map(|o| outputs_of(&o))
            .unwrap_or_default()
    }

    async fn create(&self, t: &Target) -> CloudResult<Outputs> {
        let p = self.properties(t)?;
        Ok(outputs_of(&self.0.create(t, &p).await?))
    }

    async fn update(
        &self,
        t: &Target,
        observed: &Observed,
        changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let p = self.properties(t)?;
        let seen = self.seen(t, observed)?;
        Ok(outputs_of(&self.0.update(t, &p, &seen, changes).await?))
    }

    async fn poll_ready(&self, t: &Target, outputs: &Outputs) -> CloudResult<Progress> {
        let p = self.properties(t)?;
        let o = self.outputs(t, outputs)?;
        Ok(match self.0.poll_ready(t, &p, &o).await? {
            Progress::Done(o) => Progress::Done(outputs_of(&o)),
            Progress::Pending(why) => Progress::Pending(why),
        })
    }

    async fn delete(&self, t: &Target, observed: &Observed) -> CloudResult<()> {
        let p = self.properties(t)?;
        let seen = self.seen(t, observed)?;
        self.0.delete(t, &p, &seen).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.0.delete_orphan(orphan).await
    }
}
