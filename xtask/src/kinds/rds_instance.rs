//! The cluster's `db.serverless` writer instance: the Data API needs it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rds_cluster::busy;
use super::rds_subnet_group::{is_ours, rds_tags, NOT_FOUND};
use super::{properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    CloudError, CloudResult, FieldChange, Observed, Outputs, Progress, ResourceKind, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "rds.instance",
    name_style: NameStyle::Dashed,
    attributes: &["id", "arn", "endpoint"],
    ready_attributes: &["endpoint"],
    deadline_secs: 3600,
    cascades: false,
    files: &[],
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

impl Instance {
    async fn describe(&self, id: &str) -> CloudResult<Option<aws_sdk_rds::types::DbInstance>> {
        match self
            .0
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
}

fn outputs(i: &aws_sdk_rds::types::DbInstance, ready: bool) -> Outputs {
    let mut o: Outputs = [
        ("id", json!(i.db_instance_identifier())),
        ("arn", json!(i.db_instance_arn())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if ready {
        o.insert(
            "endpoint".into(),
            json!(i.endpoint().and_then(|e| e.address())),
        );
    }
    o
}

#[async_trait]
impl ResourceKind for Instance {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["cluster_id"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let Some(i) = self.describe(&target.physical_name).await? else {
            return Ok(None);
        };
        // Ours by tags in every state, deleting included: what is not ours is neither deleted
        // nor passed on (no ARN in its outputs).
        if !is_ours(&self.0, i.db_instance_arn().unwrap_or_default(), target).await? {
            return Ok(Some(Observed::foreign()));
        }
        if i.db_instance_status() == Some("deleting") {
            return Ok(Some(Observed {
                owned: true,
                properties: json!({"status": "deleting"}),
                outputs: outputs(&i, false),
            }));
        }
        Ok(Some(Observed {
            owned: true,
            properties: json!({"cluster_id": i.db_cluster_identifier(), "instance_class": i.db_instance_class()}),
            outputs: outputs(&i, i.db_instance_status() == Some("available")),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
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
        Ok(outputs(i, false))
    }

    async fn update(
        &self,
        target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        self.0
            .rds
            .modify_db_instance()
            .db_instance_identifier(&target.physical_name)
            .db_instance_class(&p.instance_class)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(observed.outputs.clone())
    }

    async fn poll_ready(&self, target: &Target, outputs: &Outputs) -> CloudResult<Progress> {
        match self.describe(&target.physical_name).await? {
            Some(i) if i.db_instance_status() == Some("available") => {
                Ok(Progress::Done(self::outputs(&i, true)))
            }
            Some(i) => Ok(Progress::Pending(format!(
                "instance {}",
                i.db_instance_status().unwrap_or("unknown")
            ))),
            None => Ok(Progress::Done(outputs.clone())),
        }
    }

    async fn delete(&self, target: &Target, observed: &Observed) -> CloudResult<()> {
        if observed.properties.get("status") == Some(&json!("deleting")) {
            return Ok(());
        }
        self.0
            .rds
            .delete_db_instance()
            .db_instance_identifier(&target.physical_name)
            .skip_final_snapshot(true)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}
