//! A private subnet in one availability zone (Aurora wants a subnet group over two).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::ec2_vpc::{by_name, by_tags, dependency_wait, tag_spec, NOT_FOUND};
use super::{given, KindInfo, Sim, SIM};
use crate::cloud::ec2::Element;
use crate::cloud::Clients;
use crate::engine::{
    CloudError, CloudResult, Found, Kind, Observation, Orphan, SeenOf, Target, Update,
};

pub const INFO: KindInfo = KindInfo {
    kind: "ec2.subnet",
    attributes: &["id", "availability_zone"],
    // Source: none published (CreateSubnet answers with the subnet available): 1 s, an estimate.
    sim: Sim { call: 1.0, gone: 2.0, ..SIM },
    ..KindInfo::DEFAULT
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub availability_zone: String,
}

pub struct Subnet(pub Clients);

fn outputs(s: &Element, call: &str) -> CloudResult<Outputs> {
    Ok(Outputs {
        id: given(s.get("subnetId"), call)?,
        availability_zone: given(s.get("availabilityZone"), call)?,
    })
}

#[async_trait]
impl Kind for Subnet {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::Nothing; // every property forces replacement
    const IMMUTABLE: &'static [&'static str] = &["vpc_id", "cidr_block", "zone_index"];

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let out = by_name(self.0.ec2.describe_subnets(), target)
            .send()
            .await
            .map_err(|e| e.classify(NOT_FOUND))?;
        let Some((s, owned)) = by_tags(&out.items("subnetSet"), target) else {
            return Ok(None);
        };
        if !owned {
            return Ok(Some(Found::Foreign));
        }
        let zones = self.zones().await?;
        let zone_index = zones.iter().position(|z| Some(z.as_str()) == s.get("availabilityZone"));
        let state = Properties {
            vpc_id: s.get("vpcId").unwrap_or_default().to_string(),
            cidr_block: s.get("cidrBlock").unwrap_or_default().to_string(),
            zone_index: zone_index.unwrap_or(p.zone_index),
        };
        Ok(Found::ours(state, outputs(s, "DescribeSubnets")?))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let zones = self.zones().await?;
        let zone = zones.get(p.zone_index).ok_or_else(|| {
            CloudError::Fatal(format!(
                "zone_index {} but the region has {} availability zones",
                p.zone_index,
                zones.len()
            ))
        })?;
        let request = self
            .0
            .ec2
            .create_subnet()
            .param("VpcId", &p.vpc_id)
            .param("CidrBlock", &p.cidr_block)
            .param("AvailabilityZone", zone);
        let out =
            tag_spec(request, "subnet", target).send().await.map_err(|e| e.classify(NOT_FOUND))?;
        let s = out
            .child("subnet")
            .ok_or_else(|| CloudError::Fatal("CreateSubnet returned no subnet".into()))?;
        outputs(s, "CreateSubnet")
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        self.remove(&seen.outputs.id).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.id).await
    }
}

impl Subnet {
    async fn remove(&self, id: &str) -> CloudResult<()> {
        self.0
            .ec2
            .delete_subnet()
            .param("SubnetId", id)
            .send()
            .await
            .map_err(|e| dependency_wait(e.classify(NOT_FOUND)))?;
        Ok(())
    }

    async fn zones(&self) -> CloudResult<Vec<String>> {
        let out = self
            .0
            .ec2
            .describe_availability_zones()
            // Standard zones only: Local and Wavelength Zones (whose names sort first, e.g.
            // us-east-1-bos-1a) have no Aurora.
            .filter("zone-type", &["availability-zone"])
            .filter("state", &["available"])
            .send()
            .await
            .map_err(|e| e.classify(NOT_FOUND))?;
        let mut zones: Vec<String> = out
            .items("availabilityZoneInfo")
            .into_iter()
            .filter_map(|z| z.get("zoneName").map(str::to_string))
            .collect();
        zones.sort();
        Ok(zones)
    }
}
