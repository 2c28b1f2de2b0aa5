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

use super::rds_subnet_group::{is_ours, rds_tags, NOT_FOUND};
use super::{given, KindInfo, Life, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, Progress,
    SeenOf, Target,
};

pub const INFO: KindInfo = KindInfo {
    kind: "rds.cluster",
    attributes: &["id", "arn", "master_secret_arn", "database", "endpoint"],
    ready_attributes: &["endpoint"],
    deadline_secs: 3600,
    // Source: "a ten-minute provisioning cycle" for a full-configuration cluster with its instance
    // (darryl-ruggles.cloud, "Aurora PostgreSQL Express Configuration ... in 30 Seconds", 2026) and
    // "several minutes to over ten" (shinyaz.com, 2026-03-27); this project's own runs put the
    // cluster at ~7 minutes and its writer at ~8 more before the first SQL (597 s critical path).
    sim: Sim { call: 2.0, ready: 420.0, gone: 300.0, ..SIM },
    ..KindInfo::DEFAULT
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

pub(super) fn default_max() -> f64 {
    2.0
}
pub(super) fn default_pause() -> i32 {
    300
}

/// What `observe` reads back, in the properties' vocabulary, and whether the Data API is on.
#[derive(Debug, Serialize, Deserialize)]
pub struct Current {
    pub engine_version: Option<String>,
    pub database_name: Option<String>,
    pub subnet_group_name: Option<String>,
    pub security_group_ids: Vec<String>,
    pub min_capacity: Option<f64>,
    pub max_capacity: Option<f64>,
    pub seconds_until_auto_pause: Option<i32>,
    pub protect: Option<bool>,
    pub http_endpoint: Option<bool>,
}

type State = Life<Current>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub arn: String,
    pub master_secret_arn: Option<String>,
    pub database: Option<String>,
    /// Known once the cluster is available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

pub struct Cluster(pub Clients);

/// The cluster named `id`, if it exists (both cluster kinds).
pub(super) async fn describe(
    clients: &Clients,
    id: &str,
) -> CloudResult<Option<aws_sdk_rds::types::DbCluster>> {
    match clients
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
pub(super) async fn enable_data_api(clients: &Clients, arn: &str) -> CloudResult<()> {
    clients
        .rds
        .enable_http_endpoint()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| busy(classify(e, NOT_FOUND)))?;
    Ok(())
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

fn outputs(c: &aws_sdk_rds::types::DbCluster, ready: bool) -> CloudResult<Outputs> {
    Ok(Outputs {
        id: given(c.db_cluster_identifier(), "DescribeDBClusters")?,
        arn: given(c.db_cluster_arn(), "DescribeDBClusters")?,
        master_secret_arn: c.master_user_secret().and_then(|s| s.secret_arn()).map(str::to_string),
        database: c.database_name().map(str::to_string),
        endpoint: ready.then(|| c.endpoint().map(str::to_string)).flatten(),
    })
}

#[async_trait]
impl Kind for Cluster {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["database_name", "subnet_group_name"];

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let Some(c) = describe(&self.0, &target.physical_name).await? else {
            return Ok(None);
        };
        // Ours by tags in every state, deleting included: what is not ours is neither deleted
        // nor passed on (no ARN, no endpoint in its outputs).
        if !is_ours(&self.0, c.db_cluster_arn().unwrap_or_default(), target).await? {
            return Ok(Some(Found::Foreign));
        }
        if c.status() == Some("deleting") {
            return Ok(Found::ours(Life::deleting(), outputs(&c, false)?));
        }
        let scaling = c.serverless_v2_scaling_configuration();
        let mut security_group_ids: Vec<String> = c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect();
        security_group_ids.sort();
        let state = Current {
            engine_version: c.engine_version().map(str::to_string),
            database_name: c.database_name().map(str::to_string),
            subnet_group_name: c.db_subnet_group().map(str::to_string),
            security_group_ids,
            min_capacity: scaling.and_then(|s| s.min_capacity()),
            max_capacity: scaling.and_then(|s| s.max_capacity()),
            seconds_until_auto_pause: scaling.and_then(|s| s.seconds_until_auto_pause()),
            protect: c.deletion_protection(),
            http_endpoint: c.http_endpoint_enabled(),
        };
        let ready = c.status() == Some("available");
        Ok(Found::ours(Life::Live(state), outputs(&c, ready)?))
    }

    fn diff(
        &self,
        p: &Properties,
        seen: &SeenOf<Self>,
        mut changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let Some(current) = seen.state.live() else {
            return changes;
        };
        let have = current.engine_version.as_deref().unwrap_or_default();
        changes
            .retain(|c| c.field != "engine_version" || !minor_upgrade_of(&p.engine_version, have));
        if current.http_endpoint != Some(true) {
            changes.push(change("http_endpoint", current.http_endpoint, true));
        }
        changes
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
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
            .serverless_v2_scaling_configuration(scaling(
                p.min_capacity,
                p.max_capacity,
                p.seconds_until_auto_pause,
            ))
            .deletion_protection(p.protect)
            .copy_tags_to_snapshot(true)
            .set_tags(Some(rds_tags(target)))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let c = out
            .db_cluster()
            .ok_or_else(|| CloudError::Fatal("CreateDBCluster returned no cluster".into()))?;
        outputs(c, false)
    }

    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        // The version only when it is to change: after an automatic minor upgrade the stack's
        // older one would be a downgrade, which AWS refuses.
        let upgrade = changes.iter().any(|c| c.field == "engine_version");
        self.0
            .rds
            .modify_db_cluster()
            .db_cluster_identifier(&target.physical_name)
            .set_engine_version(upgrade.then(|| p.engine_version.clone()))
            .set_vpc_security_group_ids(Some(p.security_group_ids.clone()))
            .serverless_v2_scaling_configuration(scaling(
                p.min_capacity,
                p.max_capacity,
                p.seconds_until_auto_pause,
            ))
            .deletion_protection(p.protect)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        if seen.state.live().and_then(|c| c.http_endpoint) != Some(true) {
            enable_data_api(&self.0, &seen.outputs.arn).await?;
        }
        Ok(seen.outputs.clone())
    }

    async fn poll_ready(
        &self,
        target: &Target,
        _p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        match describe(&self.0, &target.physical_name).await? {
            Some(c)
                if c.status() == Some("available") && c.http_endpoint_enabled() != Some(true) =>
            {
                enable_data_api(&self.0, &outputs.arn).await?;
                Ok(Progress::Pending("enabling the Data API".into()))
            }
            Some(c) if c.status() == Some("available") => {
                Ok(Progress::Done(self::outputs(&c, true)?))
            }
            Some(c) => {
                Ok(Progress::Pending(format!("cluster {}", c.status().unwrap_or("unknown"))))
            }
            None => Ok(Progress::Done(outputs.clone())),
        }
    }

    async fn delete(
        &self,
        target: &Target,
        _p: &Properties,
        seen: &SeenOf<Self>,
    ) -> CloudResult<()> {
        match &seen.state {
            Life::Deleting { .. } => Ok(()),
            Life::Live(c) => remove(&self.0, &target.physical_name, c.protect == Some(true)).await,
        }
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        remove(&self.0, &orphan.name, false).await
    }
}

/// Deletes a cluster: its instances first (the cluster refuses while it holds any: "Aurora
/// doesn't provide a single-step method to delete a DB cluster"), retried until they are gone;
/// then the cluster. A protected one has its deletion protection turned off first (a destroy is
/// the explicit request) and leaves a final snapshot named with the time, so a second destroy of
/// the environment never collides with the first one's snapshot.
pub(super) async fn remove(clients: &Clients, name: &str, protect: bool) -> CloudResult<()> {
    let members: Vec<String> =
        match clients.rds.describe_db_clusters().db_cluster_identifier(name).send().await {
            Ok(out) => out
                .db_clusters()
                .iter()
                .flat_map(|c| c.db_cluster_members())
                .filter_map(|m| m.db_instance_identifier().map(str::to_string))
                .collect(),
            Err(e) => match classify(e, NOT_FOUND) {
                CloudError::NotFound(_) => return Ok(()),
                e => return Err(e),
            },
        };
    if !members.is_empty() {
        for id in &members {
            let deleted = clients
                .rds
                .delete_db_instance()
                .db_instance_identifier(id)
                .skip_final_snapshot(true)
                .send()
                .await
                .map_err(|e| busy(classify(e, NOT_FOUND)));
            match deleted {
                // Already deleting: waiting for it is what comes next anyway.
                Ok(_) | Err(CloudError::NotFound(_)) | Err(CloudError::Retryable(_)) => {}
                Err(e) => return Err(e),
            }
        }
        return Err(CloudError::Retryable(format!(
            "waiting for the instance(s) {} to be deleted before the cluster",
            members.join(", ")
        )));
    }
    let mut call = clients.rds.delete_db_cluster().db_cluster_identifier(name);
    call = if protect {
        clients
            .rds
            .modify_db_cluster()
            .db_cluster_identifier(name)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        call.skip_final_snapshot(false)
            .final_db_snapshot_identifier(final_snapshot(name, std::time::SystemTime::now()))
    } else {
        call.skip_final_snapshot(true)
    };
    call.send().await.map_err(|e| busy(classify(e, NOT_FOUND)))?;
    Ok(())
}

/// `<cluster>-final-<UTC time to the second>`: letters, digits and single hyphens, as
/// DBClusterSnapshotIdentifier requires.
fn final_snapshot(cluster: &str, at: std::time::SystemTime) -> String {
    let time = humantime::format_rfc3339_seconds(at).to_string();
    let digits: String = time.chars().filter(char::is_ascii_digit).collect();
    format!("{cluster}-final-{digits}")
}

/// Serverless v2 capacity, as both cluster kinds set it.
pub(super) fn scaling(min: f64, max: f64, pause: i32) -> ServerlessV2ScalingConfiguration {
    ServerlessV2ScalingConfiguration::builder()
        .min_capacity(min)
        .max_capacity(max)
        .seconds_until_auto_pause(pause)
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
    /// Two destroys of a protected cluster a second apart name different final snapshots.
    #[test]
    fn final_snapshots_are_named_by_time() {
        let t = humantime::parse_rfc3339("2026-12-03T15:30:00Z").unwrap();
        let name = super::final_snapshot("agentcore-mt-dev-t2-claims-db", t);
        assert_eq!(name, "agentcore-mt-dev-t2-claims-db-final-20261203153000");
        let later = super::final_snapshot("x", t + std::time::Duration::from_secs(1));
        assert_ne!(later, super::final_snapshot("x", t));
    }

    #[test]
    fn a_minor_upgrade_is_not_drift() {
        assert!(super::minor_upgrade_of("16.8", "16.9"));
        assert!(super::minor_upgrade_of("16.8", "16.10"));
        assert!(!super::minor_upgrade_of("16.8", "16.8"));
        assert!(!super::minor_upgrade_of("16.8", "16.4"), "a downgrade is drift");
        assert!(!super::minor_upgrade_of("16.8", "17.1"), "a major upgrade is drift");
        assert!(!super::minor_upgrade_of("16.8", ""));
    }
}
