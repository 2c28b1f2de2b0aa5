//! The database's security group: no ingress rule, so nothing reaches the cluster over the
//! network; the Data API does not need any.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::ec2_vpc::{dependency_wait, tag_spec, Id, NOT_FOUND};
use super::{given, KindInfo};
use crate::cloud::Clients;
use crate::engine::{CloudResult, Found, Kind, Observation, Orphan, SeenOf, Target, Update};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "ec2.security_group",
    attributes: &["id"],
    deadline_secs: 600,
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub vpc_id: String,
    pub description: String,
}

pub struct SecurityGroup(pub Clients);

impl SecurityGroup {
    async fn remove(&self, id: &str) -> CloudResult<()> {
        self.0
            .ec2
            .delete_security_group()
            .param("GroupId", id)
            .send()
            .await
            .map_err(|e| dependency_wait(e.classify(NOT_FOUND)))?;
        Ok(())
    }
}

#[async_trait]
impl Kind for SecurityGroup {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Id;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::Nothing;
    const IMMUTABLE: &'static [&'static str] = &["vpc_id", "description"];

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let out = self
            .0
            .ec2
            .describe_security_groups()
            .filter("group-name", &[&target.physical_name])
            .filter("vpc-id", &[&p.vpc_id])
            .send()
            .await
            .map_err(|e| e.classify(NOT_FOUND))?;
        let Some(sg) = out.items("securityGroupInfo").into_iter().next() else {
            return Ok(None);
        };
        if !names::is_owned(&target.tags, &sg.tags()) {
            return Ok(Some(Found::Foreign));
        }
        let state = Properties {
            vpc_id: sg.get("vpcId").unwrap_or_default().to_string(),
            description: sg.get("groupDescription").unwrap_or_default().to_string(),
        };
        Ok(Found::ours(state, Id { id: given(sg.get("groupId"), "DescribeSecurityGroups")? }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Id> {
        let request = self
            .0
            .ec2
            .create_security_group()
            .param("GroupName", &target.physical_name)
            .param("GroupDescription", &p.description)
            .param("VpcId", &p.vpc_id);
        let out = tag_spec(request, "security-group", target)
            .send()
            .await
            .map_err(|e| e.classify(NOT_FOUND))?;
        Ok(Id { id: given(out.get("groupId"), "CreateSecurityGroup")? })
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        self.remove(&seen.outputs.id).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.id).await
    }
}
