//! An IAM role a service assumes (the Knowledge Base's, an agent's): trust limited to that
//! service in this account (and, where given, to a source ARN pattern), one inline policy with
//! exactly the permissions the stack lists, under the account's permissions boundary
//! (`permissions::BOUNDARY`; a role found without it, or with another, gets it back). Tagged at
//! creation. On the local cloud the first role makes the boundary; on AWS an administrator does,
//! once (`cargo xtask permissions --boundary`): the deploying identity may not write it.

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use super::{tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients, TargetKind};
use crate::engine::{
    change, found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, SeenOf,
    Target,
};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "iam.role",
    attributes: &["arn", "name"],
    // Source: none published per call. IAM's eventual consistency is modelled where it bites (the
    // runtime's and Knowledge Base's creates retry "cannot be assumed"); tools wait 6-10 s for it
    // (ce-provision PR #2438, aws-spa waitAfterCreate 10000 ms).
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

/// A role's tag with its environment as AgentCore runtime names write it (`pr_1`).
pub const ENV_ID: &str = "agentcore-mt:env-id";
const POLICY: &str = "permissions";

/// What `observe` reads back: the trust policy's service and source ARN (the properties'
/// own where the trust policy is exactly what they make), and the inline policy's statements.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    service: Option<String>,
    source_arn: Option<String>,
    statements: Option<Vec<Value>>,
    /// The role's permissions boundary (compared in `diff`: no property names it).
    #[serde(default)]
    boundary: Option<String>,
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

    fn boundary_arn(&self) -> String {
        crate::permissions::boundary_arn(&self.0.account)
    }

    /// The account's permissions boundary, made here on the local cloud if it is not there yet;
    /// on AWS its absence is an error that says who makes it.
    async fn boundary(&self) -> CloudResult<String> {
        let arn = self.boundary_arn();
        let got = self.0.iam.get_policy().policy_arn(&arn).send().await;
        match got.map_err(|e| classify(e, NOT_FOUND)) {
            Ok(_) => return Ok(arn),
            Err(CloudError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        if self.0.target != TargetKind::Local {
            return Err(CloudError::Fatal(format!(
                "the account's permissions boundary {arn} does not exist: every role is made under it, and the deploying identity may not write it\n  \
                 hint: an administrator creates it once: cargo xtask permissions --boundary > boundary.json && \
                 aws iam create-policy --policy-name {} --policy-document file://boundary.json",
                crate::permissions::BOUNDARY
            )));
        }
        let made = self
            .0
            .iam
            .create_policy()
            .policy_name(crate::permissions::BOUNDARY)
            .policy_document(json_text(&crate::permissions::boundary_document()))
            .description("agentcore-multitenant: the most any role of any environment may do")
            .send()
            .await;
        match made.map_err(|e| classify(e, NOT_FOUND)) {
            Ok(_) => Ok(arn),
            // Another role's create made it meanwhile.
            Err(CloudError::Service { code, .. }) if code == "EntityAlreadyExists" => Ok(arn),
            Err(e) => Err(e),
        }
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

    /// Who may assume the role is set when it is made, never rewritten: a deploy identity that
    /// may change trust policies can make any of its roles trust anyone (IAM offers no
    /// condition to bound UpdateAssumeRolePolicy), so the deploy policy grants none.
    const IMMUTABLE: &'static [&'static str] = &["service", "source_arn"];

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
        let boundary = role
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_string);
        let state = if trust.as_ref() == Some(&self.trust(p)) {
            State {
                service: Some(p.service.clone()),
                source_arn: p.source_arn.clone(),
                statements,
                boundary,
            }
        } else {
            let first = trust.and_then(|t| t.statement.into_iter().next());
            State {
                service: first.as_ref().map(|t| t.principal.service.clone()),
                source_arn: first
                    .and_then(|t| t.condition.arn_like)
                    .and_then(|a| a.get("aws:SourceArn").cloned()),
                statements,
                boundary,
            }
        };
        Ok(Found::ours(state, outputs(&role)))
    }

    /// A role without the account's boundary, or with another, is changed back.
    fn diff(
        &self,
        _p: &Properties,
        seen: &SeenOf<Self>,
        mut changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        let want = self.boundary_arn();
        if seen.state.boundary.as_deref() != Some(want.as_str()) {
            changes.push(change("permissions_boundary", &seen.state.boundary, want));
        }
        by_statement(changes)
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let boundary = self.boundary().await?;
        let mut tags = tags_with_created_at(target);
        // The environment as runtime names hold it (`pr_1`): the boundary scopes a role's runtime
        // logs and workload tokens with it (no policy variable turns `-` into `_`).
        if let Some(env) = target.tags.get(&format!("{}env", names::TAG_PREFIX)) {
            tags.push((ENV_ID.to_string(), env.replace('-', "_")));
        }
        let tags = tags
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
            .permissions_boundary(boundary)
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
        changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        if changes.iter().any(|c| c.field == "permissions_boundary") {
            let boundary = self.boundary().await?;
            self.0
                .iam
                .put_role_permissions_boundary()
                .role_name(&target.physical_name)
                .permissions_boundary(boundary)
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND))?;
            if changes.iter().all(|c| c.field == "permissions_boundary") {
                return Ok(seen.outputs.clone());
            }
        }
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

/// A changed policy as the statements that changed (`statements[2]`: the one before and after;
/// one only added or removed has nothing on the other side), not the two whole documents
/// (issue 28: a reviewer read two policies on one line to find one resource's change).
fn by_statement(changes: Vec<FieldChange>) -> Vec<FieldChange> {
    changes
        .into_iter()
        .flat_map(|c| match (c.field.as_str(), &c.current, &c.desired) {
            ("statements", Value::Array(now), Value::Array(wanted)) => {
                (0..now.len().max(wanted.len()))
                    .filter(|i| now.get(*i) != wanted.get(*i))
                    .map(|i| FieldChange {
                        field: format!("statements[{i}]"),
                        current: now.get(i).cloned().unwrap_or(Value::Null),
                        desired: wanted.get(i).cloned().unwrap_or(Value::Null),
                        replaces: c.replaces,
                    })
                    .collect::<Vec<_>>()
            }
            _ => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// Issue 28 item 1: a role's policy change reads as the statements that changed.
    #[test]
    fn a_policy_change_is_shown_statement_by_statement() {
        let a = json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::old/*"]});
        let b = json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::new/*"]});
        let same = json!({"Effect": "Allow", "Action": ["bedrock:InvokeModel"], "Resource": ["*"]});
        let extra = json!({"Effect": "Deny", "Action": ["*"], "Resource": ["*"]});
        let whole = crate::engine::change("statements", json!([same, a]), json!([same, b, extra]));
        let other = crate::engine::change("service", "x", "y");
        let got = super::by_statement(vec![whole, other]);
        let fields: Vec<&str> = got.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["statements[1]", "statements[2]", "service"]);
        assert_eq!((&got[0].current, &got[0].desired), (&a, &b));
        assert_eq!((&got[1].current, &got[1].desired), (&serde_json::Value::Null, &extra));
    }
}
