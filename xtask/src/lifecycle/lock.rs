//! One lock per environment, so that two runs (two CI jobs, a person and a job) never change
//! the same environment at once. The lock is a lease: an S3 object `leases/<env>.json` in the
//! account's lock bucket (`agentcore-mt-locks-<account>-<region>`), written with a conditional
//! write. `If-None-Match: *` creates it only if no run holds it; the holder rewrites it with
//! `If-Match: <its ETag>` every third of the lease to renew it; a lease its holder stopped
//! renewing (killed, lost its network) is taken over with `If-Match: <the stale ETag>`, so two
//! waiters can never both win. A holder whose renewal is refused has lost the lease and stops.
//!
//! Expiry is judged twice, so that skewed clocks cannot take a live lease: the lease's own
//! `expires_at` is past, or the waiter has watched the same ETag (no renewal) for a whole lease
//! on its own monotonic clock.
//!
//! The bucket is made on first use (tagged, public access blocked, every call naming our
//! account as its expected owner) and kept: deleting it would free its global name for another
//! account to take, and a bucket deleted moments ago answers 409 OperationAborted to the next run.
//!
//! It also holds each environment's deployment record, `environments/<env>.json` (when it was
//! first deployed, last deployed, until when it may live): what gc dates an environment by.
//! Only the deploying identity can write it; anyone who may tag can forge a resource's tags.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration, Tag,
};
use serde::{Deserialize, Serialize};

use crate::cloud::{describe_sdk_error, Clients};
use crate::engine::Stop;
use crate::model::names::{PROJECT, TAG_PREFIX};

/// How long a lease lasts without renewal (`XTASK_LOCK_LEASE_SECONDS`; tests shorten it).
pub fn lease_duration() -> Duration {
    let secs = std::env::var("XTASK_LOCK_LEASE_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Who holds a lease: enough to find the run and its machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub command: String,
    pub host: String,
    pub pid: u32,
    pub user: String,
    /// The CI run (GitHub Actions: repository, run id and attempt), when there is one.
    pub ci_run: Option<String>,
}

impl Holder {
    pub fn this_process(command: &str) -> Holder {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown host".into());
        let ci_run = match (std::env::var("GITHUB_REPOSITORY"), std::env::var("GITHUB_RUN_ID")) {
            (Ok(repo), Ok(run)) => Some(format!(
                "https://github.com/{repo}/actions/runs/{run} (attempt {})",
                std::env::var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|_| "1".into())
            )),
            _ => std::env::var("CI_JOB_URL").ok(),
        };
        Holder {
            command: command.to_string(),
            host,
            pid: std::process::id(),
            user: std::env::var("USER").unwrap_or_default(),
            ci_run,
        }
    }
}

impl Holder {
    /// The holder is a process of this machine that no longer runs (killed: its lease cannot be
    /// released, only wait out or broken). `false` when it may run, or runs elsewhere.
    pub fn is_dead_here(&self) -> bool {
        let here = Holder::this_process(&self.command).host;
        self.host == here && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` (pid {} on {}", self.command, self.pid, self.host)?;
        if !self.user.is_empty() {
            write!(f, ", user {}", self.user)?;
        }
        if let Some(run) = &self.ci_run {
            write!(f, ", {run}")?;
        }
        write!(f, ")")
    }
}

/// Where the deployment records are, in the lock bucket.
const RECORDS: &str = "environments/";

/// An environment's deployment record: what gc dates it by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub env: String,
    /// The first deploy.
    pub created_at: String,
    /// The last deploy.
    pub deployed_at: String,
    /// Set by the first deploy with `--ttl`.
    pub expires_at: Option<String>,
    pub deployed_by: Holder,
}

/// The lease object's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lease {
    pub env: String,
    pub holder: Holder,
    pub acquired_at: String,
    pub renewed_at: String,
    pub expires_at: String,
    pub lease_seconds: u64,
}

impl Lease {
    fn new(env: &str, holder: &Holder, acquired_at: &str, lease: Duration) -> Lease {
        let now = SystemTime::now();
        Lease {
            env: env.to_string(),
            holder: holder.clone(),
            acquired_at: acquired_at.to_string(),
            renewed_at: rfc3339(now),
            expires_at: rfc3339(now + lease),
            lease_seconds: lease.as_secs(),
        }
    }

    /// Past its stated expiry on this machine's clock (what a person is told; never what a
    /// takeover decides by).
    pub fn expired(&self) -> bool {
        humantime::parse_rfc3339(&self.expires_at).is_ok_and(|t| t < SystemTime::now())
    }
}

/// Whether a waiter may take over `lease`, unchanged (same ETag) since `since`: when it has
/// been silent for a whole lease on this machine's monotonic clock, or its holder was a process
/// of this machine that is gone. Its `expires_at` does not decide: a waiter whose wall clock
/// runs ahead would read a live lease as expired.
fn may_take_over(lease: &Lease, since: Instant) -> bool {
    since.elapsed() >= Duration::from_secs(lease.lease_seconds) || lease.holder.is_dead_here()
}

/// Whether a holder whose renewal just failed must stop, its last good renewal `renewed_ago`:
/// when its lease would run out before the next try (a third of a lease later), after which
/// another run may take it over.
fn gives_up(renewed_ago: Duration, lease: Duration) -> bool {
    renewed_ago + lease / 3 >= lease
}

/// The longest pause between two polls of a held lease.
const POLL_MAX: Duration = Duration::from_secs(2);

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("environment `{env}` is locked by {} since {} (lease until {})", .lease.holder, .lease.acquired_at, .lease.expires_at)]
    Held { env: String, lease: Box<Lease> },
    #[error("interrupted while waiting for the lock of environment `{0}`")]
    Interrupted(String),
    #[error("the lock of environment `{env}`: {message}")]
    Failed { env: String, message: String },
}

/// The lock bucket of one account and region.
#[derive(Clone)]
pub struct Locks {
    s3: aws_sdk_s3::Client,
    bucket: String,
    account: String,
    region: String,
    lease: Duration,
}

/// What an S3 call answered, by error code (never by message text).
enum Answer<T> {
    Ok(T),
    /// 412 PreconditionFailed, 409 ConditionalRequestConflict, or 404 NoSuchKey for If-Match:
    /// the condition did not hold.
    Condition,
    NoBucket,
    Error(String),
}

fn answer<T, E>(
    result: Result<
        T,
        aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    >,
) -> Answer<T>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(v) => Answer::Ok(v),
        Err(e) => match e.code() {
            Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey") => {
                Answer::Condition
            }
            Some("NoSuchBucket") => Answer::NoBucket,
            _ => Answer::Error(describe_sdk_error(&e)),
        },
    }
}

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

impl Locks {
    pub fn new(clients: &Clients) -> Locks {
        Locks {
            s3: clients.locks.clone(),
            bucket: format!("{PROJECT}-locks-{}-{}", clients.account, clients.region),
            account: clients.account.clone(),
            region: clients.region.clone(),
            lease: lease_duration(),
        }
    }

    fn key(env: &str) -> String {
        format!("leases/{env}.json")
    }

    fn record_key(env: &str) -> String {
        format!("{RECORDS}{env}.json")
    }

    /// Writes `env`'s deployment record at the start of a deploy (under its lease): the first
    /// deploy's time stays, the last deploy's is now, and `ttl` (from now) is kept from the
    /// first deploy that gave one, so `--ttl 72h` counts from the environment's creation.
    pub async fn record_deploy(
        &self,
        env: &str,
        ttl: Option<Duration>,
        holder: &Holder,
    ) -> Result<Record, String> {
        let now = SystemTime::now();
        let old = self.record(env).await?;
        let record = Record {
            env: env.to_string(),
            created_at: old.as_ref().map_or_else(|| rfc3339(now), |r| r.created_at.clone()),
            deployed_at: rfc3339(now),
            expires_at: old
                .as_ref()
                .and_then(|r| r.expires_at.clone())
                .or_else(|| ttl.map(|t| rfc3339(now + t))),
            deployed_by: holder.clone(),
        };
        match self.put_json(&Self::record_key(env), &record, None).await {
            Answer::Ok(_) => Ok(record),
            Answer::Condition | Answer::NoBucket => Err("the lock bucket is gone".into()),
            Answer::Error(e) => Err(e),
        }
    }

    /// The deployment record of `env`, if there is one.
    pub async fn record(&self, env: &str) -> Result<Option<Record>, String> {
        Ok(self.get_json(&Self::record_key(env), "deployment record").await?.map(|(r, _)| r))
    }

    /// The JSON object under `key` in the lock bucket (`what` it should be) and its ETag, if
    /// there is one.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<(T, String)>, String> {
        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .expected_bucket_owner(&self.account)
            .send()
            .await;
        let out = match answer(got) {
            Answer::Ok(out) => out,
            Answer::Condition | Answer::NoBucket => return Ok(None),
            Answer::Error(e) => return Err(e),
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let bytes = out.body.collect().await.map_err(|e| e.to_string())?.into_bytes();
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the object {key} is not a {what} ({e})"))?;
        Ok(Some((value, etag)))
    }

    /// Every environment with a deployment record in this account and region.
    pub async fn recorded(&self) -> Result<Vec<String>, String> {
        let mut envs = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .expected_bucket_owner(&self.account)
            .prefix(RECORDS)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match answer(page) {
                Answer::Ok(page) => page,
                Answer::Condition | Answer::NoBucket => break,
                Answer::Error(e) => return Err(e),
            };
            for o in page.contents() {
                let env = o.key().and_then(|k| k.strip_prefix(RECORDS)?.strip_suffix(".json"));
                if let Some(env) = env {
                    envs.push(env.to_string());
                }
            }
        }
        Ok(envs)
    }

    /// Removes `env`'s deployment record (after everything of it was destroyed).
    pub async fn forget(&self, env: &str) -> Result<(), String> {
        self.delete_key(&Self::record_key(env), None).await
    }

    /// Takes the lease of `env`, waiting up to `timeout` for its holder to release it or for it
    /// to expire; `on_wait` is told who holds it (once per holder). Ctrl-C (`stop`) ends the wait.
    pub async fn acquire(
        &self,
        env: &str,
        holder: &Holder,
        timeout: Duration,
        stop: &Stop,
        on_wait: &(dyn Fn(&Lease) + Sync),
    ) -> Result<Held, LockError> {
        let failed = |message: String| LockError::Failed { env: env.to_string(), message };
        let started = Instant::now();
        let acquired_at = rfc3339(SystemTime::now());
        // The ETag last seen and since when (on this machine's monotonic clock).
        let mut watched: Option<(String, Instant)> = None;
        let mut told: Option<Holder> = None;
        let mut transient = 0;
        // Polls of a held lease: the engine's jittered backoff, at most 2 s apart.
        let backoff = crate::engine::Backoff { initial: Duration::from_millis(500), max: POLL_MAX };
        let mut polls = 0;
        loop {
            if stop.is_set() {
                return Err(LockError::Interrupted(env.to_string()));
            }
            let lease = Lease::new(env, holder, &acquired_at, self.lease);
            match self.put(env, &lease, Condition::Absent).await {
                Answer::Ok(etag) => {
                    return Ok(self.held(env, lease, etag, started.elapsed(), None, stop));
                }
                Answer::NoBucket => {
                    self.make_bucket().await.map_err(failed)?;
                    continue;
                }
                Answer::Error(e) => {
                    transient += 1;
                    if transient >= 5 {
                        return Err(failed(e));
                    }
                }
                Answer::Condition => {
                    let Some((current, etag)) = self.read(env).await.map_err(failed)? else {
                        continue; // released meanwhile
                    };
                    let since = match &watched {
                        Some((seen, since)) if *seen == etag => *since,
                        _ => Instant::now(),
                    };
                    watched = Some((etag.clone(), since));
                    if may_take_over(&current, since) {
                        let taken = Lease::new(env, holder, &acquired_at, self.lease);
                        if let Answer::Ok(new) =
                            self.put(env, &taken, Condition::Is(etag.clone())).await
                        {
                            return Ok(self.held(
                                env,
                                taken,
                                new,
                                started.elapsed(),
                                Some(current),
                                stop,
                            ));
                        }
                        continue;
                    }
                    // A lease that looks expired is watched for one whole lease, whatever the
                    // timeout: if it stays silent its holder is gone (a killed CI runner), and
                    // the run goes on; if it is renewed, a clock here is wrong, and it is held.
                    let looks_expired = current.expired()
                        && since.elapsed() < Duration::from_secs(current.lease_seconds) + POLL_MAX;
                    if started.elapsed() >= timeout && !looks_expired {
                        return Err(LockError::Held {
                            env: env.to_string(),
                            lease: Box::new(current),
                        });
                    }
                    if told.as_ref() != Some(&current.holder) {
                        on_wait(&current);
                        told = Some(current.holder.clone());
                    }
                }
            }
            let pause = backoff.delay(polls);
            polls += 1;
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait() => {}
            }
        }
    }

    fn held(
        &self,
        env: &str,
        lease: Lease,
        etag: String,
        waited: Duration,
        took_over: Option<Lease>,
        stop: &Stop,
    ) -> Held {
        let etag = Arc::new(tokio::sync::Mutex::new(etag));
        let lost = Stop::default();
        let renewer = {
            let (locks, env, etag, lost, stop) =
                (self.clone(), env.to_string(), etag.clone(), lost.clone(), stop.clone());
            let mut lease = lease.clone();
            tokio::spawn(async move {
                // When the lease this run last wrote was written: once it has run out unrenewed,
                // another run may have taken it over, renewal errors or not.
                let mut renewed = Instant::now();
                loop {
                    tokio::time::sleep(locks.lease / 3).await;
                    let mut current = etag.lock().await;
                    let now = SystemTime::now();
                    lease.renewed_at = rfc3339(now);
                    lease.expires_at = rfc3339(now + locks.lease);
                    let sent = Instant::now();
                    match locks.put(&env, &lease, Condition::Is(current.clone())).await {
                        Answer::Ok(new) => {
                            *current = new;
                            renewed = sent;
                        }
                        // Taken over or broken: another run may be changing the environment.
                        Answer::Condition | Answer::NoBucket => {
                            lost.set();
                            stop.set();
                            return;
                        }
                        // One failure is tolerated; after a second, the lease would run out
                        // before the next try: stop while it is still ours.
                        Answer::Error(_) if gives_up(renewed.elapsed(), locks.lease) => {
                            lost.set();
                            stop.set();
                            return;
                        }
                        Answer::Error(_) => {}
                    }
                }
            })
        };
        Held { locks: self.clone(), env: env.to_string(), etag, renewer, lost, waited, took_over }
    }

    /// Writes the lease: only if none exists (`Absent`) or only over the one with this ETag.
    async fn put(&self, env: &str, lease: &Lease, condition: Condition) -> Answer<String> {
        self.put_json(&Self::key(env), lease, Some(condition)).await
    }

    /// Writes `value` as JSON under `key` (only under `condition`, if one is given); its ETag.
    async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        condition: Option<Condition>,
    ) -> Answer<String> {
        let body = serde_json::to_vec_pretty(value).expect("JSON of our own types");
        let call = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .expected_bucket_owner(&self.account)
            .content_type("application/json")
            .body(ByteStream::from(body));
        let call = match condition {
            None => call,
            Some(Condition::Absent) => call.if_none_match("*"),
            Some(Condition::Is(etag)) => call.if_match(etag),
        };
        match answer(call.send().await) {
            Answer::Ok(out) => Answer::Ok(out.e_tag().unwrap_or_default().to_string()),
            Answer::Condition => Answer::Condition,
            Answer::NoBucket => Answer::NoBucket,
            Answer::Error(e) => Answer::Error(e),
        }
    }

    /// The lease of `env` and its ETag, if one exists.
    pub async fn read(&self, env: &str) -> Result<Option<(Lease, String)>, String> {
        self.get_json(&Self::key(env), "lease").await
    }

    /// Breaks the lease of `env` (whoever holds it); returns what it was.
    pub async fn break_lease(&self, env: &str) -> Result<Option<Lease>, String> {
        let Some((lease, etag)) = self.read(env).await? else {
            return Ok(None);
        };
        self.delete(env, &etag).await?;
        Ok(Some(lease))
    }

    async fn delete(&self, env: &str, etag: &str) -> Result<(), String> {
        self.delete_key(&Self::key(env), Some(etag)).await
    }

    /// Deletes the object under `key` (only with this ETag, if one is given); gone is done.
    async fn delete_key(&self, key: &str, etag: Option<&str>) -> Result<(), String> {
        let done = self
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .expected_bucket_owner(&self.account)
            .set_if_match(etag.map(str::to_string))
            .send()
            .await;
        match answer(done) {
            Answer::Ok(_) | Answer::Condition | Answer::NoBucket => Ok(()),
            Answer::Error(e) => Err(e),
        }
    }

    async fn make_bucket(&self) -> Result<(), String> {
        let mut config = CreateBucketConfiguration::builder();
        if self.region != "us-east-1" {
            config =
                config.location_constraint(BucketLocationConstraint::from(self.region.as_str()));
        }
        for (k, v) in [("project", PROJECT), ("purpose", "locks")] {
            config = config.tags(
                Tag::builder()
                    .key(format!("{TAG_PREFIX}{k}"))
                    .value(v)
                    .build()
                    .expect("key and value are set"),
            );
        }
        let made = self
            .s3
            .create_bucket()
            .bucket(&self.bucket)
            .create_bucket_configuration(config.build())
            .send()
            .await;
        match made {
            // us-east-1 answers 200 to CreateBucket on a bucket we own: nothing here may decide
            // on "this run made it".
            Ok(_) => {}
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => {}
            Err(e) if e.code() == Some("BucketAlreadyExists") => {
                return Err(format!("the lock bucket {} belongs to another account", self.bucket))
            }
            Err(e) => return Err(describe_sdk_error(&e)),
        }
        self.s3
            .put_public_access_block()
            .bucket(&self.bucket)
            .expected_bucket_owner(&self.account)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| describe_sdk_error(&e))?;
        Ok(())
    }
}

enum Condition {
    Absent,
    Is(String),
}

/// A lease this run holds; renewed in the background until `release`.
pub struct Held {
    locks: Locks,
    env: String,
    etag: Arc<tokio::sync::Mutex<String>>,
    renewer: tokio::task::JoinHandle<()>,
    /// Set when a renewal was refused: the lease was taken over or broken.
    pub lost: Stop,
    pub waited: Duration,
    /// The expired lease this one replaced.
    pub took_over: Option<Lease>,
}

impl Held {
    /// Stops renewing and deletes the lease (only if it is still ours).
    pub async fn release(self) {
        self.renewer.abort();
        let etag = self.etag.lock().await.clone();
        if !self.lost.is_set() {
            let _ = self.locks.delete(&self.env, &etag).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waiter whose clock runs an hour ahead sees a live lease as expired: it still waits a
    /// whole lease of silence before it takes over.
    #[test]
    fn a_skewed_clock_never_takes_a_live_lease() {
        let h = Holder::this_process("deploy");
        let mut live = Lease::new("pr-1", &h, "2026-01-01T00:00:00Z", Duration::from_secs(60));
        live.expires_at = rfc3339(SystemTime::now() - Duration::from_secs(3600));
        assert!(live.expired(), "as a clock an hour ahead sees it");
        assert!(!may_take_over(&live, Instant::now()));
        let quiet = Instant::now() - Duration::from_secs(61);
        assert!(may_take_over(&live, quiet));
    }

    /// Renewals fail (an S3 outage): one failure is tolerated, the second stops the run while
    /// its lease (60 s, renewed every 20 s) still holds.
    #[test]
    fn a_holder_whose_renewals_keep_failing_stops_before_its_lease_runs_out() {
        let lease = Duration::from_secs(60);
        assert!(!gives_up(Duration::from_secs(20), lease));
        assert!(gives_up(Duration::from_secs(40), lease));
        assert!(gives_up(Duration::from_secs(59), lease));
    }

    /// A holder on this machine whose process is gone is dead; one elsewhere, or alive, is not.
    #[test]
    fn a_holder_is_dead_only_when_its_process_here_is_gone() {
        let me = Holder::this_process("deploy");
        assert!(!me.is_dead_here());
        let gone = Holder { pid: u32::MAX - 1, ..me.clone() };
        assert!(gone.is_dead_here());
        let elsewhere = Holder { host: "runner-7".into(), ..gone };
        assert!(!elsewhere.is_dead_here());
    }

    #[test]
    fn a_lease_past_its_expiry_is_expired() {
        let h = Holder::this_process("deploy");
        let live = Lease::new("pr-1", &h, "2026-01-01T00:00:00Z", Duration::from_secs(60));
        assert!(!live.expired());
        let mut old = live.clone();
        old.expires_at = "2020-01-01T00:00:00Z".into();
        assert!(old.expired());
    }

    #[test]
    fn the_holder_names_its_run() {
        let h = Holder {
            command: "deploy".into(),
            host: "runner-1".into(),
            pid: 42,
            user: "ci".into(),
            ci_run: Some("https://github.com/o/r/actions/runs/7 (attempt 1)".into()),
        };
        assert_eq!(
            h.to_string(),
            "`deploy` (pid 42 on runner-1, user ci, https://github.com/o/r/actions/runs/7 (attempt 1))"
        );
    }
}
