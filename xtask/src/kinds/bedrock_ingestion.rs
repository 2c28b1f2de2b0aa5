//! Ingestion as a converging step: a job starts only when the documents changed since the last
//! complete one (the documents' content digest is recorded in the job's description), deploy
//! waits for it, and fails with the job's reasons when documents fail or when not every
//! document's metadata sidecar was scanned. Goes with its data source (`cascades`).

use async_trait::async_trait;
use aws_sdk_bedrockagent::types::{
    IngestionJobSortBy, IngestionJobSortByAttribute, IngestionJobStatus, SortOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::bedrock_knowledge_base::NOT_FOUND;
use super::client_token;
use super::{properties, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Observed, Outputs, Progress, ResourceKind, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "bedrock.ingestion",
    name_style: NameStyle::Dashed,
    attributes: &["job_id", "documents_digest"],
    // A reference to the job waits for it to complete (an agent must not answer from a half
    // ingested Knowledge Base).
    ready_attributes: &["job_id"],
    deadline_secs: 1800,
    cascades: true,
    files: &[],
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub knowledge_base_id: String,
    pub data_source_id: String,
    /// The synced documents' digest (`s3.objects`' `digest`): a new value means a new job.
    pub documents_digest: String,
    /// How many `.metadata.json` sidecars the job must scan: a number, or a reference to one.
    pub expected_metadata_documents: serde_json::Value,
}

pub struct Ingestion(pub Clients);

const PREFIX: &str = "documents digest ";

fn outputs(job: &str, digest: &str) -> Outputs {
    [
        ("job_id".to_string(), json!(job)),
        ("documents_digest".to_string(), json!(digest)),
    ]
    .into_iter()
    .collect()
}

#[async_trait]
impl ResourceKind for Ingestion {
    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let p: Properties = properties(target)?;
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
        Ok(Some(Observed {
            owned: true, // inside our data source
            properties: json!({
                "knowledge_base_id": p.knowledge_base_id,
                "data_source_id": p.data_source_id,
                "documents_digest": digest,
                "expected_metadata_documents": p.expected_metadata_documents,
                "running": running,
            }),
            outputs: outputs(chosen.ingestion_job_id(), &digest),
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let out = self
            .0
            .bedrockagent
            .start_ingestion_job()
            .knowledge_base_id(&p.knowledge_base_id)
            .data_source_id(&p.data_source_id)
            .description(format!("{PREFIX}{}", p.documents_digest))
            .client_token(client_token(target, "start"))
            .send()
            .await
            // One job at a time per data source: wait for the running one.
            .map_err(|e| classify(e, NOT_FOUND).retry_on(&["ConflictException"]))?;
        let job = out
            .ingestion_job()
            .map(|j| j.ingestion_job_id().to_string())
            .unwrap_or_default();
        Ok(outputs(&job, &p.documents_digest))
    }

    async fn update(
        &self,
        target: &Target,
        _observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.create(target).await
    }

    async fn poll_ready(&self, target: &Target, outputs: &Outputs) -> CloudResult<Progress> {
        let p: Properties = properties(target)?;
        let id = outputs["job_id"].as_str().unwrap_or_default();
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
                let expected = p.expected_metadata_documents.as_i64().unwrap_or(-1);
                if sidecars != expected {
                    return Err(CloudError::Fatal(format!(
                        "ingestion job {id} scanned {sidecars} metadata sidecar(s), expected {expected}: check the .metadata.json files"
                    )));
                }
                let mut done = outputs.clone();
                done.insert(
                    "statistics".into(),
                    json!({
                        "documents_scanned": get(|s| s.number_of_documents_scanned()),
                        "metadata_documents_scanned": sidecars,
                        "new_documents_indexed": get(|s| s.number_of_new_documents_indexed()),
                        "modified_documents_indexed": get(|s| s.number_of_modified_documents_indexed()),
                        "documents_deleted": get(|s| s.number_of_documents_deleted()),
                        "documents_failed": failed,
                    }),
                );
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

    fn diff(&self, target: &Target, observed: &Observed) -> Vec<FieldChange> {
        let want = &target.properties["documents_digest"];
        if observed.properties["documents_digest"] == *want {
            return Vec::new();
        }
        vec![FieldChange {
            field: "documents_digest".into(),
            current: observed.properties["documents_digest"].clone(),
            desired: want.clone(),
            replaces: false,
        }]
    }

    async fn delete(&self, _target: &Target, _observed: &Observed) -> CloudResult<()> {
        Ok(()) // goes with its data source (`cascades`)
    }
}
