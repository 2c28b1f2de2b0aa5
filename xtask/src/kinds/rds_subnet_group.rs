//! A DB subnet group over the private subnets (two availability zones at least).

use async_trait::async_trait;
use aws_sdk_rds::types::Tag;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ec2_vpc::dependency_wait;
use super::{properties, tags_with_created_at, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{found, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "rds.db_subnet_group",
    name_style: NameStyle::Dashed,
    attributes: &["name", "arn"],
    ready_attributes: &[],
    deadline_secs: 900,
    cascades: false,
    files: &[],
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

pub struct SubnetGroup(pub Clients);

pub(super) fn rds_tags(target: &Target) -> Vec<Tag> {
    tags_with_created_at(target)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(super) fn tag_map(tags: &[Tag]) -> std::collections::BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
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

fn outputs(name: &str, arn: Option<&str>) -> Outputs {
    [
        ("name".to_string(), json!(name)),
        ("arn".to_string(), json!(arn)),
    ]
    .into_iter()
    .collect()
}

#[async_trait]
impl ResourceKind for SubnetGroup {
    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
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
        let arn = g.db_subnet_group_arn().unwrap_or_default();
        let mut subnets: Vec<&str> = g
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier())
            .collect();
        subnets.sort();
        Ok(Some(Observed {
            owned: names::is_owned(&target.tags, &tags_of(&self.0, arn).await?),
            properties: json!({"subnet_ids": subnets, "description": g.db_subnet_group_description()}),
            outputs: outputs(&target.physical_name, Some(arn)),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&target.physical_name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids))
            .set_tags(Some(rds_tags(target)))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(outputs(
            &target.physical_name,
            out.db_subnet_group().and_then(|g| g.db_subnet_group_arn()),
        ))
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
            .modify_db_subnet_group()
            .db_subnet_group_name(&target.physical_name)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(observed.outputs.clone())
    }

    async fn delete(&self, target: &Target, _observed: &Observed) -> CloudResult<()> {
        self.0
            .rds
            .delete_db_subnet_group()
            .db_subnet_group_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| dependency_wait(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}
