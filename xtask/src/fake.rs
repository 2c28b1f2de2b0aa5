//! An in-memory cloud for what real programs cannot do: inject a crash after any mutating call,
//! throttle at random, and run the engine's schedule in virtual time for the benchmark. Every
//! kind is simulated alike; ownership tags and readiness behave as in the real services.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::engine::kind::Tags;
use crate::engine::{
    CloudError, CloudResult, FieldChange, Observed, Outputs, Progress, ResourceKind, Target,
};
use crate::kinds::{KindInfo, Sim};
use crate::model::names;

/// How long a kind's calls take, and how long until it is usable or gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub call: Duration,
    pub ready: Duration,
    pub delete: Duration,
}

impl From<Sim> for Latency {
    fn from(s: Sim) -> Latency {
        Latency {
            call: Duration::from_secs_f64(s.call),
            ready: Duration::from_secs_f64(s.ready),
            delete: Duration::from_secs_f64(s.gone),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FakeResource {
    pub tags: Tags,
    pub properties: Value,
    /// Goes away with any resource it references (rows inside a database, say).
    cascades: bool,
    ready_at: Instant,
    gone_at: Option<Instant>,
}

#[derive(Default)]
struct State {
    resources: HashMap<(String, String), FakeResource>,
    mutating: usize,
    read: usize,
    reads_by_kind: HashMap<String, usize>,
    crash_after: Option<usize>,
    crashed: bool,
    throttle: f64,
    rng: Option<StdRng>,
    latency: HashMap<String, Latency>,
}

#[derive(Default)]
pub struct FakeCloud {
    state: Mutex<State>,
}

// The injection methods are used by the engine tests; the benchmark uses only latencies.
#[cfg_attr(not(test), allow(dead_code))]
impl FakeCloud {
    pub fn new() -> Arc<FakeCloud> {
        Arc::new(FakeCloud::default())
    }

    /// The k-th mutating call takes effect, then the "process" dies: that call and every later
    /// one fail.
    pub fn crash_after(&self, k: Option<usize>) {
        let mut s = self.lock();
        s.crash_after = k;
        s.crashed = false;
    }

    /// Each call fails with a throttling error with probability `p` (seeded, repeatable).
    pub fn throttle(&self, p: f64, seed: u64) {
        let mut s = self.lock();
        s.throttle = p;
        s.rng = Some(StdRng::seed_from_u64(seed));
    }

    pub fn set_latency(&self, kind: &str, latency: Latency) {
        self.lock().latency.insert(kind.to_string(), latency);
    }

    /// (read, mutating) calls so far.
    pub fn calls(&self) -> (usize, usize) {
        let s = self.lock();
        (s.read, s.mutating)
    }

    /// Read calls so far on resources of `kind`.
    pub fn reads_of(&self, kind: &str) -> usize {
        self.lock().reads_by_kind.get(kind).copied().unwrap_or_default()
    }

    /// What exists (and is not yet gone), as (kind, physical name).
    pub fn inventory(&self) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut v: Vec<_> = self
            .lock()
            .resources
            .iter()
            .filter(|(_, r)| r.gone_at.is_none_or(|g| g > now))
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    /// Puts a resource there by hand (one that is ours by name but not by tag, say).
    pub fn insert(&self, kind: &str, name: &str, tags: Tags) {
        let r = FakeResource {
            tags,
            properties: json!({}),
            cascades: false,
            ready_at: Instant::now(),
            gone_at: None,
        };
        self.lock().resources.insert((kind.to_string(), name.to_string()), r);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }

    async fn call(&self, kind: &str, mutating: bool) -> CloudResult<()> {
        let latency = self.lock().latency.get(kind).copied().unwrap_or_default();
        if !latency.call.is_zero() {
            tokio::time::sleep(latency.call).await;
        }
        let mut s = self.lock();
        if s.crashed {
            return Err(CloudError::Fatal("the process was stopped here (injected crash)".into()));
        }
        let p = s.throttle;
        if p > 0.0 && s.rng.as_mut().is_some_and(|r| r.gen_bool(p)) {
            return Err(CloudError::Retryable(
                "ThrottlingException: Rate exceeded (injected)".into(),
            ));
        }
        if mutating {
            s.mutating += 1;
        } else {
            s.read += 1;
            *s.reads_by_kind.entry(kind.to_string()).or_default() += 1;
        }
        Ok(())
    }

    /// After a mutation took effect: is this the call after which the process dies?
    fn after_mutation(&self) -> CloudResult<()> {
        let mut s = self.lock();
        if s.crash_after.is_some_and(|k| s.mutating >= k) {
            s.crashed = true;
            return Err(CloudError::Fatal("the process was stopped here (injected crash)".into()));
        }
        Ok(())
    }
}

/// A simulated kind: any `KindInfo`, stored in a `FakeCloud`.
pub struct FakeKind {
    pub info: &'static KindInfo,
    pub cloud: Arc<FakeCloud>,
}

impl FakeKind {
    fn key(&self, target: &Target) -> (String, String) {
        (self.info.kind.to_string(), target.physical_name.clone())
    }

    fn outputs(&self, name: &str, ready: bool) -> Outputs {
        self.info
            .attributes
            .iter()
            .filter(|a| ready || !self.info.ready_attributes.contains(a))
            .map(|a| (a.to_string(), json!(format!("{a}-of-{name}"))))
            .collect()
    }
}

/// A registry in which every kind is simulated in `cloud`.
pub fn registry(
    cloud: &Arc<FakeCloud>,
    infos: &[&'static KindInfo],
) -> HashMap<&'static str, Arc<dyn ResourceKind>> {
    infos
        .iter()
        .map(|info| {
            (info.kind, Arc::new(FakeKind { info, cloud: cloud.clone() }) as Arc<dyn ResourceKind>)
        })
        .collect()
}

#[async_trait]
impl ResourceKind for FakeKind {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &["immutable"]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        self.cloud.call(self.info.kind, false).await?;
        let now = Instant::now();
        let s = self.cloud.lock();
        let Some(r) = s.resources.get(&self.key(target)) else {
            return Ok(None);
        };
        if r.gone_at.is_some_and(|g| g <= now) {
            return Ok(None);
        }
        Ok(Some(Observed {
            owned: names::is_owned(&target.tags, &r.tags),
            properties: r.properties.clone(),
            outputs: self.outputs(&target.physical_name, now >= r.ready_at),
        }))
    }

    async fn find(&self, target: &Target) -> CloudResult<Option<Observed>> {
        self.observe(target).await
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        self.cloud.call(self.info.kind, true).await?;
        let ready =
            self.cloud.lock().latency.get(self.info.kind).map(|l| l.ready).unwrap_or_default();
        let mut tags = target.tags.clone();
        let (k, v) = names::created_at_tag();
        tags.insert(k, v);
        // Many creates take several calls (a user: create, password, groups). The first makes
        // the resource exist, unfinished; a run stopped in between must finish it by update.
        let steps = self.info.sim.create_steps;
        let first = if steps > 1 { json!({"unfinished": true}) } else { target.properties.clone() };
        let r = FakeResource {
            tags,
            properties: first,
            cascades: self.info.cascades,
            ready_at: Instant::now() + ready,
            gone_at: None,
        };
        {
            let mut s = self.cloud.lock();
            if s.resources.get(&self.key(target)).is_some_and(|r| r.gone_at.is_none()) {
                return Err(CloudError::Fatal(format!("{} already exists", target.physical_name)));
            }
            s.resources.insert(self.key(target), r);
        }
        self.cloud.after_mutation()?;
        for step in 2..=steps {
            self.cloud.call(self.info.kind, true).await?;
            if step == steps {
                if let Some(r) = self.cloud.lock().resources.get_mut(&self.key(target)) {
                    r.properties = target.properties.clone();
                }
            }
            self.cloud.after_mutation()?;
        }
        Ok(self.outputs(&target.physical_name, false))
    }

    async fn update(
        &self,
        target: &Target,
        _observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.cloud.call(self.info.kind, true).await?;
        if let Some(r) = self.cloud.lock().resources.get_mut(&self.key(target)) {
            r.properties = target.properties.clone();
        }
        self.cloud.after_mutation()?;
        Ok(self.outputs(&target.physical_name, false))
    }

    async fn poll_ready(&self, target: &Target, outputs: &Outputs) -> CloudResult<Progress> {
        self.cloud.call(self.info.kind, false).await?;
        let now = Instant::now();
        let ready_at = self.cloud.lock().resources.get(&self.key(target)).map(|r| r.ready_at);
        match ready_at {
            Some(t) if now < t => Ok(Progress::Pending("CREATING".into())),
            Some(_) => Ok(Progress::Done(self.outputs(&target.physical_name, true))),
            None => Ok(Progress::Done(outputs.clone())),
        }
    }

    async fn delete(&self, target: &Target, _observed: &Observed) -> CloudResult<()> {
        self.cloud.call(self.info.kind, true).await?;
        let delay =
            self.cloud.lock().latency.get(self.info.kind).map(|l| l.delete).unwrap_or_default();
        {
            let mut s = self.cloud.lock();
            let key = self.key(target);
            match s.resources.get_mut(&key) {
                None => return Err(CloudError::NotFound(target.physical_name.clone())),
                Some(r) if delay.is_zero() => {
                    let _ = r;
                    s.resources.remove(&key);
                    // Fake outputs read `<attribute>-of-<physical name>`: whatever references
                    // this resource and cascades goes with it.
                    let mark = format!("-of-{}\"", target.physical_name);
                    s.resources
                        .retain(|_, r| !(r.cascades && r.properties.to_string().contains(&mark)));
                }
                Some(r) => {
                    let at = *r.gone_at.get_or_insert(Instant::now() + delay);
                    let mark = format!("-of-{}\"", target.physical_name);
                    for r in s
                        .resources
                        .values_mut()
                        .filter(|r| r.cascades && r.properties.to_string().contains(&mark))
                    {
                        r.gone_at.get_or_insert(at);
                    }
                }
            }
        }
        self.cloud.after_mutation()
    }
}
