//! A demo user: created by an administrator with a permanent password read from a generated
//! secret, placed in its groups, with its attributes (the tenant). Ours because the pool is.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType, UserStatusType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{generated_secret, properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    diff_properties, found, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "cognito.user",
    name_style: NameStyle::Property("username"),
    attributes: &["username", "sub"],
    ready_attributes: &[],
    deadline_secs: 120,
    cascades: false,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub user_pool_id: String,
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Attributes such as `custom:tenant_id`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The generated secret that holds this user's password under its username.
    pub password_secret_arn: String,
}

const NOT_FOUND: &[&str] = &["UserNotFoundException", "ResourceNotFoundException"];

pub struct User(pub Clients);

fn outputs(username: &str, sub: &str) -> Outputs {
    [
        ("username".to_string(), json!(username)),
        ("sub".to_string(), json!(sub)),
    ]
    .into_iter()
    .collect()
}

fn attribute_list(attrs: &BTreeMap<String, String>) -> Vec<AttributeType> {
    attrs
        .iter()
        .map(|(k, v)| {
            AttributeType::builder()
                .name(k)
                .value(v)
                .build()
                .expect("name is set")
        })
        .collect()
}

impl User {
    async fn groups(&self, p: &Properties) -> CloudResult<Vec<String>> {
        let mut groups = Vec::new();
        let mut pages = self
            .0
            .cognito
            .admin_list_groups_for_user()
            .user_pool_id(&p.user_pool_id)
            .username(&p.username)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(e, NOT_FOUND))?;
            groups.extend(
                page.groups()
                    .iter()
                    .filter_map(|g| g.group_name().map(str::to_string)),
            );
        }
        groups.sort();
        Ok(groups)
    }

    async fn set_password(&self, p: &Properties) -> CloudResult<()> {
        let password =
            generated_secret::read_key(&self.0, &p.password_secret_arn, &p.username).await?;
        self.0
            .cognito
            .admin_set_user_password()
            .user_pool_id(&p.user_pool_id)
            .username(&p.username)
            .password(password)
            .permanent(true)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }

    async fn converge_groups(&self, p: &Properties, current: &[String]) -> CloudResult<()> {
        for g in p.groups.iter().filter(|g| !current.contains(g)) {
            self.0
                .cognito
                .admin_add_user_to_group()
                .user_pool_id(&p.user_pool_id)
                .username(&p.username)
                .group_name(g)
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND))?;
        }
        for g in current.iter().filter(|g| !p.groups.contains(g)) {
            self.0
                .cognito
                .admin_remove_user_from_group()
                .user_pool_id(&p.user_pool_id)
                .username(&p.username)
                .group_name(g)
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND))?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for User {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["user_pool_id", "username"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let p: Properties = properties(target)?;
        let got = self
            .0
            .cognito
            .admin_get_user()
            .user_pool_id(&p.user_pool_id)
            .username(&p.username)
            .send()
            .await;
        let Some(user) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let all: BTreeMap<&str, &str> = user
            .user_attributes()
            .iter()
            .map(|a| (a.name(), a.value().unwrap_or_default()))
            .collect();
        let attributes: BTreeMap<&str, &str> = all
            .iter()
            .filter(|(k, _)| p.attributes.contains_key(**k))
            .map(|(k, v)| (*k, *v))
            .collect();
        let confirmed = user.user_status() == Some(&UserStatusType::Confirmed);
        Ok(Some(Observed {
            owned: true,
            properties: json!({
                "user_pool_id": p.user_pool_id,
                "username": p.username,
                "groups": self.groups(&p).await?,
                "attributes": attributes,
                "password_secret_arn": p.password_secret_arn,
                "password_set": confirmed,
            }),
            outputs: outputs(&p.username, all.get("sub").copied().unwrap_or_default()),
        }))
    }

    fn diff(&self, target: &Target, observed: &Observed) -> Vec<FieldChange> {
        let mut changes = diff_properties(
            &target.properties,
            &observed.properties,
            self.immutable_fields(),
        );
        if observed.properties["password_set"] != json!(true) {
            // Created, but the run stopped before the permanent password was set.
            changes.push(FieldChange {
                field: "password".into(),
                current: json!("temporary"),
                desired: json!("from the secret"),
                replaces: false,
            });
        }
        changes
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .cognito
            .admin_create_user()
            .user_pool_id(&p.user_pool_id)
            .username(&p.username)
            .set_user_attributes(Some(attribute_list(&p.attributes)))
            .message_action(MessageActionType::Suppress)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let sub = out
            .user()
            .map(|u| {
                u.attributes()
                    .iter()
                    .find(|a| a.name() == "sub")
                    .and_then(|a| a.value())
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        self.set_password(&p).await?;
        self.converge_groups(&p, &[]).await?;
        Ok(outputs(&p.username, &sub))
    }

    async fn update(
        &self,
        target: &Target,
        observed: &Observed,
        changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        for c in changes {
            match c.field.as_str() {
                "attributes" => {
                    self.0
                        .cognito
                        .admin_update_user_attributes()
                        .user_pool_id(&p.user_pool_id)
                        .username(&p.username)
                        .set_user_attributes(Some(attribute_list(&p.attributes)))
                        .send()
                        .await
                        .map_err(|e| classify(e, NOT_FOUND))?;
                }
                "groups" => {
                    let current: Vec<String> =
                        serde_json::from_value(c.current.clone()).unwrap_or_default();
                    self.converge_groups(&p, &current).await?;
                }
                "password" => self.set_password(&p).await?,
                _ => {}
            }
        }
        Ok(observed.outputs.clone())
    }

    async fn delete(&self, target: &Target, _observed: &Observed) -> CloudResult<()> {
        let p: Properties = properties(target)?;
        self.0
            .cognito
            .admin_delete_user()
            .user_pool_id(&p.user_pool_id)
            .username(&p.username)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}
