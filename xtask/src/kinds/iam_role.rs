//! An IAM role a service assumes (the Knowledge Base's, an agent's): trust limited to that
//! service in this account (and, where given, to a source ARN pattern), one inline policy with
//! exactly the permissions the stack lists. Tagged at creation.

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use super::{tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, SeenOf, Target,
};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "iam.role",
    attributes: &["arn", "name"],
    sim: Sim {
        create_steps: 2, // CreateRole, PutRolePolicy
        call: 0.3,
        ..SIM
    },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    /// The service principal, e.g. `bedrock.amazonaws.com`.
    pub service: String,
    /// `aws:SourceArn` must match this (ArnLike), e.g. `arn:aws:bedrock:REGION:ACCOUNT:knowledge-base/*`.
    #[serde(default)]
    pub source_arn: Option<String>,
    /// IAM policy statements (`Effect`, `Action`, `Resource`), as IAM writes them.
    pub statements: Vec<Value>,
}

const NOT_FOUND: &[&str] = &["NoSuchEntity"];
const POLICY: &str = "permissions";

/// What `observe` reads back: the trust policy's service and source ARN (the properties'
/// own where the trust policy is exactly what they make), and the inline policy's statements.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    service: Option<String>,
    source_arn: Option<String>,
    statements: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub name: String,
}

/// An IAM policy document.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document<S> {
    version: String,
    statement: Vec<S>,
}

impl<S> Document<S> {
    fn of(statement: Vec<S>) -> Self {
        Document { version: "2012-10-17".into(), statement }
    }
}

/// The one statement of a trust policy.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Trust {
    effect: String,
    principal: Principal,
    action: String,
    condition: Condition,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Principal {
    service: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Condition {
    string_equals: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    arn_like: Option<BTreeMap<String, String>>,
}

pub struct Role(pub Clients);

impl Role {
    fn trust(&self, p: &Properties) -> Document<Trust> {
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        Document::of(vec![Trust {
            effect: "Allow".into(),
            principal: Principal { service: p.service.clone() },
            action: "sts:AssumeRole".into(),
            condition: Condition {
                string_equals: one("aws:SourceAccount", &self.0.account),
                arn_like: p.source_arn.as_deref().map(|a| one("aws:SourceArn", a)),
            },
        }])
    }

    async fn put_policy(&self, name: &str, p: &Properties) -> CloudResult<()> {
        let doc = Document::of(p.statements.clone());
        self.0
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(POLICY)
            .policy_document(json_text(&doc))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }

    /// Its inline policy first: IAM refuses to delete a role that still has one.
    async fn remove(&self, name: &str) -> CloudResult<()> {
        match self
            .0
            .iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(POLICY)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))
        {
            Ok(_) | Err(CloudError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        self.0
            .iam
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}

fn json_text(doc: &impl Serialize) -> String {
    serde_json::to_string(doc).expect("a policy serializes")
}

fn outputs(role: &aws_sdk_iam::types::Role) -> Outputs {
    Outputs { arn: role.arn().to_string(), name: role.role_name().to_string() }
}

/// IAM returns policy documents URL-encoded. `None`: not a document of this shape.
fn decode<T: DeserializeOwned>(doc: &str) -> Option<T> {
    let mut bytes = Vec::new();
    let raw = doc.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let Ok(b) = u8::from_str_radix(&doc[i + 1..i + 3], 16) {
                bytes.push(b);
                i += 3;
                continue;
            }
        }
        bytes.push(if raw[i] == b'+' { b' ' } else { raw[i] });
        i += 1;
    }
    let text = String::from_utf8_lossy(&bytes);
    serde_json::from_str(&text).or_else(|_| serde_json::from_str(doc)).ok()
}

#[async_trait]
impl Kind for Role {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let got = self.0.iam.get_role().role_name(&target.physical_name).send().await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let role = out.role.ok_or_else(|| CloudError::Fatal("GetRole returned no role".into()))?;
        let tags = self
            .0
            .iam
            .list_role_tags()
            .role_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let tags =
            tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        if !names::is_owned(&target.tags, &tags) {
            return Ok(Some(Found::Foreign));
        }
        let statements = match self
            .0
            .iam
            .get_role_policy()
            .role_name(&target.physical_name)
            .policy_name(POLICY)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))
        {
            Ok(out) => decode::<Document<Value>>(out.policy_document()).map(|d| d.statement),
            Err(CloudError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let trust: Option<Document<Trust>> = role.assume_role_policy_document().and_then(decode);
        let state = if trust.as_ref() == Some(&self.trust(p)) {
            State { service: Some(p.service.clone()), source_arn: p.source_arn.clone(), statements }
        } else {
            let first = trust.and_then(|t| t.statement.into_iter().next());
            State {
                service: first.as_ref().map(|t| t.principal.service.clone()),
                source_arn: first
                    .and_then(|t| t.condition.arn_like)
                    .and_then(|a| a.get("aws:SourceArn").cloned()),
                statements,
            }
        };
        Ok(Found::ours(state, outputs(&role)))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let tags = tags_with_created_at(target)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value"))
            .collect();
        let out = self
            .0
            .iam
            .create_role()
            .role_name(&target.physical_name)
            .assume_role_policy_document(json_text(&self.trust(p)))
            .description(format!("{} for {}", target.logical_id, p.service))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        self.put_policy(&target.physical_name, p).await?;
        let role =
            out.role.ok_or_else(|| CloudError::Fatal("CreateRole returned no role".into()))?;
        Ok(outputs(&role))
    }

    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        self.0
            .iam
            .update_assume_role_policy()
            .role_name(&target.physical_name)
            .policy_document(json_text(&self.trust(p)))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        self.put_policy(&target.physical_name, p).await?;
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
