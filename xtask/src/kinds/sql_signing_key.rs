//! Installs the tenant-token signing key (from a generated secret) into the database's private
//! schema, where only the verification function can read it. The value travels as a bound
//! parameter, never in SQL text. Lives and dies with its cluster.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{generated_secret, properties, KindInfo};
use crate::cloud::data_api::{text, Database};
use crate::cloud::Clients;
use crate::engine::{
    CloudError, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "rdsdata.signing_key",
    name_style: NameStyle::Property("name"),
    attributes: &["name"],
    ready_attributes: &[],
    deadline_secs: 600,
    cascades: true,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub cluster_arn: String,
    pub admin_secret_arn: String,
    pub database: String,
    /// The key's name in `app_private.signing_keys` and in the generated secret.
    pub name: String,
    pub key_secret_arn: String,
}

pub struct SqlSigningKey(pub Clients);

fn admin(p: &Properties) -> Database {
    Database {
        cluster_arn: p.cluster_arn.clone(),
        secret_arn: p.admin_secret_arn.clone(),
        name: p.database.clone(),
    }
}

#[async_trait]
impl ResourceKind for SqlSigningKey {
    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let p: Properties = properties(target)?;
        let sql = "SELECT encode(sha256(convert_to(key, 'UTF8')), 'hex') AS digest FROM app_private.signing_keys WHERE name = :name";
        let rows = match admin(&p)
            .read(&self.0, sql, vec![text("name", &p.name)])
            .await
        {
            Ok(rows) => rows,
            Err(CloudError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let key = generated_secret::read_key(&self.0, &p.key_secret_arn, &p.name).await?;
        let in_sync =
            row["digest"].as_str() == Some(hex::encode(Sha256::digest(key.as_bytes())).as_str());
        Ok(Some(Observed {
            owned: true,
            properties: json!({"in_sync": in_sync}),
            outputs: [("name".to_string(), json!(p.name))].into_iter().collect(),
        }))
    }

    fn diff(&self, _target: &Target, observed: &Observed) -> Vec<FieldChange> {
        if observed.properties["in_sync"] == json!(true) {
            return Vec::new();
        }
        vec![FieldChange {
            field: "key".into(),
            current: json!("differs from the secret"),
            desired: json!("the secret's value"),
            replaces: false,
        }]
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let key = generated_secret::read_key(&self.0, &p.key_secret_arn, &p.name).await?;
        let sql = "INSERT INTO app_private.signing_keys (name, key) VALUES (:name, :key) ON CONFLICT (name) DO UPDATE SET key = EXCLUDED.key";
        admin(&p)
            .query(
                &self.0,
                sql,
                vec![text("name", &p.name), text("key", &key)],
                None,
            )
            .await?;
        Ok([("name".to_string(), json!(p.name))].into_iter().collect())
    }

    async fn update(
        &self,
        target: &Target,
        _observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.create(target).await
    }

    async fn delete(&self, _target: &Target, _observed: &Observed) -> CloudResult<()> {
        Ok(()) // goes with its cluster (`cascades`)
    }
}
