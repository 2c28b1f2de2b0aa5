//! An agent's code package for AgentCore direct code deployment: its sources and vendored
//! dependencies zipped deterministically (`crate::packaging`) and stored in S3 under a
//! content-addressed key, `agents/<name>/<digest>.zip`. An unchanged agent has the same key,
//! which is already there: nothing is built into S3 and the runtime that references the key sees
//! no change. Old packages stay (for a rollback) and go with the bucket.

use std::path::PathBuf;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};

use super::{given, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients, TargetKind};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target,
};
use crate::packaging::{Built, Manifest, Platform};

pub const INFO: KindInfo = KindInfo {
    kind: "agentcore.agent_package",
    attributes: &["bucket", "key", "digest", "size"],
    deadline_secs: 900,
    // The package is an object in a bucket of the stack: deleting the bucket removes it.
    cascades: true,
    files: &["sources", "requirements"],
    // Source: none published (it is our own zip upload, a few MB to S3): 3 s, an estimate.
    sim: Sim { call: 3.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub bucket: String,
    /// Directories, relative to the repository root, whose contents make the zip's root (the
    /// entry point `main.py` among them).
    pub sources: Vec<String>,
    /// A fully pinned requirements file (`pip freeze`), installed with `--no-deps`.
    pub requirements: String,
    /// The CPython version AgentCore Runtime runs the agent with on AWS, e.g. "3.12".
    pub python: String,
}

/// Source directories and the requirements file exist, and an entry point is among the sources.
fn check_files(p: &Properties, root: &std::path::Path) -> Vec<String> {
    let mut problems = Vec::new();
    for dir in &p.sources {
        if !root.join(dir).is_dir() {
            problems.push(format!("source directory {dir} does not exist"));
        }
    }
    if !root.join(&p.requirements).is_file() {
        problems.push(format!("requirements file {} does not exist", p.requirements));
    }
    if !p.sources.iter().any(|d| root.join(d).join("main.py").is_file()) {
        problems.push("no source directory holds the entry point main.py".to_string());
    }
    if !["3.10", "3.11", "3.12", "3.13", "3.14"].contains(&p.python.as_str()) {
        problems.push(format!(
            "python {} is not one AgentCore Runtime offers (3.10 to 3.14)",
            p.python
        ));
    }
    problems
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub bucket: String,
    pub key: String,
    pub digest: String,
    pub size: u64,
}

pub struct AgentPackage(pub Clients);

impl AgentPackage {
    fn platform(&self, p: &Properties) -> Platform {
        match self.0.target {
            TargetKind::Local => Platform::Local,
            TargetKind::Aws => Platform::Aws { python: p.python.clone() },
        }
    }

    /// Builds the manifest (and installs dependencies on first use) off the async runtime.
    async fn manifest(&self, p: &Properties) -> CloudResult<Manifest> {
        let platform = self.platform(p);
        let packager = self.0.packager.clone();
        let sources: Vec<PathBuf> = p.sources.iter().map(|s| self.0.root.join(s)).collect();
        let requirements = self.0.root.join(&p.requirements);
        let manifest = tokio::task::spawn_blocking(move || {
            packager.manifest(&sources, &requirements, &platform)
        })
        .await
        .map_err(CloudError::fatal)?
        .map_err(|e| CloudError::Fatal(format!("{e:#}")))?;
        Ok(manifest)
    }

    async fn build(&self, p: &Properties, manifest: Manifest) -> CloudResult<Built> {
        let packager = self.0.packager.clone();
        let platform = self.platform(p);
        tokio::task::spawn_blocking(move || packager.build(&manifest, &platform))
            .await
            .map_err(CloudError::fatal)?
            .map_err(|e| CloudError::Fatal(format!("{e:#}")))
    }
}

/// Where the agent's packages are: `agents/<name>/`.
fn prefix(target: &Target) -> String {
    format!("agents/{}/", target.physical_name)
}

fn key(target: &Target, digest: &str) -> String {
    format!("{}{digest}.zip", prefix(target))
}

#[async_trait]
impl Kind for AgentPackage {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    fn check_files(p: &Properties, root: &std::path::Path) -> Vec<String> {
        check_files(p, root)
    }

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let manifest = self.manifest(p).await?;
        let key = key(target, &manifest.digest);
        let head = self
            .0
            .s3
            .head_object()
            .bucket(&p.bucket)
            .expected_bucket_owner(&self.0.account)
            .key(&key)
            .send()
            .await;
        let Some(head) =
            found(head.map_err(|e| classify(e, &["NotFound", "NoSuchKey", "NoSuchBucket"])))?
        else {
            return Ok(None);
        };
        // Content-addressed: the object under this key is exactly this package. It is ours
        // because the bucket is (objects carry no ownership tags of their own).
        let outputs = Outputs {
            bucket: p.bucket.clone(),
            key,
            digest: manifest.digest,
            size: head.content_length().unwrap_or_default() as u64,
        };
        Ok(Found::ours(p.clone(), outputs))
    }

    /// The newest package under the agent's prefix, whatever today's sources are (no manifest,
    /// no package index): destroy after the agent changed finds the package the runtime runs,
    /// so the runtime's reference resolves and the runtime goes too.
    async fn find(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let prefix = prefix(target);
        let mut newest: Option<aws_sdk_s3::types::Object> = None;
        let mut pages = self
            .0
            .s3
            .list_objects_v2()
            .bucket(&p.bucket)
            .expected_bucket_owner(&self.0.account)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let Some(page) = found(page.map_err(|e| classify(e, &["NoSuchBucket"])))? else {
                return Ok(None);
            };
            for o in page.contents().iter().filter(|o| o.key().is_some_and(|k| k.ends_with(".zip")))
            {
                if newest.as_ref().is_none_or(|n| n.last_modified() < o.last_modified()) {
                    newest = Some(o.clone());
                }
            }
        }
        let Some(object) = newest else {
            return Ok(None);
        };
        let key = given(object.key(), "ListObjectsV2 Contents.Key")?;
        let digest =
            key.strip_prefix(&prefix).and_then(|k| k.strip_suffix(".zip")).unwrap_or_default();
        let outputs = Outputs {
            bucket: p.bucket.clone(),
            digest: digest.to_string(),
            key,
            size: object.size().unwrap_or_default() as u64,
        };
        Ok(Found::ours(p.clone(), outputs))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let manifest = self.manifest(p).await?;
        let built = self.build(p, manifest).await?;
        let key = key(target, &built.digest);
        let body = ByteStream::from_path(&built.path).await.map_err(CloudError::fatal)?;
        self.0
            .s3
            .put_object()
            .bucket(&p.bucket)
            .expected_bucket_owner(&self.0.account)
            .key(&key)
            .content_type("application/zip")
            .body(body)
            .send()
            .await
            .map_err(|e| classify(e, &["NoSuchBucket"]))?;
        Ok(Outputs { bucket: p.bucket.clone(), key, digest: built.digest, size: built.size })
    }

    async fn update(
        &self,
        t: &Target,
        p: &Properties,
        _seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        // A different package has a different key: observe finds nothing and `create` runs.
        self.create(t, p).await
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        match self
            .0
            .s3
            .delete_object()
            .bucket(&seen.outputs.bucket)
            .expected_bucket_owner(&self.0.account)
            .key(&seen.outputs.key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match classify(e, &["NoSuchBucket", "NoSuchKey"]) {
                CloudError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }
}
