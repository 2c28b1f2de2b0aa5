//! An agent on AgentCore Runtime with direct code deployment: the package in S3, an execution
//! role, a JWT authorizer that accepts only the access tokens of the stack's user pool and app
//! client, `Authorization` allow-listed so that the agent sees the validated token, and the
//! environment from stack references. Every update makes a new runtime version (the DEFAULT
//! endpoint follows it); an unchanged runtime gets no call.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::types::{
    AgentManagedRuntimeType, AgentRuntimeArtifact, AuthorizerConfiguration, Code,
    CodeConfiguration, CustomJwtAuthorizerConfiguration, NetworkConfiguration, NetworkMode,
    RequestHeaderConfiguration, S3Location,
};
use serde::{Deserialize, Serialize};

use super::{client_token, first_in_pages, propagation, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients, TargetKind};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, Progress,
    SeenOf, Target,
};
use crate::model::{names, NameStyle};

/// Where AgentCore writes a runtime's logs: `<prefix><runtime id>-<endpoint name>`.
pub const LOG_GROUPS: &str = "/aws/bedrock-agentcore/runtimes/";

pub const INFO: KindInfo = KindInfo {
    kind: "agentcore.runtime",
    name_style: NameStyle::Underscored,
    attributes: &["arn", "id", "name", "version"],
    ready_attributes: &["version"],
    deadline_secs: 900,
    // Includes the retries while IAM propagates a new execution role.
    // Source: none published for CreateAgentRuntime to READY with direct code deployment (searched
    // 2026-12: AWS docs give no figure; the starter toolkit's build step alone went 103 s -> 50 s,
    // aws/bedrock-agentcore-starter-toolkit PR #146, and AgentCore requires start-up within 60 s,
    // issue #356 there): 50 s is an estimate. Delete: estimate.
    sim: Sim { call: 1.0, ready: 50.0, gone: 30.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub role_arn: String,
    pub package_bucket: String,
    pub package_key: String,
    /// CPython version, e.g. "3.12" (`PYTHON_3_12`).
    pub python: String,
    #[serde(default = "main_py")]
    pub entry_point: String,
    /// The user pool's OpenID discovery URL (`${user_pool.discovery_url}`).
    pub discovery_url: String,
    /// App clients whose access tokens are accepted (`client_id` claim). Never empty: an
    /// authorizer that names no client would accept every client of the pool.
    #[serde(deserialize_with = "non_empty")]
    pub allowed_clients: Vec<String>,
    /// Request headers passed on to the agent.
    pub header_allowlist: Vec<String>,
    /// The model the agent uses, per target: a Bedrock model id on AWS; on the local target,
    /// where no model can be reached, `offline`.
    pub model_id: PerTarget,
    /// More environment variables for the agent (stack references welcome). The ones the kind
    /// sets itself (`RESERVED`) cannot be given here.
    #[serde(default, deserialize_with = "not_reserved")]
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerTarget {
    pub aws: String,
    pub local: String,
}

fn main_py() -> String {
    "main.py".to_string()
}

fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let clients = Vec::<String>::deserialize(d)?;
    if clients.is_empty() {
        return Err(serde::de::Error::custom(
            "allowed_clients must not be empty: a runtime that names no app client would accept \
             the access tokens of every client of the pool",
        ));
    }
    Ok(clients)
}

/// Environment variables the kind sets from other properties: the agent's token settings must
/// equal its authorizer's, and the model is chosen per target.
const RESERVED: &[&str] = &["AUTH_ISSUER", "AUTH_ALLOWED_CLIENTS", "MODEL_ID", "AGENT_BIND_HOST"];

fn not_reserved<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let env = BTreeMap::<String, String>::deserialize(d)?;
    if let Some(k) = env.keys().find(|k| RESERVED.contains(&k.as_str())) {
        return Err(serde::de::Error::custom(format!(
            "environment must not set {k}: the runtime kind sets it (AUTH_* from discovery_url and \
             allowed_clients, MODEL_ID from model_id)"
        )));
    }
    if let Some(k) = env.keys().find(|k| redirects_the_sdk(k)) {
        return Err(serde::de::Error::custom(format!(
            "environment must not set {k}: it would re-point the agent's own AWS calls (its token \
             check's JWKS, the Knowledge Base, the Data API) at another endpoint"
        )));
    }
    Ok(env)
}

/// Settings the AWS SDKs and the agent's token check read to choose where to send requests
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`,
/// a config or credentials file, a CA bundle): reserved, compared without case.
fn redirects_the_sdk(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    k.starts_with("AWS_ENDPOINT_URL")
        || [
            // where the tools agent (tutorial 4) sends the caller's token: the local runtime
            // host's gateway, set by the host alone
            "AGENTCORE_GATEWAY_ENDPOINT",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CA_BUNDLE",
            "AWS_PROFILE",
            "REQUESTS_CA_BUNDLE",
            "SSL_CERT_FILE",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
        ]
        .contains(&k.as_str())
}

/// What the agent needs to verify tokens itself (`agents/common/agent_common/tokens.py`), set
/// from the same properties as the authorizer so that the two cannot disagree.
fn auth_environment(p: &Properties) -> [(&'static str, String); 2] {
    let issuer = p.discovery_url.trim_end_matches("/.well-known/openid-configuration").to_string();
    [("AUTH_ISSUER", issuer), ("AUTH_ALLOWED_CLIENTS", p.allowed_clients.join(","))]
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// ConflictException: the runtime is busy (CREATING, UPDATING) or, for a create that raced a
/// crashed run, already there. Both clear up: retry (the engine re-observes a retried create).
fn busy(e: CloudError) -> CloudError {
    e.retry_on(&["ConflictException"])
}

/// What `observe` reads back, in the properties' vocabulary, and the runtime's status.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    role_arn: String,
    package_bucket: Option<String>,
    package_key: Option<String>,
    python: Option<String>,
    entry_point: Option<String>,
    discovery_url: Option<String>,
    allowed_clients: Option<Vec<String>>,
    header_allowlist: Vec<String>,
    model_id: ModelIds,
    environment: BTreeMap<String, String>,
    status: String,
}

/// `model_id` as found: the current target's from the runtime, the other as written.
#[derive(Debug, Serialize, Deserialize)]
struct ModelIds {
    aws: Option<String>,
    local: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub version: String,
}

pub struct Runtime(pub Clients);

/// Prefixes of system-defined cross-region inference profiles ("Supported Regions and models
/// for inference profiles", Amazon Bedrock User Guide).
const PROFILE_PREFIXES: &[&str] =
    &["us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "ca.", "global."];

/// The model id the agent calls: one written with a profile prefix as written; otherwise the
/// region's profile for it (`profiles`: what ListInferenceProfiles lists there), its geography's
/// before the global one; the bare id (in-region, on demand) if the region has none.
pub fn pick_model(model: &str, profiles: &[String]) -> String {
    if PROFILE_PREFIXES.iter().any(|p| model.starts_with(p)) {
        return model.to_string();
    }
    let suffix = format!(".{model}");
    let mut found: Vec<&String> = profiles.iter().filter(|p| p.ends_with(&suffix)).collect();
    found.sort_by_key(|p| p.starts_with("global."));
    found.first().map(|p| p.to_string()).unwrap_or_else(|| model.to_string())
}

impl Runtime {
    /// MODEL_ID for this target (on AWS, the region's inference profile).
    async fn model(&self, p: &Properties) -> CloudResult<String> {
        if self.0.target == TargetKind::Local {
            return Ok(p.model_id.local.clone());
        }
        if PROFILE_PREFIXES.iter().any(|x| p.model_id.aws.starts_with(x)) {
            return Ok(p.model_id.aws.clone());
        }
        let profiles = self
            .0
            .inference_profiles
            .get_or_try_init(|| async {
                let mut ids = Vec::new();
                let mut pages = self
                    .0
                    .bedrock
                    .list_inference_profiles()
                    .type_equals(aws_sdk_bedrock::types::InferenceProfileType::SystemDefined)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify(e, NOT_FOUND))?;
                    ids.extend(
                        page.inference_profile_summaries()
                            .iter()
                            .map(|s| s.inference_profile_id().to_string()),
                    );
                }
                Ok::<_, CloudError>(ids)
            })
            .await?;
        Ok(pick_model(&p.model_id.aws, profiles))
    }

    fn environment(&self, p: &Properties, model: &str) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = p.environment.clone().into_iter().collect();
        env.insert("MODEL_ID".into(), model.to_string());
        for (k, v) in auth_environment(p) {
            env.insert(k.into(), v);
        }
        env
    }

    fn artifact(p: &Properties) -> CloudResult<AgentRuntimeArtifact> {
        let location = S3Location::builder()
            .bucket(&p.package_bucket)
            .prefix(&p.package_key)
            .build()
            .map_err(CloudError::fatal)?;
        let code = CodeConfiguration::builder()
            .code(Code::S3(location))
            .runtime(AgentManagedRuntimeType::from(
                format!("PYTHON_{}", p.python.replace('.', "_")).as_str(),
            ))
            .entry_point(&p.entry_point)
            .build()
            .map_err(CloudError::fatal)?;
        Ok(AgentRuntimeArtifact::CodeConfiguration(code))
    }

    fn authorizer(p: &Properties) -> CloudResult<AuthorizerConfiguration> {
        let jwt = CustomJwtAuthorizerConfiguration::builder()
            .discovery_url(&p.discovery_url)
            .set_allowed_clients(Some(p.allowed_clients.clone()))
            .build()
            .map_err(CloudError::fatal)?;
        Ok(AuthorizerConfiguration::CustomJwtAuthorizer(jwt))
    }

    fn network() -> CloudResult<NetworkConfiguration> {
        NetworkConfiguration::builder()
            .network_mode(NetworkMode::Public)
            .build()
            .map_err(CloudError::fatal)
    }

    async fn find_id(&self, name: &str) -> CloudResult<Option<String>> {
        let pages = self.0.agentcore.list_agent_runtimes().into_paginator().send();
        first_in_pages(pages, NOT_FOUND, |page| {
            page.agent_runtimes()
                .iter()
                .find(|r| r.agent_runtime_name() == name)
                .map(|r| r.agent_runtime_id().to_string())
        })
        .await
    }
}

/// Deletes the log groups whose name starts with `prefix` and passes `keep` (a runtime's:
/// `/aws/bedrock-agentcore/runtimes/<id>-<endpoint>`, which AWS creates for it and leaves behind
/// when the runtime is deleted; gc's, of a destroyed environment's runtimes). Returns their names.
pub async fn delete_log_groups(
    clients: &Clients,
    prefix: &str,
    keep: impl Fn(&str) -> bool,
) -> CloudResult<Vec<String>> {
    const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
    let mut pages =
        clients.logs.describe_log_groups().log_group_name_prefix(prefix).into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify(e, NOT_FOUND))?;
        names.extend(
            page.log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .filter(|n| keep(n))
                .map(str::to_string),
        );
    }
    for name in &names {
        match clients
            .logs
            .delete_log_group()
            .log_group_name(name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))
        {
            Ok(_) | Err(CloudError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(names)
}

/// What create and update both send (their builders are different types, so each sets these).
struct Config {
    description: String,
    artifact: AgentRuntimeArtifact,
    network: NetworkConfiguration,
    authorizer: AuthorizerConfiguration,
    headers: RequestHeaderConfiguration,
    environment: HashMap<String, String>,
}

impl Runtime {
    async fn config(&self, target: &Target, p: &Properties) -> CloudResult<Config> {
        let model = self.model(p).await?;
        Ok(Config {
            description: format!("{} (agentcore-multitenant)", target.logical_id),
            artifact: Self::artifact(p)?,
            network: Self::network()?,
            authorizer: Self::authorizer(p)?,
            headers: RequestHeaderConfiguration::RequestHeaderAllowlist(p.header_allowlist.clone()),
            environment: self.environment(p, &model),
        })
    }

    /// Its logs first: a destroy stopped in between finds the runtime again and repeats this.
    async fn remove(&self, id: &str) -> CloudResult<()> {
        delete_log_groups(&self.0, &format!("{LOG_GROUPS}{id}-"), |_| true).await?;
        self.0
            .agentcore
            .delete_agent_runtime()
            .agent_runtime_id(id)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

#[async_trait]
impl Kind for Runtime {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        let Some(id) = self.find_id(&target.physical_name).await? else {
            return Ok(None);
        };
        let got = self.0.agentcore.get_agent_runtime().agent_runtime_id(&id).send().await;
        let Some(r) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let tags = self
            .0
            .agentcore
            .list_tags_for_resource()
            .resource_arn(r.agent_runtime_arn())
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let tags: BTreeMap<String, String> =
            tags.tags().cloned().unwrap_or_default().into_iter().collect();
        if !names::is_owned(&target.tags, &tags) {
            return Ok(Some(Found::Foreign));
        }
        let outputs = Outputs {
            arn: r.agent_runtime_arn().to_string(),
            id: r.agent_runtime_id().to_string(),
            name: r.agent_runtime_name().to_string(),
            version: r.agent_runtime_version().to_string(),
        };
        let code = match r.agent_runtime_artifact() {
            Some(AgentRuntimeArtifact::CodeConfiguration(c)) => Some(c),
            _ => None,
        };
        let s3 = match code.and_then(|c| c.code()) {
            Some(Code::S3(s3)) => Some(s3),
            _ => None,
        };
        let jwt = match r.authorizer_configuration() {
            Some(AuthorizerConfiguration::CustomJwtAuthorizer(j)) => Some(j),
            _ => None,
        };
        let header_allowlist = match r.request_header_configuration() {
            Some(RequestHeaderConfiguration::RequestHeaderAllowlist(h)) => h.clone(),
            _ => Vec::new(),
        };
        let mut env: BTreeMap<String, String> =
            r.environment_variables().cloned().unwrap_or_default().into_iter().collect();
        // MODEL_ID is set from `model_id` for this target; compare it there.
        let model = env.remove("MODEL_ID");
        // The agent's token settings are derived from the properties: compared there, and kept
        // in the observed environment (so that the diff shows them) only when they differ.
        for (k, v) in auth_environment(p) {
            match env.get(k) {
                Some(got) if *got == v => {
                    env.remove(k);
                }
                Some(_) => {}
                None => {
                    env.insert(k.to_string(), "(not set)".to_string());
                }
            }
        }
        // The id as written when the runtime calls what it resolves to here.
        let wanted = self.model(p).await?;
        let model = model.map(|m| {
            if m == wanted {
                match self.0.target {
                    TargetKind::Aws => p.model_id.aws.clone(),
                    TargetKind::Local => p.model_id.local.clone(),
                }
            } else {
                m
            }
        });
        let model_id = match self.0.target {
            TargetKind::Aws => ModelIds { aws: model, local: Some(p.model_id.local.clone()) },
            TargetKind::Local => ModelIds { aws: Some(p.model_id.aws.clone()), local: model },
        };
        let state = State {
            role_arn: r.role_arn().to_string(),
            package_bucket: s3.map(|s| s.bucket().to_string()),
            package_key: s3.map(|s| s.prefix().to_string()),
            python: code.and_then(|c| {
                c.runtime().as_str().strip_prefix("PYTHON_").map(|v| v.replace('_', "."))
            }),
            entry_point: code.and_then(|c| c.entry_point().first().cloned()),
            discovery_url: jwt.map(|j| j.discovery_url().to_string()),
            allowed_clients: jwt.map(|j| j.allowed_clients().to_vec()),
            header_allowlist,
            model_id,
            environment: env,
            status: r.status().as_str().to_string(),
        };
        Ok(Found::ours(state, outputs))
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let tags: HashMap<String, String> = tags_with_created_at(target).into_iter().collect();
        let c = self.config(target, p).await?;
        let out = self
            .0
            .agentcore
            .create_agent_runtime()
            .agent_runtime_name(&target.physical_name)
            .description(c.description)
            .agent_runtime_artifact(c.artifact)
            .role_arn(&p.role_arn)
            .network_configuration(c.network)
            .authorizer_configuration(c.authorizer)
            .request_header_configuration(c.headers)
            .set_environment_variables(Some(c.environment))
            .client_token(client_token(target, "create"))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| busy(propagation(classify(e, NOT_FOUND))))?;
        Ok(Outputs {
            arn: out.agent_runtime_arn().to_string(),
            id: out.agent_runtime_id().to_string(),
            name: target.physical_name.clone(),
            version: out.agent_runtime_version().to_string(),
        })
    }

    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let c = self.config(target, p).await?;
        let token = client_token(target, &format!("update-from-\"{}\"", seen.outputs.version));
        let out = self
            .0
            .agentcore
            .update_agent_runtime()
            .agent_runtime_id(&seen.outputs.id)
            .description(c.description)
            .agent_runtime_artifact(c.artifact)
            .role_arn(&p.role_arn)
            .network_configuration(c.network)
            .authorizer_configuration(c.authorizer)
            .request_header_configuration(c.headers)
            .set_environment_variables(Some(c.environment))
            .client_token(token)
            .send()
            .await
            .map_err(|e| busy(propagation(classify(e, NOT_FOUND))))?;
        let mut outputs = seen.outputs.clone();
        outputs.version = out.agent_runtime_version().to_string();
        Ok(outputs)
    }

    async fn poll_ready(
        &self,
        _t: &Target,
        _p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let id = &outputs.id;
        let r = self
            .0
            .agentcore
            .get_agent_runtime()
            .agent_runtime_id(id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        match r.status().as_str() {
            "READY" => {
                let mut done = outputs.clone();
                done.version = r.agent_runtime_version().to_string();
                Ok(Progress::Done(done))
            }
            s @ ("CREATE_FAILED" | "UPDATE_FAILED") => Err(CloudError::Fatal(format!(
                "the runtime is {s}: {}\n  hint: the agent's log group /aws/bedrock-agentcore/runtimes/{id}-DEFAULT says more",
                r.failure_reason().unwrap_or("no reason given")
            ))),
            other => Ok(Progress::Pending(format!("runtime {other}"))),
        }
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        if seen.state.status == "DELETING" {
            return Ok(());
        }
        self.remove(&seen.outputs.id).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The region's geography first, then global, else the bare id; a prefixed id as written.
    #[test]
    fn the_model_id_is_the_regions_inference_profile() {
        let listed = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let model = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        let eu = listed(&[
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "eu.amazon.nova-lite-v1:0",
        ]);
        assert_eq!(super::pick_model(model, &eu), "eu.anthropic.claude-sonnet-4-5-20250929-v1:0");
        let global_only = listed(&["global.anthropic.claude-sonnet-4-5-20250929-v1:0"]);
        assert_eq!(
            super::pick_model(model, &global_only),
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        assert_eq!(super::pick_model(model, &listed(&[])), model);
        assert_eq!(super::pick_model("us.amazon.nova-lite-v1:0", &eu), "us.amazon.nova-lite-v1:0");
    }

    /// A stack cannot re-point the agent's AWS calls (its JWKS fetch included) elsewhere.
    #[test]
    fn endpoint_settings_are_reserved() {
        let parse = |k: &str| {
            let yaml = format!("{k}: http://127.0.0.1:9/");
            let d = serde_yaml_ng::Deserializer::from_str(&yaml);
            not_reserved(d).map_err(|e| e.to_string())
        };
        for k in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
            "aws_endpoint_url_s3",
            "HTTPS_PROXY",
            "AWS_CA_BUNDLE",
            "agentcore_gateway_endpoint",
        ] {
            let e = parse(k).unwrap_err();
            assert!(e.contains("re-point"), "{k}: {e}");
        }
        assert!(parse("TABLE_NAME").is_ok());
    }

    #[test]
    fn role_propagation_and_busy_runtimes_are_retried_other_errors_are_not() {
        // As `classify` makes them: the service's code, and its text after it.
        let retried = |m: &str| {
            let code = m.split(':').next().unwrap().to_string();
            let e = CloudError::Service { code, message: m.into() };
            matches!(busy(propagation(e)), CloudError::Retryable(_) | CloudError::RetryableFor(..))
        };
        assert!(retried("ValidationException: Role validation failed for arn:aws:iam::1:role/x"));
        assert!(retried("ValidationException: The role cannot be assumed by AgentCore"));
        assert!(retried("ConflictException: runtime is in UPDATING state"));
        assert!(!retried("ValidationException: agentRuntimeName must match ^[a-zA-Z]..."));
        assert!(!retried("ServiceQuotaExceededException: too many runtimes"));
    }
}
