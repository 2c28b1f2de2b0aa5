//! What a demo user does, for the `retrieve` command: sign in to Cognito with the password from
//! the environment's secret, read the tier from the token's `cognito:groups`, and retrieve from
//! the Knowledge Base with a metadata filter on that tier. A user in no known group, or in
//! several, is refused: the tier never defaults to a privileged one.

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_bedrockagentruntime::types::{
    FilterAttribute, KnowledgeBaseQuery, KnowledgeBaseRetrievalConfiguration,
    KnowledgeBaseVectorSearchConfiguration, RetrievalFilter,
};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::cloud::Clients;

pub const TIERS: &[&str] = &["regular", "platinum"];

/// The claims of a JWT, without checking its signature: only for a token we just received
/// from Cognito over TLS ourselves.
pub fn claims(token: &str) -> Result<Value> {
    let payload = token.split('.').nth(1).context("not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .context("JWT payload is not base64url")?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// The tier from `cognito:groups`: exactly one known group, or an error.
pub fn tier(claims: &Value) -> Result<String> {
    let groups: Vec<&str> = claims["cognito:groups"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let known: Vec<&str> = groups.iter().copied().filter(|g| TIERS.contains(g)).collect();
    match known.as_slice() {
        [one] => Ok(one.to_string()),
        [] => bail!("the token carries no known tier group (cognito:groups = {groups:?}): refusing rather than guessing"),
        _ => bail!("the token carries several tier groups ({known:?}): refusing rather than picking one"),
    }
}

/// Retrieves with a filter on the tier; returns (uri, score, tier, text) per result.
pub async fn retrieve(
    clients: &Clients,
    knowledge_base_id: &str,
    query: &str,
    tier: &str,
) -> Result<Vec<Value>> {
    let filter = RetrievalFilter::Equals(
        FilterAttribute::builder()
            .key("tier")
            .value(aws_smithy_types::Document::String(tier.to_string()))
            .build()
            .map_err(|e| anyhow!("{e}"))?,
    );
    let config = KnowledgeBaseRetrievalConfiguration::builder()
        .vector_search_configuration(
            KnowledgeBaseVectorSearchConfiguration::builder()
                .number_of_results(3)
                .filter(filter)
                .build(),
        )
        .build();
    let out = clients
        .bedrockruntime
        .retrieve()
        .knowledge_base_id(knowledge_base_id)
        .retrieval_query(KnowledgeBaseQuery::builder().text(query).build())
        .retrieval_configuration(config)
        .send()
        .await
        .map_err(|e| anyhow!("Retrieve failed: {}", crate::cloud::describe_sdk_error(&e)))?;
    Ok(out
        .retrieval_results()
        .iter()
        .map(|r| {
            let uri = r.location().and_then(|l| l.s3_location()).and_then(|s| s.uri()).unwrap_or_default();
            let tier = r.metadata().and_then(|m| m.get("tier")).map(document_text).unwrap_or_default();
            json!({"uri": uri, "score": r.score(), "tier": tier, "text": r.content().map(|c| c.text()).unwrap_or_default()})
        })
        .collect())
}

fn document_text(d: &aws_smithy_types::Document) -> String {
    match d {
        aws_smithy_types::Document::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn tier_fails_closed() {
        assert_eq!(super::tier(&json!({"cognito:groups": ["regular"]})).unwrap(), "regular");
        assert_eq!(
            super::tier(&json!({"cognito:groups": ["admins", "platinum"]})).unwrap(),
            "platinum"
        );
        assert!(super::tier(&json!({})).is_err());
        assert!(super::tier(&json!({"cognito:groups": []})).is_err());
        assert!(super::tier(&json!({"cognito:groups": ["gold"]})).is_err());
        assert!(super::tier(&json!({"cognito:groups": ["regular", "platinum"]})).is_err());
        assert!(super::tier(&json!({"cognito:groups": "platinum"})).is_err());
    }
}
