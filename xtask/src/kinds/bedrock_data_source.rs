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

use super::bedrock_knowledge_base::NOT_FOUND;
use super::{client_token, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Progress,
    SeenOf, Target,
};

pub const INFO: KindInfo = KindInfo {
    kind: "bedrock.data_source",
    attributes: &["id", "knowledge_base_id"],
    deadline_secs: 600,
    // Source: none published; CreateDataSource is synchronous in the API reference (the data
    // source is AVAILABLE on return): 5 s, an estimate.
    sim: Sim { call: 0.5, ready: 5.0, gone: 10.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// The properties as found, the bucket's owner account, and the data source's status and
/// deletion policy.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    knowledge_base_id: String,
    bucket_arn: Option<String>,
    bucket_owner_account_id: Option<String>,
    inclusion_prefixes: Vec<String>,
    chunk_max_tokens: i32,
    chunk_overlap_percentage: i32,
    status: String,
    data_deletion_policy: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub knowledge_base_id: String,
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
        p: &Properties,
        seen: &SeenOf<Self>,
        policy: DataDeletionPolicy,
    ) -> CloudResult<()> {
        let mut p = p.clone();
        p.chunk_max_tokens = seen.state.chunk_max_tokens;
        p.chunk_overlap_percentage = seen.state.chunk_overlap_percentage;
        let id = &seen.outputs.id;
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
    Ok(VectorIngestionConfiguration::builder().chunking_configuration(chunking).build())
}

#[async_trait]
impl Kind for DataSource {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    // Bedrock does not change the chunking of an existing data source.
    const IMMUTABLE: &'static [&'static str] =
        &["knowledge_base_id", "chunk_max_tokens", "chunk_overlap_percentage"];

    /// Besides the properties: the bucket's owner account, which the data source must name.
    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        mut changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let owner = &seen.state.bucket_owner_account_id;
        if owner.as_deref() != Some(self.0.account.as_str()) {
            changes.push(change("bucket_owner_account_id", owner, &self.0.account));
        }
        changes
    }

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
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
        let s3 = ds.data_source_configuration().and_then(|c| c.s3_configuration());
        let fixed = ds
            .vector_ingestion_configuration()
            .and_then(|v| v.chunking_configuration())
            .and_then(|c| c.fixed_size_chunking_configuration());
        // Inside our Knowledge Base: ours.
        let state = State {
            knowledge_base_id: ds.knowledge_base_id().to_string(),
            bucket_arn: s3.map(|s| s.bucket_arn().to_string()),
            bucket_owner_account_id: s3
                .and_then(|s| s.bucket_owner_account_id())
                .map(str::to_string),
            inclusion_prefixes: s3.map(|s| s.inclusion_prefixes().to_vec()).unwrap_or_default(),
            chunk_max_tokens: fixed.map(|f| f.max_tokens()).unwrap_or(p.chunk_max_tokens),
            chunk_overlap_percentage: fixed
                .map(|f| f.overlap_percentage())
                .unwrap_or(p.chunk_overlap_percentage),
            status: ds.status().as_str().to_string(),
            data_deletion_policy: ds.data_deletion_policy().map(|d| d.as_str().to_string()),
        };
        let knowledge_base_id = p.knowledge_base_id.clone();
        Ok(Found::ours(state, Outputs { id, knowledge_base_id }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let out = self
            .0
            .bedrockagent
            .create_data_source()
            .knowledge_base_id(&p.knowledge_base_id)
            .name(&target.physical_name)
            .data_source_configuration(config(p, &self.0.account)?)
            .data_deletion_policy(DataDeletionPolicy::Delete)
            .vector_ingestion_configuration(chunking(p)?)
            .client_token(client_token(target, "create"))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let ds = out
            .data_source
            .ok_or_else(|| CloudError::Fatal("CreateDataSource returned nothing".into()))?;
        Ok(Outputs {
            id: ds.data_source_id().to_string(),
            knowledge_base_id: p.knowledge_base_id.clone(),
        })
    }

    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.put(target, p, seen, DataDeletionPolicy::Delete).await?;
        Ok(seen.outputs.clone())
    }

    async fn poll_ready(
        &self,
        _t: &Target,
        p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let out = self
            .0
            .bedrockagent
            .get_data_source()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(&outputs.id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        match out.data_source().map(|d| d.status().as_str()) {
            Some("AVAILABLE") | None => Ok(Progress::Done(outputs.clone())),
            Some(other) => Ok(Progress::Pending(format!("data source {other}"))),
        }
    }

    async fn delete(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
    ) -> CloudResult<()> {
        match seen.state.status.as_str() {
            "DELETING" => return Ok(()),
            "DELETE_UNSUCCESSFUL" => self.put(target, p, seen, DataDeletionPolicy::Retain).await?,
            _ if seen.state.data_deletion_policy.as_deref() != Some("DELETE") => {
                self.put(target, p, seen, DataDeletionPolicy::Delete).await?
            }
            _ => {}
        }
        let res = self
            .0
            .bedrockagent
            .delete_data_source()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(&seen.outputs.id)
            .send()
            .await;
        // An ingestion job still running: wait for it.
        res.map_err(|e| classify(e, NOT_FOUND).retry_on(&["ConflictException"]))?;
        Ok(())
    }
}
