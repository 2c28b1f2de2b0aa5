//! Everything that carries an environment's ownership tags, found through the Resource Groups
//! Tagging API (and, for IAM roles, which it does not list, by name and their own tags): how
//! resources removed from a stack file (which deploy and destroy no longer know of), anything a
//! destroy left behind, and the environments gc reaps are found.

use aws_sdk_resourcegroupstagging::types::TagFilter;

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

/// Every resource of every environment of this project: what the tagging API lists, and the
/// IAM roles, which it does not cover (listed by our name prefix, then their tags read). A
/// resource without our `project` and `env` tags is not in the list, whatever its name.
/// `env`: only that environment's.
pub async fn every_environment(clients: &Clients, env: Option<&str>) -> anyhow::Result<Vec<Dated>> {
    let mut out: Vec<Dated> = Vec::new();
    let mut call = clients.tagging.get_resources().tag_filters(
        TagFilter::builder()
            .key(format!("{TAG_PREFIX}project"))
            .values(PROJECT)
            .build(),
    );
    if let Some(env) = env {
        call = call.tag_filters(
            TagFilter::builder()
                .key(format!("{TAG_PREFIX}env"))
                .values(env)
                .build(),
        );
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
    let mut roles = clients.iam.list_roles().into_paginator().items().send();
    while let Some(role) = roles.next().await {
        let role =
            role.map_err(|e| anyhow::anyhow!("listing IAM roles: {}", describe_sdk_error(&e)))?;
        if !role.role_name().starts_with(&format!("{PROJECT}-"))
            || out.iter().any(|d| d.arn == role.arn())
        {
            continue;
        }
        let tags = clients
            .iam
            .list_role_tags()
            .role_name(role.role_name())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "reading the tags of IAM role {}: {}",
                    role.role_name(),
                    describe_sdk_error(&e)
                )
            })?;
        let pairs = tags.tags().iter().map(|t| (t.key(), t.value()));
        if let Some(d) = dated(role.arn(), pairs) {
            if env.is_none_or(|e| e == d.env) {
                out.push(d);
            }
        }
    }
    out.sort_by(|a, b| (&a.env, &a.arn).cmp(&(&b.env, &b.arn)));
    Ok(out)
}

fn dated<'a>(arn: &str, tags: impl Iterator<Item = (&'a str, &'a str)>) -> Option<Dated> {
    let tags: std::collections::BTreeMap<&str, &str> = tags
        .filter_map(|(k, v)| Some((k.strip_prefix(TAG_PREFIX)?, v)))
        .collect();
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
