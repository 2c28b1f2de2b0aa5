//! A Secrets Manager secret holding generated passwords, one per key, as a JSON object. The
//! values are generated here, sent only to Secrets Manager and never printed or logged.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::Tag;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{given, tags_with_created_at, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, SeenOf, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "secretsmanager.generated_secret",
    name_style: NameStyle::SecretPath,
    attributes: &["arn", "name"],
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    #[serde(default)]
    pub description: String,
    /// One generated password per key.
    pub keys: Vec<String>,
    #[serde(default = "default_length")]
    pub length: usize,
}

fn default_length() -> usize {
    24
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub name: String,
}

pub struct GeneratedSecret(pub Clients);

/// A password that satisfies Cognito's strictest policy: upper, lower, digit and symbol.
pub fn generate_password(length: usize) -> String {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"!#%*+-=?@^_";
    let mut rng = rand::rngs::OsRng;
    let all: Vec<u8> = [UPPER, LOWER, DIGIT, SYMBOL].concat();
    let mut out: Vec<u8> =
        [UPPER, LOWER, DIGIT, SYMBOL].iter().map(|set| set[rng.gen_range(0..set.len())]).collect();
    while out.len() < length.max(12) {
        out.push(all[rng.gen_range(0..all.len())]);
    }
    out.shuffle(&mut rng);
    String::from_utf8(out).expect("ASCII")
}

impl GeneratedSecret {
    async fn current_values(&self, id: &str) -> CloudResult<BTreeMap<String, String>> {
        let out = self
            .0
            .secrets
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(serde_json::from_str(out.secret_string().unwrap_or("{}")).unwrap_or_default())
    }
}

/// Reads one key of a generated secret (the password of a demo user, say).
pub async fn read_key(clients: &Clients, secret_id: &str, key: &str) -> CloudResult<String> {
    let out = clients
        .secrets
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| classify(e, NOT_FOUND))?;
    let values: BTreeMap<String, String> =
        serde_json::from_str(out.secret_string().unwrap_or("{}")).unwrap_or_default();
    values.get(key).cloned().ok_or_else(|| {
        CloudError::Fatal(format!(
            "secret {secret_id} holds no value for `{key}`: add it to the secret's keys"
        ))
    })
}

/// A secret of ours found by name: its ARN, whether it carries our tags, its description.
/// A secret scheduled for deletion counts as gone.
pub(super) async fn describe(
    clients: &Clients,
    target: &Target,
) -> CloudResult<Option<(String, bool, String)>> {
    let got = clients.secrets.describe_secret().secret_id(&target.physical_name).send().await;
    let Some(secret) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
        return Ok(None);
    };
    if secret.deleted_date().is_some() {
        return Ok(None);
    }
    let tags = secret
        .tags()
        .iter()
        .map(|t| {
            (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())
        })
        .collect();
    let owned = names::is_owned(&target.tags, &tags);
    Ok(Some((
        given(secret.arn(), "DescribeSecret")?,
        owned,
        secret.description().unwrap_or_default().to_string(),
    )))
}

/// Creates the secret with its value and our tags in one call; returns its ARN.
pub(super) async fn create_tagged(
    clients: &Clients,
    target: &Target,
    description: &str,
    value: String,
) -> CloudResult<String> {
    let tags = tags_with_created_at(target)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = clients
        .secrets
        .create_secret()
        .name(&target.physical_name)
        .description(description)
        .secret_string(value)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| match classify(e, NOT_FOUND) {
            // The same name is still being deleted: wait for it (InvalidRequestException also
            // covers other mistakes; only its text tells this one).
            CloudError::Service { code, message }
                if code == "InvalidRequestException"
                    && message.contains("scheduled for deletion") =>
            {
                CloudError::Retryable(message)
            }
            other => other,
        })?;
    given(out.arn(), "CreateSecret")
}

/// Deletes without recovery: a throw-away environment must be re-creatable under the same name.
pub(super) async fn force_delete(clients: &Clients, arn: &str) -> CloudResult<()> {
    clients
        .secrets
        .delete_secret()
        .secret_id(arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .map_err(|e| classify(e, NOT_FOUND))?;
    Ok(())
}

#[async_trait]
impl Kind for GeneratedSecret {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let Some((arn, owned, description)) = describe(&self.0, target).await? else {
            return Ok(None);
        };
        if !owned {
            return Ok(Some(Found::Foreign));
        }
        let state = Properties {
            description,
            keys: self.current_values(&arn).await?.into_keys().collect(),
            length: p.length,
        };
        let name = target.physical_name.clone();
        Ok(Found::ours(state, Outputs { arn, name }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let values: BTreeMap<&str, String> =
            p.keys.iter().map(|k| (k.as_str(), generate_password(p.length))).collect();
        let arn = create_tagged(
            &self.0,
            target,
            &p.description,
            serde_json::to_string(&values).expect("a map of strings"),
        )
        .await?;
        let name = target.physical_name.clone();
        Ok(Outputs { arn, name })
    }

    async fn update(
        &self,
        _t: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let arn = &seen.outputs.arn;
        let mut values = self.current_values(arn).await?;
        values.retain(|k, _| p.keys.contains(k));
        for k in &p.keys {
            values.entry(k.clone()).or_insert_with(|| generate_password(p.length));
        }
        self.0
            .secrets
            .update_secret()
            .secret_id(arn)
            .description(&p.description)
            .secret_string(serde_json::to_string(&values).expect("a map of strings"))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(seen.outputs.clone())
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        force_delete(&self.0, &seen.outputs.arn).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        force_delete(&self.0, &orphan.arn).await
    }
}

#[cfg(test)]
mod tests {
    use super::generate_password;

    #[test]
    fn passwords_have_every_class_and_differ() {
        let a = generate_password(24);
        assert_eq!(a.len(), 24);
        assert!(a.chars().any(|c| c.is_ascii_uppercase()));
        assert!(a.chars().any(|c| c.is_ascii_lowercase()));
        assert!(a.chars().any(|c| c.is_ascii_digit()));
        assert!(a.chars().any(|c| !c.is_ascii_alphanumeric()));
        assert_ne!(a, generate_password(24));
    }
}
