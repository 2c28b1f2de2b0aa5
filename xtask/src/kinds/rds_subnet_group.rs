//! A DB subnet group over the private subnets (two availability zones at least).

use async_trait::async_trait;
use aws_sdk_rds::types::Tag;
use serde::{Deserialize, Serialize};

use super::ec2_vpc::dependency_wait;
use super::{given, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudResult, FieldChange, Found, Kind, Observation, Orphan, SeenOf, Target,
};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "rds.db_subnet_group",
    attributes: &["name", "arn"],
    deadline_secs: 900,
    // Source: none published (CreateDBSubnetGroup is synchronous): 0.5 s, an estimate.
    sim: Sim { call: 0.5, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub subnet_ids: Vec<String>,
    pub description: String,
}

pub(super) const NOT_FOUND: &[&str] = &[
    "DBSubnetGroupNotFoundFault",
    "DBClusterNotFoundFault",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub name: String,
    pub arn: String,
}

pub struct SubnetGroup(pub Clients);

impl SubnetGroup {
    async fn remove(&self, name: &str) -> CloudResult<()> {
        self.0
            .rds
            .delete_db_subnet_group()
            .db_subnet_group_name(name)
            .send()
            .await
            .map_err(|e| dependency_wait(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

pub(super) fn rds_tags(target: &Target) -> Vec<Tag> {
    tags_with_created_at(target)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(super) fn tag_map(tags: &[Tag]) -> std::collections::BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())
        })
        .collect()
}

/// RDS reports tags in its describe calls only for some resources: ask for them.
pub(super) async fn tags_of(
    clients: &Clients,
    arn: &str,
) -> CloudResult<std::collections::BTreeMap<String, String>> {
    let out = clients
        .rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| classify(e, NOT_FOUND))?;
    Ok(tag_map(out.tag_list()))
}

/// Whether the RDS resource `arn` carries `target`'s ownership tags, whatever state it is in
/// (one that is gone meanwhile is not ours either).
pub(super) async fn is_ours(clients: &Clients, arn: &str, target: &Target) -> CloudResult<bool> {
    let tags = found(tags_of(clients, arn).await)?;
    Ok(tags.is_some_and(|t| names::is_owned(&target.tags, &t)))
}

#[async_trait]
impl Kind for SubnetGroup {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let got = self
            .0
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&target.physical_name)
            .send()
            .await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let Some(g) = out.db_subnet_groups().first() else {
            return Ok(None);
        };
        let arn = given(g.db_subnet_group_arn(), "DescribeDBSubnetGroups")?;
        if !names::is_owned(&target.tags, &tags_of(&self.0, &arn).await?) {
            return Ok(Some(Found::Foreign));
        }
        let mut subnet_ids: Vec<String> =
            g.subnets().iter().filter_map(|s| s.subnet_identifier().map(str::to_string)).collect();
        subnet_ids.sort();
        let state = Properties {
            subnet_ids,
            description: g.db_subnet_group_description().unwrap_or_default().to_string(),
        };
        let name = target.physical_name.clone();
        Ok(Found::ours(state, Outputs { name, arn }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let out = self
            .0
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&target.physical_name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone()))
            .set_tags(Some(rds_tags(target)))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let arn = out.db_subnet_group().and_then(|g| g.db_subnet_group_arn());
        Ok(Outputs { name: target.physical_name.clone(), arn: given(arn, "CreateDBSubnetGroup")? })
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
            .modify_db_subnet_group()
            .db_subnet_group_name(&target.physical_name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone()))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(seen.outputs.clone())
    }

    async fn delete(
        &self,
        target: &Target,
        _p: &Properties,
        _seen: &SeenOf<Self>,
    ) -> CloudResult<()> {
        self.remove(&target.physical_name).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.name).await
    }
}
