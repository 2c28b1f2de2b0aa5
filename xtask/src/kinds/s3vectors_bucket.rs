//! An S3 Vectors bucket: the Knowledge Base's vector store, which costs nothing while idle.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{given, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, Found, Kind, Observation, Orphan, SeenOf, Target, Update,
};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "s3vectors.bucket",
    attributes: &["arn", "name"],
    // Source: none published (CreateVectorBucket is synchronous): 0.3 s, an estimate.
    sim: Sim { call: 0.3, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {}

/// A vector bucket's or index's attributes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub name: String,
}

pub(super) const NOT_FOUND: &[&str] =
    &["NotFoundException", "NoSuchVectorBucket", "ResourceNotFoundException"];

pub struct VectorBucket(pub Clients);

impl VectorBucket {
    async fn remove(&self, name: &str) -> CloudResult<()> {
        self.0
            .s3vectors
            .delete_vector_bucket()
            .vector_bucket_name(name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}

pub(super) async fn tags_of(
    clients: &Clients,
    arn: &str,
) -> CloudResult<std::collections::BTreeMap<String, String>> {
    let out = clients
        .s3vectors
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| classify(e, NOT_FOUND))?;
    Ok(out.tags().clone().into_iter().collect())
}

#[async_trait]
impl Kind for VectorBucket {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::Nothing;

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let got = self
            .0
            .s3vectors
            .get_vector_bucket()
            .vector_bucket_name(&target.physical_name)
            .send()
            .await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let bucket = out
            .vector_bucket
            .ok_or_else(|| CloudError::Fatal("GetVectorBucket returned no bucket".into()))?;
        let arn = bucket.vector_bucket_arn().to_string();
        if !names::is_owned(&target.tags, &tags_of(&self.0, &arn).await?) {
            return Ok(Some(Found::Foreign));
        }
        let name = target.physical_name.clone();
        Ok(Found::ours(Properties {}, Outputs { arn, name }))
    }

    async fn create(&self, target: &Target, _p: &Properties) -> CloudResult<Outputs> {
        self.0
            .s3vectors
            .create_vector_bucket()
            .vector_bucket_name(&target.physical_name)
            .set_tags(Some(tags_with_created_at(target).into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let out = self
            .0
            .s3vectors
            .get_vector_bucket()
            .vector_bucket_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let arn = out.vector_bucket().map(|b| b.vector_bucket_arn());
        Ok(Outputs { arn: given(arn, "GetVectorBucket")?, name: target.physical_name.clone() })
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
