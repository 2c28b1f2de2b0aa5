//! A directory of the repository kept in sync with a bucket prefix: changed files are uploaded,
//! removed files deleted, unchanged ones left alone (compared by MD5, which S3 reports as the
//! ETag of a single-part upload with SSE-S3).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::{KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, SeenOf, Target,
};
use crate::model::NameStyle;

pub const INFO: KindInfo = KindInfo {
    kind: "s3.objects",
    name_style: NameStyle::Property("source"),
    attributes: &["bucket", "prefix", "digest", "count", "metadata_count"],
    deadline_secs: 600,
    files: &["source"],
    // Source: none published; PutObject of small files: 0.8 s per upload round, an estimate.
    sim: Sim {
        create_steps: 3, // uploads
        call: 0.8,
        ..SIM
    },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub bucket: String,
    /// A directory, relative to the repository root.
    pub source: String,
    #[serde(default)]
    pub prefix: String,
    /// Every document must have a Bedrock metadata sidecar (`<file>.metadata.json`) that sets
    /// this attribute to one of these values.
    #[serde(default)]
    pub sidecars: Option<Sidecars>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecars {
    pub attribute: String,
    pub values: Vec<String>,
}

const SIDECAR: &str = ".metadata.json";
/// Bedrock's limit for a metadata file.
const SIDECAR_MAX_BYTES: u64 = 10 * 1024;

/// Every document has a sidecar, every sidecar a document, and each sidecar is
/// `{"metadataAttributes": {...}}` with string, number or boolean values, under 10 KB, with the
/// required attribute set to an allowed value. Each problem names its file.
fn check_files(p: &Properties, root: &Path) -> Vec<String> {
    let dir = root.join(&p.source);
    let files = match local_files(&dir, "") {
        Ok(f) => f,
        Err(e) => return vec![format!("cannot read the source directory {}: {e}", dir.display())],
    };
    let Some(rule) = &p.sidecars else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for (key, (path, _)) in &files {
        match key.strip_suffix(SIDECAR) {
            Some(document) if !files.contains_key(document) => problems.push(format!("{} is a sidecar without its document {document}", path.display())),
            Some(_) => problems.extend(check_sidecar(path, rule).err()),
            None if !files.contains_key(&format!("{key}{SIDECAR}")) => {
                problems.push(format!("{} has no metadata sidecar: add {}{SIDECAR} with {{\"metadataAttributes\": {{\"{}\": ...}}}}", path.display(), path.display(), rule.attribute))
            }
            None => {}
        }
    }
    problems
}

fn check_sidecar(path: &Path, rule: &Sidecars) -> Result<(), String> {
    let shown = path.display();
    let size = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?.len();
    if size > SIDECAR_MAX_BYTES {
        return Err(format!("{shown} is {size} bytes; Bedrock accepts metadata files up to 10 KB"));
    }
    let doc: Value =
        serde_json::from_slice(&std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?)
            .map_err(|e| format!("{shown} is not valid JSON: {e}"))?;
    let Some(obj) = doc.as_object().filter(|o| o.len() == 1) else {
        return Err(format!("{shown} must hold exactly one key, \"metadataAttributes\""));
    };
    let attrs = obj
        .get("metadataAttributes")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{shown} must hold an object \"metadataAttributes\""))?;
    if let Some((k, _)) =
        attrs.iter().find(|(_, v)| !(v.is_string() || v.is_number() || v.is_boolean()))
    {
        return Err(format!("{shown}: attribute `{k}` must be a string, number or boolean"));
    }
    match attrs.get(&rule.attribute).and_then(Value::as_str) {
        Some(v) if rule.values.iter().any(|a| a == v) => Ok(()),
        Some(v) => Err(format!(
            "{shown}: {} `{v}` is not one of {}",
            rule.attribute,
            rule.values.join(", ")
        )),
        None => Err(format!(
            "{shown} sets no string attribute `{}` (one of {})",
            rule.attribute,
            rule.values.join(", ")
        )),
    }
}

const NOT_FOUND: &[&str] = &["NoSuchBucket", "NotFound"];

/// What is under the prefix: object key -> ETag (the MD5 of a single-part upload).
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub bucket: String,
    pub prefix: String,
    pub digest: String,
    pub count: usize,
    pub metadata_count: usize,
}

pub struct Objects(pub Clients);

/// The files under `dir` as object key -> MD5 hex, keys relative to `dir` behind `prefix`.
pub fn local_files(
    dir: &Path,
    prefix: &str,
) -> std::io::Result<BTreeMap<String, (PathBuf, String)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel =
                    path.strip_prefix(dir).expect("below dir").to_string_lossy().replace('\\', "/");
                let md5 = hex::encode(Md5::digest(std::fs::read(&path)?));
                out.insert(format!("{prefix}{rel}"), (path, md5));
            }
        }
    }
    Ok(out)
}

fn digest(files: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in files {
        h.update(k.as_bytes());
        h.update(b"\0");
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn outputs(p: &Properties, files: &BTreeMap<String, String>) -> Outputs {
    Outputs {
        bucket: p.bucket.clone(),
        prefix: p.prefix.clone(),
        digest: digest(files),
        count: files.len(),
        metadata_count: files.keys().filter(|k| k.ends_with(SIDECAR)).count(),
    }
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("json") => "application/json",
        Some("md") => "text/markdown; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        Some("pdf") => "application/pdf",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl Objects {
    fn local(&self, p: &Properties) -> CloudResult<BTreeMap<String, (PathBuf, String)>> {
        let dir = self.0.root.join(&p.source);
        local_files(&dir, &p.prefix)
            .map_err(|e| CloudError::Fatal(format!("cannot read {}: {e}", dir.display())))
    }

    /// Uploads what differs from `remote` and deletes what is no longer local.
    async fn sync(
        &self,
        p: &Properties,
        remote: &BTreeMap<String, String>,
    ) -> CloudResult<Outputs> {
        let local = self.local(p)?;
        for (key, (path, md5)) in &local {
            if remote.get(key) == Some(md5) {
                continue;
            }
            let body = ByteStream::from_path(path).await.map_err(CloudError::fatal)?;
            self.0
                .s3
                .put_object()
                .bucket(&p.bucket)
                .expected_bucket_owner(&self.0.account)
                .key(key)
                .content_type(content_type(key))
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
                .body(body)
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND))?;
        }
        let stale: Vec<&String> = remote.keys().filter(|k| !local.contains_key(*k)).collect();
        self.delete_keys(&p.bucket, &stale).await?;
        let files = local.into_iter().map(|(k, (_, m))| (k, m)).collect();
        Ok(outputs(p, &files))
    }

    async fn delete_keys(&self, bucket: &str, keys: &[&String]) -> CloudResult<()> {
        for chunk in keys.chunks(1000) {
            let ids = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(*k).build().expect("key is set"))
                .collect();
            self.0
                .s3
                .delete_objects()
                .bucket(bucket)
                .expected_bucket_owner(&self.0.account)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()
                        .expect("objects are set"),
                )
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND))?;
        }
        Ok(())
    }

    async fn remote(&self, p: &Properties) -> CloudResult<Option<BTreeMap<String, String>>> {
        let mut files = BTreeMap::new();
        let mut pages = self
            .0
            .s3
            .list_objects_v2()
            .bucket(&p.bucket)
            .expected_bucket_owner(&self.0.account)
            .prefix(&p.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let Some(page) = found(page.map_err(|e| classify(e, NOT_FOUND)))? else {
                return Ok(None);
            };
            for o in page.contents() {
                files.insert(
                    o.key().unwrap_or_default().to_string(),
                    o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                );
            }
        }
        Ok(Some(files))
    }
}

#[async_trait]
impl Kind for Objects {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    fn check_files(p: &Properties, root: &Path) -> Vec<String> {
        check_files(p, root)
    }

    async fn observe(&self, _t: &Target, p: &Properties) -> Observation<Self> {
        match self.remote(p).await? {
            // No objects under the prefix is the same as never synced.
            None => Ok(None),
            Some(files) if files.is_empty() => Ok(None),
            Some(files) => {
                let outputs = outputs(p, &files);
                Ok(Found::ours(State { files }, outputs))
            }
        }
    }

    fn planned_outputs(&self, _t: &Target, p: &Properties) -> Option<Outputs> {
        let files = self.local(p).ok()?;
        Some(outputs(p, &files.into_iter().map(|(k, (_, md5))| (k, md5)).collect()))
    }

    /// File by file (the properties only say where the files are).
    fn diff(
        &self,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let remote = &seen.state.files;
        let local = match self.local(p) {
            Ok(l) => l,
            Err(e) => return vec![change("source", (), e.to_string())],
        };
        let mut changes = Vec::new();
        for (key, (_, md5)) in &local {
            if remote.get(key) != Some(md5) {
                changes.push(change(&format!("files/{key}"), remote.get(key), md5));
            }
        }
        for (key, etag) in remote {
            if !local.contains_key(key) {
                changes.push(change(&format!("files/{key}"), etag, ()));
            }
        }
        changes
    }

    async fn create(&self, _t: &Target, p: &Properties) -> CloudResult<Outputs> {
        self.sync(p, &BTreeMap::new()).await
    }

    async fn update(
        &self,
        _t: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.sync(p, &seen.state.files).await
    }

    async fn delete(&self, _t: &Target, p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        self.delete_keys(&p.bucket, &seen.state.files.keys().collect::<Vec<_>>()).await
    }
}
