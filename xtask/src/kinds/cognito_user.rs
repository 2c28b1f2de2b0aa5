//! A demo user: created by an administrator with a permanent password read from a generated
//! secret, placed in its groups, with its attributes (the tenant). Ours because the pool is.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType, UserStatusType};
use serde::{Deserialize, Serialize};

use super::{generated_secret, given, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, found, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "cognito.user",
    name_style: NameStyle::Property("username"),
    attributes: &["username", "sub"],
    deadline_secs: 120,
    // Source: none published for Cognito's admin calls: the default 0.15 s per call, an estimate.
    sim: Sim {
        create_steps: 3, // AdminCreateUser, AdminSetUserPassword, AdminAddUserToGroup
        ..SIM
    },
    ..KindInfo::DEFAULT
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

/// The properties as found, and whether the permanent password was set.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub user_pool_id: String,
    pub username: String,
    pub groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub password_secret_arn: String,
    pub password_set: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub username: String,
    pub sub: String,
}

pub struct User(pub Clients);

fn attribute_list(attrs: &BTreeMap<String, String>) -> Vec<AttributeType> {
    attrs
        .iter()
        .map(|(k, v)| AttributeType::builder().name(k).value(v).build().expect("name is set"))
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
            groups.extend(page.groups().iter().filter_map(|g| g.group_name().map(str::to_string)));
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
impl Kind for User {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["user_pool_id", "username"];

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
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
        let attributes = all
            .iter()
            .filter(|(k, _)| p.attributes.contains_key(**k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let state = State {
            user_pool_id: p.user_pool_id.clone(),
            username: p.username.clone(),
            groups: self.groups(p).await?,
            attributes,
            password_secret_arn: p.password_secret_arn.clone(),
            password_set: user.user_status() == Some(&UserStatusType::Confirmed),
        };
        let outputs = Outputs {
            username: p.username.clone(),
            sub: given(all.get("sub").copied(), "AdminGetUser")?,
        };
        Ok(Found::ours(state, outputs))
    }

    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        mut changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        if !seen.state.password_set {
            // Created, but the run stopped before the permanent password was set.
            changes.push(change("password", "temporary", "from the secret"));
        }
        changes
    }

    async fn create(&self, _t: &Target, p: &Properties) -> CloudResult<Outputs> {
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
            .and_then(|u| u.attributes().iter().find(|a| a.name() == "sub"))
            .and_then(|a| a.value());
        let sub = given(sub, "AdminCreateUser")?;
        self.set_password(p).await?;
        self.converge_groups(p, &[]).await?;
        Ok(Outputs { username: p.username.clone(), sub })
    }

    async fn update(
        &self,
        _t: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
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
                "groups" => self.converge_groups(p, &seen.state.groups).await?,
                "password" => self.set_password(p).await?,
                _ => {}
            }
        }
        Ok(seen.outputs.clone())
    }

    async fn delete(&self, _t: &Target, p: &Properties, _seen: &SeenOf<Self>) -> CloudResult<()> {
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
