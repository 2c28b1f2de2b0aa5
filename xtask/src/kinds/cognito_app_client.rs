//! An app client without a secret, for password (and SRP) sign-in and refresh. Ours because
//! the pool it lives in is.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{
    ExplicitAuthFlowsType, PreventUserExistenceErrorTypes, TimeUnitsType, TokenValidityUnitsType,
};
use serde::{Deserialize, Serialize};

use super::{given, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{found, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target};

pub const INFO: KindInfo = KindInfo {
    kind: "cognito.app_client",
    attributes: &["id", "name"],
    deadline_secs: 120,
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub user_pool_id: String,
    #[serde(default = "default_flows")]
    pub auth_flows: Vec<String>,
    #[serde(default = "default_access_minutes")]
    pub access_token_minutes: i32,
    #[serde(default = "default_refresh_days")]
    pub refresh_token_days: i32,
    /// The attributes a signed-in user may change on their own (UpdateUserAttributes with their
    /// access token). Always sent: without it Cognito lets the client write the pool's default
    /// set, and a tenant or tier attribute must never be the user's to change.
    #[serde(default = "default_write_attributes")]
    pub write_attributes: Vec<String>,
}

fn default_write_attributes() -> Vec<String> {
    vec!["name".to_string()]
}

fn default_flows() -> Vec<String> {
    ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
        .map(String::from)
        .to_vec()
}
fn default_access_minutes() -> i32 {
    60
}
fn default_refresh_days() -> i32 {
    30
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub name: String,
}

pub struct AppClient(pub Clients);

fn units() -> TokenValidityUnitsType {
    TokenValidityUnitsType::builder()
        .access_token(TimeUnitsType::Minutes)
        .id_token(TimeUnitsType::Minutes)
        .refresh_token(TimeUnitsType::Days)
        .build()
}

fn flows(p: &Properties) -> Vec<ExplicitAuthFlowsType> {
    p.auth_flows.iter().map(|f| ExplicitAuthFlowsType::from(f.as_str())).collect()
}

#[async_trait]
impl Kind for AppClient {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["user_pool_id"];

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let mut pages = self
            .0
            .cognito
            .list_user_pool_clients()
            .user_pool_id(&p.user_pool_id)
            .max_results(60)
            .into_paginator()
            .send();
        let mut id = None;
        while let Some(page) = pages.next().await {
            let Some(page) = found(page.map_err(|e| classify(e, NOT_FOUND)))? else {
                return Ok(None);
            };
            if let Some(c) = page
                .user_pool_clients()
                .iter()
                .find(|c| c.client_name() == Some(&target.physical_name))
            {
                id = c.client_id().map(str::to_string);
            }
        }
        let Some(id) = id else { return Ok(None) };
        let got = self
            .0
            .cognito
            .describe_user_pool_client()
            .user_pool_id(&p.user_pool_id)
            .client_id(&id)
            .send()
            .await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let client = out
            .user_pool_client
            .unwrap_or_else(|| unreachable!("DescribeUserPoolClient returns the client"));
        let state = Properties {
            user_pool_id: p.user_pool_id.clone(),
            auth_flows: client
                .explicit_auth_flows()
                .iter()
                .map(|f| f.as_str().to_string())
                .collect(),
            access_token_minutes: client.access_token_validity().unwrap_or_default(),
            refresh_token_days: client.refresh_token_validity(),
            write_attributes: client.write_attributes().to_vec(),
        };
        let name = target.physical_name.clone();
        Ok(Found::ours(state, Outputs { id, name }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let out = self
            .0
            .cognito
            .create_user_pool_client()
            .user_pool_id(&p.user_pool_id)
            .client_name(&target.physical_name)
            .generate_secret(false)
            .set_explicit_auth_flows(Some(flows(p)))
            .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Enabled)
            .access_token_validity(p.access_token_minutes)
            .id_token_validity(p.access_token_minutes)
            .refresh_token_validity(p.refresh_token_days)
            .token_validity_units(units())
            .set_write_attributes(Some(p.write_attributes.clone()))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let id = out.user_pool_client().and_then(|c| c.client_id());
        Ok(Outputs { id: given(id, "CreateUserPoolClient")?, name: target.physical_name.clone() })
    }

    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let id = &seen.outputs.id;
        // UpdateUserPoolClient resets what it is not given: always send every setting.
        self.0
            .cognito
            .update_user_pool_client()
            .user_pool_id(&p.user_pool_id)
            .client_id(id)
            .client_name(&target.physical_name)
            .set_explicit_auth_flows(Some(flows(p)))
            .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Enabled)
            .access_token_validity(p.access_token_minutes)
            .id_token_validity(p.access_token_minutes)
            .refresh_token_validity(p.refresh_token_days)
            .token_validity_units(units())
            .set_write_attributes(Some(p.write_attributes.clone()))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(seen.outputs.clone())
    }

    async fn delete(&self, _t: &Target, p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        let id = &seen.outputs.id;
        self.0
            .cognito
            .delete_user_pool_client()
            .user_pool_id(&p.user_pool_id)
            .client_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}
