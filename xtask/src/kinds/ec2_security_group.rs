//! The database's security group: no ingress rule, so nothing reaches the cluster over the
//! network; the Data API does not need any.

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ec2_vpc::{dependency_wait, tag_map, tag_spec, NOT_FOUND};
use super::{properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "ec2.security_group",
    name_style: NameStyle::Dashed,
    attributes: &["id"],
    ready_attributes: &[],
    deadline_secs: 600,
    cascades: false,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub vpc_id: String,
    pub description: String,
}

pub struct SecurityGroup(pub Clients);

#[async_trait]
impl ResourceKind for SecurityGroup {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["vpc_id", "description"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-name")
                    .values(&target.physical_name)
                    .build(),
            )
            .filters(Filter::builder().name("vpc-id").values(&p.vpc_id).build())
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let Some(sg) = out.security_groups().first() else {
            return Ok(None);
        };
        Ok(Some(Observed {
            owned: names::is_owned(&target.tags, &tag_map(sg.tags())),
            properties: json!({
                "vpc_id": sg.vpc_id(),
                "description": sg.description(),
            }),
            outputs: [("id".to_string(), json!(sg.group_id()))]
                .into_iter()
                .collect(),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .ec2
            .create_security_group()
            .group_name(&target.physical_name)
            .description(&p.description)
            .vpc_id(&p.vpc_id)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, target))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok([("id".to_string(), json!(out.group_id()))]
            .into_iter()
            .collect())
    }

    async fn update(
        &self,
        _target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        Ok(observed.outputs.clone())
    }

    async fn delete(&self, _target: &Target, observed: &Observed) -> CloudResult<()> {
        let id = observed.outputs["id"].as_str().unwrap_or_default();
        self.0
            .ec2
            .delete_security_group()
            .group_id(id)
            .send()
            .await
            .map_err(|e| dependency_wait(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}
