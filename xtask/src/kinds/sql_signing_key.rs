//! Installs the tenant-token signing key (from a generated secret) into the database's private
//! schema, where only the verification function can read it. The value travels as a bound
//! parameter, never in SQL text. Deleted by its own call, not with its cluster: tutorial 4's key
//! lives in tutorial 2's cluster, which outlives it, and a key left there would still sign
//! tokens the database accepts.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{generated_secret, KindInfo, Sim, SIM};
use crate::cloud::data_api::{text, Database};
use crate::cloud::Clients;
use crate::engine::{
    change, CloudError, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target, Update,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "rdsdata.signing_key",
    name_style: NameStyle::Property("name"),
    attributes: &["name"],
    deadline_secs: 600,
    // Source: none published for a Data API call: 1 s, an estimate.
    sim: Sim { call: 1.0, ..SIM },
    ..KindInfo::DEFAULT
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

/// Whether the key in the database is the secret's.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    in_sync: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub name: String,
}

#[derive(Deserialize)]
struct Row {
    digest: Option<String>,
}

pub struct SqlSigningKey(pub Clients);

fn admin(p: &Properties) -> Database {
    Database::new(&p.cluster_arn, &p.admin_secret_arn, &p.database)
}

#[async_trait]
impl Kind for SqlSigningKey {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::CreateAgain;

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
        let sql = "SELECT encode(sha256(convert_to(key, 'UTF8')), 'hex') AS digest FROM app_private.signing_keys WHERE name = :name";
        let row: Option<Row> = admin(p).read_one(&self.0, sql, vec![text("name", &p.name)]).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let key = generated_secret::read_key(&self.0, &p.key_secret_arn, &p.name).await?;
        let in_sync =
            row.digest.as_deref() == Some(hex::encode(Sha256::digest(key.as_bytes())).as_str());
        Ok(Found::ours(State { in_sync }, Outputs { name: p.name.clone() }))
    }

    /// The key alone: the properties only say where it comes from and goes.
    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        _changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        if seen.state.in_sync {
            return Vec::new();
        }
        vec![change("key", "differs from the secret", "the secret's value")]
    }

    async fn create(&self, _t: &Target, p: &Properties) -> CloudResult<Outputs> {
        let key = generated_secret::read_key(&self.0, &p.key_secret_arn, &p.name).await?;
        let sql = "INSERT INTO app_private.signing_keys (name, key) VALUES (:name, :key) ON CONFLICT (name) DO UPDATE SET key = EXCLUDED.key";
        admin(p).query(&self.0, sql, vec![text("name", &p.name), text("key", &key)], None).await?;
        Ok(Outputs { name: p.name.clone() })
    }

    /// The key's row goes; a cluster already gone took it with it.
    async fn delete(&self, _t: &Target, p: &Properties, _s: &SeenOf<Self>) -> CloudResult<()> {
        let sql = "DELETE FROM app_private.signing_keys WHERE name = :name";
        match admin(p).query(&self.0, sql, vec![text("name", &p.name)], None).await {
            Ok(_) | Err(CloudError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
