//! A Bedrock Knowledge Base: VECTOR, an embedding model, S3 Vectors storage named by the index's
//! ARN alone (S3VectorsConfiguration takes `indexArn`, or `indexName` with `vectorBucketArn`,
//! never both: the AWS provider for Terraform documents `index_arn` as conflicting with the other
//! two). Its `id` is ready only once the Knowledge Base is ACTIVE, so that a data source is never
//! created on one still CREATING. Right after its role is created, creation can fail with 403 or
//! validation errors while IAM propagates: those are retried, bounded by the deadline. Deletion
//! is asynchronous: the engine waits until gone.

use async_trait::async_trait;
use aws_sdk_bedrockagent::types::{
    KnowledgeBaseConfiguration, KnowledgeBaseStorageType, KnowledgeBaseType,
    S3VectorsConfiguration, StorageConfiguration, VectorKnowledgeBaseConfiguration,
};
use serde::{Deserialize, Serialize};

use super::{client_token, first_in_pages, propagation, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, Progress,
    SeenOf, Target,
};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "bedrock.knowledge_base",
    attributes: &["id", "arn", "name"],
    ready_attributes: &["id"],
    deadline_secs: 900,
    // Source: none published for CreateKnowledgeBase to ACTIVE with S3 Vectors (searched 2026-12):
    // 45 s, an estimate. Delete: estimate.
    sim: Sim { call: 1.0, ready: 45.0, gone: 30.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub role_arn: String,
    #[serde(default = "default_model")]
    pub embedding_model: String,
    pub index_arn: String,
}

fn default_model() -> String {
    "amazon.titan-embed-text-v2:0".into()
}

pub(super) const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// The properties as found, and the Knowledge Base's status.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    role_arn: Option<String>,
    embedding_model: Option<String>,
    index_arn: Option<String>,
    status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub arn: String,
    pub name: String,
}

pub struct KnowledgeBase(pub Clients);

impl KnowledgeBase {
    fn model_arn(&self, model: &str) -> String {
        if model.starts_with("arn:") {
            model.to_string()
        } else {
            format!("arn:aws:bedrock:{}::foundation-model/{model}", self.0.region)
        }
    }

    fn configurations(
        &self,
        p: &Properties,
    ) -> CloudResult<(KnowledgeBaseConfiguration, StorageConfiguration)> {
        let vector = VectorKnowledgeBaseConfiguration::builder()
            .embedding_model_arn(self.model_arn(&p.embedding_model))
            .build()
            .map_err(CloudError::fatal)?;
        let config = KnowledgeBaseConfiguration::builder()
            .r#type(KnowledgeBaseType::Vector)
            .vector_knowledge_base_configuration(vector)
            .build()
            .map_err(CloudError::fatal)?;
        let s3 = S3VectorsConfiguration::builder().index_arn(&p.index_arn).build();
        let storage = StorageConfiguration::builder()
            .r#type(KnowledgeBaseStorageType::S3Vectors)
            .s3_vectors_configuration(s3)
            .build()
            .map_err(CloudError::fatal)?;
        Ok((config, storage))
    }

    async fn remove(&self, id: &str) -> CloudResult<()> {
        self.0
            .bedrockagent
            .delete_knowledge_base()
            .knowledge_base_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }

    async fn find(&self, name: &str) -> CloudResult<Option<String>> {
        let pages = self.0.bedrockagent.list_knowledge_bases().into_paginator().send();
        first_in_pages(pages, NOT_FOUND, |page| {
            page.knowledge_base_summaries()
                .iter()
                .find(|k| k.name() == name)
                .map(|k| k.knowledge_base_id().to_string())
        })
        .await
    }
}

#[async_trait]
impl Kind for KnowledgeBase {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["embedding_model", "index_arn"];

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let Some(id) = self.find(&target.physical_name).await? else {
            return Ok(None);
        };
        let got = self.0.bedrockagent.get_knowledge_base().knowledge_base_id(&id).send().await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let kb = out
            .knowledge_base
            .ok_or_else(|| CloudError::Fatal("GetKnowledgeBase returned nothing".into()))?;
        let arn = kb.knowledge_base_arn().to_string();
        let tags = self
            .0
            .bedrockagent
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let tags = tags.tags().cloned().unwrap_or_default().into_iter().collect();
        if !names::is_owned(&target.tags, &tags) {
            return Ok(Some(Found::Foreign));
        }
        let model = kb
            .knowledge_base_configuration()
            .and_then(|c| c.vector_knowledge_base_configuration())
            .map(|v| v.embedding_model_arn().to_string());
        let same_model = model.as_deref() == Some(self.model_arn(&p.embedding_model).as_str());
        let state = State {
            role_arn: Some(kb.role_arn().to_string()),
            embedding_model: if same_model { Some(p.embedding_model.clone()) } else { model },
            index_arn: kb
                .storage_configuration()
                .and_then(|s| s.s3_vectors_configuration())
                .and_then(|s| s.index_arn())
                .map(str::to_string),
            status: kb.status().as_str().to_string(),
        };
        let name = target.physical_name.clone();
        Ok(Found::ours(state, Outputs { id, arn, name }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let (config, storage) = self.configurations(p)?;
        let out = self
            .0
            .bedrockagent
            .create_knowledge_base()
            .name(&target.physical_name)
            .role_arn(&p.role_arn)
            .knowledge_base_configuration(config)
            .storage_configuration(storage)
            .client_token(client_token(target, "create"))
            .set_tags(Some(tags_with_created_at(target).into_iter().collect()))
            .send()
            .await
            .map_err(|e| propagation(classify(e, NOT_FOUND)))?;
        let kb = out
            .knowledge_base
            .ok_or_else(|| CloudError::Fatal("CreateKnowledgeBase returned nothing".into()))?;
        Ok(Outputs {
            id: kb.knowledge_base_id().to_string(),
            arn: kb.knowledge_base_arn().to_string(),
            name: target.physical_name.clone(),
        })
    }

    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let (config, storage) = self.configurations(p)?;
        self.0
            .bedrockagent
            .update_knowledge_base()
            .knowledge_base_id(&seen.outputs.id)
            .name(&target.physical_name)
            .role_arn(&p.role_arn)
            .knowledge_base_configuration(config)
            .storage_configuration(storage)
            .send()
            .await
            .map_err(|e| propagation(classify(e, NOT_FOUND)))?;
        Ok(seen.outputs.clone())
    }

    async fn poll_ready(
        &self,
        _t: &Target,
        _p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let out = self
            .0
            .bedrockagent
            .get_knowledge_base()
            .knowledge_base_id(&outputs.id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let kb = out
            .knowledge_base
            .ok_or_else(|| CloudError::Fatal("GetKnowledgeBase returned nothing".into()))?;
        match kb.status().as_str() {
            "ACTIVE" => Ok(Progress::Done(outputs.clone())),
            "FAILED" => Err(CloudError::Fatal(format!(
                "the Knowledge Base failed: {}",
                kb.failure_reasons().join("; ")
            ))),
            other => Ok(Progress::Pending(format!("knowledge base {other}"))),
        }
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        if seen.state.status == "DELETING" {
            return Ok(());
        }
        self.remove(&seen.outputs.id).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.id).await
    }
}
