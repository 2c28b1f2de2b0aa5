//! The cluster's `db.serverless` writer instance: the Data API needs it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::rds_cluster::busy;
use super::rds_subnet_group::{is_ours, rds_tags, NOT_FOUND};
use super::{given, KindInfo, Life, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, Progress, SeenOf,
    Target,
};

pub const INFO: KindInfo = KindInfo {
    kind: "rds.instance",
    attributes: &["id", "arn", "endpoint"],
    ready_attributes: &["endpoint"],
    deadline_secs: 3600,
    // Source: as rds.cluster's: the db.serverless writer takes ~8 minutes after its cluster (the
    // same "ten-minute provisioning cycle" in all, darryl-ruggles.cloud, 2026).
    sim: Sim { call: 2.0, ready: 480.0, gone: 400.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub cluster_id: String,
    #[serde(default = "serverless")]
    pub instance_class: String,
}

fn serverless() -> String {
    "db.serverless".into()
}

pub struct Instance(pub Clients);

/// The instance named `id`, if it exists (also the express cluster's writer).
pub(super) async fn describe(
    clients: &Clients,
    id: &str,
) -> CloudResult<Option<aws_sdk_rds::types::DbInstance>> {
    match clients
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .map_err(|e| classify(e, NOT_FOUND))
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(CloudError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub arn: String,
    /// Known once the instance is available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

fn outputs(i: &aws_sdk_rds::types::DbInstance) -> CloudResult<Outputs> {
    let ready = i.db_instance_status() == Some("available");
    Ok(Outputs {
        id: given(i.db_instance_identifier(), "DescribeDBInstances")?,
        arn: given(i.db_instance_arn(), "DescribeDBInstances")?,
        endpoint: ready
            .then(|| i.endpoint().and_then(|e| e.address()).map(str::to_string))
            .flatten(),
    })
}

type State = Life<Properties>;

#[async_trait]
impl Kind for Instance {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["cluster_id"];

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let Some(i) = describe(&self.0, &target.physical_name).await? else {
            return Ok(None);
        };
        // Ours by tags in every state, deleting included: what is not ours is neither deleted
        // nor passed on (no ARN in its outputs).
        if !is_ours(&self.0, i.db_instance_arn().unwrap_or_default(), target).await? {
            return Ok(Some(Found::Foreign));
        }
        if i.db_instance_status() == Some("deleting") {
            return Ok(Found::ours(Life::deleting(), outputs(&i)?));
        }
        let state = Properties {
            cluster_id: i.db_cluster_identifier().unwrap_or_default().to_string(),
            instance_class: i.db_instance_class().unwrap_or_default().to_string(),
        };
        Ok(Found::ours(Life::Live(state), outputs(&i)?))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let out = self
            .0
            .rds
            .create_db_instance()
            .db_instance_identifier(&target.physical_name)
            .db_cluster_identifier(&p.cluster_id)
            .db_instance_class(&p.instance_class)
            .engine("aurora-postgresql")
            .set_tags(Some(rds_tags(target)))
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        let i = out
            .db_instance()
            .ok_or_else(|| CloudError::Fatal("CreateDBInstance returned no instance".into()))?;
        outputs(i)
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
            .modify_db_instance()
            .db_instance_identifier(&target.physical_name)
            .db_instance_class(&p.instance_class)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(seen.outputs.clone())
    }

    async fn poll_ready(
        &self,
        target: &Target,
        _p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        match describe(&self.0, &target.physical_name).await? {
            Some(i) if i.db_instance_status() == Some("available") => {
                Ok(Progress::Done(self::outputs(&i)?))
            }
            Some(i) => Ok(Progress::Pending(format!(
                "instance {}",
                i.db_instance_status().unwrap_or("unknown")
            ))),
            None => Ok(Progress::Done(outputs.clone())),
        }
    }

    async fn delete(
        &self,
        target: &Target,
        _p: &Properties,
        seen: &SeenOf<Self>,
    ) -> CloudResult<()> {
        if seen.state.is_deleting() {
            return Ok(());
        }
        self.remove(&target.physical_name).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.name).await
    }
}

impl Instance {
    async fn remove(&self, name: &str) -> CloudResult<()> {
        self.0
            .rds
            .delete_db_instance()
            .db_instance_identifier(name)
            .skip_final_snapshot(true)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}
