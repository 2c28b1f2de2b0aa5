//! The contract between the engine and a resource kind. The engine knows nothing about any
//! particular service: it only calls these methods, in the order its graph dictates.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

/// Attribute values a resource exposes to the resources that reference it.
pub type Outputs = BTreeMap<String, Value>;

/// The tags that mark a resource as ours. Sub-resources that cannot carry tags (a Cognito
/// group, an app client) inherit ownership from the parent they live in.
pub type Tags = BTreeMap<String, String>;

/// Everything a kind needs to know about one resource it is asked to act on.
#[derive(Debug, Clone)]
pub struct Target {
    pub logical_id: String,
    pub physical_name: String,
    /// Properties with every reference replaced by its value.
    pub properties: Value,
    /// Ownership tags (without `created-at`, which only `create` adds).
    pub tags: Tags,
}

/// What `observe` found under the resource's physical name.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Carries all our ownership tags. A resource that has our name but not our tags is never
    /// adopted, changed or deleted.
    pub owned: bool,
    /// The current properties, in the stack file's vocabulary, for the fields the stack sets.
    pub properties: Value,
    pub outputs: Outputs,
}

impl Observed {
    /// Something with our name that is not ours: no properties, and no outputs (none of its
    /// identifiers is ever handed on to what depends on it).
    pub fn foreign() -> Observed {
        Observed {
            owned: false,
            properties: Value::Object(Default::default()),
            outputs: Outputs::new(),
        }
    }
}

/// How far a resource is from usable, as reported by `poll_ready` / `poll_gone`.
#[derive(Debug, Clone)]
pub enum Progress<O = Outputs> {
    Done(O),
    Pending(String),
}

/// Errors a kind reports, classified so the engine knows whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// Throttling, eventual consistency, a resource busy in another state: try again later.
    #[error("{0} (will retry)")]
    Retryable(String),
    /// Retryable, but only for this long after it was first answered (a new role that has not
    /// propagated yet): past that, the cause is another one (a missing permission) and waiting
    /// until the resource's deadline would only hide it.
    #[error("{0} (will retry)")]
    RetryableFor(String, std::time::Duration),
    /// The thing is not there. Deleting something already gone is success.
    #[error("not found: {0}")]
    NotFound(String),
    /// A failure that retrying will not cure.
    #[error("{0}")]
    Fatal(String),
    /// The service answered with an error `code` the call did not list as not found or
    /// retryable: fatal, unless the kind knows the code as a passing state (`retry_on`).
    #[error("{message}")]
    Service { code: String, message: String },
}

impl CloudError {
    pub fn fatal(e: impl std::fmt::Display) -> Self {
        CloudError::Fatal(e.to_string())
    }

    /// A service error whose code is one of `codes` (a resource busy in a transition, a
    /// dependency still going away) becomes retryable; anything else stays as it is.
    pub fn retry_on(self, codes: &[&str]) -> CloudError {
        match self {
            CloudError::Service { code, message } if codes.contains(&code.as_str()) => {
                CloudError::Retryable(message)
            }
            other => other,
        }
    }
}

pub type CloudResult<T> = Result<T, CloudError>;

/// Not found is an answer when observing: `None`.
pub fn found<T>(result: CloudResult<T>) -> CloudResult<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(CloudError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One change between what exists and what the stack asks for.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldChange {
    pub field: String,
    pub current: Value,
    pub desired: Value,
    /// The service cannot change this field in place: the resource must be replaced.
    pub replaces: bool,
}

/// One AWS resource kind: observe / create / update / delete, each idempotent.
#[async_trait]
pub trait ResourceKind: Send + Sync {
    /// Fields the service cannot update in place.
    fn immutable_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// Finds the resource by physical name; `None` if it does not exist. Read-only.
    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>>;

    /// Finds the resource for teardown and inventories (destroy, status): from what the cloud
    /// holds alone, never from the checked-out files or a package index, so a resource deployed
    /// from other sources is found all the same. Read-only.
    async fn find(&self, target: &Target) -> CloudResult<Option<Observed>>;

    /// The fields that differ. The default compares each property the stack sets.
    fn diff(&self, target: &Target, observed: &Observed) -> Vec<FieldChange> {
        diff_properties(&target.properties, &observed.properties, self.immutable_fields())
    }

    /// Attributes known from the desired state alone, before deploy (a content digest): a
    /// plan resolves what references them with these, not with what exists now.
    fn planned_outputs(&self, _target: &Target) -> Outputs {
        Outputs::new()
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs>;

    async fn update(
        &self,
        target: &Target,
        observed: &Observed,
        changes: &[FieldChange],
    ) -> CloudResult<Outputs>;

    /// Called until it returns Done; the engine sleeps with backoff in between.
    async fn poll_ready(&self, _target: &Target, outputs: &Outputs) -> CloudResult<Progress> {
        Ok(Progress::Done(outputs.clone()))
    }

    /// Starts deleting. Not-found is success. The engine then calls `observe` until the
    /// resource is gone.
    async fn delete(&self, target: &Target, observed: &Observed) -> CloudResult<()>;

    /// Deletes a resource known only by its ARN (`destroy --orphans`, `gc`).
    async fn delete_orphan(&self, _orphan: &super::typed::Orphan) -> CloudResult<()> {
        Err(super::typed::not_deletable())
    }
}

/// Field-by-field comparison of the properties the stack sets.
pub fn diff_properties(desired: &Value, current: &Value, immutable: &[&str]) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let Some(desired) = desired.as_object() else {
        return changes;
    };
    for (field, want) in desired {
        let have = current.get(field).cloned().unwrap_or(Value::Null);
        if want.is_null() || normalized(&have) == normalized(want) {
            continue;
        }
        changes.push(FieldChange {
            field: field.clone(),
            current: have,
            desired: want.clone(),
            replaces: immutable.contains(&field.as_str()),
        });
    }
    changes
}

/// Lists in properties are sets (auth flows, groups, keys): compare them sorted.
fn normalized(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalized).collect();
            items.sort_by_key(|a| a.to_string());
            Value::Array(items)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalized(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_service_error_is_retried_only_for_the_codes_a_kind_lists() {
        let busy = || CloudError::Service {
            code: "ConflictException".into(),
            message: "ConflictException: runtime is UPDATING".into(),
        };
        assert!(
            matches!(busy().retry_on(&["ConflictException"]), CloudError::Retryable(m) if m.contains("UPDATING"))
        );
        assert!(matches!(busy().retry_on(&["DependencyViolation"]), CloudError::Service { .. }));
        // The code decides, never the text: a message that merely mentions a code is not it.
        let other = CloudError::Service {
            code: "ValidationException".into(),
            message: "ValidationException: not a ConflictException".into(),
        };
        assert!(matches!(other.retry_on(&["ConflictException"]), CloudError::Service { .. }));
    }

    #[test]
    fn diff_compares_lists_as_sets_and_marks_replacements() {
        let desired = json!({"flows": ["b", "a"], "name": "x", "size": 2, "unset": null});
        let current = json!({"flows": ["a", "b"], "name": "y", "size": 2});
        let changes = diff_properties(&desired, &current, &["name"]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "name");
        assert!(changes[0].replaces);
    }
}
