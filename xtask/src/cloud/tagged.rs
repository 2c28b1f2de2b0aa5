//! Everything that carries an environment's ownership tags, found through the Resource Groups
//! Tagging API (and, for IAM roles, which it does not list, by name and their own tags): how
//! resources removed from a stack file (which deploy and destroy no longer know of), anything a
//! destroy left behind, and the environments gc reaps are found.

use aws_sdk_resourcegroupstagging::types::TagFilter;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{describe_sdk_error, Clients};
use crate::model::names::{PROJECT, TAG_PREFIX};

/// One resource of some environment, with the tags that date it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dated {
    pub env: String,
    pub arn: String,
    pub stack: String,
    pub logical_id: String,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
}

/// Every resource of every environment of this project: what the tagging API lists, and what
/// it may not (IAM roles, secrets, S3 Vectors buckets, Knowledge Bases, AgentCore runtimes;
/// listed by our name prefix, then their tags read). A
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
            let tags = r.tags().iter().map(|t| (t.key(), t.value()));
            if let Some(d) = dated(r.resource_arn().unwrap_or_default(), tags) {
                out.push(d);
            }
        }
    }
    // Kinds the tagging API does not list (IAM roles), or may not (secrets in the local cloud;
    // S3 Vectors buckets, Knowledge Bases, AgentCore runtimes: newer services), by our name
    // prefix, then their tags.
    let mut keep = |arn: &str, tags: Vec<(String, String)>| {
        if out.iter().any(|d| d.arn == arn) {
            return;
        }
        if let Some(d) = dated(arn, tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            if env.is_none_or(|e| e == d.env) {
                out.push(d);
            }
        }
    };
    let listing = |what: &str, e: String| anyhow::anyhow!("listing {what}: {e}");
    let prefix = format!("{PROJECT}-");
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
            keep(role.arn(), tags);
        }
    }
    // Secrets: their listing carries their tags.
    let mut secret_pages = clients
        .secrets
        .list_secrets()
        .filters(
            aws_sdk_secretsmanager::types::Filter::builder()
                .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                .values(format!("{PROJECT}/"))
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
            keep(secret.arn().unwrap_or_default(), tags);
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
                Ok(t) => keep(arn, t.tags().clone().into_iter().collect()),
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
                Ok(t) => keep(&arn, t.tags().cloned().unwrap_or_default().into_iter().collect()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(listing("Knowledge Base tags", describe_sdk_error(&e))),
            }
        }
    }
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
            let arn = r.agent_runtime_arn();
            match clients.agentcore.list_tags_for_resource().resource_arn(arn).send().await {
                Ok(t) => keep(arn, t.tags().cloned().unwrap_or_default().into_iter().collect()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(listing("AgentCore runtime tags", describe_sdk_error(&e))),
            }
        }
    }
    out.sort_by(|a, b| (&a.env, &a.arn).cmp(&(&b.env, &b.arn)));
    Ok(out)
}

fn dated<'a>(arn: &str, tags: impl Iterator<Item = (&'a str, &'a str)>) -> Option<Dated> {
    let tags: std::collections::BTreeMap<&str, &str> =
        tags.filter_map(|(k, v)| Some((k.strip_prefix(TAG_PREFIX)?, v))).collect();
    if tags.get("project") != Some(&PROJECT) {
        return None;
    }
    let tag = |k: &str| tags.get(k).map(|s| s.to_string()).unwrap_or_default();
    Some(Dated {
        env: tags.get("env")?.to_string(),
        arn: arn.to_string(),
        stack: tag("stack"),
        logical_id: tag("logical-id"),
        created_at: tags.get("created-at").map(|s| s.to_string()),
        expires_at: tags.get("expires-at").map(|s| s.to_string()),
    })
}
