//! One module per AWS resource kind, each shaped alike: its stack properties, its metadata
//! (`INFO`), and a `ResourceKind` implementation (observe / create / update / delete).
//! This file is the only place that lists them all.

pub mod agentcore_package;
pub mod agentcore_runtime;
pub mod bedrock_data_source;
pub mod bedrock_ingestion;
pub mod bedrock_knowledge_base;
pub mod cognito_app_client;
pub mod cognito_group;
pub mod cognito_user;
pub mod cognito_user_pool;
pub mod database_credentials;
pub mod ec2_security_group;
pub mod ec2_subnet;
pub mod ec2_vpc;
pub mod generated_secret;
pub mod iam_role;
pub mod rds_cluster;
pub mod rds_instance;
pub mod rds_subnet_group;
pub mod s3_bucket;
pub mod s3_objects;
pub mod s3vectors_bucket;
pub mod s3vectors_index;
pub mod sql_login;
pub mod sql_migrations;
pub mod sql_signing_key;
pub mod sql_tenant_users;

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cloud::Clients;
use crate::engine::{CloudError, CloudResult, ResourceKind, Target};
use crate::model::NameStyle;

/// What the model and the engine know of a kind without calling it.
#[derive(Debug)]
pub struct KindInfo {
    pub kind: &'static str,
    pub name_style: NameStyle,
    /// Attributes other resources may reference.
    pub attributes: &'static [&'static str],
    /// Attributes only known once the resource is usable; a reference to one waits for that.
    pub ready_attributes: &'static [&'static str],
    /// How long one resource of this kind may take to converge or to go away.
    pub deadline_secs: u64,
    /// Deleted together with what it depends on (rows and roles inside a database cluster):
    /// destroy makes no call for it.
    pub cascades: bool,
    /// Properties that name files or directories (a string or a list of strings): relative
    /// ones are relative to the stack file's directory.
    pub files: &'static [&'static str],
}

/// A resource as written in a stack file: `kind` picks the properties' type, so unknown fields
/// and wrong types are reported with their line.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "kind", content = "properties", deny_unknown_fields)]
pub enum Spec {
    #[serde(rename = "cognito.user_pool")]
    UserPool(cognito_user_pool::Properties),
    #[serde(rename = "cognito.group")]
    Group(cognito_group::Properties),
    #[serde(rename = "cognito.app_client")]
    AppClient(cognito_app_client::Properties),
    #[serde(rename = "cognito.user")]
    User(cognito_user::Properties),
    #[serde(rename = "secretsmanager.generated_secret")]
    GeneratedSecret(generated_secret::Properties),
    #[serde(rename = "s3.bucket")]
    Bucket(s3_bucket::Properties),
    #[serde(rename = "s3.objects")]
    Objects(s3_objects::Properties),
    #[serde(rename = "secretsmanager.database_credentials")]
    DatabaseCredentials(database_credentials::Properties),
    #[serde(rename = "ec2.vpc")]
    Vpc(ec2_vpc::Properties),
    #[serde(rename = "ec2.subnet")]
    Subnet(ec2_subnet::Properties),
    #[serde(rename = "ec2.security_group")]
    SecurityGroup(ec2_security_group::Properties),
    #[serde(rename = "rds.db_subnet_group")]
    SubnetGroup(rds_subnet_group::Properties),
    #[serde(rename = "rds.cluster")]
    Cluster(rds_cluster::Properties),
    #[serde(rename = "rds.instance")]
    Instance(rds_instance::Properties),
    #[serde(rename = "rdsdata.sql_migrations")]
    SqlMigrations(sql_migrations::Properties),
    #[serde(rename = "rdsdata.login")]
    SqlLogin(sql_login::Properties),
    #[serde(rename = "rdsdata.signing_key")]
    SqlSigningKey(sql_signing_key::Properties),
    #[serde(rename = "rdsdata.tenant_users")]
    SqlTenantUsers(sql_tenant_users::Properties),
    #[serde(rename = "iam.role")]
    Role(iam_role::Properties),
    #[serde(rename = "s3vectors.bucket")]
    VectorBucket(s3vectors_bucket::Properties),
    #[serde(rename = "s3vectors.index")]
    VectorIndex(s3vectors_index::Properties),
    #[serde(rename = "bedrock.knowledge_base")]
    KnowledgeBase(bedrock_knowledge_base::Properties),
    #[serde(rename = "bedrock.data_source")]
    DataSource(bedrock_data_source::Properties),
    #[serde(rename = "bedrock.ingestion")]
    Ingestion(bedrock_ingestion::Properties),
    #[serde(rename = "agentcore.agent_package")]
    AgentPackage(agentcore_package::Properties),
    #[serde(rename = "agentcore.runtime")]
    Runtime(agentcore_runtime::Properties),
}

fn json(p: impl Serialize) -> Value {
    serde_json::to_value(p).expect("properties serialize to JSON")
}

impl Spec {
    pub fn into_parts(self) -> (&'static KindInfo, Value) {
        match self {
            Spec::UserPool(p) => (&cognito_user_pool::INFO, json(p)),
            Spec::Group(p) => (&cognito_group::INFO, json(p)),
            Spec::AppClient(p) => (&cognito_app_client::INFO, json(p)),
            Spec::User(p) => (&cognito_user::INFO, json(p)),
            Spec::GeneratedSecret(p) => (&generated_secret::INFO, json(p)),
            Spec::Bucket(p) => (&s3_bucket::INFO, json(p)),
            Spec::Objects(p) => (&s3_objects::INFO, json(p)),
            Spec::DatabaseCredentials(p) => (&database_credentials::INFO, json(p)),
            Spec::Vpc(p) => (&ec2_vpc::INFO, json(p)),
            Spec::Subnet(p) => (&ec2_subnet::INFO, json(p)),
            Spec::SecurityGroup(p) => (&ec2_security_group::INFO, json(p)),
            Spec::SubnetGroup(p) => (&rds_subnet_group::INFO, json(p)),
            Spec::Cluster(p) => (&rds_cluster::INFO, json(p)),
            Spec::Instance(p) => (&rds_instance::INFO, json(p)),
            Spec::SqlMigrations(p) => (&sql_migrations::INFO, json(p)),
            Spec::SqlLogin(p) => (&sql_login::INFO, json(p)),
            Spec::SqlSigningKey(p) => (&sql_signing_key::INFO, json(p)),
            Spec::SqlTenantUsers(p) => (&sql_tenant_users::INFO, json(p)),
            Spec::Role(p) => (&iam_role::INFO, json(p)),
            Spec::VectorBucket(p) => (&s3vectors_bucket::INFO, json(p)),
            Spec::VectorIndex(p) => (&s3vectors_index::INFO, json(p)),
            Spec::KnowledgeBase(p) => (&bedrock_knowledge_base::INFO, json(p)),
            Spec::DataSource(p) => (&bedrock_data_source::INFO, json(p)),
            Spec::Ingestion(p) => (&bedrock_ingestion::INFO, json(p)),
            Spec::AgentPackage(p) => (&agentcore_package::INFO, json(p)),
            Spec::Runtime(p) => (&agentcore_runtime::INFO, json(p)),
        }
    }
}

pub const ALL: &[&KindInfo] = &[
    &cognito_user_pool::INFO,
    &cognito_group::INFO,
    &cognito_app_client::INFO,
    &cognito_user::INFO,
    &generated_secret::INFO,
    &s3_bucket::INFO,
    &s3_objects::INFO,
    &database_credentials::INFO,
    &ec2_vpc::INFO,
    &ec2_subnet::INFO,
    &ec2_security_group::INFO,
    &rds_subnet_group::INFO,
    &rds_cluster::INFO,
    &rds_instance::INFO,
    &sql_migrations::INFO,
    &sql_login::INFO,
    &sql_signing_key::INFO,
    &sql_tenant_users::INFO,
    &iam_role::INFO,
    &s3vectors_bucket::INFO,
    &s3vectors_index::INFO,
    &bedrock_knowledge_base::INFO,
    &bedrock_data_source::INFO,
    &bedrock_ingestion::INFO,
    &agentcore_package::INFO,
    &agentcore_runtime::INFO,
];

/// The implementations that talk to AWS (or the local cloud), by kind name.
pub fn registry(clients: &Clients) -> HashMap<&'static str, Arc<dyn ResourceKind>> {
    let c = clients.clone();
    let kinds: Vec<(&KindInfo, Arc<dyn ResourceKind>)> = vec![
        (
            &cognito_user_pool::INFO,
            Arc::new(cognito_user_pool::UserPool(c.clone())),
        ),
        (
            &cognito_group::INFO,
            Arc::new(cognito_group::Group(c.clone())),
        ),
        (
            &cognito_app_client::INFO,
            Arc::new(cognito_app_client::AppClient(c.clone())),
        ),
        (&cognito_user::INFO, Arc::new(cognito_user::User(c.clone()))),
        (
            &generated_secret::INFO,
            Arc::new(generated_secret::GeneratedSecret(c.clone())),
        ),
        (&s3_bucket::INFO, Arc::new(s3_bucket::Bucket(c.clone()))),
        (&s3_objects::INFO, Arc::new(s3_objects::Objects(c.clone()))),
        (
            &database_credentials::INFO,
            Arc::new(database_credentials::DatabaseCredentials(c.clone())),
        ),
        (&ec2_vpc::INFO, Arc::new(ec2_vpc::Vpc(c.clone()))),
        (&ec2_subnet::INFO, Arc::new(ec2_subnet::Subnet(c.clone()))),
        (
            &ec2_security_group::INFO,
            Arc::new(ec2_security_group::SecurityGroup(c.clone())),
        ),
        (
            &rds_subnet_group::INFO,
            Arc::new(rds_subnet_group::SubnetGroup(c.clone())),
        ),
        (
            &rds_cluster::INFO,
            Arc::new(rds_cluster::Cluster(c.clone())),
        ),
        (
            &rds_instance::INFO,
            Arc::new(rds_instance::Instance(c.clone())),
        ),
        (
            &sql_migrations::INFO,
            Arc::new(sql_migrations::SqlMigrations(c.clone())),
        ),
        (&sql_login::INFO, Arc::new(sql_login::SqlLogin(c.clone()))),
        (
            &sql_signing_key::INFO,
            Arc::new(sql_signing_key::SqlSigningKey(c.clone())),
        ),
        (
            &sql_tenant_users::INFO,
            Arc::new(sql_tenant_users::SqlTenantUsers(c.clone())),
        ),
        (&iam_role::INFO, Arc::new(iam_role::Role(c.clone()))),
        (
            &s3vectors_bucket::INFO,
            Arc::new(s3vectors_bucket::VectorBucket(c.clone())),
        ),
        (
            &s3vectors_index::INFO,
            Arc::new(s3vectors_index::VectorIndex(c.clone())),
        ),
        (
            &bedrock_knowledge_base::INFO,
            Arc::new(bedrock_knowledge_base::KnowledgeBase(c.clone())),
        ),
        (
            &bedrock_data_source::INFO,
            Arc::new(bedrock_data_source::DataSource(c.clone())),
        ),
        (
            &bedrock_ingestion::INFO,
            Arc::new(bedrock_ingestion::Ingestion(c.clone())),
        ),
        (
            &agentcore_package::INFO,
            Arc::new(agentcore_package::AgentPackage(c.clone())),
        ),
        (
            &agentcore_runtime::INFO,
            Arc::new(agentcore_runtime::Runtime(c)),
        ),
    ];
    kinds.into_iter().map(|(info, k)| (info.kind, k)).collect()
}

/// A resource no stack declares any more, as its ARN names it: the kind that deletes it, its
/// physical name, and the outputs its kind's `delete` reads (`id`, `arn`). `None`: a kind that
/// cannot be deleted from its ARN alone (an S3 Vectors index goes with its bucket's turn).
pub fn from_arn(arn: &str) -> Option<(&'static str, String, crate::engine::Outputs)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let (kind, name, id): (&str, &str, &str) = match (service, resource.split_once(['/', ':'])) {
        ("s3", None) => ("s3.bucket", resource, ""),
        ("iam", Some(("role", name))) => ("iam.role", name, ""),
        ("cognito-idp", Some(("userpool", id))) => ("cognito.user_pool", "", id),
        ("secretsmanager", Some(("secret", _))) => ("secretsmanager.generated_secret", "", ""),
        ("ec2", Some(("vpc", id))) => ("ec2.vpc", "", id),
        ("ec2", Some(("subnet", id))) => ("ec2.subnet", "", id),
        ("ec2", Some(("security-group", id))) => ("ec2.security_group", "", id),
        ("rds", Some(("cluster", name))) => ("rds.cluster", name, ""),
        ("rds", Some(("db", name))) => ("rds.instance", name, ""),
        ("rds", Some(("subgrp", name))) => ("rds.db_subnet_group", name, ""),
        ("s3vectors", Some(("bucket", name))) if !name.contains('/') => {
            ("s3vectors.bucket", name, "")
        }
        ("bedrock", Some(("knowledge-base", id))) => ("bedrock.knowledge_base", "", id),
        ("bedrock-agentcore", Some(("runtime", id))) => ("agentcore.runtime", "", id),
        _ => return None,
    };
    let mut outputs = crate::engine::Outputs::new();
    outputs.insert("arn".into(), Value::from(arn));
    if !id.is_empty() {
        outputs.insert("id".into(), Value::from(id));
    }
    Some((kind, name.to_string(), outputs))
}

/// Checks of what a resource's properties point at on disk, made before any API call.
pub fn check_files(info: &KindInfo, properties: &Value, root: &std::path::Path) -> Vec<String> {
    match info.kind {
        "s3.objects" => s3_objects::check_files(properties, root),
        "agentcore.agent_package" => agentcore_package::check_files(properties, root),
        _ => Vec::new(),
    }
}

/// The target's properties as the kind's own type.
pub fn properties<T: DeserializeOwned>(target: &Target) -> CloudResult<T> {
    serde_json::from_value(target.properties.clone()).map_err(|e| {
        CloudError::Fatal(format!(
            "{}: properties after resolving references: {e}",
            target.logical_id
        ))
    })
}

/// Tags as the SDKs want them: our ownership tags plus the creation time.
/// A `cidr_block` property: an IPv4 network address and a prefix from /16 to /28, the block
/// sizes a VPC or subnet may have ("VPC CIDR blocks", Amazon VPC User Guide).
pub fn cidr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    let bad = |why: &str| {
        serde::de::Error::custom(format!(
            "cidr_block `{text}`: {why}; write a network address and a prefix from /16 to /28, \
             e.g. 10.42.1.0/24"
        ))
    };
    let (addr, prefix) = text.split_once('/').ok_or_else(|| bad("no /prefix"))?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
    let prefix: u32 = prefix
        .parse()
        .map_err(|_| bad("the prefix is not a number"))?;
    if !(16..=28).contains(&prefix) {
        return Err(bad("the prefix is outside /16 to /28"));
    }
    if u32::from(addr) & (u32::MAX >> prefix) != 0 {
        return Err(bad("host bits are set"));
    }
    Ok(text)
}

/// An idempotency token for `what` (a create, an update) of `target`: the same for every retry
/// within one run of the tool (the SDK's and the engine's: a create retried cannot make two),
/// another in the next run, and another for other properties (the create of a replacement is
/// not the create it replaces). A token derived from names alone would repeat after a destroy or
/// a failed job, and AWS, while it still honours the old token, answers the "new" create with the
/// deleted or failed resource. 64 hex characters (Bedrock wants 33 to 256; AgentCore at most 256).
pub fn client_token(target: &Target, what: &str) -> String {
    static RUN: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(rand::random);
    use sha2::Digest;
    let h = sha2::Sha256::new()
        .chain_update(run)
        .chain_update(target.physical_name.as_bytes())
        .chain_update(b"\n")
        .chain_update(what.as_bytes())
        .chain_update(b"\n")
        .chain_update(target.properties.to_string().as_bytes());
    hex::encode(h.finalize())
}

pub fn tags_with_created_at(target: &Target) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = target.tags.clone().into_iter().collect();
    tags.extend(crate::model::names::creation_tags());
    tags
}

/// Right after a role is created, the service (Bedrock, AgentCore) cannot assume it yet:
/// "Role validation failed", "cannot be assumed", AccessDenied. Retried while IAM propagates,
/// for at most `PROPAGATION`: an answer that lasts longer has another cause (the deploying
/// identity lacks iam:PassRole, the role's trust policy is wrong), and saying so after three
/// minutes beats retrying until the resource's deadline (15 minutes for a Knowledge Base).
pub fn propagation(e: CloudError) -> CloudError {
    match e {
        // Bedrock and AgentCore answer a role they cannot assume yet with AccessDenied, or with
        // a ValidationException that has no code of its own: only its text names the role.
        CloudError::Service { code, message: m }
            if code == "AccessDeniedException"
                || code == "AccessDenied"
                || (code == "ValidationException"
                    && (m.to_lowercase().contains("role") || m.contains("assume"))) =>
        {
            CloudError::RetryableFor(
                format!(
                    "the role is not usable yet (IAM propagation): {m}\n  hint: if this lasts, \
                     the deploying identity may lack iam:PassRole for the role (cargo xtask \
                     permissions prints what it needs)"
                ),
                PROPAGATION,
            )
        }
        other => other,
    }
}

/// How long a role may take to become usable after it was created or changed.
pub const PROPAGATION: std::time::Duration = std::time::Duration::from_secs(180);

/// The first item a paginated List call yields that `pick` accepts (kinds that are found by
/// listing names: a Knowledge Base, an agent runtime).
pub async fn first_in_pages<P, E>(
    mut pages: aws_smithy_async::future::pagination_stream::PaginationStream<
        Result<
            P,
            aws_smithy_runtime_api::client::result::SdkError<
                E,
                aws_smithy_runtime_api::client::orchestrator::HttpResponse,
            >,
        >,
    >,
    not_found: &[&str],
    pick: impl Fn(&P) -> Option<String>,
) -> CloudResult<Option<String>>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::cloud::classify(e, not_found))?;
        if let Some(found) = pick(&page) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod arn_tests {
    #[test]
    fn an_orphan_is_deleted_by_the_kind_its_arn_names() {
        let cases = [
            (
                "arn:aws:s3:::agentcore-mt-pr-1-t1-scratch-1",
                "s3.bucket",
                "agentcore-mt-pr-1-t1-scratch-1",
                None,
            ),
            (
                "arn:aws:iam::1:role/agentcore-mt-pr-1-t1-r",
                "iam.role",
                "agentcore-mt-pr-1-t1-r",
                None,
            ),
            (
                "arn:aws:cognito-idp:us-east-1:1:userpool/us-east-1_abc",
                "cognito.user_pool",
                "",
                Some("us-east-1_abc"),
            ),
            (
                "arn:aws:secretsmanager:us-east-1:1:secret:agentcore-mt/pr-1/t1/x-AbCdEf",
                "secretsmanager.generated_secret",
                "",
                None,
            ),
            (
                "arn:aws:ec2:us-east-1:1:security-group/sg-1",
                "ec2.security_group",
                "",
                Some("sg-1"),
            ),
            (
                "arn:aws:rds:us-east-1:1:cluster:agentcore-mt-pr-1-t2-db",
                "rds.cluster",
                "agentcore-mt-pr-1-t2-db",
                None,
            ),
            (
                "arn:aws:bedrock-agentcore:us-east-1:1:runtime/agentcore_mt_pr_1_t1_a-XyZ",
                "agentcore.runtime",
                "",
                Some("agentcore_mt_pr_1_t1_a-XyZ"),
            ),
        ];
        for (arn, kind, name, id) in cases {
            let (k, n, outputs) = super::from_arn(arn).unwrap_or_else(|| panic!("{arn}"));
            assert_eq!((k, n.as_str()), (kind, name), "{arn}");
            assert_eq!(outputs["arn"], arn);
            assert_eq!(outputs.get("id").and_then(|v| v.as_str()), id, "{arn}");
        }
        assert!(super::from_arn("arn:aws:s3vectors:us-east-1:1:bucket/b/index/i").is_none());
        assert!(super::from_arn("not an arn").is_none());
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Target;
    use serde_json::json;

    fn target(props: serde_json::Value) -> Target {
        Target {
            logical_id: "kb".into(),
            physical_name: "agentcore-mt-dev-t1-kb".into(),
            tags: Default::default(),
            properties: props,
        }
    }

    /// Retries within a run share a token; a replacement (other properties) or another call
    /// does not. Across runs tokens differ by a per-run secret (not testable in one process).
    #[test]
    fn client_tokens_repeat_only_for_the_same_call() {
        let a = target(json!({"chunk_max_tokens": 300}));
        let b = target(json!({"chunk_max_tokens": 200}));
        let token = super::client_token(&a, "create");
        assert_eq!(token, super::client_token(&a, "create"));
        assert_ne!(token, super::client_token(&b, "create"));
        assert_ne!(token, super::client_token(&a, "start"));
        assert_eq!(token.len(), 64);
    }
}
