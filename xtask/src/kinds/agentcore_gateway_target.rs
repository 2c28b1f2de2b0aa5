//! A gateway's Lambda target: the tools a Lambda function implements, with their MCP input
//! schemas from a JSON file in the repository (`{"target": name, "tools": [...]}`), reached
//! with the gateway's role. The target's name is the file's: MCP clients, and the Cedar
//! policies, see each tool as `<target>___<tool>`. Targets carry no tags: one is ours when its
//! gateway is. Any change replaces it.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::types::{
    CredentialProviderConfiguration, CredentialProviderType, McpLambdaTargetConfiguration,
    McpTargetConfiguration, SchemaDefinition, SchemaType, TargetConfiguration, ToolDefinition,
    ToolSchema,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::agentcore_policy_engine::tags_of;
use super::{client_token, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, Found, Kind, Observation, Progress, SeenOf, Target, Update,
};
use crate::model::{names, NameStyle};

pub const INFO: KindInfo = KindInfo {
    kind: "agentcore.gateway_target",
    name_style: NameStyle::Property("name"),
    attributes: &["id", "name"],
    files: &["tools"],
    // Source: none published for CreateGatewayTarget to READY: 10 s, an estimate.
    sim: Sim { call: 0.5, ready: 10.0, gone: 5.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub gateway_id: String,
    /// Must be the tools file's `target`.
    pub name: String,
    pub lambda_arn: String,
    /// The tools file, relative to the repository root.
    pub tools: String,
}

/// The tools file as the stack's properties are compared: the file's name when the target's
/// tools are the file's, otherwise what the target has.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    gateway_id: String,
    name: String,
    lambda_arn: String,
    tools: String,
    status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub id: String,
    pub name: String,
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

fn busy(e: CloudError) -> CloudError {
    e.retry_on(&["ConflictException"])
}

/// The tools file: its target name and tools.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolsFile {
    pub target: String,
    pub tools: Vec<Value>,
}

pub fn read_tools(path: &std::path::Path) -> Result<ToolsFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the tools file {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("tools file {}: {e}", path.display()))
}

/// A JSON schema (the subset the gateway takes: type, properties, required, items,
/// description) as the SDK's type.
fn schema(v: &Value) -> CloudResult<SchemaDefinition> {
    let kind = v["type"].as_str().unwrap_or_default();
    let mut b = SchemaDefinition::builder().r#type(SchemaType::from(kind));
    if let Some(props) = v["properties"].as_object() {
        let mut map = HashMap::new();
        for (k, p) in props {
            map.insert(k.clone(), schema(p)?);
        }
        b = b.set_properties(Some(map));
    }
    if let Some(req) = v["required"].as_array() {
        b = b.set_required(Some(req.iter().filter_map(|r| r.as_str().map(String::from)).collect()));
    }
    if v.get("items").is_some() {
        b = b.items(schema(&v["items"])?);
    }
    if let Some(d) = v["description"].as_str() {
        b = b.description(d);
    }
    b.build().map_err(CloudError::fatal)
}

/// The SDK's schema back as JSON, with the same fields.
fn schema_json(s: &SchemaDefinition) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(s.r#type().as_str()));
    if let Some(props) = s.properties() {
        let props: Map<String, Value> =
            props.iter().map(|(k, v)| (k.clone(), schema_json(v))).collect();
        m.insert("properties".into(), Value::Object(props));
    }
    if !s.required().is_empty() {
        m.insert("required".into(), json!(s.required()));
    }
    if let Some(i) = s.items() {
        m.insert("items".into(), schema_json(i));
    }
    if let Some(d) = s.description() {
        m.insert("description".into(), json!(d));
    }
    Value::Object(m)
}

fn tools_json(tools: &[ToolDefinition]) -> Value {
    Value::Array(
        tools
            .iter()
            .map(|t| {
                json!({"name": t.name(), "description": t.description(),
                       "inputSchema": t.input_schema().map(schema_json)})
            })
            .collect(),
    )
}

/// Two tool lists are the same when each tool's fields are (objects compare regardless of key
/// order; lists in order, except `required`, a set).
fn same_tools(a: &Value, b: &Value) -> bool {
    fn norm(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| {
                        let v = if k == "required" {
                            let mut r = v.as_array().cloned().unwrap_or_default();
                            r.sort_by_key(|x| x.to_string());
                            Value::Array(r)
                        } else {
                            norm(v)
                        };
                        (k.clone(), v)
                    })
                    .collect::<std::collections::BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
            other => other.clone(),
        }
    }
    norm(a) == norm(b)
}

pub struct GatewayTarget(pub Clients);

impl GatewayTarget {
    fn file(&self, p: &Properties) -> CloudResult<ToolsFile> {
        read_tools(&self.0.root.join(&p.tools)).map_err(CloudError::Fatal)
    }

    async fn owned(&self, target: &Target, p: &Properties, files: bool) -> Observation<Self> {
        let got = self.0.agentcore.get_gateway().gateway_identifier(&p.gateway_id).send().await;
        let Some(g) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        if !names::parent_is_owned(&target.tags, &tags_of(&self.0, g.gateway_arn()).await?) {
            return Ok(Some(Found::Foreign));
        }
        let list = self
            .0
            .agentcore
            .list_gateway_targets()
            .gateway_identifier(&p.gateway_id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let Some(id) = list.items().iter().find(|t| t.name() == p.name).map(|t| t.target_id())
        else {
            return Ok(None);
        };
        let got = self
            .0
            .agentcore
            .get_gateway_target()
            .gateway_identifier(&p.gateway_id)
            .target_id(id)
            .send()
            .await;
        let Some(t) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let lambda =
            t.target_configuration().and_then(|c| c.as_mcp().ok()).and_then(|m| m.as_lambda().ok());
        let deployed = lambda
            .and_then(|l| l.tool_schema())
            .and_then(|s| s.as_inline_payload().ok())
            .map(|t| tools_json(t))
            .unwrap_or(Value::Null);
        let tools = if files && same_tools(&deployed, &Value::Array(self.file(p)?.tools)) {
            p.tools.clone()
        } else {
            format!("(other tools: {})", deployed.as_array().map_or(0, Vec::len))
        };
        let state = State {
            gateway_id: p.gateway_id.clone(),
            name: t.name().to_string(),
            lambda_arn: lambda.map(|l| l.lambda_arn().to_string()).unwrap_or_default(),
            tools,
            status: t.status().as_str().to_string(),
        };
        Ok(Found::ours(state, Outputs { id: t.target_id().to_string(), name: p.name.clone() }))
    }
}

#[async_trait]
impl Kind for GatewayTarget {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;
    const IMMUTABLE: &'static [&'static str] = &["gateway_id", "name", "lambda_arn", "tools"];
    const UPDATE: Update = Update::Nothing;

    fn check_files(p: &Properties, root: &std::path::Path) -> Vec<String> {
        match read_tools(&root.join(&p.tools)) {
            Err(e) => vec![e],
            Ok(f) if f.target != p.name => vec![format!(
                "name {} is not the tools file's target {}: the policies name tools as \
                 <target>___<tool>",
                p.name, f.target
            )],
            Ok(f) if f.tools.is_empty() => {
                vec![format!("the tools file {} lists no tool", p.tools)]
            }
            Ok(_) => Vec::new(),
        }
    }

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        self.owned(target, p, true).await
    }

    async fn find(&self, target: &Target, p: &Properties) -> Observation<Self> {
        self.owned(target, p, false).await
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let tools: Vec<ToolDefinition> = self
            .file(p)?
            .tools
            .iter()
            .map(|t| {
                ToolDefinition::builder()
                    .name(t["name"].as_str().unwrap_or_default())
                    .description(t["description"].as_str().unwrap_or_default())
                    .input_schema(schema(&t["inputSchema"])?)
                    .build()
                    .map_err(CloudError::fatal)
            })
            .collect::<CloudResult<_>>()?;
        let lambda = McpLambdaTargetConfiguration::builder()
            .lambda_arn(&p.lambda_arn)
            .tool_schema(ToolSchema::InlinePayload(tools))
            .build()
            .map_err(CloudError::fatal)?;
        let credentials = CredentialProviderConfiguration::builder()
            .credential_provider_type(CredentialProviderType::GatewayIamRole)
            .build()
            .map_err(CloudError::fatal)?;
        let t = self
            .0
            .agentcore
            .create_gateway_target()
            .gateway_identifier(&p.gateway_id)
            .name(&p.name)
            .description(format!("{} (agentcore-multitenant)", target.logical_id))
            .target_configuration(TargetConfiguration::Mcp(McpTargetConfiguration::Lambda(lambda)))
            .credential_provider_configurations(credentials)
            .client_token(client_token(target, "create"))
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(Outputs { id: t.target_id().to_string(), name: p.name.clone() })
    }

    async fn poll_ready(
        &self,
        _t: &Target,
        p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let t = self
            .0
            .agentcore
            .get_gateway_target()
            .gateway_identifier(&p.gateway_id)
            .target_id(&outputs.id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        match t.status().as_str() {
            "READY" => Ok(Progress::Done(outputs.clone())),
            s if s.ends_with("FAILED") => Err(CloudError::Fatal(format!(
                "gateway target {s}: {}",
                t.status_reasons().join("; ")
            ))),
            s => Ok(Progress::Pending(format!("gateway target {s}"))),
        }
    }

    async fn delete(&self, _t: &Target, p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        if seen.state.status == "DELETING" {
            return Ok(());
        }
        self.0
            .agentcore
            .delete_gateway_target()
            .gateway_identifier(&p.gateway_id)
            .target_id(&seen.outputs.id)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// The repository's tools survive the trip through the SDK's types, and a changed
    /// description or a dropped tool is a difference.
    #[test]
    fn tools_read_back_as_written() {
        let root = crate::workspace();
        let file = super::read_tools(&root.join("agents/tools/tools.json")).unwrap();
        let sdk: Vec<_> = file
            .tools
            .iter()
            .map(|t| {
                aws_sdk_bedrockagentcorecontrol::types::ToolDefinition::builder()
                    .name(t["name"].as_str().unwrap())
                    .description(t["description"].as_str().unwrap())
                    .input_schema(super::schema(&t["inputSchema"]).unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        let back = super::tools_json(&sdk);
        let written = serde_json::Value::Array(file.tools.clone());
        assert!(super::same_tools(&back, &written), "{back:#}");
        let mut changed = file.tools.clone();
        changed[0]["description"] = json!("something else");
        assert!(!super::same_tools(&back, &serde_json::Value::Array(changed)));
        assert!(!super::same_tools(&back, &serde_json::Value::Array(file.tools[1..].to_vec())));
    }
}
