//! A VPC for the database: private only (no internet gateway, no NAT: the Data API needs none).
//! Found again by its `Name` tag and owned by its ownership tags, both set at creation.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{properties, tags_with_created_at, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "ec2.vpc",
    name_style: NameStyle::Dashed,
    attributes: &["id"],
    ready_attributes: &[],
    deadline_secs: 300,
    cascades: false,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    #[serde(deserialize_with = "super::cidr")]
    pub cidr_block: String,
}

pub(super) const NOT_FOUND: &[&str] = &[
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound",
];

/// Our tags plus `Name`, for the create call of any EC2 resource.
pub(super) fn tag_spec(kind: ResourceType, target: &Target) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    spec = spec.tags(
        Tag::builder()
            .key("Name")
            .value(&target.physical_name)
            .build(),
    );
    for (k, v) in tags_with_created_at(target) {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    spec.build()
}

pub(super) fn by_name(target: &Target) -> Filter {
    Filter::builder()
        .name("tag:Name")
        .values(&target.physical_name)
        .build()
}

pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

pub struct Vpc(pub Clients);

#[async_trait]
impl ResourceKind for Vpc {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["cidr_block"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let out = self
            .0
            .ec2
            .describe_vpcs()
            .filters(by_name(target))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let vpcs = out.vpcs();
        let Some(vpc) = vpcs
            .iter()
            .find(|v| names::is_owned(&target.tags, &tag_map(v.tags())))
            .or(vpcs.first())
        else {
            return Ok(None);
        };
        Ok(Some(Observed {
            owned: names::is_owned(&target.tags, &tag_map(vpc.tags())),
            properties: json!({"cidr_block": vpc.cidr_block()}),
            outputs: [("id".to_string(), json!(vpc.vpc_id()))]
                .into_iter()
                .collect(),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .ec2
            .create_vpc()
            .cidr_block(&p.cidr_block)
            .tag_specifications(tag_spec(ResourceType::Vpc, target))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(
            [("id".to_string(), json!(out.vpc().and_then(|v| v.vpc_id())))]
                .into_iter()
                .collect(),
        )
    }

    async fn update(
        &self,
        _target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        Ok(observed.outputs.clone()) // the only property forces replacement
    }

    async fn delete(&self, _target: &Target, observed: &Observed) -> CloudResult<()> {
        let id = observed.outputs["id"].as_str().unwrap_or_default();
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

/// Deleting a network resource while something still uses it (a subnet of a cluster that is
/// still deleting) is a matter of waiting.
pub(super) fn dependency_wait(e: crate::engine::CloudError) -> crate::engine::CloudError {
    e.retry_on(&["DependencyViolation", "InvalidDBSubnetGroupStateFault"])
}
