//! An AgentCore Memory: short-term events, kept `event_expiry_days` days, under an actor and a
//! session. No long-term strategy: those run a model over the events on AWS (and never run on
//! the local cloud), so their isolation could not be shown here. Which actor an event goes
//! under is the agent's decision (tutorial 4: the tenant and `sub` of the verified token), not
//! the memory's. Tagged at creation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::agentcore_policy_engine::tags_of;
use super::{client_token, first_in_pages, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, Found, Kind, Observation, Orphan, Progress, SeenOf, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "agentcore.memory",
    name_style: NameStyle::Underscored,
    attributes: &["arn", "id"],
    // Source: none published for CreateMemory to ACTIVE without strategies: 30 s, an estimate.
    sim: Sim { call: 0.5, ready: 30.0, gone: 10.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    #[serde(default)]
    pub description: String,
    /// How long events are kept: 3 to 365 days (CreateMemory's `eventExpiryDuration`).
    pub event_expiry_days: i32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    description: String,
    event_expiry_days: i32,
    status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub id: String,
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

fn busy(e: CloudError) -> CloudError {
    e.retry_on(&["ConflictException"])
}

pub struct Memory(pub Clients);

impl Memory {
    async fn remove(&self, id: &str) -> CloudResult<()> {
        self.0
            .agentcore
            .delete_memory()
            .memory_id(id)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }

    /// The id of the memory named `name`: ListMemories gives no names, but an id is the name,
    /// a hyphen and ten characters (`[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10}`), and a name
    /// has no hyphen. One being deleted is passed over while the page holds a live one.
    async fn find_id(&self, name: &str) -> CloudResult<Option<String>> {
        let pages = self.0.agentcore.list_memories().into_paginator().send();
        let prefix = format!("{name}-");
        first_in_pages(pages, NOT_FOUND, |page| {
            let mut named: Vec<_> = page
                .memories()
                .iter()
                .filter(|m| {
                    m.id()
                        .is_some_and(|id| id.len() == prefix.len() + 10 && id.starts_with(&prefix))
                })
                .collect();
            named.sort_by_key(|m| m.status().is_some_and(|s| s.as_str() == "DELETING"));
            named.first().and_then(|m| m.id()).map(str::to_string)
        })
        .await
    }
}

#[async_trait]
impl Kind for Memory {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    fn check_files(p: &Properties, _root: &std::path::Path) -> Vec<String> {
        if (3..=365).contains(&p.event_expiry_days) {
            vec![]
        } else {
            vec![format!(
                "event_expiry_days is {}: AgentCore keeps events 3 to 365 days",
                p.event_expiry_days
            )]
        }
    }

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let Some(id) = self.find_id(&target.physical_name).await? else {
            return Ok(None);
        };
        let got = self.0.agentcore.get_memory().memory_id(&id).send().await;
        let Some(m) = found(got.map_err(|e| classify(e, NOT_FOUND)))?.and_then(|o| o.memory) else {
            return Ok(None);
        };
        // Ours by tags; and one with a customer key, an execution role or strategies we never
        // set is not ours either, whatever its tags say.
        if m.name() != target.physical_name
            || !names::is_owned(&target.tags, &tags_of(&self.0, m.arn()).await?)
            || m.encryption_key_arn().is_some()
            || m.memory_execution_role_arn().is_some()
            || m.managed_by_resource_arn().is_some()
            || !m.strategies().is_empty()
        {
            return Ok(Some(Found::Foreign));
        }
        let state = State {
            description: m.description().unwrap_or_default().to_string(),
            event_expiry_days: m.event_expiry_duration(),
            status: m.status().as_str().to_string(),
        };
        Ok(Found::ours(state, Outputs { arn: m.arn().to_string(), id: m.id().to_string() }))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let out = self
            .0
            .agentcore
            .create_memory()
            .name(&target.physical_name)
            // AWS refuses an empty description (1 character at least)
            .set_description(Some(p.description.clone()).filter(|d| !d.is_empty()))
            .event_expiry_duration(p.event_expiry_days)
            .client_token(client_token(target, "create"))
            .set_tags(Some(tags_with_created_at(target).into_iter().collect()))
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        let m = out
            .memory()
            .ok_or_else(|| CloudError::Fatal("CreateMemory returned no memory".into()))?;
        Ok(Outputs { arn: m.arn().to_string(), id: m.id().to_string() })
    }

    async fn update(
        &self,
        _t: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _c: &[crate::engine::FieldChange],
    ) -> CloudResult<Outputs> {
        self.0
            .agentcore
            .update_memory()
            .memory_id(&seen.outputs.id)
            .set_description(Some(p.description.clone()).filter(|d| !d.is_empty()))
            .event_expiry_duration(p.event_expiry_days)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(seen.outputs.clone())
    }

    async fn poll_ready(
        &self,
        _t: &Target,
        _p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let out = self
            .0
            .agentcore
            .get_memory()
            .memory_id(&outputs.id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let m =
            out.memory().ok_or_else(|| CloudError::Fatal("GetMemory returned no memory".into()))?;
        match m.status().as_str() {
            "ACTIVE" => Ok(Progress::Done(outputs.clone())),
            "FAILED" => Err(CloudError::Fatal(format!(
                "memory FAILED: {}",
                m.failure_reason().unwrap_or("no reason given")
            ))),
            s => Ok(Progress::Pending(format!("memory {s}"))),
        }
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        if seen.state.status == "DELETING" {
            return Ok(());
        }
        self.remove(&seen.outputs.id).await
    }

    /// A memory left by a stack that no longer declares it (its events go with it).
    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_expiry_is_checked_before_any_call() {
        let check = |days| {
            Memory::check_files(
                &Properties { description: String::new(), event_expiry_days: days },
                std::path::Path::new("."),
            )
        };
        assert!(check(3).is_empty() && check(365).is_empty());
        assert!(check(2)[0].contains("3 to 365"));
        assert!(check(366)[0].contains("3 to 365"));
    }
}
