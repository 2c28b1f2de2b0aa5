//! A Secrets Manager secret with a database login, `{"username": ..., "password": ...}`, the
//! shape the Data API's `secretArn` expects. The password is generated here and never printed.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::generated_secret::{self, generate_password};
use super::KindInfo;
use crate::cloud::{classify, Clients};
use crate::engine::{
    CloudError, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "secretsmanager.database_credentials",
    name_style: NameStyle::SecretPath,
    attributes: &["arn", "name", "username"],
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub username: String,
    #[serde(default)]
    pub description: String,
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub name: String,
    pub username: String,
}

/// The secret's value: the shape the Data API's `secretArn` expects.
#[derive(Serialize, Deserialize)]
struct Login {
    username: String,
    password: String,
}

pub struct DatabaseCredentials(pub Clients);

/// The login in a credentials secret.
pub async fn read(clients: &Clients, secret_arn: &str) -> CloudResult<(String, String)> {
    let out = clients
        .secrets
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| classify(e, NOT_FOUND))?;
    match serde_json::from_str::<Login>(out.secret_string().unwrap_or("{}")) {
        Ok(l) => Ok((l.username, l.password)),
        Err(_) => {
            Err(CloudError::Fatal(format!("secret {secret_arn} holds no username and password")))
        }
    }
}

#[async_trait]
impl Kind for DatabaseCredentials {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["username"];

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let Some((arn, owned, description)) = generated_secret::describe(&self.0, target).await?
        else {
            return Ok(None);
        };
        if !owned {
            return Ok(Some(Found::Foreign));
        }
        let username = read(&self.0, &arn).await?.0;
        let name = target.physical_name.clone();
        let outputs = Outputs { arn, name, username: username.clone() };
        Ok(Found::ours(Properties { username, description }, outputs))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let value = Login { username: p.username.clone(), password: generate_password(32) };
        let value = serde_json::to_string(&value).expect("strings serialize");
        let arn = generated_secret::create_tagged(&self.0, target, &p.description, value).await?;
        Ok(Outputs { arn, name: target.physical_name.clone(), username: p.username.clone() })
    }

    async fn update(
        &self,
        _t: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.0
            .secrets
            .update_secret()
            .secret_id(&seen.outputs.arn)
            .description(&p.description)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(seen.outputs.clone())
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        generated_secret::force_delete(&self.0, &seen.outputs.arn).await
    }
}
