//! Everything an environment owns, found through the Resource Groups Tagging API (and, for the
//! kinds it does not or may not list, by our name prefix and their own tags): how resources
//! removed from a stack file (which deploy and destroy no longer know of), anything a destroy
//! left behind, and the environments gc reaps are found.
//!
//! Owned means name **and** tags: anyone allowed to tag can put our tags on anything
//! (`customer-prod-data` tagged `env=pr-9`), but only the deploying identity creates our names.
//! A resource is listed only when its physical name is exactly the one its environment's naming
//! gives its `logical-id` tag (`model::names::is_environments_name`), and its `env` tag is a
//! valid environment name. Everything else is skipped, whatever its tags say.

use aws_sdk_resourcegroupstagging::types::TagFilter;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::cloud::{describe_sdk_error, Clients};
use crate::model::names::{self, PROJECT, TAG_PREFIX};

/// One resource of some environment, as its name and tags show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dated {
    pub env: String,
    pub arn: String,
    /// The physical name (for EC2, its `Name` tag: EC2 names are tags).
    pub name: String,
    pub stack: String,
    pub logical_id: String,
}

/// Every resource of every environment of this project: what the tagging API lists, and what
/// it may not (IAM roles, secrets, S3 Vectors buckets, Knowledge Bases, AgentCore runtimes,
/// gateways, policy engines and memories; listed by our name prefix, then their tags read). A
/// resource without our `project` and `env` tags is not in the list, whatever its name.
/// `env`: only that environment's.
pub async fn every_environment(clients: &Clients, env: Option<&str>) -> anyhow::Result<Vec<Dated>> {
    let mut out: Vec<Dated> = Vec::new();
    let mut call = clients.tagging.get_resources().tag_filters(
        TagFilter::builder().key(format!("{TAG_PREFIX}project")).values(PROJECT).build(),
    );
    if let Some(env) = env {
        call = call
            .tag_filters(TagFilter::builder().key(format!("{TAG_PREFIX}env")).values(env).build());
    }
    let mut pages = call.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| anyhow::anyhow!("listing tagged resources: {}", describe_sdk_error(&e)))?;
        for r in page.resource_tag_mapping_list() {
            let arn = r.resource_arn().unwrap_or_default();
            let tags: Vec<(&str, &str)> = r.tags().iter().map(|t| (t.key(), t.value())).collect();
            if dated(arn, "", tags.iter().copied()).is_none() {
                continue; // not even our tags: no call for its name
            }
            let Some(name) = name_of(clients, arn, &tags).await? else {
                continue; // gone meanwhile
            };
            if let Some(d) = dated(arn, &name, tags.into_iter()) {
                out.push(d);
            }
        }
    }
    // Kinds the tagging API does not list (IAM roles), or may not (secrets in the local cloud;
    // S3 Vectors buckets, Knowledge Bases, AgentCore runtimes: newer services), by our name
    // prefix, then their tags.
    let mut keep = |arn: &str, name: &str, tags: Vec<(String, String)>| {
        if out.iter().any(|d| d.arn == arn) {
            return;
        }
        if let Some(d) = dated(arn, name, tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            if env.is_none_or(|e| e == d.env) {
                out.push(d);
            }
        }
    };
    let listing = |what: &str, e: String| anyhow::anyhow!("listing {what}: {e}");
    // One environment's: its own names only. Every name it owns starts with its prefix, and
    // its deploying identity (`permissions --env`) may read the tags of its own names only.
    let prefix = match env {
        Some(e) => format!("{PROJECT}-{e}-"),
        None => format!("{PROJECT}-"),
    };
    let mut roles = clients.iam.list_roles().into_paginator().items().send();
    while let Some(role) = roles.next().await {
        let role = role.map_err(|e| listing("IAM roles", describe_sdk_error(&e)))?;
        if role.role_name().starts_with(&prefix) {
            let tags = clients.iam.list_role_tags().role_name(role.role_name()).send().await;
            let tags = match tags {
                Ok(t) => {
                    t.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
                }
                Err(e) if e.code() == Some("NoSuchEntity") => continue,
                Err(e) => return Err(listing("IAM role tags", describe_sdk_error(&e))),
            };
            keep(role.arn(), role.role_name(), tags);
        }
    }
    // Secrets: their listing carries their tags.
    let mut secret_pages = clients
        .secrets
        .list_secrets()
        .filters(
            aws_sdk_secretsmanager::types::Filter::builder()
                .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                .values(match env {
                    Some(e) => format!("{PROJECT}/{e}/"),
                    None => format!("{PROJECT}/"),
                })
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = secret_pages.next().await {
        let page = page.map_err(|e| listing("secrets", describe_sdk_error(&e)))?;
        for secret in page.secret_list() {
            let tags = secret
                .tags()
                .iter()
                .map(|t| {
                    let (k, v) = (t.key().unwrap_or_default(), t.value().unwrap_or_default());
                    (k.to_string(), v.to_string())
                })
                .collect();
            keep(secret.arn().unwrap_or_default(), secret.name().unwrap_or_default(), tags);
        }
    }
    let mut token = None;
    loop {
        let page = clients
            .s3vectors
            .list_vector_buckets()
            .prefix(&prefix)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| listing("S3 Vectors buckets", describe_sdk_error(&e)))?;
        for bucket in page.vector_buckets() {
            let arn = bucket.vector_bucket_arn();
            match clients.s3vectors.list_tags_for_resource().resource_arn(arn).send().await {
                Ok(t) => {
                    keep(arn, bucket.vector_bucket_name(), t.tags().clone().into_iter().collect())
                }
                Err(e) if e.code() == Some("NotFoundException") => {}
                Err(e) => return Err(listing("S3 Vectors bucket tags", describe_sdk_error(&e))),
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut kbs = clients.bedrockagent.list_knowledge_bases().into_paginator().send();
    while let Some(page) = kbs.next().await {
        let page = page.map_err(|e| listing("Knowledge Bases", describe_sdk_error(&e)))?;
        for kb in page.knowledge_base_summaries().iter().filter(|k| k.name().starts_with(&prefix)) {
            let arn = format!(
                "arn:aws:bedrock:{}:{}:knowledge-base/{}",
                clients.region,
                clients.account,
                kb.knowledge_base_id()
            );
            match clients.bedrockagent.list_tags_for_resource().resource_arn(&arn).send().await {
                Ok(t) => keep(
                    &arn,
                    kb.name(),
                    t.tags().cloned().unwrap_or_default().into_iter().collect(),
                ),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(listing("Knowledge Base tags", describe_sdk_error(&e))),
            }
        }
    }
    // AgentCore resources' tags (runtimes, gateways, policy engines, memories).
    let tags_of = |arn: String| async move {
        match clients.agentcore.list_tags_for_resource().resource_arn(&arn).send().await {
            Ok(t) => Ok(Some((arn, t.tags().cloned().unwrap_or_default().into_iter().collect()))),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(listing("AgentCore tags", describe_sdk_error(&e))),
        }
    };
    // Runtime names allow no `-`: ours start agentcore_mt_.
    let underscored = prefix.replace('-', "_");
    let mut runtimes = clients.agentcore.list_agent_runtimes().into_paginator().send();
    while let Some(page) = runtimes.next().await {
        let page = page.map_err(|e| listing("AgentCore runtimes", describe_sdk_error(&e)))?;
        for r in page
            .agent_runtimes()
            .iter()
            .filter(|r| r.agent_runtime_name().starts_with(&underscored))
        {
            if let Some((arn, tags)) = tags_of(r.agent_runtime_arn().to_string()).await? {
                keep(&arn, r.agent_runtime_name(), tags);
            }
        }
    }
    // Gateways, policy engines and memories: listed by our name prefix too (an old checkout
    // that no longer declares tutorial 4 must still find them), then their tags read.
    let agentcore_arn = |what: &str, id: &str| {
        format!("arn:aws:bedrock-agentcore:{}:{}:{what}/{id}", clients.region, clients.account)
    };
    let mut gateways = clients.agentcore.list_gateways().into_paginator().send();
    while let Some(page) = gateways.next().await {
        let page = page.map_err(|e| listing("AgentCore gateways", describe_sdk_error(&e)))?;
        for g in page.items().iter().filter(|g| g.name().starts_with(&prefix)) {
            if let Some((arn, tags)) = tags_of(agentcore_arn("gateway", g.gateway_id())).await? {
                keep(&arn, g.name(), tags);
            }
        }
    }
    let mut engines = clients.agentcore.list_policy_engines().into_paginator().send();
    while let Some(page) = engines.next().await {
        let page = page.map_err(|e| listing("policy engines", describe_sdk_error(&e)))?;
        for e in page.policy_engines().iter().filter(|e| e.name().starts_with(&underscored)) {
            if let Some((arn, tags)) = tags_of(e.policy_engine_arn().to_string()).await? {
                keep(&arn, e.name(), tags);
            }
        }
    }
    let mut memories = clients.agentcore.list_memories().into_paginator().send();
    while let Some(page) = memories.next().await {
        let page = page.map_err(|e| listing("AgentCore memories", describe_sdk_error(&e)))?;
        for m in page.memories() {
            let (Some(id), Some(arn)) = (m.id(), m.arn()) else { continue };
            // A memory's id is its name, '-' and ten characters.
            if !id.starts_with(&underscored) || id.len() <= 11 {
                continue;
            }
            if let Some((arn, tags)) = tags_of(arn.to_string()).await? {
                keep(&arn, &id[..id.len() - 11], tags);
            }
        }
    }
    out.retain(|d| owned(d, &clients.account));
    out.sort_by(|a, b| (&a.env, &a.arn).cmp(&(&b.env, &b.arn)));
    Ok(out)
}

/// Whether a resource carrying an environment's tags also has the name that environment gives
/// it: both together prove it is the environment's.
pub fn owned(d: &Dated, account: &str) -> bool {
    let Some((kind, _)) = crate::kinds::from_arn(&d.arn) else {
        return false;
    };
    let Some(entry) = crate::kinds::entry(kind) else {
        return false;
    };
    names::is_environments_name(entry.info.name_style, &d.name, &d.env, &d.logical_id, account)
}

/// A resource with an environment's tags whose name that environment's identity may not read
/// is not named as the environment names its own (it may read those): not its own.
fn denied(e: &impl ProvideErrorMetadata) -> bool {
    e.code() == Some("AccessDeniedException")
}

/// The physical name of a resource the tagging API listed: from its ARN where the ARN holds it,
/// else from the `Name` tag (EC2) or the service (`None`: gone meanwhile).
async fn name_of(
    clients: &Clients,
    arn: &str,
    tags: &[(&str, &str)],
) -> anyhow::Result<Option<String>> {
    let Some((kind, orphan)) = crate::kinds::from_arn(arn) else {
        return Ok(Some(String::new())); // not a kind we make: never ours
    };
    if !orphan.name.is_empty() {
        return Ok(Some(orphan.name));
    }
    let failed = |what: &str, e: String| anyhow::anyhow!("reading the name of {what}: {e}");
    Ok(match kind {
        "cognito.user_pool" => {
            match clients.cognito.describe_user_pool().user_pool_id(&orphan.id).send().await {
                Ok(o) => Some(o.user_pool().and_then(|p| p.name()).unwrap_or_default().to_string()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                Err(e) if denied(&e) => Some(String::new()),
                Err(e) => return Err(failed(arn, describe_sdk_error(&e))),
            }
        }
        "bedrock.knowledge_base" => {
            let got = clients.bedrockagent.get_knowledge_base().knowledge_base_id(&orphan.id);
            match got.send().await {
                Ok(o) => Some(o.knowledge_base().map(|k| k.name()).unwrap_or_default().to_string()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                Err(e) if denied(&e) => Some(String::new()),
                Err(e) => return Err(failed(arn, describe_sdk_error(&e))),
            }
        }
        "agentcore.runtime" => {
            match clients.agentcore.get_agent_runtime().agent_runtime_id(&orphan.id).send().await {
                Ok(o) => Some(o.agent_runtime_name().to_string()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                Err(e) if denied(&e) => Some(String::new()),
                Err(e) => return Err(failed(arn, describe_sdk_error(&e))),
            }
        }
        // Never the `Name` tag: anyone who may tag could name someone else's gateway ours.
        "agentcore.gateway" => {
            match clients.agentcore.get_gateway().gateway_identifier(&orphan.id).send().await {
                Ok(o) => Some(o.name().to_string()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                Err(e) if denied(&e) => Some(String::new()),
                Err(e) => return Err(failed(arn, describe_sdk_error(&e))),
            }
        }
        // A secret's ARN ends in its name and six random characters.
        "secretsmanager.generated_secret" => arn
            .split_once(":secret:")
            .and_then(|(_, n)| n.rsplit_once('-'))
            .map(|(name, _)| name.to_string()),
        // EC2 names are tags (`Name`): as forgeable as the ownership tags (see README).
        "ec2.vpc" | "ec2.subnet" | "ec2.security_group" => Some(
            tags.iter().find(|(k, _)| *k == "Name").map(|(_, v)| v.to_string()).unwrap_or_default(),
        ),
        // Any other kind whose ARN holds no name: no name, so never ours.
        _ => Some(String::new()),
    })
}

fn dated<'a>(
    arn: &str,
    name: &str,
    tags: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<Dated> {
    let tags: std::collections::BTreeMap<&str, &str> =
        tags.filter_map(|(k, v)| Some((k.strip_prefix(TAG_PREFIX)?, v))).collect();
    if tags.get("project") != Some(&PROJECT) {
        return None;
    }
    let tag = |k: &str| tags.get(k).map(|s| s.to_string()).unwrap_or_default();
    Some(Dated {
        env: tags.get("env")?.to_string(),
        arn: arn.to_string(),
        name: name.to_string(),
        stack: tag("stack"),
        logical_id: tag("logical-id"),
    })
}
