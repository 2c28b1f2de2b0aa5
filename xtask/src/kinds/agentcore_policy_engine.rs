//! An AgentCore Policy engine: the container of a gateway's Cedar policies. It decides nothing
//! until a gateway names it (in ENFORCE mode: `agentcore.gateway`), and holds its policies
//! (`agentcore.policy`), which go before it. Tagged at creation.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{client_token, first_in_pages, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, Found, Kind, Observation, Orphan, Progress, SeenOf, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "agentcore.policy_engine",
    name_style: NameStyle::Underscored,
    attributes: &["arn", "id"],
    // Source: none published for CreatePolicyEngine to ACTIVE: 10 s, an estimate.
    sim: Sim { call: 0.5, ready: 10.0, gone: 5.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    description: String,
    status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub id: String,
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// Busy (CREATING, UPDATING), or still holding policies or attached to a gateway that is going
/// away: both clear up.
fn busy(e: CloudError) -> CloudError {
    e.retry_on(&["ConflictException"])
}

/// An AgentCore resource's tags (gateways, policy engines, runtimes, memories).
pub async fn tags_of(clients: &Clients, arn: &str) -> CloudResult<BTreeMap<String, String>> {
    let out = clients
        .agentcore
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| classify(e, NOT_FOUND))?;
    Ok(out.tags().cloned().unwrap_or_default().into_iter().collect())
}

pub struct PolicyEngine(pub Clients);

impl PolicyEngine {
    /// A gateway (not being deleted) whose configuration names the engine `arn`.
    async fn attached_to(&self, arn: &str) -> CloudResult<Option<String>> {
        let mut pages = self.0.agentcore.list_gateways().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(e, NOT_FOUND))?;
            for g in page.items().iter().filter(|g| g.status().as_str() != "DELETING") {
                let got = self.0.agentcore.get_gateway().gateway_identifier(g.gateway_id()).send();
                match got.await.map_err(|e| classify(e, NOT_FOUND)) {
                    Ok(full)
                        if full.policy_engine_configuration().is_some_and(|c| c.arn() == arn) =>
                    {
                        return Ok(Some(g.name().to_string()))
                    }
                    Ok(_) | Err(CloudError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(None)
    }

    async fn remove(&self, id: &str) -> CloudResult<()> {
        self.0
            .agentcore
            .delete_policy_engine()
            .policy_engine_id(id)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }

    async fn find_id(&self, name: &str) -> CloudResult<Option<String>> {
        let pages = self.0.agentcore.list_policy_engines().into_paginator().send();
        first_in_pages(pages, NOT_FOUND, |page| {
            page.policy_engines()
                .iter()
                .find(|e| e.name() == name)
                .map(|e| e.policy_engine_id().to_string())
        })
        .await
    }
}

#[async_trait]
impl Kind for PolicyEngine {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let Some(id) = self.find_id(&target.physical_name).await? else {
            return Ok(None);
        };
        let got = self.0.agentcore.get_policy_engine().policy_engine_id(&id).send().await;
        let Some(e) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        // An engine with a customer key we never set is not ours, whatever its tags say.
        if !names::is_owned(&target.tags, &tags_of(&self.0, e.policy_engine_arn()).await?)
            || e.encryption_key_arn().is_some()
        {
            return Ok(Some(Found::Foreign));
        }
        let state = State {
            description: e.description().unwrap_or_default().to_string(),
            status: e.status().as_str().to_string(),
        };
        let outputs = Outputs {
            arn: e.policy_engine_arn().to_string(),
            id: e.policy_engine_id().to_string(),
        };
        Ok(Found::ours(state, outputs))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let e = self
            .0
            .agentcore
            .create_policy_engine()
            .name(&target.physical_name)
            .description(&p.description)
            .client_token(client_token(target, "create"))
            .set_tags(Some(tags_with_created_at(target).into_iter().collect()))
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(Outputs { arn: e.policy_engine_arn().to_string(), id: e.policy_engine_id().to_string() })
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
            .update_policy_engine()
            .policy_engine_id(&seen.outputs.id)
            .description(
                aws_sdk_bedrockagentcorecontrol::types::UpdatedDescription::builder()
                    .optional_value(&p.description)
                    .build(),
            )
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
        let e = self
            .0
            .agentcore
            .get_policy_engine()
            .policy_engine_id(&outputs.id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        match e.status().as_str() {
            "ACTIVE" => Ok(Progress::Done(outputs.clone())),
            s if s.ends_with("FAILED") => Err(CloudError::Fatal(format!(
                "policy engine {s}: {}",
                e.status_reasons().join("; ")
            ))),
            s => Ok(Progress::Pending(format!("policy engine {s}"))),
        }
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        if seen.state.status == "DELETING" {
            return Ok(());
        }
        self.remove(&seen.outputs.id).await
    }

    /// An engine goes only without policies (and once no gateway names it, which a gateway
    /// orphan's own deletion clears): its policies go first. Done once it is gone, not when it
    /// starts deleting.
    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        let got = self.0.agentcore.get_policy_engine().policy_engine_id(&orphan.id).send().await;
        match got.map_err(|e| classify(e, NOT_FOUND)) {
            Ok(e) if e.status().as_str() == "DELETING" => {
                return Err(CloudError::Retryable("it is being deleted".into()))
            }
            Ok(e) if e.status().as_str() == "DELETE_FAILED" => {
                return Err(CloudError::Fatal(format!(
                    "policy engine DELETE_FAILED: {}",
                    e.status_reasons().join("; ")
                )))
            }
            Ok(_) => {}
            Err(CloudError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        // While a gateway still names it, its policies stay: without them that gateway would
        // deny every call. A gateway orphan of the same sweep lets go of it when it is deleted.
        if let Some(gateway) = self.attached_to(&orphan.arn).await? {
            return Err(CloudError::Retryable(format!("gateway {gateway} still names it")));
        }
        let mut held = Vec::new();
        let mut pages =
            self.0.agentcore.list_policies().policy_engine_id(&orphan.id).into_paginator().send();
        while let Some(page) = pages.next().await {
            match page.map_err(|e| classify(e, NOT_FOUND)) {
                Ok(page) => held.extend(page.policies().iter().map(|p| p.policy_id().to_string())),
                Err(CloudError::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        for id in &held {
            let gone = self
                .0
                .agentcore
                .delete_policy()
                .policy_engine_id(&orphan.id)
                .policy_id(id)
                .send()
                .await
                .map_err(|e| busy(classify(e, NOT_FOUND)));
            match gone {
                Ok(_) | Err(CloudError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !held.is_empty() {
            return Err(CloudError::Retryable("its policies are being deleted".into()));
        }
        self.remove(&orphan.id).await?;
        Err(CloudError::Retryable("it is being deleted".into()))
    }
}
