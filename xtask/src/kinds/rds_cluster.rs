//! An Aurora Serverless v2 PostgreSQL cluster that costs nothing while idle: minimum capacity 0
//! (auto-pause), the Data API enabled (no network path needed), the master password managed by
//! RDS in Secrets Manager, storage encrypted. Destroy skips the final snapshot unless the stack
//! protects the cluster: throw-away environments must not leak snapshots.
//!
//! The Data API of a Serverless v2 (or provisioned) cluster is switched on by the
//! `EnableHttpEndpoint` operation; `ModifyDBCluster`'s parameter of that name applies only to
//! Serverless v1 (EnableHttpEndpoint, RDS API reference). A cluster is ready only with it on.
//! An automatic minor upgrade (16.8 -> 16.9) is not a change to undo: AWS refuses downgrades.

use async_trait::async_trait;
use aws_sdk_rds::types::ServerlessV2ScalingConfiguration;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rds_subnet_group::{is_ours, rds_tags, NOT_FOUND};
use super::{properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    CloudError, CloudResult, FieldChange, Observed, Outputs, Progress, ResourceKind, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "rds.cluster",
    name_style: NameStyle::Dashed,
    attributes: &["id", "arn", "master_secret_arn", "database", "endpoint"],
    ready_attributes: &["endpoint"],
    deadline_secs: 3600,
    cascades: false,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    /// A version that supports MinCapacity 0 (auto-pause).
    pub engine_version: String,
    pub database_name: String,
    pub subnet_group_name: String,
    pub security_group_ids: Vec<String>,
    #[serde(default)]
    pub min_capacity: f64,
    #[serde(default = "default_max")]
    pub max_capacity: f64,
    #[serde(default = "default_pause")]
    pub seconds_until_auto_pause: i32,
    /// Long-lived environments: deletion protection on, and a final snapshot on destroy.
    #[serde(default)]
    pub protect: bool,
}

fn default_max() -> f64 {
    2.0
}
fn default_pause() -> i32 {
    300
}

pub struct Cluster(pub Clients);

impl Cluster {
    async fn describe(&self, id: &str) -> CloudResult<Option<aws_sdk_rds::types::DbCluster>> {
        match self
            .0
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))
        {
            Ok(out) => Ok(out.db_clusters().first().cloned()),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The Data API of a Serverless v2 cluster (`EnableHttpEndpoint`, not ModifyDBCluster).
    async fn enable_data_api(&self, outputs: &Outputs) -> CloudResult<()> {
        let arn = outputs["arn"].as_str().unwrap_or_default();
        self.0
            .rds
            .enable_http_endpoint()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

/// Whether `current` is `desired` after an automatic minor upgrade: same major version, a later
/// minor one (`16.9` of `16.8`; not `17.1`, not `16.4`).
fn minor_upgrade_of(desired: &str, current: &str) -> bool {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
    };
    matches!((parse(desired), parse(current)), (Some((dm, dn)), Some((cm, cn))) if dm == cm && cn > dn)
}

fn outputs(c: &aws_sdk_rds::types::DbCluster, ready: bool) -> Outputs {
    let mut o: Outputs = [
        ("id", json!(c.db_cluster_identifier())),
        ("arn", json!(c.db_cluster_arn())),
        (
            "master_secret_arn",
            json!(c.master_user_secret().and_then(|s| s.secret_arn())),
        ),
        ("database", json!(c.database_name())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if ready {
        o.insert("endpoint".into(), json!(c.endpoint()));
    }
    o
}

#[async_trait]
impl ResourceKind for Cluster {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["database_name", "subnet_group_name"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let Some(c) = self.describe(&target.physical_name).await? else {
            return Ok(None);
        };
        // Ours by tags in every state, deleting included: what is not ours is neither deleted
        // nor passed on (no ARN, no endpoint in its outputs).
        if !is_ours(&self.0, c.db_cluster_arn().unwrap_or_default(), target).await? {
            return Ok(Some(Observed::foreign()));
        }
        if c.status() == Some("deleting") {
            return Ok(Some(Observed {
                owned: true,
                properties: json!({"status": "deleting"}),
                outputs: outputs(&c, false),
            }));
        }
        let scaling = c.serverless_v2_scaling_configuration();
        let mut sgs: Vec<&str> = c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .collect();
        sgs.sort();
        Ok(Some(Observed {
            owned: true,
            properties: json!({
                "engine_version": c.engine_version(),
                "database_name": c.database_name(),
                "subnet_group_name": c.db_subnet_group(),
                "security_group_ids": sgs,
                "min_capacity": scaling.and_then(|s| s.min_capacity()),
                "max_capacity": scaling.and_then(|s| s.max_capacity()),
                "seconds_until_auto_pause": scaling.and_then(|s| s.seconds_until_auto_pause()),
                "protect": c.deletion_protection(),
                "http_endpoint": c.http_endpoint_enabled(),
            }),
            outputs: outputs(&c, c.status() == Some("available")),
        }))
    }

    fn diff(&self, target: &Target, observed: &Observed) -> Vec<FieldChange> {
        let mut changes = crate::engine::diff_properties(
            &target.properties,
            &observed.properties,
            self.immutable_fields(),
        );
        changes.retain(|c| {
            c.field != "engine_version"
                || !minor_upgrade_of(
                    c.desired.as_str().unwrap_or_default(),
                    c.current.as_str().unwrap_or_default(),
                )
        });
        if observed.properties["http_endpoint"] != json!(true) {
            changes.push(FieldChange {
                field: "http_endpoint".into(),
                current: observed.properties["http_endpoint"].clone(),
                desired: json!(true),
                replaces: false,
            });
        }
        changes
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .rds
            .create_db_cluster()
            .db_cluster_identifier(&target.physical_name)
            .engine("aurora-postgresql")
            .engine_version(&p.engine_version)
            .database_name(&p.database_name)
            .master_username("claims_admin")
            .manage_master_user_password(true)
            .enable_http_endpoint(true)
            .storage_encrypted(true)
            .db_subnet_group_name(&p.subnet_group_name)
            .set_vpc_security_group_ids(Some(p.security_group_ids.clone()))
            .serverless_v2_scaling_configuration(scaling(&p))
            .deletion_protection(p.protect)
            .copy_tags_to_snapshot(true)
            .set_tags(Some(rds_tags(target)))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let c = out
            .db_cluster()
            .ok_or_else(|| CloudError::Fatal("CreateDBCluster returned no cluster".into()))?;
        Ok(outputs(c, false))
    }

    async fn update(
        &self,
        target: &Target,
        observed: &Observed,
        changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        // The version only when it is to change: after an automatic minor upgrade the stack's
        // older one would be a downgrade, which AWS refuses.
        let upgrade = changes.iter().any(|c| c.field == "engine_version");
        self.0
            .rds
            .modify_db_cluster()
            .db_cluster_identifier(&target.physical_name)
            .set_engine_version(upgrade.then(|| p.engine_version.clone()))
            .set_vpc_security_group_ids(Some(p.security_group_ids.clone()))
            .serverless_v2_scaling_configuration(scaling(&p))
            .deletion_protection(p.protect)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        if observed.properties["http_endpoint"] != json!(true) {
            self.enable_data_api(&observed.outputs).await?;
        }
        Ok(observed.outputs.clone())
    }

    async fn poll_ready(&self, target: &Target, outputs: &Outputs) -> CloudResult<Progress> {
        match self.describe(&target.physical_name).await? {
            Some(c)
                if c.status() == Some("available") && c.http_endpoint_enabled() != Some(true) =>
            {
                self.enable_data_api(outputs).await?;
                Ok(Progress::Pending("enabling the Data API".into()))
            }
            Some(c) if c.status() == Some("available") => {
                Ok(Progress::Done(self::outputs(&c, true)))
            }
            Some(c) => Ok(Progress::Pending(format!(
                "cluster {}",
                c.status().unwrap_or("unknown")
            ))),
            None => Ok(Progress::Done(outputs.clone())),
        }
    }

    async fn delete(&self, target: &Target, observed: &Observed) -> CloudResult<()> {
        if observed.properties.get("status") == Some(&json!("deleting")) {
            return Ok(());
        }
        let protect = observed.properties["protect"] == json!(true);
        let mut call = self
            .0
            .rds
            .delete_db_cluster()
            .db_cluster_identifier(&target.physical_name);
        call = if protect {
            call.skip_final_snapshot(false)
                .final_db_snapshot_identifier(format!("{}-final", target.physical_name))
        } else {
            call.skip_final_snapshot(true)
        };
        call.send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

fn scaling(p: &Properties) -> ServerlessV2ScalingConfiguration {
    ServerlessV2ScalingConfiguration::builder()
        .min_capacity(p.min_capacity)
        .max_capacity(p.max_capacity)
        .seconds_until_auto_pause(p.seconds_until_auto_pause)
        .build()
}

/// The cluster is in another transition (its instance is still deleting, say): wait.
pub(super) fn busy(e: CloudError) -> CloudError {
    e.retry_on(&[
        "InvalidDBClusterStateFault",
        "InvalidDBInstanceState",
        "InvalidDBInstanceStateFault",
        "InvalidResourceStateFault",
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_minor_upgrade_is_not_drift() {
        assert!(super::minor_upgrade_of("16.8", "16.9"));
        assert!(super::minor_upgrade_of("16.8", "16.10"));
        assert!(!super::minor_upgrade_of("16.8", "16.8"));
        assert!(
            !super::minor_upgrade_of("16.8", "16.4"),
            "a downgrade is drift"
        );
        assert!(
            !super::minor_upgrade_of("16.8", "17.1"),
            "a major upgrade is drift"
        );
        assert!(!super::minor_upgrade_of("16.8", ""));
    }
}
