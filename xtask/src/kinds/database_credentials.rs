//! A Secrets Manager secret with a database login, `{"username": ..., "password": ...}`, the
//! shape the Data API's `secretArn` expects. The password is generated here and never printed.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::generated_secret::{self, generate_password};
use super::{properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    CloudError, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "secretsmanager.database_credentials",
    name_style: NameStyle::SecretPath,
    attributes: &["arn", "name", "username"],
    ready_attributes: &[],
    deadline_secs: 300,
    cascades: false,
    files: &[],
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
        let Some((arn, owned, description)) = generated_secret::describe(&self.0, target).await?
        else {
            return Ok(None);
        };
        let username = if owned {
            read(&self.0, &arn).await?.0
        } else {
            String::new()
        };
        Ok(Some(Observed {
            owned,
            properties: json!({"username": username, "description": description}),
            outputs: outputs(&arn, &target.physical_name, &username),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let value = json!({"username": p.username, "password": generate_password(32)});
        let arn =
            generated_secret::create_tagged(&self.0, target, &p.description, value.to_string())
                .await?;
        Ok(outputs(&arn, &target.physical_name, &p.username))
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
        generated_secret::force_delete(
            &self.0,
            observed.outputs["arn"].as_str().unwrap_or_default(),
        )
        .await
    }
}
