//! The mapping from a Cognito user's `sub` (known only once the user exists) to its tenant, in
//! `claims.user_tenants`, converged row by row in one transaction. Lives and dies with its
//! cluster.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{KindInfo, Sim, SIM};
use crate::cloud::data_api::{text, Database};
use crate::cloud::Clients;
use crate::engine::{
    change, found, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target, Update,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "rdsdata.tenant_users",
    name_style: NameStyle::Property("database"),
    attributes: &["count"],
    deadline_secs: 600,
    cascades: true,
    // Source: none published for a Data API call: 1 s, an estimate.
    sim: Sim {
        create_steps: 3, // begin, rows, commit
        call: 1.0,
        ..SIM
    },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub cluster_arn: String,
    pub admin_secret_arn: String,
    pub database: String,
    pub users: Vec<TenantUser>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantUser {
    pub sub: String,
    pub tenant_id: String,
}

/// The rows: tenant by user `sub`.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    users: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub count: usize,
}

#[derive(Deserialize)]
struct Row {
    user_sub: String,
    tenant_id: String,
}

pub struct SqlTenantUsers(pub Clients);

fn admin(p: &Properties) -> Database {
    Database::new(&p.cluster_arn, &p.admin_secret_arn, &p.database)
}

fn desired(p: &Properties) -> BTreeMap<String, String> {
    p.users.iter().map(|u| (u.sub.clone(), u.tenant_id.clone())).collect()
}

impl SqlTenantUsers {
    async fn current(&self, p: &Properties) -> CloudResult<Option<BTreeMap<String, String>>> {
        let sql = "SELECT user_sub, tenant_id FROM claims.user_tenants ORDER BY user_sub";
        let rows = found(admin(p).read::<Row>(&self.0, sql, vec![]).await)?;
        Ok(rows.map(|rows| rows.into_iter().map(|r| (r.user_sub, r.tenant_id)).collect()))
    }

    async fn converge(&self, p: &Properties) -> CloudResult<Outputs> {
        let db = admin(p);
        let current = self.current(p).await?.unwrap_or_default();
        let want = desired(p);
        let tx = db.begin(&self.0).await?;
        let run = async || -> CloudResult<()> {
            for sub in current.keys().filter(|s| !want.contains_key(*s)) {
                db.query(
                    &self.0,
                    "DELETE FROM claims.user_tenants WHERE user_sub = :sub",
                    vec![text("sub", sub)],
                    Some(&tx),
                )
                .await?;
            }
            for (sub, tenant) in want.iter().filter(|(s, t)| current.get(*s) != Some(t)) {
                let sql = "INSERT INTO claims.user_tenants (user_sub, tenant_id) VALUES (:sub, :tenant) ON CONFLICT (user_sub) DO UPDATE SET tenant_id = EXCLUDED.tenant_id";
                db.query(&self.0, sql, vec![text("sub", sub), text("tenant", tenant)], Some(&tx))
                    .await?;
            }
            Ok(())
        };
        if let Err(e) = run().await {
            db.rollback(&self.0, &tx).await;
            return Err(e);
        }
        db.commit(&self.0, &tx).await?;
        Ok(Outputs { count: want.len() })
    }
}

#[async_trait]
impl Kind for SqlTenantUsers {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::CreateAgain;

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
        let Some(users) = self.current(p).await? else {
            return Ok(None);
        };
        if users.is_empty() {
            return Ok(None);
        }
        let count = users.len();
        Ok(Found::ours(State { users }, Outputs { count }))
    }

    /// The rows as a whole (the properties list them as a list, the table as a map).
    fn diff(
        &self,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let want = desired(p);
        if seen.state.users == want {
            return Vec::new();
        }
        vec![change("users", &seen.state.users, want)]
    }

    async fn create(&self, _t: &Target, p: &Properties) -> CloudResult<Outputs> {
        self.converge(p).await
    }
}
