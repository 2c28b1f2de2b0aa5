//! The Knowledge Base's S3 data source, with the stack's chunking and `dataDeletionPolicy DELETE`:
//! a data source that is replaced (new chunking) or destroyed takes its vectors with it, so that
//! retrieval never returns chunks of a data source that no longer exists. Where that deletion
//! fails (DELETE_UNSUCCESSFUL, for instance when the vectors are already gone) the policy is set
//! to RETAIN and the data source deleted again; a data source made with RETAIN by an earlier
//! version is switched to DELETE before it is deleted.

use async_trait::async_trait;
use aws_sdk_bedrockagent::types::{
    ChunkingConfiguration, ChunkingStrategy, DataDeletionPolicy, DataSourceConfiguration,
    DataSourceType, FixedSizeChunkingConfiguration, S3DataSourceConfiguration,
    VectorIngestionConfiguration,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::bedrock_knowledge_base::NOT_FOUND;
use super::{client_token, properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Observed, Outputs, Progress, ResourceKind, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "bedrock.data_source",
    name_style: NameStyle::Dashed,
    attributes: &["id", "knowledge_base_id"],
    ready_attributes: &[],
    deadline_secs: 600,
    cascades: false,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub knowledge_base_id: String,
    pub bucket_arn: String,
    #[serde(default)]
    pub inclusion_prefixes: Vec<String>,
    #[serde(default = "default_tokens")]
    pub chunk_max_tokens: i32,
    #[serde(default = "default_overlap")]
    pub chunk_overlap_percentage: i32,
}

fn default_tokens() -> i32 {
    300
}
fn default_overlap() -> i32 {
    20
}

pub struct DataSource(pub Clients);

impl DataSource {
    /// UpdateDataSource with the stack's settings, the existing chunking and `policy`. "You can't
    /// change the chunkingConfiguration after you create the data source connector. Specify the
    /// existing chunkingConfiguration." (UpdateDataSource, API reference); a data source being
    /// replaced for new chunking still has the old one.
    async fn put(
        &self,
        target: &Target,
        observed: &Observed,
        policy: DataDeletionPolicy,
    ) -> CloudResult<()> {
        let mut p: Properties = properties(target)?;
        let existing = |field: &str| observed.properties[field].as_i64().map(|v| v as i32);
        p.chunk_max_tokens = existing("chunk_max_tokens").unwrap_or(p.chunk_max_tokens);
        p.chunk_overlap_percentage =
            existing("chunk_overlap_percentage").unwrap_or(p.chunk_overlap_percentage);
        let id = observed.outputs["id"].as_str().unwrap_or_default();
        self.0
            .bedrockagent
            .update_data_source()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(id)
            .name(&target.physical_name)
            .data_source_configuration(config(&p, &self.0.account)?)
            .vector_ingestion_configuration(chunking(&p)?)
            .data_deletion_policy(policy)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}

fn outputs(id: &str, kb: &str) -> Outputs {
    [
        ("id".to_string(), json!(id)),
        ("knowledge_base_id".to_string(), json!(kb)),
    ]
    .into_iter()
    .collect()
}

/// The documents bucket, with the account that must own it: Bedrock refuses to read a bucket
/// of that name that another account owns.
fn config(p: &Properties, account: &str) -> CloudResult<DataSourceConfiguration> {
    let s3 = S3DataSourceConfiguration::builder()
        .bucket_arn(&p.bucket_arn)
        .bucket_owner_account_id(account)
        .set_inclusion_prefixes(
            (!p.inclusion_prefixes.is_empty()).then(|| p.inclusion_prefixes.clone()),
        )
        .build()
        .map_err(CloudError::fatal)?;
    DataSourceConfiguration::builder()
        .r#type(DataSourceType::S3)
        .s3_configuration(s3)
        .build()
        .map_err(CloudError::fatal)
}

fn chunking(p: &Properties) -> CloudResult<VectorIngestionConfiguration> {
    let fixed = FixedSizeChunkingConfiguration::builder()
        .max_tokens(p.chunk_max_tokens)
        .overlap_percentage(p.chunk_overlap_percentage)
        .build()
        .map_err(CloudError::fatal)?;
    let chunking = ChunkingConfiguration::builder()
        .chunking_strategy(ChunkingStrategy::FixedSize)
        .fixed_size_chunking_configuration(fixed)
        .build()
        .map_err(CloudError::fatal)?;
    Ok(VectorIngestionConfiguration::builder()
        .chunking_configuration(chunking)
        .build())
}

#[async_trait]
impl ResourceKind for DataSource {
    fn immutable_fields(&self) -> &'static [&'static str] {
        // Bedrock does not change the chunking of an existing data source.
        &[
            "knowledge_base_id",
            "chunk_max_tokens",
            "chunk_overlap_percentage",
        ]
    }

    /// Besides the properties: the bucket's owner account, which the data source must name.
    fn diff(&self, target: &Target, observed: &Observed) -> Vec<FieldChange> {
        let mut changes = crate::engine::diff_properties(
            &target.properties,
            &observed.properties,
            self.immutable_fields(),
        );
        let owner = &observed.properties["bucket_owner_account_id"];
        if *owner != json!(self.0.account) {
            changes.push(FieldChange {
                field: "bucket_owner_account_id".into(),
                current: owner.clone(),
                desired: json!(self.0.account),
                replaces: false,
            });
        }
        changes
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let p: Properties = properties(target)?;
        let list = self
            .0
            .bedrockagent
            .list_data_sources()
            .knowledge_base_id(&p.knowledge_base_id)
            .send()
            .await;
        let Some(list) = found(list.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let Some(id) = list
            .data_source_summaries()
            .iter()
            .find(|d| d.name() == target.physical_name)
            .map(|d| d.data_source_id().to_string())
        else {
            return Ok(None);
        };
        let got = self
            .0
            .bedrockagent
            .get_data_source()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(&id)
            .send()
            .await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let ds = out
            .data_source
            .ok_or_else(|| CloudError::Fatal("GetDataSource returned nothing".into()))?;
        let s3 = ds
            .data_source_configuration()
            .and_then(|c| c.s3_configuration());
        let fixed = ds
            .vector_ingestion_configuration()
            .and_then(|v| v.chunking_configuration())
            .and_then(|c| c.fixed_size_chunking_configuration());
        Ok(Some(Observed {
            owned: true, // inside our Knowledge Base
            properties: json!({
                "knowledge_base_id": ds.knowledge_base_id(),
                "bucket_arn": s3.map(|s| s.bucket_arn()),
                "bucket_owner_account_id": s3.and_then(|s| s.bucket_owner_account_id()),
                "inclusion_prefixes": s3.map(|s| s.inclusion_prefixes().to_vec()).unwrap_or_default(),
                "chunk_max_tokens": fixed.map(|f| f.max_tokens()).unwrap_or(p.chunk_max_tokens),
                "chunk_overlap_percentage": fixed.map(|f| f.overlap_percentage()).unwrap_or(p.chunk_overlap_percentage),
                "status": ds.status().as_str(),
                "data_deletion_policy": ds.data_deletion_policy().map(|d| d.as_str()),
            }),
            outputs: outputs(&id, &p.knowledge_base_id),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .bedrockagent
            .create_data_source()
            .knowledge_base_id(&p.knowledge_base_id)
            .name(&target.physical_name)
            .data_source_configuration(config(&p, &self.0.account)?)
            .data_deletion_policy(DataDeletionPolicy::Delete)
            .vector_ingestion_configuration(chunking(&p)?)
            .client_token(client_token(target, "create"))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let ds = out
            .data_source
            .ok_or_else(|| CloudError::Fatal("CreateDataSource returned nothing".into()))?;
        Ok(outputs(ds.data_source_id(), &p.knowledge_base_id))
    }

    async fn update(
        &self,
        target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.put(target, observed, DataDeletionPolicy::Delete)
            .await?;
        Ok(observed.outputs.clone())
    }

    async fn poll_ready(&self, target: &Target, outputs: &Outputs) -> CloudResult<Progress> {
        let p: Properties = properties(target)?;
        let id = outputs["id"].as_str().unwrap_or_default();
        let out = self
            .0
            .bedrockagent
            .get_data_source()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        match out.data_source().map(|d| d.status().as_str()) {
            Some("AVAILABLE") | None => Ok(Progress::Done(outputs.clone())),
            Some(other) => Ok(Progress::Pending(format!("data source {other}"))),
        }
    }

    async fn delete(&self, target: &Target, observed: &Observed) -> CloudResult<()> {
        if observed.properties["status"] == json!("DELETING") {
            return Ok(());
        }
        let p: Properties = properties(target)?;
        let id = observed.outputs["id"].as_str().unwrap_or_default();
        match observed.properties["status"].as_str() {
            Some("DELETE_UNSUCCESSFUL") => {
                self.put(target, observed, DataDeletionPolicy::Retain)
                    .await?
            }
            _ if observed.properties["data_deletion_policy"] != json!("DELETE") => {
                self.put(target, observed, DataDeletionPolicy::Delete)
                    .await?
            }
            _ => {}
        }
        let res = self
            .0
            .bedrockagent
            .delete_data_source()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(id)
            .send()
            .await;
        // An ingestion job still running: wait for it.
        res.map_err(|e| classify(e, NOT_FOUND).retry_on(&["ConflictException"]))?;
        Ok(())
    }
}
