//! A private subnet in one availability zone (Aurora wants a subnet group over two).

use async_trait::async_trait;
use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ec2_vpc::{by_name, dependency_wait, tag_map, tag_spec, NOT_FOUND};
use super::{properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    CloudError, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "ec2.subnet",
    name_style: NameStyle::Dashed,
    attributes: &["id", "availability_zone"],
    ready_attributes: &[],
    deadline_secs: 300,
    cascades: false,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub vpc_id: String,
    #[serde(deserialize_with = "super::cidr")]
    pub cidr_block: String,
    /// Which of the region's availability zones, in name order (0 is the first).
    pub zone_index: usize,
}

pub struct Subnet(pub Clients);

fn outputs(id: Option<&str>, zone: Option<&str>) -> Outputs {
    [
        ("id".to_string(), json!(id)),
        ("availability_zone".to_string(), json!(zone)),
    ]
    .into_iter()
    .collect()
}

#[async_trait]
impl ResourceKind for Subnet {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["vpc_id", "cidr_block", "zone_index"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .ec2
            .describe_subnets()
            .filters(by_name(target))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let subnets = out.subnets();
        let Some(s) = subnets
            .iter()
            .find(|s| names::is_owned(&target.tags, &tag_map(s.tags())))
            .or(subnets.first())
        else {
            return Ok(None);
        };
        let zones = self.zones().await?;
        let zone_index = zones
            .iter()
            .position(|z| Some(z.as_str()) == s.availability_zone());
        Ok(Some(Observed {
            owned: names::is_owned(&target.tags, &tag_map(s.tags())),
            properties: json!({"vpc_id": s.vpc_id(), "cidr_block": s.cidr_block(), "zone_index": zone_index.unwrap_or(p.zone_index)}),
            outputs: outputs(s.subnet_id(), s.availability_zone()),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let zones = self.zones().await?;
        let zone = zones.get(p.zone_index).ok_or_else(|| {
            CloudError::Fatal(format!(
                "zone_index {} but the region has {} availability zones",
                p.zone_index,
                zones.len()
            ))
        })?;
        let out = self
            .0
            .ec2
            .create_subnet()
            .vpc_id(&p.vpc_id)
            .cidr_block(&p.cidr_block)
            .availability_zone(zone)
            .tag_specifications(tag_spec(ResourceType::Subnet, target))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let s = out.subnet();
        Ok(outputs(
            s.and_then(|s| s.subnet_id()),
            s.and_then(|s| s.availability_zone()),
        ))
    }

    async fn update(
        &self,
        _target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        Ok(observed.outputs.clone()) // every property forces replacement
    }

    async fn delete(&self, _target: &Target, observed: &Observed) -> CloudResult<()> {
        let id = observed.outputs["id"].as_str().unwrap_or_default();
        self.0
            .ec2
            .delete_subnet()
            .subnet_id(id)
            .send()
            .await
            .map_err(|e| dependency_wait(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

impl Subnet {
    async fn zones(&self) -> CloudResult<Vec<String>> {
        let out = self
            .0
            .ec2
            .describe_availability_zones()
            // Standard zones only: Local and Wavelength Zones (whose names sort first, e.g.
            // us-east-1-bos-1a) have no Aurora.
            .filters(
                Filter::builder()
                    .name("zone-type")
                    .values("availability-zone")
                    .build(),
            )
            .filters(Filter::builder().name("state").values("available").build())
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let mut zones: Vec<String> = out
            .availability_zones()
            .iter()
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect();
        zones.sort();
        Ok(zones)
    }
}
