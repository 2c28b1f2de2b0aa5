//! Ingestion as a converging step: a job starts only when what the Knowledge Base should hold
//! changed since the last complete one: the documents, or where they are (`source`, the data
//! source's bucket: a bucket renamed in the stack moves the data source, and the next job drops
//! the old bucket's vectors and indexes the new one's). Their digest is recorded in the job's
//! description. Chunking changes replace the data source, which then has no job yet. Deploy
//! waits for it, and fails with the job's reasons when documents fail or when not every
//! document's metadata sidecar was scanned. Goes with its data source (`cascades`).

use async_trait::async_trait;
use aws_sdk_bedrockagent::types::{
    IngestionJobSortBy, IngestionJobSortByAttribute, IngestionJobStatus, SortOrder,
};
use serde::{Deserialize, Serialize};

use super::bedrock_knowledge_base::NOT_FOUND;
use super::{client_token, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Progress,
    SeenOf, Target, Update,
};

pub const INFO: KindInfo = KindInfo {
    kind: "bedrock.ingestion",
    attributes: &["job_id", "documents_digest"],
    // A reference to the job waits for it to complete (an agent must not answer from a half
    // ingested Knowledge Base).
    ready_attributes: &["job_id"],
    deadline_secs: 1800,
    cascades: true,
    // Source: one report of 3-5 minutes for StartIngestionJob on a real corpus
    // (substack.vandriichuk.com, "The evolution of data ingestion"); AWS publishes none. Tutorial 1
    // ingests four small documents: 60 s, an estimate below that report.
    sim: Sim { call: 0.5, ready: 60.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub knowledge_base_id: String,
    pub data_source_id: String,
    /// The synced documents' digest (`s3.objects`' `digest`): a new value means a new job.
    pub documents_digest: String,
    /// How many `.metadata.json` sidecars the job must scan: a number, or a reference to one.
    pub expected_metadata_documents: Count,
    /// Where the documents are (the data source's bucket ARN): a new place means a new job.
    #[serde(default)]
    pub source: String,
}

/// What a job records and a later deploy compares: the documents' digest, and with a `source`,
/// a digest of both.
fn content(p: &Properties) -> String {
    if p.source.is_empty() {
        return p.documents_digest.clone();
    }
    use sha2::Digest;
    let h = sha2::Sha256::new()
        .chain_update(p.documents_digest.as_bytes())
        .chain_update(b"\n")
        .chain_update(p.source.as_bytes())
        .finalize();
    format!("{}+{}", p.documents_digest, &hex::encode(h)[..16])
}

/// A number, or (in a stack file, before references are resolved) a reference to one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Count {
    Number(i64),
    Reference(String),
}

/// The documents' digest of the job that completed (or runs), and whether one runs now.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    documents_digest: String,
    running: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub job_id: String,
    pub documents_digest: String,
    /// What the completed job did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<Statistics>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Statistics {
    pub documents_scanned: i64,
    pub metadata_documents_scanned: i64,
    pub new_documents_indexed: i64,
    pub modified_documents_indexed: i64,
    pub documents_deleted: i64,
    pub documents_failed: i64,
}

pub struct Ingestion(pub Clients);

const PREFIX: &str = "documents digest ";

fn outputs(job_id: &str, digest: &str) -> Outputs {
    Outputs { job_id: job_id.to_string(), documents_digest: digest.to_string(), statistics: None }
}

#[async_trait]
impl Kind for Ingestion {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const UPDATE: Update = Update::CreateAgain;

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
        let sort = IngestionJobSortBy::builder()
            .attribute(IngestionJobSortByAttribute::StartedAt)
            .order(SortOrder::Descending)
            .build()
            .map_err(CloudError::fatal)?;
        let got = self
            .0
            .bedrockagent
            .list_ingestion_jobs()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(&p.data_source_id)
            .sort_by(sort)
            .send()
            .await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let jobs = out.ingestion_job_summaries().to_vec();
        let Some(latest) = jobs.iter().max_by_key(|j| j.started_at().secs()) else {
            return Ok(None);
        };
        let running = matches!(
            latest.status(),
            IngestionJobStatus::Starting | IngestionJobStatus::InProgress
        );
        // The newest job that completed, or that is still running, and its documents' digest.
        let chosen = jobs
            .iter()
            .filter(|j| {
                matches!(
                    j.status(),
                    IngestionJobStatus::Complete
                        | IngestionJobStatus::Starting
                        | IngestionJobStatus::InProgress
                )
            })
            .max_by_key(|j| j.started_at().secs());
        let Some(chosen) = chosen else {
            return Ok(None);
        };
        let digest = chosen
            .description()
            .and_then(|d| d.strip_prefix(PREFIX))
            .unwrap_or_default()
            .to_string();
        // Inside our data source: ours.
        let outputs = outputs(chosen.ingestion_job_id(), &digest);
        let state = State { documents_digest: digest, running };
        Ok(Found::ours(state, outputs))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let out = self
            .0
            .bedrockagent
            .start_ingestion_job()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(&p.data_source_id)
            .description(format!("{PREFIX}{}", content(p)))
            .client_token(client_token(target, "start"))
            .send()
            .await
            // One job at a time per data source: wait for the running one.
            .map_err(|e| classify(e, NOT_FOUND).retry_on(&["ConflictException"]))?;
        let job = out
            .ingestion_job()
            .ok_or_else(|| CloudError::Fatal("StartIngestionJob returned no job".into()))?;
        Ok(outputs(job.ingestion_job_id(), &content(p)))
    }

    async fn poll_ready(
        &self,
        _t: &Target,
        p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let id = &outputs.job_id;
        let out = self
            .0
            .bedrockagent
            .get_ingestion_job()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(&p.data_source_id)
            .ingestion_job_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let job = out
            .ingestion_job
            .ok_or_else(|| CloudError::Fatal("GetIngestionJob returned nothing".into()))?;
        let stats = job.statistics();
        let get = |f: fn(&aws_sdk_bedrockagent::types::IngestionJobStatistics) -> i64| {
            stats.map(f).unwrap_or(0)
        };
        match job.status() {
            IngestionJobStatus::Complete => {
                let failed = get(|s| s.number_of_documents_failed());
                let sidecars = get(|s| s.number_of_metadata_documents_scanned());
                if failed > 0 {
                    return Err(CloudError::Fatal(format!(
                        "ingestion job {id}: {failed} document(s) failed: {}",
                        job.failure_reasons().join("; ")
                    )));
                }
                let expected = match p.expected_metadata_documents {
                    Count::Number(n) => n,
                    Count::Reference(_) => -1,
                };
                if sidecars != expected {
                    return Err(CloudError::Fatal(format!(
                        "ingestion job {id} scanned {sidecars} metadata sidecar(s), expected {expected}: check the .metadata.json files"
                    )));
                }
                let mut done = outputs.clone();
                done.statistics = Some(Statistics {
                    documents_scanned: get(|s| s.number_of_documents_scanned()),
                    metadata_documents_scanned: sidecars,
                    new_documents_indexed: get(|s| s.number_of_new_documents_indexed()),
                    modified_documents_indexed: get(|s| s.number_of_modified_documents_indexed()),
                    documents_deleted: get(|s| s.number_of_documents_deleted()),
                    documents_failed: failed,
                });
                Ok(Progress::Done(done))
            }
            IngestionJobStatus::Failed | IngestionJobStatus::Stopped => {
                Err(CloudError::Fatal(format!(
                    "ingestion job {id} {}: {}",
                    job.status().as_str(),
                    job.failure_reasons().join("; ")
                )))
            }
            other => {
                let scanned = get(|s| s.number_of_documents_scanned());
                Ok(Progress::Pending(format!(
                    "ingestion {} ({scanned} documents scanned)",
                    other.as_str()
                )))
            }
        }
    }

    /// The documents and their place alone: a new digest means a new job.
    fn diff(
        &self,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let (have, want) = (&seen.state.documents_digest, content(p));
        if *have == want {
            return Vec::new();
        }
        vec![change("documents_digest", have, want)]
    }
}
