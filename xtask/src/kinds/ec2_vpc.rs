//! A VPC for the database: private only (no internet gateway, no NAT: the Data API needs none).
//! Found again by its `Name` tag and owned by its ownership tags, both set at creation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{given, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::ec2::{Element, Request};
use crate::cloud::Clients;
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
pub(super) fn tag_spec<'a>(
    request: Request<'a>,
    resource_type: &str,
    target: &Target,
) -> Request<'a> {
    let mut tags = vec![("Name".to_string(), target.physical_name.clone())];
    tags.extend(tags_with_created_at(target));
    request.tags(resource_type, &tags)
}

/// Those named `target`'s physical name (EC2 names are `Name` tags).
pub(super) fn by_name<'a>(request: Request<'a>, target: &Target) -> Request<'a> {
    request.filter("tag:Name", &[&target.physical_name])
}

/// Of the resources found by `Name`, the one with our tags, else the first, and whether it is
/// ours.
pub(super) fn by_tags<'a>(found: &[&'a Element], target: &Target) -> Option<(&'a Element, bool)> {
    let ours = |r: &Element| names::is_owned(&target.tags, &r.tags());
    found.iter().copied().find(|r| ours(r)).or(found.first().copied()).map(|r| (r, ours(r)))
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
            .param("VpcId", id)
            .send()
            .await
            .map_err(|e| dependency_wait(e.classify(NOT_FOUND)))?;
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
        let out = by_name(self.0.ec2.describe_vpcs(), target)
            .send()
            .await
            .map_err(|e| e.classify(NOT_FOUND))?;
        let Some((vpc, owned)) = by_tags(&out.items("vpcSet"), target) else {
            return Ok(None);
        };
        if !owned {
            return Ok(Some(Found::Foreign));
        }
        let state = Properties { cidr_block: vpc.get("cidrBlock").unwrap_or_default().to_string() };
        Ok(Found::ours(state, Id { id: given(vpc.get("vpcId"), "DescribeVpcs")? }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Id> {
        let request = self.0.ec2.create_vpc().param("CidrBlock", &p.cidr_block);
        let out =
            tag_spec(request, "vpc", target).send().await.map_err(|e| e.classify(NOT_FOUND))?;
        Ok(Id { id: given(out.child("vpc").and_then(|v| v.get("vpcId")), "CreateVpc")? })
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
