//! A VPC for the database: private only (no internet gateway, no NAT: the Data API needs none).
//! Found again by its `Name` tag and owned by its ownership tags, both set at creation.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde::{Deserialize, Serialize};

use super::{given, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{CloudResult, Found, Kind, Observation, Orphan, SeenOf, Target, Update};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "ec2.vpc",
    attributes: &["id"],
    // Source: none published (CreateVpc answers with the VPC available): 1 s, an estimate.
    sim: Sim { call: 1.0, gone: 2.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    #[serde(deserialize_with = "super::cidr")]
    pub cidr_block: String,
}

pub(super) const NOT_FOUND: &[&str] =
    &["InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound"];

/// Our tags plus `Name`, for the create call of any EC2 resource.
pub(super) fn tag_spec(kind: ResourceType, target: &Target) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    spec = spec.tags(Tag::builder().key("Name").value(&target.physical_name).build());
    for (k, v) in tags_with_created_at(target) {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    spec.build()
}

pub(super) fn by_name(target: &Target) -> Filter {
    Filter::builder().name("tag:Name").values(&target.physical_name).build()
}

/// Of the resources found by `Name`, the one with our tags, else the first, and whether it is
/// ours.
pub(super) fn by_tags<'a, T>(
    found: &'a [T],
    tags: impl Fn(&T) -> &[Tag],
    target: &Target,
) -> Option<(&'a T, bool)> {
    let ours = |r: &T| names::is_owned(&target.tags, &tag_map(tags(r)));
    found.iter().find(|r| ours(r)).or(found.first()).map(|r| (r, ours(r)))
}

pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())
        })
        .collect()
}

/// The id of an EC2 resource (a VPC, a subnet, a security group).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Id {
    pub id: String,
}

pub struct Vpc(pub Clients);

impl Vpc {
    async fn remove(&self, id: &str) -> CloudResult<()> {
        self.0
            .ec2
            .delete_vpc()
            .vpc_id(id)
            .send()
            .await
            .map_err(|e| dependency_wait(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

#[async_trait]
impl Kind for Vpc {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Id;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::Nothing; // the only property forces replacement
    const IMMUTABLE: &'static [&'static str] = &["cidr_block"];

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let out = self
            .0
            .ec2
            .describe_vpcs()
            .filters(by_name(target))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let Some((vpc, owned)) = by_tags(out.vpcs(), |v| v.tags(), target) else {
            return Ok(None);
        };
        if !owned {
            return Ok(Some(Found::Foreign));
        }
        let state = Properties { cidr_block: vpc.cidr_block().unwrap_or_default().to_string() };
        Ok(Found::ours(state, Id { id: given(vpc.vpc_id(), "DescribeVpcs")? }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Id> {
        let out = self
            .0
            .ec2
            .create_vpc()
            .cidr_block(&p.cidr_block)
            .tag_specifications(tag_spec(ResourceType::Vpc, target))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(Id { id: given(out.vpc().and_then(|v| v.vpc_id()), "CreateVpc")? })
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        self.remove(&seen.outputs.id).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.id).await
    }
}

/// Deleting a network resource while something still uses it (a subnet of a cluster that is
/// still deleting) is a matter of waiting.
pub(super) fn dependency_wait(e: crate::engine::CloudError) -> crate::engine::CloudError {
    e.retry_on(&["DependencyViolation", "InvalidDBSubnetGroupStateFault"])
}
