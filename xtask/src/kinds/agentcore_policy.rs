//! One Cedar policy of a policy engine, taken from a `.cedar` file of the repository by its
//! `@id`, with `{{gateway_arn}}` filled in (AWS refuses a policy that names actions but not its
//! gateway). Always ACTIVE (a LOG_ONLY permit would be no permit, a LOG_ONLY forbid no forbid).
//! AWS validates a policy after CreatePolicy answers: one that fails ends CREATE_FAILED, which
//! the deploy reports with AWS's reasons. Policy names are unique in the account, so the name is
//! the environment's (`agentcore_mt_<env>_t<N>_<id>`). Policies carry no tags: one is ours when
//! its engine is. Any change replaces it.

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::types::{
    CedarPolicy, EnforcementMode, PolicyDefinition, PolicyValidationMode,
};
use serde::{Deserialize, Serialize};

use super::agentcore_policy_engine::tags_of;
use super::{client_token, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Progress,
    SeenOf, Target, Update,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "agentcore.policy",
    name_style: NameStyle::Underscored,
    attributes: &["id"],
    files: &["file"],
    // Source: none published for CreatePolicy to ACTIVE (validation included): 5 s, an estimate.
    sim: Sim { call: 0.5, ready: 5.0, gone: 2.0, ..SIM },
    ..KindInfo::DEFAULT
};

/// Where the gateway's ARN goes in a policy file.
pub const GATEWAY_ARN: &str = "{{gateway_arn}}";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub policy_engine_id: String,
    /// The `.cedar` file, relative to the repository root.
    pub file: String,
    /// The policy's `@id` in the file.
    pub id: String,
    pub gateway_arn: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    policy_engine_id: String,
    /// The file's name when the policy is the file's statement; otherwise the policy's text.
    file: String,
    id: String,
    gateway_arn: String,
    status: String,
    enforcement_mode: String,
    reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

fn busy(e: CloudError) -> CloudError {
    e.retry_on(&["ConflictException"])
}

/// The policies of a `.cedar` file by `@id`, in order: each starts at a line that begins with
/// `@id("...")` and ends at the last `;` before the next one.
pub fn policies(text: &str) -> Vec<(String, String)> {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("@id(\"") {
            if let Some(end) = rest.find("\")") {
                starts.push((at, rest[..end].to_string()));
            }
        }
        at += line.len();
    }
    let mut out = Vec::new();
    for (i, (start, id)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(text.len(), |s| s.0);
        let chunk = &text[*start..end];
        let chunk = chunk.rfind(';').map_or(chunk, |j| &chunk[..=j]);
        out.push((id.clone(), chunk.trim().to_string()));
    }
    out
}

/// The statement of policy `id` in `path`, for `gateway_arn`.
pub fn statement(path: &std::path::Path, id: &str, gateway_arn: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the policy file {}: {e}", path.display()))?;
    let found: Vec<String> =
        policies(&text).into_iter().filter(|(i, _)| i == id).map(|(_, s)| s).collect();
    match found.as_slice() {
        [one] => Ok(one.replace(GATEWAY_ARN, gateway_arn)),
        [] => Err(format!(
            "{} has no policy @id(\"{id}\") at the start of a line; it has: {}",
            path.display(),
            policies(&text).into_iter().map(|(i, _)| i).collect::<Vec<_>>().join(", ")
        )),
        _ => Err(format!("{} has @id(\"{id}\") more than once", path.display())),
    }
}

pub struct Policy(pub Clients);

impl Policy {
    async fn owned(&self, target: &Target, p: &Properties, files: bool) -> Observation<Self> {
        let got =
            self.0.agentcore.get_policy_engine().policy_engine_id(&p.policy_engine_id).send().await;
        let Some(engine) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        if !names::parent_is_owned(
            &target.tags,
            &tags_of(&self.0, engine.policy_engine_arn()).await?,
        ) {
            return Ok(Some(Found::Foreign));
        }
        let mut pages = self
            .0
            .agentcore
            .list_policies()
            .policy_engine_id(&p.policy_engine_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(e, NOT_FOUND))?;
            let Some(policy) = page.policies().iter().find(|x| x.name() == target.physical_name)
            else {
                continue;
            };
            let text = policy
                .definition()
                .and_then(|d| d.as_cedar().ok())
                .map(|c| c.statement().to_string())
                .unwrap_or_default();
            let wanted = if files {
                Some(
                    statement(&self.0.root.join(&p.file), &p.id, &p.gateway_arn)
                        .map_err(CloudError::Fatal)?,
                )
            } else {
                None
            };
            let file = if wanted.as_deref() == Some(text.as_str()) { p.file.clone() } else { text };
            let state = State {
                policy_engine_id: p.policy_engine_id.clone(),
                file,
                id: p.id.clone(),
                gateway_arn: p.gateway_arn.clone(),
                status: policy.status().as_str().to_string(),
                enforcement_mode: policy.enforcement_mode().as_str().to_string(),
                reasons: policy.status_reasons().to_vec(),
            };
            return Ok(Found::ours(state, Outputs { id: policy.policy_id().to_string() }));
        }
        Ok(None)
    }
}

#[async_trait]
impl Kind for Policy {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["policy_engine_id", "file", "id", "gateway_arn"];
    const UPDATE: Update = Update::Nothing;

    fn check_files(p: &Properties, root: &std::path::Path) -> Vec<String> {
        match statement(&root.join(&p.file), &p.id, "arn:aws:bedrock-agentcore:r:0:gateway/g") {
            Ok(_) => Vec::new(),
            Err(e) => vec![e],
        }
    }

    /// A policy that failed validation, or that only logs, is replaced.
    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        mut changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let s = &seen.state;
        if s.status.ends_with("FAILED") {
            changes.push(FieldChange { replaces: true, ..change("status", &s.status, "ACTIVE") });
        }
        if s.enforcement_mode != "ACTIVE" {
            changes.push(FieldChange {
                replaces: true,
                ..change("enforcement_mode", &s.enforcement_mode, "ACTIVE")
            });
        }
        changes
    }

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        self.owned(target, p, true).await
    }

    async fn find(&self, target: &Target, p: &Properties) -> Observation<Self> {
        self.owned(target, p, false).await
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let text = statement(&self.0.root.join(&p.file), &p.id, &p.gateway_arn)
            .map_err(CloudError::Fatal)?;
        let cedar = CedarPolicy::builder().statement(text).build().map_err(CloudError::fatal)?;
        let out = self
            .0
            .agentcore
            .create_policy()
            .policy_engine_id(&p.policy_engine_id)
            .name(&target.physical_name)
            .description(format!("{} from {} (agentcore-multitenant)", p.id, p.file))
            .definition(PolicyDefinition::Cedar(cedar))
            .validation_mode(PolicyValidationMode::FailOnAnyFindings)
            .enforcement_mode(EnforcementMode::Active)
            .client_token(client_token(target, "create"))
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(Outputs { id: out.policy_id().to_string() })
    }

    async fn poll_ready(
        &self,
        _t: &Target,
        p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let got = self
            .0
            .agentcore
            .get_policy()
            .policy_engine_id(&p.policy_engine_id)
            .policy_id(&outputs.id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        match got.status().as_str() {
            "ACTIVE" => Ok(Progress::Done(outputs.clone())),
            s if s.ends_with("FAILED") => Err(CloudError::Fatal(format!(
                "policy {} of {}: {s}: {}\n  hint: fix the policy in the file (cargo xtask \
                 validate checks that it is there); the next deploy replaces the failed one",
                p.id,
                p.file,
                got.status_reasons().join("; ")
            ))),
            s => Ok(Progress::Pending(format!("policy {s}"))),
        }
    }

    async fn delete(&self, _t: &Target, p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        if seen.state.status == "DELETING" {
            return Ok(());
        }
        self.0
            .agentcore
            .delete_policy()
            .policy_engine_id(&p.policy_engine_id)
            .policy_id(&seen.outputs.id)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Each policy of the repository's file is found by its `@id`, from its annotation to its
    /// `;`, with the gateway filled in; an id not there, or there twice, is an error.
    #[test]
    fn a_policy_is_taken_from_its_file_by_id() {
        let root = crate::workspace();
        let path = root.join("agents/tools/policies/claims_tools.cedar");
        let ids: Vec<String> = super::policies(&std::fs::read_to_string(&path).unwrap())
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
        let s = super::statement(&path, "broker_reads_own_tenant", "arn:g").unwrap();
        assert!(s.starts_with("@id(\"broker_reads_own_tenant\")") && s.ends_with(';'), "{s}");
        assert!(s.contains("AgentCore::Gateway::\"arn:g\"") && !s.contains("{{"), "{s}");
        assert!(!s.contains("ClaimsTools___file_claim"), "one policy only: {s}");
        assert!(super::statement(&path, "nope", "arn:g")
            .unwrap_err()
            .contains("broker_reads_own_tenant"));
        let dir = tempfile::tempdir().unwrap();
        let twice = dir.path().join("t.cedar");
        std::fs::write(&twice, "@id(\"a\")\npermit(principal,action,resource);\n@id(\"a\")\nforbid(principal,action,resource);\n").unwrap();
        assert!(super::statement(&twice, "a", "g").unwrap_err().contains("more than once"));
    }
}
