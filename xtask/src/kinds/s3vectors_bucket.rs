//! An S3 Vectors bucket: the Knowledge Base's vector store, which costs nothing while idle.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{tags_with_created_at, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "s3vectors.bucket",
    name_style: NameStyle::Dashed,
    attributes: &["arn", "name"],
    ready_attributes: &[],
    deadline_secs: 300,
    cascades: false,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {}

pub(super) const NOT_FOUND: &[&str] = &[
    "NotFoundException",
    "NoSuchVectorBucket",
    "ResourceNotFoundException",
];

pub struct VectorBucket(pub Clients);

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

fn outputs(arn: &str, name: &str) -> Outputs {
    [
        ("arn".to_string(), json!(arn)),
        ("name".to_string(), json!(name)),
    ]
    .into_iter()
    .collect()
}

#[async_trait]
impl ResourceKind for VectorBucket {
    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
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
        Ok(Some(Observed {
            owned: names::is_owned(&target.tags, &tags_of(&self.0, &arn).await?),
            properties: json!({}),
            outputs: outputs(&arn, &target.physical_name),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
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
        let arn = out
            .vector_bucket()
            .map(|b| b.vector_bucket_arn().to_string())
            .unwrap_or_default();
        Ok(outputs(&arn, &target.physical_name))
    }

    async fn update(
        &self,
        _target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        Ok(observed.outputs.clone())
    }

    async fn delete(&self, target: &Target, _observed: &Observed) -> CloudResult<()> {
        self.0
            .s3vectors
            .delete_vector_bucket()
            .vector_bucket_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}
