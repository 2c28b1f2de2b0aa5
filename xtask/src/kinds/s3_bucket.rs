//! An S3 bucket: public access blocked, encrypted, tagged at creation. Destroy empties it (all
//! versions and delete markers) before deleting it.

use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, VersioningConfiguration,
};
use serde::{Deserialize, Serialize};

use super::{tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, SeenOf, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "s3.bucket",
    name_style: NameStyle::S3Bucket,
    attributes: &["name", "arn"],
    deadline_secs: 600,
    // Source: none published (S3's bucket calls are synchronous): 0.15 s per call, an estimate.
    sim: Sim {
        create_steps: 4, // CreateBucket, public access block, encryption, versioning
        ..SIM
    },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    #[serde(default)]
    pub versioning: bool,
    #[serde(default = "yes")]
    pub block_public_access: bool,
}

fn yes() -> bool {
    true
}

const NOT_FOUND: &[&str] = &["NotFound", "NoSuchBucket"];

/// The properties as found, and whether default encryption is on.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    versioning: bool,
    block_public_access: bool,
    encrypted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub name: String,
    pub arn: String,
}

pub struct Bucket(pub Clients);

fn outputs(name: &str) -> Outputs {
    Outputs { name: name.to_string(), arn: format!("arn:aws:s3:::{name}") }
}

impl Bucket {
    async fn configure(&self, name: &str, p: &Properties) -> CloudResult<()> {
        let s3 = &self.0.s3;
        let block = p.block_public_access;
        s3.put_public_access_block()
            .bucket(name)
            .expected_bucket_owner(&self.0.account)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(block)
                    .ignore_public_acls(block)
                    .block_public_policy(block)
                    .restrict_public_buckets(block)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build()
                    .expect("algorithm is set"),
            )
            .build();
        s3.put_bucket_encryption()
            .bucket(name)
            .expected_bucket_owner(&self.0.account)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .expect("rules are set"),
            )
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let status = if p.versioning {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        if p.versioning || self.versioning(name).await? {
            s3.put_bucket_versioning()
                .bucket(name)
                .expected_bucket_owner(&self.0.account)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND))?;
        }
        Ok(())
    }

    async fn versioning(&self, name: &str) -> CloudResult<bool> {
        let v = self
            .0
            .s3
            .get_bucket_versioning()
            .bucket(name)
            .expected_bucket_owner(&self.0.account)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(v.status() == Some(&BucketVersioningStatus::Enabled))
    }

    async fn encrypted(&self, name: &str) -> CloudResult<bool> {
        match self
            .0
            .s3
            .get_bucket_encryption()
            .bucket(name)
            .expected_bucket_owner(&self.0.account)
            .send()
            .await
            .map_err(|e| classify(e, &["ServerSideEncryptionConfigurationNotFoundError"]))
        {
            Ok(out) => Ok(out
                .server_side_encryption_configuration()
                .is_some_and(|c| !c.rules().is_empty())),
            Err(CloudError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn public_access_blocked(&self, name: &str) -> CloudResult<bool> {
        match self
            .0
            .s3
            .get_public_access_block()
            .bucket(name)
            .expected_bucket_owner(&self.0.account)
            .send()
            .await
            .map_err(|e| classify(e, &["NoSuchPublicAccessBlockConfiguration"]))
        {
            Ok(out) => Ok(out.public_access_block_configuration().is_some_and(|c| {
                [
                    c.block_public_acls(),
                    c.ignore_public_acls(),
                    c.block_public_policy(),
                    c.restrict_public_buckets(),
                ]
                .iter()
                .all(|b| *b == Some(true))
            })),
            Err(CloudError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Empties the bucket, then deletes it.
    async fn remove(&self, name: &str) -> CloudResult<()> {
        self.empty(name).await?;
        self.0
            .s3
            .delete_bucket()
            .bucket(name)
            .expected_bucket_owner(&self.0.account)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }

    /// Deletes every object version and delete marker, a page at a time.
    async fn empty(&self, name: &str) -> CloudResult<()> {
        loop {
            let page = self
                .0
                .s3
                .list_object_versions()
                .bucket(name)
                .expected_bucket_owner(&self.0.account)
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND))?;
            let mut ids = Vec::new();
            for v in page.versions() {
                ids.push(
                    ObjectIdentifier::builder()
                        .key(v.key().unwrap_or_default())
                        .set_version_id(v.version_id().map(str::to_string))
                        .build()
                        .expect("key is set"),
                );
            }
            for m in page.delete_markers() {
                ids.push(
                    ObjectIdentifier::builder()
                        .key(m.key().unwrap_or_default())
                        .set_version_id(m.version_id().map(str::to_string))
                        .build()
                        .expect("key is set"),
                );
            }
            if ids.is_empty() {
                return Ok(());
            }
            self.0
                .s3
                .delete_objects()
                .bucket(name)
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
    }
}

#[async_trait]
impl Kind for Bucket {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let name = &target.physical_name;
        let head = self
            .0
            .s3
            .head_bucket()
            .bucket(name)
            .expected_bucket_owner(&self.0.account)
            .send()
            .await;
        // 403 with our account as the expected owner: the name is taken by another account
        // (bucket names are global). Not ours, whatever tags it carries: never touched.
        if let Err(e) = &head {
            if e.raw_response().map(|r| r.status().as_u16()) == Some(403) {
                return Ok(Some(Found::Foreign));
            }
        }
        match head.map_err(|e| classify(e, NOT_FOUND)) {
            Ok(_) => {}
            Err(CloudError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let tags = match self
            .0
            .s3
            .get_bucket_tagging()
            .bucket(name)
            .expected_bucket_owner(&self.0.account)
            .send()
            .await
            .map_err(|e| classify(e, &["NoSuchTagSet"]))
        {
            Ok(out) => {
                out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
            }
            Err(CloudError::NotFound(_)) => Default::default(),
            Err(e) => return Err(e),
        };
        if !names::is_owned(&target.tags, &tags) {
            return Ok(Some(Found::Foreign));
        }
        let state = State {
            encrypted: self.encrypted(name).await?,
            versioning: self.versioning(name).await?,
            block_public_access: self.public_access_blocked(name).await?,
        };
        Ok(Found::ours(state, outputs(name)))
    }

    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        mut changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        if !seen.state.encrypted {
            changes.push(change("encrypted", false, true));
        }
        changes
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let name = &target.physical_name;
        let mut config = CreateBucketConfiguration::builder();
        if self.0.region != "us-east-1" {
            config =
                config.location_constraint(BucketLocationConstraint::from(self.0.region.as_str()));
        }
        // Tags in the create call itself: the bucket is never, even briefly, ours by name only.
        for (k, v) in tags_with_created_at(target) {
            config =
                config.tags(Tag::builder().key(k).value(v).build().expect("key and value are set"));
        }
        self.0
            .s3
            .create_bucket()
            .bucket(name)
            .create_bucket_configuration(config.build())
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        self.configure(name, p).await?;
        Ok(outputs(name))
    }

    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.configure(&target.physical_name, p).await?;
        Ok(seen.outputs.clone())
    }

    async fn delete(
        &self,
        target: &Target,
        _p: &Properties,
        _seen: &SeenOf<Self>,
    ) -> CloudResult<()> {
        self.remove(&target.physical_name).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.name).await
    }
}
