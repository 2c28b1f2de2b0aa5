//! An Aurora PostgreSQL cluster with express configuration (`CreateDBCluster` with
//! `WithExpressConfiguration`, "Create with express configuration", Aurora User Guide): one call
//! makes the Serverless v2 cluster and its writer, in seconds rather than the full
//! configuration's ten minutes. What the page fixes, and this kind therefore never sends: no VPC
//! (an internet access gateway with TLS instead), the AWS owned encryption key, the default
//! engine version and parameter group, IAM database authentication for the master user (no
//! password, none in Secrets Manager). The Data API is off at creation and is switched on once
//! the cluster is available (`EnableHttpEndpoint`); it cannot use the master user, so a
//! `rdsiam.admin_login` gives it a login of its own.
//!
//! Delete: as `rds.cluster` deletes (`rds_cluster::remove`): the writer first, then the cluster,
//! without a final snapshot unless the stack protects the cluster.

use async_trait::async_trait;
use aws_sdk_rds::types::ServerlessV2ScalingConfiguration;
use serde::{Deserialize, Serialize};

use super::rds_cluster::{busy, default_max, default_pause, describe, enable_data_api};
use super::rds_subnet_group::{is_ours, rds_tags, NOT_FOUND};
use super::{given, KindInfo, Life, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, Progress,
    SeenOf, Target,
};

pub const INFO: KindInfo = KindInfo {
    kind: "rds.express_cluster",
    attributes: &["id", "arn", "endpoint", "port", "master_username"],
    ready_attributes: &["endpoint"],
    deadline_secs: 1800,
    // Source: "create-db-cluster to SELECT version() in under 45 seconds" (Darryl Ruggles, "Aurora
    // PostgreSQL Express Configuration: From Zero to Production Database in 30 Seconds", 2026,
    // darryl-ruggles.cloud); AWS: "ready in seconds". Deleting: instance then cluster, measured
    // for the full configuration (rds.cluster's `gone`) as nothing is published for express.
    sim: Sim { call: 2.0, ready: 45.0, gone: 300.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    /// The master user, who signs in only with an IAM token. Per environment
    /// (`agentcore_mt_{{env_}}_t2_admin`), so that `rds-db:connect` can be granted for this environment's
    /// clusters alone: the cluster's resource id is not known before it exists.
    pub master_username: String,
    #[serde(default)]
    pub min_capacity: f64,
    #[serde(default = "default_max")]
    pub max_capacity: f64,
    #[serde(default = "default_pause")]
    pub seconds_until_auto_pause: i32,
    /// Deletion protection on, and a final snapshot on destroy.
    #[serde(default)]
    pub protect: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Current {
    pub master_username: Option<String>,
    pub min_capacity: Option<f64>,
    pub max_capacity: Option<f64>,
    pub seconds_until_auto_pause: Option<i32>,
    pub protect: Option<bool>,
    /// Made with express configuration (a cluster of that name made otherwise is not this).
    pub express: bool,
    pub http_endpoint: Option<bool>,
}

type State = Life<Current>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub arn: String,
    pub port: i32,
    pub master_username: String,
    /// Known once the cluster, its writer and its Data API are usable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

pub struct ExpressCluster(pub Clients);

fn outputs(c: &aws_sdk_rds::types::DbCluster, ready: bool) -> CloudResult<Outputs> {
    Ok(Outputs {
        id: given(c.db_cluster_identifier(), "DescribeDBClusters")?,
        arn: given(c.db_cluster_arn(), "DescribeDBClusters")?,
        port: c.port().unwrap_or(5432),
        master_username: given(c.master_username(), "DescribeDBClusters")?,
        endpoint: ready.then(|| c.endpoint().map(str::to_string)).flatten(),
    })
}

/// The writer's status, if the cluster has one.
async fn writer_status(
    clients: &Clients,
    c: &aws_sdk_rds::types::DbCluster,
) -> CloudResult<Option<String>> {
    let Some(writer) = c
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier())
    else {
        return Ok(None);
    };
    let found = super::rds_instance::describe(clients, writer).await?;
    Ok(found.and_then(|i| i.db_instance_status().map(str::to_string)))
}

fn scaling(p: &Properties) -> ServerlessV2ScalingConfiguration {
    super::rds_cluster::scaling(p.min_capacity, p.max_capacity, p.seconds_until_auto_pause)
}

#[async_trait]
impl Kind for ExpressCluster {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["master_username"];

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let Some(c) = describe(&self.0, &target.physical_name).await? else {
            return Ok(None);
        };
        if !is_ours(&self.0, c.db_cluster_arn().unwrap_or_default(), target).await? {
            return Ok(Some(Found::Foreign));
        }
        if c.status() == Some("deleting") {
            return Ok(Found::ours(Life::deleting(), outputs(&c, false)?));
        }
        let scaling = c.serverless_v2_scaling_configuration();
        let state = Current {
            master_username: c.master_username().map(str::to_string),
            min_capacity: scaling.and_then(|s| s.min_capacity()),
            max_capacity: scaling.and_then(|s| s.max_capacity()),
            seconds_until_auto_pause: scaling.and_then(|s| s.seconds_until_auto_pause()),
            protect: c.deletion_protection(),
            express: c.internet_access_gateway_enabled() == Some(true),
            http_endpoint: c.http_endpoint_enabled(),
        };
        let ready = c.status() == Some("available")
            && c.http_endpoint_enabled() == Some(true)
            && writer_status(&self.0, &c).await?.as_deref() == Some("available");
        Ok(Found::ours(Life::Live(state), outputs(&c, ready)?))
    }

    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        mut changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let Some(current) = seen.state.live() else {
            return changes;
        };
        if !current.express {
            // Made with the full configuration: not convertible, so replaced.
            changes.push(FieldChange { replaces: true, ..change("express", false, true) });
        }
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
            .with_express_configuration(true)
            .engine("aurora-postgresql")
            .master_username(&p.master_username)
            .serverless_v2_scaling_configuration(scaling(p))
            .deletion_protection(p.protect)
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
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.0
            .rds
            .modify_db_cluster()
            .db_cluster_identifier(&target.physical_name)
            .serverless_v2_scaling_configuration(scaling(p))
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
        let Some(c) = describe(&self.0, &target.physical_name).await? else {
            return Ok(Progress::Done(outputs.clone()));
        };
        if c.status() != Some("available") {
            return Ok(Progress::Pending(format!("cluster {}", c.status().unwrap_or("unknown"))));
        }
        match writer_status(&self.0, &c).await?.as_deref() {
            Some("available") => {}
            other => {
                return Ok(Progress::Pending(format!(
                    "writer {}",
                    other.unwrap_or("not listed yet")
                )))
            }
        }
        if c.http_endpoint_enabled() != Some(true) {
            enable_data_api(&self.0, &outputs.arn).await?;
            return Ok(Progress::Pending("enabling the Data API".into()));
        }
        Ok(Progress::Done(self::outputs(&c, true)?))
    }

    async fn delete(
        &self,
        target: &Target,
        _p: &Properties,
        seen: &SeenOf<Self>,
    ) -> CloudResult<()> {
        match &seen.state {
            Life::Deleting { .. } => Ok(()),
            Life::Live(c) => {
                super::rds_cluster::remove(&self.0, &target.physical_name, c.protect == Some(true))
                    .await
            }
        }
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        super::rds_cluster::remove(&self.0, &orphan.name, false).await
    }
}
