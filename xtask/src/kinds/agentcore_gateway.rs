//! An AgentCore Gateway: an MCP endpoint whose JWT authorizer accepts only the access tokens of
//! the stack's user pool and app clients, and whose every tool call is decided by a policy
//! engine in ENFORCE mode. The mode is not a property: LOG_ONLY, or no engine, would let every
//! authenticated caller call every tool with any arguments, so a gateway found in another mode
//! (changed by hand, or by an UpdateGateway that left the engine out: it is a full replacement)
//! is a change that the next deploy puts back. So is a REQUEST interceptor found missing or
//! changed: it is given the request headers, because it reads the caller's verified token.
//! Tagged at creation.

use async_trait::async_trait;
use aws_sdk_bedrockagentcorecontrol::types::{
    AuthorizerConfiguration, AuthorizerType, CustomJwtAuthorizerConfiguration,
    GatewayInterceptionPoint, GatewayInterceptorConfiguration, GatewayPolicyEngineConfiguration,
    GatewayPolicyEngineMode, GatewayProtocolType, InterceptorConfiguration,
    InterceptorInputConfiguration, LambdaInterceptorConfiguration,
};
use serde::{Deserialize, Serialize};

use super::agentcore_policy_engine::tags_of;
use super::{client_token, first_in_pages, propagation, tags_with_created_at, KindInfo, Sim, SIM};
use crate::cloud::{classify, Clients};
use crate::engine::{
    change, found, CloudError, CloudResult, FieldChange, Found, Kind, Observation, Orphan,
    Progress, SeenOf, Target,
};
use crate::model::names;

pub const INFO: KindInfo = KindInfo {
    kind: "agentcore.gateway",
    attributes: &["arn", "id", "url"],
    deadline_secs: 600,
    // Source: none published for CreateGateway to READY: 30 s, an estimate.
    sim: Sim { call: 0.5, ready: 30.0, gone: 10.0, ..SIM },
    ..KindInfo::DEFAULT
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    /// The role the gateway calls its targets with (a Lambda target: lambda:InvokeFunction).
    pub role_arn: String,
    /// The user pool's OpenID discovery URL.
    pub discovery_url: String,
    /// App clients whose access tokens are accepted. Never empty: an authorizer that names no
    /// client would accept every client of the pool.
    #[serde(deserialize_with = "non_empty")]
    pub allowed_clients: Vec<String>,
    /// The policy engine that decides every tool call, always in ENFORCE mode.
    pub policy_engine_arn: String,
    /// A Lambda function the gateway runs on every request after its authorizer and before
    /// its policy engine (REQUEST), given the request headers. `role_arn` must be allowed to invoke it.
    #[serde(default)]
    pub request_interceptor_arn: Option<String>,
}

fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let clients = Vec::<String>::deserialize(d)?;
    if clients.is_empty() {
        return Err(serde::de::Error::custom(
            "allowed_clients must not be empty: a gateway that names no app client would accept \
             the access tokens of every client of the pool",
        ));
    }
    Ok(clients)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    role_arn: String,
    discovery_url: String,
    allowed_clients: Vec<String>,
    /// The engine's ARN when it enforces; otherwise what the gateway has instead, in words.
    policy_engine_arn: String,
    /// The REQUEST interceptor's ARN (with headers), or what the gateway has instead, in words.
    #[serde(default)]
    request_interceptor_arn: String,
    status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    pub arn: String,
    pub id: String,
    pub url: String,
}

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

fn busy(e: CloudError) -> CloudError {
    e.retry_on(&["ConflictException"])
}

pub struct Gateway(pub Clients);

struct Config {
    authorizer: AuthorizerConfiguration,
    engine: GatewayPolicyEngineConfiguration,
    interceptors: Option<Vec<GatewayInterceptorConfiguration>>,
}

fn config(p: &Properties) -> CloudResult<Config> {
    let jwt = CustomJwtAuthorizerConfiguration::builder()
        .discovery_url(&p.discovery_url)
        .set_allowed_clients(Some(p.allowed_clients.clone()))
        .build()
        .map_err(CloudError::fatal)?;
    let engine = GatewayPolicyEngineConfiguration::builder()
        .arn(&p.policy_engine_arn)
        .mode(GatewayPolicyEngineMode::Enforce)
        .build()
        .map_err(CloudError::fatal)?;
    let interceptors = match &p.request_interceptor_arn {
        None => None,
        Some(arn) => Some(vec![GatewayInterceptorConfiguration::builder()
            .interceptor(InterceptorConfiguration::Lambda(
                LambdaInterceptorConfiguration::builder()
                    .arn(arn)
                    .build()
                    .map_err(CloudError::fatal)?,
            ))
            .interception_points(GatewayInterceptionPoint::Request)
            .input_configuration(
                InterceptorInputConfiguration::builder()
                    .pass_request_headers(true)
                    .build()
                    .map_err(CloudError::fatal)?,
            )
            .build()
            .map_err(CloudError::fatal)?]),
    };
    Ok(Config {
        authorizer: AuthorizerConfiguration::CustomJwtAuthorizer(jwt),
        engine,
        interceptors,
    })
}

/// The gateway's interceptors as the state says them: the REQUEST interceptor's ARN when it is
/// the only one and gets the headers, "none" when there is none, otherwise what there is.
pub fn interceptors_of(items: &[GatewayInterceptorConfiguration]) -> String {
    let described: Vec<String> = items
        .iter()
        .map(|i| {
            let arn =
                i.interceptor().and_then(|c| c.as_lambda().ok()).map(|l| l.arn()).unwrap_or("?");
            let points: Vec<&str> = i.interception_points().iter().map(|p| p.as_str()).collect();
            let headers = i.input_configuration().is_some_and(|c| c.pass_request_headers());
            match (points.as_slice(), headers) {
                (["REQUEST"], true) => arn.to_string(),
                _ => format!("{arn} at {} (headers {headers})", points.join("+")),
            }
        })
        .collect();
    if described.is_empty() {
        "none".to_string()
    } else {
        described.join("; ")
    }
}

impl Gateway {
    async fn find_id(&self, name: &str) -> CloudResult<Option<String>> {
        let pages = self.0.agentcore.list_gateways().into_paginator().send();
        first_in_pages(pages, NOT_FOUND, |page| {
            page.items().iter().find(|g| g.name() == name).map(|g| g.gateway_id().to_string())
        })
        .await
    }

    async fn remove(&self, id: &str) -> CloudResult<()> {
        self.0
            .agentcore
            .delete_gateway()
            .gateway_identifier(id)
            .send()
            .await
            .map_err(|e| busy(classify(e, NOT_FOUND)))?;
        Ok(())
    }
}

#[async_trait]
impl Kind for Gateway {
    type Properties = Properties;
    type State = State;
    type Outputs = Outputs;
    const INFO: &'static KindInfo = &INFO;

    async fn observe(&self, target: &Target, _p: &Properties) -> Observation<Self> {
        let Some(id) = self.find_id(&target.physical_name).await? else {
            return Ok(None);
        };
        let got = self.0.agentcore.get_gateway().gateway_identifier(&id).send().await;
        let Some(g) = found(got.map_err(|e| classify(e, NOT_FOUND)))? else {
            return Ok(None);
        };
        if !names::is_owned(&target.tags, &tags_of(&self.0, g.gateway_arn()).await?) {
            return Ok(Some(Found::Foreign));
        }
        let jwt = g.authorizer_configuration().and_then(|a| a.as_custom_jwt_authorizer().ok());
        let engine = match g.policy_engine_configuration() {
            Some(e) if *e.mode() == GatewayPolicyEngineMode::Enforce => e.arn().to_string(),
            Some(e) => format!("{} in {} mode", e.arn(), e.mode().as_str()),
            None => "no policy engine".to_string(),
        };
        let state = State {
            role_arn: g.role_arn().unwrap_or_default().to_string(),
            discovery_url: jwt.map(|j| j.discovery_url().to_string()).unwrap_or_default(),
            allowed_clients: jwt.map(|j| j.allowed_clients().to_vec()).unwrap_or_default(),
            policy_engine_arn: engine,
            request_interceptor_arn: interceptors_of(g.interceptor_configurations()),
            status: g.status().as_str().to_string(),
        };
        let outputs = Outputs {
            arn: g.gateway_arn().to_string(),
            id: g.gateway_id().to_string(),
            url: g.gateway_url().unwrap_or_default().to_string(),
        };
        Ok(Found::ours(state, outputs))
    }

    /// An interceptor the stack does not declare (added by hand) could rewrite every call:
    /// taking it off is a change too.
    fn diff(
        &self,
        p: &Properties,
        seen: &SeenOf<Self>,
        mut changes: Vec<FieldChange>,
    ) -> Vec<FieldChange> {
        if p.request_interceptor_arn.is_none() && seen.state.request_interceptor_arn != "none" {
            changes.push(change(
                "request_interceptor_arn",
                &seen.state.request_interceptor_arn,
                "none",
            ));
        }
        changes
    }

    async fn create(&self, target: &Target, p: &Properties) -> CloudResult<Outputs> {
        let c = config(p)?;
        let g = self
            .0
            .agentcore
            .create_gateway()
            .name(&target.physical_name)
            .description(format!("{} (agentcore-multitenant)", target.logical_id))
            .role_arn(&p.role_arn)
            .protocol_type(GatewayProtocolType::Mcp)
            .authorizer_type(AuthorizerType::CustomJwt)
            .authorizer_configuration(c.authorizer)
            .policy_engine_configuration(c.engine)
            .set_interceptor_configurations(c.interceptors)
            .client_token(client_token(target, "create"))
            .set_tags(Some(tags_with_created_at(target).into_iter().collect()))
            .send()
            .await
            .map_err(|e| propagation(busy(classify(e, NOT_FOUND))))?;
        Ok(Outputs {
            arn: g.gateway_arn().to_string(),
            id: g.gateway_id().to_string(),
            url: g.gateway_url().unwrap_or_default().to_string(),
        })
    }

    /// UpdateGateway replaces the whole configuration: everything is sent again.
    async fn update(
        &self,
        target: &Target,
        p: &Properties,
        seen: &SeenOf<Self>,
        _c: &[FieldChange],
    ) -> CloudResult<Outputs> {
        let c = config(p)?;
        self.0
            .agentcore
            .update_gateway()
            .gateway_identifier(&seen.outputs.id)
            .name(&target.physical_name)
            .description(format!("{} (agentcore-multitenant)", target.logical_id))
            .role_arn(&p.role_arn)
            .protocol_type(GatewayProtocolType::Mcp)
            .authorizer_type(AuthorizerType::CustomJwt)
            .authorizer_configuration(c.authorizer)
            .policy_engine_configuration(c.engine)
            .set_interceptor_configurations(c.interceptors)
            .send()
            .await
            .map_err(|e| propagation(busy(classify(e, NOT_FOUND))))?;
        Ok(seen.outputs.clone())
    }

    async fn poll_ready(
        &self,
        _t: &Target,
        _p: &Properties,
        outputs: &Outputs,
    ) -> CloudResult<Progress<Outputs>> {
        let g = self
            .0
            .agentcore
            .get_gateway()
            .gateway_identifier(&outputs.id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND))?;
        match g.status().as_str() {
            "READY" => Ok(Progress::Done(Outputs {
                url: g.gateway_url().unwrap_or_default().to_string(),
                ..outputs.clone()
            })),
            s if s.ends_with("FAILED") => {
                Err(CloudError::Fatal(format!("gateway {s}: {}", g.status_reasons().join("; "))))
            }
            s => Ok(Progress::Pending(format!("gateway {s}"))),
        }
    }

    async fn delete(&self, _t: &Target, _p: &Properties, seen: &SeenOf<Self>) -> CloudResult<()> {
        if seen.state.status == "DELETING" {
            return Ok(());
        }
        self.remove(&seen.outputs.id).await
    }

    /// A gateway goes only without targets: they go first.
    async fn delete_orphan(&self, orphan: &Orphan) -> CloudResult<()> {
        let targets = self
            .0
            .agentcore
            .list_gateway_targets()
            .gateway_identifier(&orphan.id)
            .send()
            .await
            .map_err(|e| classify(e, NOT_FOUND));
        let targets = match targets {
            Ok(t) => t,
            Err(CloudError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        for t in targets.items() {
            match self
                .0
                .agentcore
                .delete_gateway_target()
                .gateway_identifier(&orphan.id)
                .target_id(t.target_id())
                .send()
                .await
                .map_err(|e| busy(classify(e, NOT_FOUND)))
            {
                Ok(_) | Err(CloudError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !targets.items().is_empty() {
            return Err(CloudError::Retryable("its targets are being deleted".into()));
        }
        self.remove(&orphan.id).await
    }
}
