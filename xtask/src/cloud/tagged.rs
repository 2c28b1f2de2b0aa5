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
