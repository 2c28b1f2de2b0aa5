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
use serde_json::json;

use super::{
    client_token, first_in_pages, propagation, properties, tags_with_created_at, KindInfo,
};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Observed, Outputs, Progress, ResourceKind, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "bedrock.knowledge_base",
    name_style: NameStyle::Dashed,
    attributes: &["id", "arn", "name"],
    ready_attributes: &["id"],
    deadline_secs: 900,
    cascades: false,
    files: &[],
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

pub struct KnowledgeBase(pub Clients);

fn outputs(id: &str, arn: &str, name: &str) -> Outputs {
    [("id", id), ("arn", arn), ("name", name)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

impl KnowledgeBase {
    fn model_arn(&self, model: &str) -> String {
        if model.starts_with("arn:") {
            model.to_string()
        } else {
            format!(
                "arn:aws:bedrock:{}::foundation-model/{model}",
                self.0.region
            )
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
        let s3 = S3VectorsConfiguration::builder()
            .index_arn(&p.index_arn)
            .build();
        let storage = StorageConfiguration::builder()
            .r#type(KnowledgeBaseStorageType::S3Vectors)
            .s3_vectors_configuration(s3)
            .build()
            .map_err(CloudError::fatal)?;
        Ok((config, storage))
    }

    async fn find(&self, name: &str) -> CloudResult<Option<String>> {
        let pages = self
            .0
            .bedrockagent
            .list_knowledge_bases()
            .into_paginator()
            .send();
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
impl ResourceKind for KnowledgeBase {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["embedding_model", "index_arn"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let Some(id) = self.find(&target.physical_name).await? else {
            return Ok(None);
        };
        let got = self
            .0
            .bedrockagent
            .get_knowledge_base()
            .knowledge_base_id(&id)
            .send()
            .await;
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
        let tags = tags
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let p: Properties = properties(target)?;
        let model = kb
            .knowledge_base_configuration()
            .and_then(|c| c.vector_knowledge_base_configuration())
            .map(|v| v.embedding_model_arn().to_string());
        let storage = kb
            .storage_configuration()
            .and_then(|s| s.s3_vectors_configuration());
        Ok(Some(Observed {
            owned: names::is_owned(&target.tags, &tags),
            properties: json!({
                "role_arn": kb.role_arn(),
                "embedding_model": if model.as_deref() == Some(self.model_arn(&p.embedding_model).as_str()) { json!(p.embedding_model) } else { json!(model) },
                "index_arn": storage.and_then(|s| s.index_arn()),
                "status": kb.status().as_str(),
            }),
            outputs: outputs(&id, &arn, &target.physical_name),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let (config, storage) = self.configurations(&p)?;
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
        Ok(outputs(
            kb.knowledge_base_id(),
            kb.knowledge_base_arn(),
            &target.physical_name,
        ))
    }

    async fn update(
        &self,
        target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let id = observed.outputs["id"].as_str().unwrap_or_default();
        let (config, storage) = self.configurations(&p)?;
        self.0
            .bedrockagent
            .update_knowledge_base()
            .knowledge_base_id(id)
            .name(&target.physical_name)
            .role_arn(&p.role_arn)
            .knowledge_base_configuration(config)
            .storage_configuration(storage)
            .send()
            .await
            .map_err(|e| propagation(classify(e, NOT_FOUND)))?;
        Ok(observed.outputs.clone())
    }

    async fn poll_ready(&self, _target: &Target, outputs: &Outputs) -> CloudResult<Progress> {
        let id = outputs["id"].as_str().unwrap_or_default();
        let out = self
            .0
            .bedrockagent
            .get_knowledge_base()
            .knowledge_base_id(id)
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

    async fn delete(&self, _target: &Target, observed: &Observed) -> CloudResult<()> {
        if observed.properties["status"] == json!("DELETING") {
            return Ok(());
        }
        let id = observed.outputs["id"].as_str().unwrap_or_default();
        self.0
            .bedrockagent
            .delete_knowledge_base()
            .knowledge_base_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}
