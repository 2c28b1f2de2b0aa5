//! A Secrets Manager secret with a database login, `{"username": ..., "password": ...}`, the
//! shape the Data API's `secretArn` expects. The password is generated here and never printed.

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::Tag;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::generated_secret::generate_password;
use super::{properties, tags_with_created_at, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    CloudError, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "secretsmanager.database_credentials",
    name_style: NameStyle::SecretPath,
    attributes: &["arn", "name", "username"],
    ready_attributes: &[],
    deadline_secs: 300,
    cascades: false,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub username: String,
    #[serde(default)]
    pub description: String,
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

pub struct DatabaseCredentials(pub Clients);

fn outputs(arn: &str, name: &str, username: &str) -> Outputs {
    [("arn", arn), ("name", name), ("username", username)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

/// The login in a credentials secret.
pub async fn read(clients: &Clients, secret_arn: &str) -> CloudResult<(String, String)> {
    let out = clients
        .secrets
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| classify(e, NOT_FOUND))?;
    let v: serde_json::Value =
        serde_json::from_str(out.secret_string().unwrap_or("{}")).unwrap_or_default();
    match (v["username"].as_str(), v["password"].as_str()) {
        (Some(u), Some(p)) => Ok((u.to_string(), p.to_string())),
        _ => Err(CloudError::Fatal(format!(
            "secret {secret_arn} holds no username and password"
        ))),
    }
}

#[async_trait]
impl ResourceKind for DatabaseCredentials {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["username"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let got = self
            .0
            .secrets
            .describe_secret()
            .secret_id(&target.physical_name)
            .send()
            .await;
        let secret = match got.map_err(|e| classify(e, NOT_FOUND)) {
            Ok(s) if s.deleted_date().is_none() => s,
            Ok(_) | Err(CloudError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let tags = secret
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let owned = names::is_owned(&target.tags, &tags);
        let arn = secret.arn().unwrap_or_default().to_string();
        let username = if owned {
            read(&self.0, &arn).await?.0
        } else {
            String::new()
        };
        Ok(Some(Observed {
            owned,
            properties: json!({"username": username, "description": secret.description().unwrap_or_default()}),
            outputs: outputs(&arn, &target.physical_name, &username),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let value = json!({"username": p.username, "password": generate_password(32)});
        let tags = tags_with_created_at(target)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let out = self
            .0
            .secrets
            .create_secret()
            .name(&target.physical_name)
            .description(&p.description)
            .secret_string(value.to_string())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| match classify(e, NOT_FOUND) {
                CloudError::Fatal(m) if m.contains("scheduled for deletion") => {
                    CloudError::Retryable(m)
                }
                other => other,
            })?;
        Ok(outputs(
            out.arn().unwrap_or_default(),
            &target.physical_name,
            &p.username,
        ))
    }

    async fn update(
        &self,
        target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let arn = observed.outputs["arn"].as_str().unwrap_or_default();
        self.0
            .secrets
            .update_secret()
            .secret_id(arn)
            .description(&p.description)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(observed.outputs.clone())
    }

    async fn delete(&self, _target: &Target, observed: &Observed) -> CloudResult<()> {
        let arn = observed.outputs["arn"].as_str().unwrap_or_default();
        self.0
            .secrets
            .delete_secret()
            .secret_id(arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}
