//! Everything that carries an environment's ownership tags, found through the Resource Groups
//! Tagging API: how resources removed from a stack file (which deploy and destroy no longer
//! know of) and anything a destroy left behind are found.

use aws_sdk_resourcegroupstagging::types::TagFilter;

use super::{describe_sdk_error, Clients};
use crate::model::names::{PROJECT, TAG_PREFIX};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Tagged {
    pub arn: String,
    pub stack: String,
    pub logical_id: String,
}

/// Resources tagged with our project and `env` (and one of `stacks`, if given).
pub async fn tagged(clients: &Clients, env: &str, stacks: &[&str]) -> anyhow::Result<Vec<Tagged>> {
    let filter = |key: &str, values: &[&str]| {
        TagFilter::builder()
            .key(format!("{TAG_PREFIX}{key}"))
            .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
            .build()
    };
    let mut call = clients
        .tagging
        .get_resources()
        .tag_filters(filter("project", &[PROJECT]))
        .tag_filters(filter("env", &[env]));
    if !stacks.is_empty() {
        call = call.tag_filters(filter("stack", stacks));
    }
    let mut pages = call.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| anyhow::anyhow!("listing tagged resources: {}", describe_sdk_error(&e)))?;
        for r in page.resource_tag_mapping_list() {
            let tag = |k: &str| {
                r.tags()
                    .iter()
                    .find(|t| t.key() == format!("{TAG_PREFIX}{k}"))
                    .map(|t| t.value().to_string())
                    .unwrap_or_default()
            };
            out.push(Tagged {
                arn: r.resource_arn().unwrap_or_default().to_string(),
                stack: tag("stack"),
                logical_id: tag("logical-id"),
            });
        }
    }
    out.sort_by(|a, b| a.arn.cmp(&b.arn));
    Ok(out)
}

/// One resource of some environment, with the tags that date it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dated {
    pub env: String,
    pub arn: String,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
}

/// Every resource of every environment of this project: what the tagging API lists, and the
/// IAM roles, which it does not cover (listed by our name prefix, then their tags read). A
/// resource without our `project` and `env` tags is not in the list, whatever its name.
pub async fn every_environment(clients: &Clients) -> anyhow::Result<Vec<Dated>> {
    let mut out: Vec<Dated> = Vec::new();
    let mut pages = clients
        .tagging
        .get_resources()
        .tag_filters(
            TagFilter::builder()
                .key(format!("{TAG_PREFIX}project"))
                .values(PROJECT)
                .build(),
        )
        .into_paginator()
        .send();
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
            .map_err(|e| anyhow::anyhow!("reading the tags of IAM role {}: {}", role.role_name(), describe_sdk_error(&e)))?;
        let pairs = tags.tags().iter().map(|t| (t.key(), t.value()));
        if let Some(d) = dated(role.arn(), pairs) {
            out.push(d);
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
    Some(Dated {
        env: tags.get("env")?.to_string(),
        arn: arn.to_string(),
        created_at: tags.get("created-at").map(|s| s.to_string()),
        expires_at: tags.get("expires-at").map(|s| s.to_string()),
    })
}
