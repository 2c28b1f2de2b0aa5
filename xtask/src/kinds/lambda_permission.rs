//! A statement of a Lambda function's resource policy that lets one AWS service invoke it for
//! one resource of this account (a user pool's trigger: `cognito-idp.amazonaws.com` for the
//! pool's ARN). Its own resource because the pool needs the function first and the statement
//! needs the pool. Statements carry no tags: one is ours when its function is.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::KindInfo;
use crate::cloud::{classify, Clients};
use crate::engine::{found, CloudError, CloudResult, Found, Kind, Observation, SeenOf, Target};
use crate::model::names;

pub const INFO: KindInfo = KindInfo { kind: "lambda.permission", ..KindInfo::DEFAULT };

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub function_name: String,
    /// The service principal, e.g. `cognito-idp.amazonaws.com`.
    pub principal: String,
    /// The one resource the service may invoke it for.
    pub source_arn: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

pub struct Permission(pub Clients);

/// The statement `sid` of a resource policy, as the properties say it.
fn statement(policy: &str, sid: &str, function_name: &str) -> Option<Properties> {
    let doc: Value = serde_json::from_str(policy).ok()?;
    let s = doc["Statement"].as_array()?.iter().find(|s| s["Sid"] == sid)?;
    let principal = match &s["Principal"] {
        Value::Object(m) => m.get("Service").and_then(Value::as_str).unwrap_or_default(),
        other => other.as_str().unwrap_or_default(),
    };
    let source = s["Condition"]["ArnLike"]["AWS:SourceArn"].as_str().unwrap_or_default();
    Some(Properties {
        function_name: function_name.to_string(),
        principal: principal.to_string(),
        source_arn: source.to_string(),
    })
}

#[async_trait]
impl Kind for Permission {
    type Properties = Properties;
    type State = Properties;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["function_name", "principal", "source_arn"];
    const UPDATE: crate::engine::Update = crate::engine::Update::Nothing;

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let function = self.0.lambda.get_function().function_name(&p.function_name).send().await;
        let Some(function) = found(function.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let tags: BTreeMap<String, String> =
            function.tags().cloned().unwrap_or_default().into_iter().collect();
        if !names::parent_is_owned(&target.tags, &tags) {
            return Ok(Some(Found::Foreign));
        }
        let policy = self.0.lambda.get_policy().function_name(&p.function_name).send().await;
        let Some(policy) = found(policy.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let sid = &target.physical_name;
        Ok(statement(policy.policy().unwrap_or("{}"), sid, &p.function_name)
            .and_then(|state| Found::ours(state, Outputs {})))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        self.0
            .lambda
            .add_permission()
            .function_name(&p.function_name)
            .statement_id(&target.physical_name)
            .action("lambda:InvokeFunction")
            .principal(&p.principal)
            .source_arn(&p.source_arn)
            .source_account(&self.0.account)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND).retry_on(&["ResourceConflictException"]))?;
        Ok(Outputs {})
    }

    async fn delete(&self, target: &Target, p: &Properties, _s: &SeenOf<Self>) -> CloudResult<()> {
        match self
            .0
            .lambda
            .remove_permission()
            .function_name(&p.function_name)
            .statement_id(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND).retry_on(&["ResourceConflictException"]))
        {
            Ok(_) | Err(CloudError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_statement_is_read_back_in_the_properties_words() {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"other","Principal":{"Service":"s3.amazonaws.com"}},
            {"Sid":"agentcore-mt-dev-t2-trigger","Effect":"Allow","Principal":{"Service":"cognito-idp.amazonaws.com"},
             "Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:1:function:f",
             "Condition":{"StringEquals":{"AWS:SourceAccount":"1"},"ArnLike":{"AWS:SourceArn":"arn:aws:cognito-idp:us-east-1:1:userpool/p"}}}]}"#;
        let s = super::statement(policy, "agentcore-mt-dev-t2-trigger", "f").unwrap();
        assert_eq!(s.principal, "cognito-idp.amazonaws.com");
        assert_eq!(s.source_arn, "arn:aws:cognito-idp:us-east-1:1:userpool/p");
        assert!(super::statement(policy, "missing", "f").is_none());
    }
}
