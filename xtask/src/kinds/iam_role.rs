//! An IAM role a service assumes (the Knowledge Base's, an agent's): trust limited to that
//! service in this account (and, where given, to a source ARN pattern), one inline policy with
//! exactly the permissions the stack lists. Tagged at creation.

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{properties, tags_with_created_at, KindInfo};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Observed, Outputs, ResourceKind, Target,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "iam.role",
    name_style: NameStyle::Dashed,
    attributes: &["arn", "name"],
    ready_attributes: &[],
    deadline_secs: 300,
    cascades: false,
    files: &[],
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

pub struct Role(pub Clients);

impl Role {
    fn trust(&self, p: &Properties) -> Value {
        let mut condition = json!({"StringEquals": {"aws:SourceAccount": self.0.account}});
        if let Some(arn) = &p.source_arn {
            condition["ArnLike"] = json!({"aws:SourceArn": arn});
        }
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": p.service},
            "Action": "sts:AssumeRole",
            "Condition": condition,
        }]})
    }

    async fn put_policy(&self, name: &str, p: &Properties) -> CloudResult<()> {
        let doc = json!({"Version": "2012-10-17", "Statement": p.statements});
        self.0
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(POLICY)
            .policy_document(doc.to_string())
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}

fn outputs(arn: &str, name: &str) -> Outputs {
    [
        ("arn".to_string(), json!(arn)),
        ("name".to_string(), json!(name)),
    ]
    .into_iter()
    .collect()
}

/// IAM returns policy documents URL-encoded.
fn decode(doc: &str) -> Value {
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
    serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(doc))
        .unwrap_or(Value::Null)
}

#[async_trait]
impl ResourceKind for Role {
    fn immutable_fields(&self) -> &'static [&'static str] {
        &[]
    }

    async fn observe(&self, target: &Target) -> CloudResult<Option<Observed>> {
        let got = self
            .0
            .iam
            .get_role()
            .role_name(&target.physical_name)
            .send()
            .await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let role = out
            .role
            .ok_or_else(|| CloudError::Fatal("GetRole returned no role".into()))?;
        let tags = self
            .0
            .iam
            .list_role_tags()
            .role_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let tags = tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let owned = names::is_owned(&target.tags, &tags);
        let outputs = outputs(role.arn(), role.role_name());
        if !owned {
            return Ok(Some(Observed {
                owned,
                properties: json!({}),
                outputs,
            }));
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
            Ok(out) => decode(out.policy_document())["Statement"].clone(),
            Err(CloudError::NotFound(_)) => Value::Null,
            Err(e) => return Err(e),
        };
        let trust = role
            .assume_role_policy_document()
            .map(decode)
            .unwrap_or(Value::Null);
        let p: Properties = properties(target)?;
        let trust_ok = trust == self.trust(&p);
        Ok(Some(Observed {
            owned,
            properties: json!({
                "service": if trust_ok { json!(p.service) } else { trust["Statement"][0]["Principal"]["Service"].clone() },
                "source_arn": if trust_ok { json!(p.source_arn) } else { trust["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"].clone() },
                "statements": statements,
            }),
            outputs,
        }))
    }

    async fn create(&self, target: &Target) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        let tags = tags_with_created_at(target)
            .into_iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value")
            })
            .collect();
        let out = self
            .0
            .iam
            .create_role()
            .role_name(&target.physical_name)
            .assume_role_policy_document(self.trust(&p).to_string())
            .description(format!("{} for {}", target.logical_id, p.service))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        self.put_policy(&target.physical_name, &p).await?;
        let role = out
            .role
            .ok_or_else(|| CloudError::Fatal("CreateRole returned no role".into()))?;
        Ok(outputs(role.arn(), role.role_name()))
    }

    async fn update(
        &self,
        target: &Target,
        observed: &Observed,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let p: Properties = properties(target)?;
        self.0
            .iam
            .update_assume_role_policy()
            .role_name(&target.physical_name)
            .policy_document(self.trust(&p).to_string())
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        self.put_policy(&target.physical_name, &p).await?;
        Ok(observed.outputs.clone())
    }

    async fn delete(&self, target: &Target, _observed: &Observed) -> CloudResult<()> {
        // Inline policies first: IAM refuses to delete a role that still has one.
        match self
            .0
            .iam
            .delete_role_policy()
            .role_name(&target.physical_name)
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
            .role_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(())
    }
}
