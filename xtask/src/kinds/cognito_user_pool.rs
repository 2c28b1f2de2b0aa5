//! A Cognito user pool: admin-created users only, a strong password policy, optional custom
//! attributes (the tenant). Tagged at creation, so it is ours from its first moment.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{
    AdminCreateUserConfigType, AttributeDataType, DeletionProtectionType, LambdaConfigType,
    PasswordPolicyType, PreTokenGenerationLambdaVersionType, PreTokenGenerationVersionConfigType,
    SchemaAttributeType, StringAttributeConstraintsType, UserPoolPolicyType, UserPoolTierType,
};
use serde::{Deserialize, Serialize};

use super::{given, tags_with_created_at, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{CloudResult, FieldChange, Found, Kind, Observation, Orphan, SeenOf, Target};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "cognito.user_pool",
    attributes: &["id", "arn", "name", "issuer", "discovery_url"],
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    /// At least 12; upper and lower case, digits and symbols are always required.
    #[serde(default = "default_min_length")]
    pub password_min_length: i32,
    /// Custom string attributes, without the `custom:` prefix (for example `tenant_id`).
    #[serde(default)]
    pub custom_attributes: Vec<String>,
    /// A Lambda function that customizes the tokens (pre token generation, event version
    /// V2_0, which can add claims to access tokens; on AWS it needs the Essentials feature
    /// plan, which the pool then gets). Its resource policy must let the pool invoke it
    /// (`lambda.permission`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_token_generation_lambda_arn: Option<String>,
}

fn default_min_length() -> i32 {
    12
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub issuer: String,
    pub discovery_url: String,
}

pub struct UserPool(pub Clients);

impl UserPool {
    async fn find_id(&self, name: &str) -> CloudResult<Vec<String>> {
        let mut ids = Vec::new();
        let mut pages = self.0.cognito.list_user_pools().max_results(60).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(e, NOT_FOUND))?;
            for p in page.user_pools() {
                if p.name() == Some(name) {
                    ids.push(p.id().unwrap_or_default().to_string());
                }
            }
        }
        Ok(ids)
    }

    fn outputs(&self, id: String, arn: String, name: &str) -> Outputs {
        let issuer = format!("https://cognito-idp.{}.amazonaws.com/{id}", self.0.region);
        Outputs {
            id,
            arn,
            name: name.to_string(),
            discovery_url: format!("{issuer}/.well-known/openid-configuration"),
            issuer,
        }
    }

    async fn remove(&self, id: &str) -> CloudResult<()> {
        self.0
            .cognito
            .delete_user_pool()
            .user_pool_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }

    fn policies(p: &Properties) -> UserPoolPolicyType {
        UserPoolPolicyType::builder()
            .password_policy(
                PasswordPolicyType::builder()
                    .minimum_length(p.password_min_length)
                    .require_uppercase(true)
                    .require_lowercase(true)
                    .require_numbers(true)
                    .require_symbols(true)
                    .temporary_password_validity_days(1)
                    .build(),
            )
            .build()
    }

    fn triggers(p: &Properties) -> CloudResult<Option<LambdaConfigType>> {
        let Some(arn) = &p.pre_token_generation_lambda_arn else {
            return Ok(None);
        };
        let config = PreTokenGenerationVersionConfigType::builder()
            .lambda_version(PreTokenGenerationLambdaVersionType::V20)
            .lambda_arn(arn)
            .build()
            .map_err(crate::engine::CloudError::fatal)?;
        Ok(Some(LambdaConfigType::builder().pre_token_generation_config(config).build()))
    }

    /// V2_0 triggers need Essentials or Plus; a pool without one keeps the plan AWS gives it.
    fn tier(p: &Properties) -> Option<UserPoolTierType> {
        p.pre_token_generation_lambda_arn.as_ref().map(|_| UserPoolTierType::Essentials)
    }

    fn admin_only() -> AdminCreateUserConfigType {
        AdminCreateUserConfigType::builder().allow_admin_create_user_only(true).build()
    }
}

#[async_trait]
impl Kind for UserPool {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    // Cognito can add custom attributes but never remove or change one.
    const IMMUTABLE: &'static [&'static str] = &["custom_attributes"];

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let mut found = None;
        for id in self.find_id(&target.physical_name).await? {
            let pool = self
                .0
                .cognito
                .describe_user_pool()
                .user_pool_id(&id)
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND));
            let pool = match pool {
                Ok(out) => out
                    .user_pool
                    .unwrap_or_else(|| unreachable!("DescribeUserPool returns the pool")),
                Err(crate::engine::CloudError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let tags = pool.user_pool_tags().cloned().unwrap_or_default().into_iter().collect();
            let owned = names::is_owned(&target.tags, &tags);
            // Prefer the one that is ours when several pools share the name.
            if found.as_ref().is_some_and(|(o, _)| *o) && !owned {
                continue;
            }
            let mut custom: Vec<String> = pool
                .schema_attributes()
                .iter()
                .filter_map(|a| a.name()?.strip_prefix("custom:").map(str::to_string))
                .collect();
            custom.sort();
            let min_length = pool
                .policies()
                .and_then(|p| p.password_policy())
                .and_then(|p| p.minimum_length())
                .unwrap_or(8);
            let seen = if owned {
                let trigger = pool
                    .lambda_config()
                    .and_then(|l| l.pre_token_generation_config())
                    .filter(|c| c.lambda_version().as_str() == "V2_0")
                    .map(|c| c.lambda_arn().to_string());
                let state = Properties {
                    password_min_length: min_length,
                    custom_attributes: custom,
                    pre_token_generation_lambda_arn: trigger,
                };
                let arn = given(pool.arn(), "DescribeUserPool")?;
                Found::ours(state, self.outputs(id, arn, &target.physical_name))
            } else {
                Some(Found::Foreign)
            };
            found = Some((owned, seen));
        }
        Ok(found.and_then(|(_, f)| f))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let schema: Vec<SchemaAttributeType> = p
            .custom_attributes
            .iter()
            .map(|name| {
                SchemaAttributeType::builder()
                    .name(name)
                    .attribute_data_type(AttributeDataType::String)
                    .mutable(true)
                    .string_attribute_constraints(
                        StringAttributeConstraintsType::builder()
                            .min_length("1")
                            .max_length("64")
                            .build(),
                    )
                    .build()
            })
            .collect();
        let out = self
            .0
            .cognito
            .create_user_pool()
            .pool_name(&target.physical_name)
            .policies(Self::policies(p))
            .admin_create_user_config(Self::admin_only())
            // Schema has at least one member when sent (CreateUserPool's model: min 1); a pool
            // without custom attributes sends none (the contract test caught an empty list).
            .set_schema((!schema.is_empty()).then_some(schema))
            .deletion_protection(DeletionProtectionType::Inactive)
            .set_lambda_config(Self::triggers(p)?)
            .set_user_pool_tier(Self::tier(p))
            .set_user_pool_tags(Some(tags_with_created_at(target).into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let pool = out.user_pool.unwrap_or_else(|| unreachable!("CreateUserPool returns the pool"));
        Ok(self.outputs(
            given(pool.id(), "CreateUserPool")?,
            given(pool.arn(), "CreateUserPool")?,
            &target.physical_name,
        ))
    }

    async fn update(
        &self,
        _t: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let id = &seen.outputs.id;
        // UpdateUserPool resets what it is not given: pass the tags we found along.
        let current = self
            .0
            .cognito
            .describe_user_pool()
            .user_pool_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let tags =
            current.user_pool().and_then(|p| p.user_pool_tags()).cloned().unwrap_or_default();
        self.0
            .cognito
            .update_user_pool()
            .user_pool_id(id)
            .policies(Self::policies(p))
            .admin_create_user_config(Self::admin_only())
            .deletion_protection(DeletionProtectionType::Inactive)
            .set_lambda_config(Self::triggers(p)?)
            .set_user_pool_tier(Self::tier(p))
            .set_user_pool_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(seen.outputs.clone())
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        self.remove(&seen.outputs.id).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.id).await
    }
}
