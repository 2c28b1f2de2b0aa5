//! A Lambda function whose code is a few source files with no dependencies of their own (the
//! Python runtime's boto3 is enough): a user pool's pre token generation trigger, a gateway's
//! tools. The code is zipped deterministically (`packaging::zip_sources`), so the function's
//! `CodeSha256` says whether the deployed code is today's sources; tagged at creation.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{given, tags_with_created_at, KindInfo, PROPAGATION};
use crate::cloud::{classify, Clients};
use crate::engine::{
    found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan, Progress,
    SeenOf, Target,
};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "lambda.function",
    attributes: &["arn", "name"],
    files: &["sources"],
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    pub role_arn: String,
    /// Directories whose contents make the zip's root (relative to the repository root).
    pub sources: Vec<String>,
    /// `module.function`, e.g. `pre_token.handler`.
    pub handler: String,
    /// A Lambda runtime identifier, e.g. `python3.12`.
    pub runtime: String,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: i32,
    #[serde(default = "default_memory")]
    pub memory_mb: i32,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

fn default_timeout() -> i32 {
    10
}

fn default_memory() -> i32 {
    256
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// Where Lambda writes a function's logs: `<prefix><function name>`.
pub const LOG_GROUPS: &str = "/aws/lambda/";

/// The function is being created or updated: calls that change it wait.
fn busy(e: CloudError) -> CloudError {
    e.retry_on(&["ResourceConflictException"])
}

/// Lambda answers a role it cannot assume yet (IAM propagation) with this.
fn role_not_ready(e: CloudError) -> CloudError {
    match e {
        CloudError::Service { code, message }
            if code == "InvalidParameterValueException" && message.contains("role") =>
        {
            CloudError::RetryableFor(
                format!("the role is not usable yet (IAM propagation): {message}"),
                PROPAGATION,
            )
        }
        other => other,
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    role_arn: String,
    /// The properties' directories when the deployed code is theirs; otherwise what AWS says.
    sources: Vec<String>,
    handler: String,
    runtime: String,
    timeout_seconds: i32,
    memory_mb: i32,
    environment: BTreeMap<String, String>,
    state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub name: String,
}

pub struct Function(pub Clients);

impl Function {
    fn code(&self, p: &Properties) -> CloudResult<Vec<u8>> {
        let dirs: Vec<PathBuf> = p.sources.iter().map(|s| self.0.root.join(s)).collect();
        crate::packaging::zip_sources(&dirs).map_err(|e| CloudError::Fatal(format!("{e:#}")))
    }

    fn environment(p: &Properties) -> Environment {
        let vars: HashMap<String, String> = p.environment.clone().into_iter().collect();
        Environment::builder().set_variables(Some(vars)).build()
    }

    /// The function under the target's name: ours by its tags, or foreign. `p`: the
    /// properties whose code it is compared with (none when destroying).
    async fn owned(&self, target: &Target, p: Option<&Properties>) -> Observation<Self> {
        let name = &target.physical_name;
        let got = self.0.lambda.get_function().function_name(name).send().await;
        let Some(out) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        let tags: BTreeMap<String, String> =
            out.tags().cloned().unwrap_or_default().into_iter().collect();
        if !names::is_owned(&target.tags, &tags) {
            return Ok(Some(Found::Foreign));
        }
        let Some(c) = out.configuration() else {
            return Err(CloudError::Fatal("GetFunction: the answer has no configuration".into()));
        };
        let deployed = c.code_sha256().unwrap_or_default().to_string();
        let sources = match p {
            Some(p) if sha256_b64(&self.code(p)?) == deployed => p.sources.clone(),
            _ => vec![format!("(code with SHA-256 {deployed})")],
        };
        let state = State {
            role_arn: c.role().unwrap_or_default().to_string(),
            sources,
            handler: c.handler().unwrap_or_default().to_string(),
            runtime: c.runtime().map(|r| r.as_str().to_string()).unwrap_or_default(),
            timeout_seconds: c.timeout().unwrap_or_default(),
            memory_mb: c.memory_size().unwrap_or_default(),
            environment: c
                .environment()
                .and_then(|e| e.variables())
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            state: c.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        };
        let outputs =
            Outputs { arn: given(c.function_arn(), "GetFunction")?, name: name.to_string() };
        Ok(Found::ours(state, outputs))
    }

    /// Its log group first (Lambda creates it on the first run and leaves it behind): a destroy
    /// stopped in between finds the function again and repeats this.
    async fn remove(&self, name: &str) -> CloudResult<()> {
        let group = format!("{LOG_GROUPS}{name}");
        super::agentcore_runtime::delete_log_groups(&self.0, &group, |g| g == group).await?;
        self.0
            .lambda
            .delete_function()
            .function_name(name)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

impl Function {
    async fn deployed_code(&self, name: &str) -> CloudResult<String> {
        let c = self
            .0
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        Ok(c.code_sha256().unwrap_or_default().to_string())
    }

    /// Waits (at most a minute) until the function's last update has ended.
    async fn settled(&self, name: &str) -> CloudResult<()> {
        for _ in 0..60 {
            let c = self
                .0
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(|e| classify(e, NOT_FOUND))?;
            if c.last_update_status().map(|s| s.as_str()) != Some("InProgress") {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        Err(CloudError::Retryable(format!("function {name}: its last update has not ended")))
    }
}

fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

#[async_trait]
impl Kind for Function {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    fn check_files(p: &Properties, root: &std::path::Path) -> Vec<String> {
        let mut problems: Vec<String> = p
            .sources
            .iter()
            .filter(|d| !root.join(d).is_dir())
            .map(|d| format!("source directory {d} does not exist"))
            .collect();
        let module = p.handler.rsplit_once('.').map(|(m, _)| m.replace('.', "/"));
        match module {
            Some(m) if p.sources.iter().any(|d| root.join(d).join(format!("{m}.py")).is_file()) => {
            }
            _ => problems.push(format!(
                "handler {} names no module.function whose module.py is in the sources",
                p.handler
            )),
        }
        problems
    }

    async fn observe(&self, target: &Target, p: &Properties) -> Observation<Self> {
        self.owned(target, Some(p)).await
    }

    /// From what the cloud holds alone (destroy reads no source files).
    async fn find(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        self.owned(target, None).await
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let code = FunctionCode::builder().zip_file(Blob::new(self.code(p)?)).build();
        let out = self
            .0
            .lambda
            .create_function()
            .function_name(&target.physical_name)
            .role(&p.role_arn)
            .handler(&p.handler)
            .runtime(Runtime::from(p.runtime.as_str()))
            .timeout(p.timeout_seconds)
            .memory_size(p.memory_mb)
            .environment(Self::environment(p))
            .description(format!("{} (agentcore-multitenant)", target.logical_id))
            .code(code)
            .set_tags(Some(tags_with_created_at(target).into_iter().collect()))
            .send()
            .await
            .map_err(|e| role_not_ready(busy(classify(e, NOT_FOUND))))?;
        Ok(Outputs {
            arn: given(out.function_arn(), "CreateFunction")?,
            name: target.physical_name.clone(),
        })
    }

    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        changes: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let name = &target.physical_name;
        if changes.iter().any(|c| c.field == "sources") {
            let code = self.code(p)?;
            // A retried update (the configuration call below conflicted) finds the code already
            // there: it is not sent again, which would start another update.
            if self.deployed_code(name).await? != sha256_b64(&code) {
                self.0
                    .lambda
                    .update_function_code()
                    .function_name(name)
                    .zip_file(Blob::new(code))
                    .send()
                    .await
                    .map_err(|e| busy(classify(e, NOT_FOUND)))?;
            }
        }
        if changes.iter().any(|c| c.field != "sources") {
            // One update at a time: the code's must have ended (ResourceConflictException).
            self.settled(name).await?;
            self.0
                .lambda
                .update_function_configuration()
                .function_name(name)
                .role(&p.role_arn)
                .handler(&p.handler)
                .runtime(Runtime::from(p.runtime.as_str()))
                .timeout(p.timeout_seconds)
                .memory_size(p.memory_mb)
                .environment(Self::environment(p))
                .send()
                .await
                .map_err(|e| role_not_ready(busy(classify(e, NOT_FOUND))))?;
        }
        Ok(seen.outputs.clone())
    }

    /// Usable once Active and not in the middle of an update.
    async fn poll_ready(
        &self,
        target: &Target,
        _p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let out = self
            .0
            .lambda
            .get_function_configuration()
            .function_name(&target.physical_name)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        let state = out.state().map(|s| s.as_str()).unwrap_or("Active");
        let update = out.last_update_status().map(|s| s.as_str()).unwrap_or("Successful");
        match (state, update) {
            ("Active", "Successful") => Ok(Progress::Done(outputs.clone())),
            ("Failed", _) | (_, "Failed") => Err(CloudError::Fatal(format!(
                "the function did not start: {}",
                out.state_reason().or(out.last_update_status_reason()).unwrap_or("no reason given")
            ))),
            (s, u) => Ok(Progress::Pending(format!("function {s}, last update {u}"))),
        }
    }

    async fn delete(&self, target: &Target, _p: &Properties, _s: &SeenOf<Self>) -> CloudResult<()> {
        self.remove(&target.physical_name).await
    }

    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        self.remove(&orphan.name).await
    }
}
