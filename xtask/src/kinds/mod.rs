//! One module per AWS resource kind, each shaped alike: its stack properties, its metadata
//! (`INFO`), and a `ResourceKind` implementation (observe / create / update / delete).
//! This file is the only place that lists them all.

pub mod cognito_app_client;
pub mod cognito_group;
pub mod cognito_user;
pub mod cognito_user_pool;
pub mod generated_secret;
pub mod s3_bucket;
pub mod s3_objects;

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cloud::Clients;
use crate::engine::{CloudError, CloudResult, ResourceKind, Target};
use crate::model::NameStyle;

/// What the model and the engine know of a kind without calling it.
#[derive(Debug)]
pub struct KindInfo {
    pub kind: &'static str,
    pub name_style: NameStyle,
    /// Attributes other resources may reference.
    pub attributes: &'static [&'static str],
    /// Attributes only known once the resource is usable; a reference to one waits for that.
    pub ready_attributes: &'static [&'static str],
    /// How long one resource of this kind may take to converge or to go away.
    pub deadline_secs: u64,
}

/// A resource as written in a stack file: `kind` picks the properties' type, so unknown fields
/// and wrong types are reported with their line.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "kind", content = "properties", deny_unknown_fields)]
pub enum Spec {
    #[serde(rename = "cognito.user_pool")]
    UserPool(cognito_user_pool::Properties),
    #[serde(rename = "cognito.group")]
    Group(cognito_group::Properties),
    #[serde(rename = "cognito.app_client")]
    AppClient(cognito_app_client::Properties),
    #[serde(rename = "cognito.user")]
    User(cognito_user::Properties),
    #[serde(rename = "secretsmanager.generated_secret")]
    GeneratedSecret(generated_secret::Properties),
    #[serde(rename = "s3.bucket")]
    Bucket(s3_bucket::Properties),
    #[serde(rename = "s3.objects")]
    Objects(s3_objects::Properties),
}

fn json(p: impl Serialize) -> Value {
    serde_json::to_value(p).expect("properties serialize to JSON")
}

impl Spec {
    pub fn into_parts(self) -> (&'static KindInfo, Value) {
        match self {
            Spec::UserPool(p) => (&cognito_user_pool::INFO, json(p)),
            Spec::Group(p) => (&cognito_group::INFO, json(p)),
            Spec::AppClient(p) => (&cognito_app_client::INFO, json(p)),
            Spec::User(p) => (&cognito_user::INFO, json(p)),
            Spec::GeneratedSecret(p) => (&generated_secret::INFO, json(p)),
            Spec::Bucket(p) => (&s3_bucket::INFO, json(p)),
            Spec::Objects(p) => (&s3_objects::INFO, json(p)),
        }
    }
}

pub const ALL: &[&KindInfo] = &[
    &cognito_user_pool::INFO,
    &cognito_group::INFO,
    &cognito_app_client::INFO,
    &cognito_user::INFO,
    &generated_secret::INFO,
    &s3_bucket::INFO,
    &s3_objects::INFO,
];

/// The implementations that talk to AWS (or the local cloud), by kind name.
pub fn registry(clients: &Clients) -> HashMap<&'static str, Arc<dyn ResourceKind>> {
    let c = clients.clone();
    let kinds: Vec<(&KindInfo, Arc<dyn ResourceKind>)> = vec![
        (
            &cognito_user_pool::INFO,
            Arc::new(cognito_user_pool::UserPool(c.clone())),
        ),
        (
            &cognito_group::INFO,
            Arc::new(cognito_group::Group(c.clone())),
        ),
        (
            &cognito_app_client::INFO,
            Arc::new(cognito_app_client::AppClient(c.clone())),
        ),
        (&cognito_user::INFO, Arc::new(cognito_user::User(c.clone()))),
        (
            &generated_secret::INFO,
            Arc::new(generated_secret::GeneratedSecret(c.clone())),
        ),
        (&s3_bucket::INFO, Arc::new(s3_bucket::Bucket(c.clone()))),
        (&s3_objects::INFO, Arc::new(s3_objects::Objects(c))),
    ];
    kinds.into_iter().map(|(info, k)| (info.kind, k)).collect()
}

/// The target's properties as the kind's own type.
pub fn properties<T: DeserializeOwned>(target: &Target) -> CloudResult<T> {
    serde_json::from_value(target.properties.clone()).map_err(|e| {
        CloudError::Fatal(format!(
            "{}: properties after resolving references: {e}",
            target.logical_id
        ))
    })
}

/// Tags as the SDKs want them: our ownership tags plus the creation time.
pub fn tags_with_created_at(target: &Target) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = target.tags.clone().into_iter().collect();
    tags.push(crate::model::names::created_at_tag());
    tags
}
