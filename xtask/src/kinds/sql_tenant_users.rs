//! The mapping from a Cognito user's `sub` (known only once the user exists) to its tenant, in
//! `claims.user_tenants`, converged row by row in one transaction. Lives and dies with its
//! cluster.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{properties, KindInfo};
use crate::cloud::data_api::{text, Database};
use crate::cloud::Clients;
use crate::engine::{
    CloudError, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "rdsdata.tenant_users",
    name_style: NameStyle::Property("database"),
    attributes: &["count"],
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
    pub users: Vec<TenantUser>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantUser {
    pub sub: String,
    pub tenant_id: String,
}

pub struct SqlTenantUsers(pub Clients);

fn admin(p: &Properties) -> Database {
    Database {
        cluster_arn: p.cluster_arn.clone(),
        secret_arn: p.admin_secret_arn.clone(),
        name: p.database.clone(),
    }
}

fn desired(p: &Properties) -> BTreeMap<String, String> {
    p.users
        .iter()
        .map(|u| (u.sub.clone(), u.tenant_id.clone()))
        .collect()
}

impl SqlTenantUsers {
    async fn current(&self, p: &Properties) -> CloudResult<Option<BTreeMap<String, String>>> {
        let sql = "SELECT user_sub, tenant_id FROM claims.user_tenants ORDER BY user_sub";
        match admin(p).read(&self.0, sql, vec![]).await {
            Ok(rows) => Ok(Some(
                rows.iter()
                    .map(|r| {
                        (
                            r["user_sub"].as_str().unwrap_or_default().to_string(),
                            r["tenant_id"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            )),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
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
                db.query(
                    &self.0,
                    sql,
                    vec![text("sub", sub), text("tenant", tenant)],
                    Some(&tx),
                )
                .await?;
            }
            Ok(())
        };
        if let Err(e) = run().await {
            db.rollback(&self.0, &tx).await;
            return Err(e);
        }
        db.commit(&self.0, &tx).await?;
        Ok([("count".to_string(), json!(want.len()))]
            .into_iter()
            .collect())
    }
}

#[async_trait]
impl ResourceKind for SqlTenantUsers {
    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let p: Properties = properties(target)?;
        let Some(current) = self.current(&p).await? else {
            return Ok(None);
        };
        if current.is_empty() {
            return Ok(None);
        }
        Ok(Some(Observed {
            owned: true,
            properties: json!({"users": current}),
            outputs: [("count".to_string(), json!(current.len()))]
                .into_iter()
                .collect(),
        }))
    }

    fn diff(&self, target: &Target, observed: &Observed) -> Vec<FieldChange> {
        let Ok(p) = properties::<Properties>(target) else {
            return Vec::new();
        };
        let want = json!(desired(&p));
        if observed.properties["users"] == want {
            return Vec::new();
        }
        vec![FieldChange {
            field: "users".into(),
            current: observed.properties["users"].clone(),
            desired: want,
            replaces: false,
        }]
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        self.converge(&properties(target)?).await
    }

    async fn update(
        &self,
        target: &Target,
        _observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.converge(&properties(target)?).await
    }

    async fn delete(&self, _target: &Target, _observed: &Observed) -> CloudResult<()> {
        Ok(()) // goes with its cluster (`cascades`)
    }
}
