//! A vector index: float32, the embedding model's dimension, cosine, and the Knowledge Base's
//! own keys non-filterable (without that, ingestion fails on the 2 KB filterable-metadata
//! limit). Every property is immutable: a change replaces the index.

use async_trait::async_trait;
use aws_sdk_s3vectors::types::{DataType, DistanceMetric, MetadataConfiguration};
use serde::{Deserialize, Serialize};

use super::s3vectors_bucket::{tags_of, Outputs, NOT_FOUND};
use super::{given, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, Found, Kind, Observation, SeenOf, Target, Update,
};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "s3vectors.index",
    attributes: &["arn", "name"],
    // Source: none published (CreateIndex is synchronous): 0.3 s, an estimate.
    sim: Sim { call: 0.3, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub bucket_name: String,
    #[serde(default = "default_dimension")]
    pub dimension: i32,
    #[serde(default = "default_metric")]
    pub distance_metric: String,
    #[serde(default = "default_non_filterable")]
    pub non_filterable_metadata_keys: Vec<String>,
}

fn default_dimension() -> i32 {
    1024 // Titan Text Embeddings V2
}
fn default_metric() -> String {
    "cosine".into()
}
fn default_non_filterable() -> Vec<String> {
    vec!["AMAZON_BEDROCK_TEXT".into(), "AMAZON_BEDROCK_METADATA".into()]
}

pub struct VectorIndex(pub Clients);

#[async_trait]
impl Kind for VectorIndex {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::Nothing; // every property forces replacement
    const IMMUTABLE: &'static [&'static str] =
        &["bucket_name", "dimension", "distance_metric", "non_filterable_metadata_keys"];

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let got = self
            .0
            .s3vectors
            .get_index()
            .vector_bucket_name(&p.bucket_name)
            .index_name(&target.physical_name)
            .send()
            .await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let index =
            out.index.ok_or_else(|| CloudError::Fatal("GetIndex returned no index".into()))?;
        let arn = index.index_arn().to_string();
        if !names::is_owned(&target.tags, &tags_of(&self.0, &arn).await?) {
            return Ok(Some(Found::Foreign));
        }
        let state = Properties {
            bucket_name: index.vector_bucket_name().to_string(),
            dimension: index.dimension(),
            distance_metric: index.distance_metric().as_str().to_string(),
            non_filterable_metadata_keys: index
                .metadata_configuration()
                .map(|m| m.non_filterable_metadata_keys().to_vec())
                .unwrap_or_default(),
        };
        let name = target.physical_name.clone();
        Ok(Found::ours(state, Outputs { arn, name }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        self.0
            .s3vectors
            .create_index()
            .vector_bucket_name(&p.bucket_name)
            .index_name(&target.physical_name)
            .data_type(DataType::Float32)
            .dimension(p.dimension)
            .distance_metric(DistanceMetric::from(p.distance_metric.as_str()))
            .metadata_configuration(
                MetadataConfiguration::builder()
                    .set_non_filterable_metadata_keys(Some(p.non_filterable_metadata_keys.clone()))
                    .build()
                    .map_err(CloudError::fatal)?,
            )
            .set_tags(Some(tags_with_created_at(target).into_iter().collect()))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let out = self
            .0
            .s3vectors
            .get_index()
            .vector_bucket_name(&p.bucket_name)
            .index_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(Outputs {
            arn: given(out.index().map(|i| i.index_arn()), "GetIndex")?,
            name: target.physical_name.clone(),
        })
    }

    async fn delete(
        &self,
        target: &Target,
        p: &Properties,
        _seen: &SeenOf<Self>,
    ) -> CloudResult<()> {
        self.0
            .s3vectors
            .delete_index()
            .vector_bucket_name(&p.bucket_name)
            .index_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}
