//! One module per AWS resource kind, each shaped alike: its stack properties, its metadata
//! (`INFO`), and a `ResourceKind` implementation (observe / create / update / delete).
//! This file is the only place that lists them all.

pub mod agentcore_gateway;
pub mod agentcore_gateway_target;
pub mod agentcore_memory;
pub mod agentcore_package;
pub mod agentcore_policy;
pub mod agentcore_policy_engine;
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
pub mod lambda_function;
pub mod lambda_permission;
pub mod rds_cluster;
pub mod rds_express_cluster;
pub mod rds_instance;
pub mod rds_subnet_group;
pub mod rdsiam_admin_login;
pub mod s3_bucket;
pub mod s3_objects;
pub mod s3vectors_bucket;
pub mod s3vectors_index;
pub mod sql_login;
pub mod sql_migrations;
pub mod sql_signing_key;
pub mod sql_tenant_users;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cloud::Clients;
pub use crate::engine::info::{KindInfo, Sim, SIM};
use crate::engine::{CloudError, CloudResult, Kind, Orphan, ResourceKind, Target, Typed};

/// Something done for each kind with its own types (build its entry, read its properties).
/// `new` is the kind's constructor (its tuple struct's name).
pub trait EachKind {
    fn kind<K: Kind>(&mut self, new: fn(Clients) -> K);
}

/// Every kind: adding one is its module and one line here.
pub fn each_kind(v: &mut impl EachKind) {
    v.kind(cognito_user_pool::UserPool);
    v.kind(cognito_group::Group);
    v.kind(cognito_app_client::AppClient);
    v.kind(cognito_user::User);
    v.kind(generated_secret::GeneratedSecret);
    v.kind(s3_bucket::Bucket);
    v.kind(s3_objects::Objects);
    v.kind(database_credentials::DatabaseCredentials);
    v.kind(ec2_vpc::Vpc);
    v.kind(ec2_subnet::Subnet);
    v.kind(ec2_security_group::SecurityGroup);
    v.kind(rds_subnet_group::SubnetGroup);
    v.kind(rds_cluster::Cluster);
    v.kind(rds_instance::Instance);
    v.kind(rds_express_cluster::ExpressCluster);
    v.kind(rdsiam_admin_login::AdminLogin);
    v.kind(sql_migrations::SqlMigrations);
    v.kind(sql_login::SqlLogin);
    v.kind(sql_signing_key::SqlSigningKey);
    v.kind(sql_tenant_users::SqlTenantUsers);
    v.kind(iam_role::Role);
    v.kind(s3vectors_bucket::VectorBucket);
    v.kind(s3vectors_index::VectorIndex);
    v.kind(bedrock_knowledge_base::KnowledgeBase);
    v.kind(bedrock_data_source::DataSource);
    v.kind(bedrock_ingestion::Ingestion);
    v.kind(agentcore_package::AgentPackage);
    v.kind(agentcore_runtime::Runtime);
    v.kind(lambda_function::Function);
    v.kind(lambda_permission::Permission);
    v.kind(agentcore_policy_engine::PolicyEngine);
    v.kind(agentcore_gateway::Gateway);
    v.kind(agentcore_gateway_target::GatewayTarget);
    v.kind(agentcore_policy::Policy);
    v.kind(agentcore_memory::Memory);
}

/// Makes a kind's engine side from the clients.
type Make = Box<dyn Fn(&Clients) -> Arc<dyn ResourceKind> + Send + Sync>;

/// A kind as the engine uses it, with its types erased.
pub struct Entry {
    pub info: &'static KindInfo,
    make: Make,
    check_files: fn(&Value, &Path) -> Vec<String>,
}

impl EachKind for Vec<Entry> {
    fn kind<K: Kind>(&mut self, new: fn(Clients) -> K) {
        self.push(Entry {
            info: K::INFO,
            make: Box::new(move |c| Arc::new(Typed(new(c.clone())))),
            check_files: |p, root| match serde_json::from_value::<K::Properties>(p.clone()) {
                Ok(p) => K::check_files(&p, root),
                Err(_) => Vec::new(), // reported with its line when the stack file was read
            },
        });
    }
}

/// Every kind's entry.
pub fn all() -> &'static [Entry] {
    static ALL: std::sync::OnceLock<Vec<Entry>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        each_kind(&mut all);
        all
    })
}

/// The kind of that name.
pub fn entry(kind: &str) -> Option<&'static Entry> {
    all().iter().find(|e| e.info.kind == kind)
}

/// Every kind's metadata.
pub fn infos() -> impl Iterator<Item = &'static KindInfo> {
    all().iter().map(|e| e.info)
}

/// Every kind's name, as an error about an unknown one lists them.
pub fn names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| infos().map(|i| i.kind).collect())
}

/// Reads the properties of a resource of kind `name` from `d` with the kind's own type, in
/// place (so that an unknown field or a wrong type is reported at its own line), back as JSON.
pub fn parse<'de, D: serde::Deserializer<'de>>(
    name: &str,
    d: D,
) -> Option<Result<(&'static KindInfo, Value), D::Error>> {
    struct Parse<'a, 'de, D: serde::Deserializer<'de>> {
        name: &'a str,
        d: Option<D>,
        out: Option<Result<(&'static KindInfo, Value), D::Error>>,
        de: std::marker::PhantomData<&'de ()>,
    }
    impl<'de, D: serde::Deserializer<'de>> EachKind for Parse<'_, 'de, D> {
        fn kind<K: Kind>(&mut self, _new: fn(Clients) -> K) {
            if K::INFO.kind != self.name {
                return;
            }
            if let Some(d) = self.d.take() {
                self.out = Some(K::Properties::deserialize(d).map(|p| {
                    let v = serde_json::to_value(p).expect("properties serialize to JSON");
                    (K::INFO, v)
                }));
            }
        }
    }
    let mut p = Parse { name, d: Some(d), out: None, de: std::marker::PhantomData };
    each_kind(&mut p);
    p.out
}

/// The implementations that talk to AWS (or the local cloud), by kind name.
pub fn registry(clients: &Clients) -> HashMap<&'static str, Arc<dyn ResourceKind>> {
    all().iter().map(|e| (e.info.kind, (e.make)(clients))).collect()
}

/// Checks of what a resource's properties point at on disk, made before any API call.
pub fn check_files(info: &KindInfo, properties: &Value, root: &Path) -> Vec<String> {
    entry(info.kind).map_or_else(Vec::new, |e| (e.check_files)(properties, root))
}

/// A resource no stack declares any more, as its ARN names it: the kind that deletes it, its
/// physical name and service id where the ARN holds them. `None`: a kind that cannot be deleted
/// from its ARN alone (an S3 Vectors index goes with its bucket's turn).
pub fn from_arn(arn: &str) -> Option<(&'static str, Orphan)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
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
        ("bedrock-agentcore", Some(("gateway", id))) => ("agentcore.gateway", "", id),
        // An engine's id is its name, '-' and ten characters; its policies go with it.
        ("bedrock-agentcore", Some(("policy-engine", id)))
            if !id.contains('/') && id.len() > 11 =>
        {
            ("agentcore.policy_engine", &id[..id.len() - 11], id)
        }
        // A memory's id is its name, '-' and ten characters.
        ("bedrock-agentcore", Some(("memory", id))) if id.len() > 11 => {
            ("agentcore.memory", &id[..id.len() - 11], id)
        }
        ("lambda", Some(("function", name))) => ("lambda.function", name, ""),
        _ => return None,
    };
    let orphan = Orphan { arn: arn.to_string(), name: name.to_string(), id: id.to_string() };
    Some((kind, orphan))
}

/// The state of a resource that may be on its way out: being deleted (nothing to compare, no
/// delete to start again), or live.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Life<S> {
    Deleting { deleting: bool },
    Live(S),
}

impl<S> Life<S> {
    pub fn deleting() -> Self {
        Life::Deleting { deleting: true }
    }

    pub fn is_deleting(&self) -> bool {
        matches!(self, Life::Deleting { .. })
    }

    pub fn live(&self) -> Option<&S> {
        match self {
            Life::Live(s) => Some(s),
            Life::Deleting { .. } => None,
        }
    }
}

/// An identifier the service must return (a created resource's id or ARN): its absence is an
/// error that names the call, never an empty string handed on.
pub fn given(value: Option<&str>, what: &str) -> CloudResult<String> {
    value
        .map(str::to_string)
        .ok_or_else(|| CloudError::Fatal(format!("{what}: the answer has no such field")))
}

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
    let prefix: u32 = prefix.parse().map_err(|_| bad("the prefix is not a number"))?;
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

/// Tags as the SDKs want them: our ownership tags plus the creation time.
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
            ("arn:aws:ec2:us-east-1:1:security-group/sg-1", "ec2.security_group", "", Some("sg-1")),
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
            (
                "arn:aws:bedrock-agentcore:us-east-1:1:policy-engine/agentcore_mt_pr_1_t4_policy_engine-abcdefghij",
                "agentcore.policy_engine",
                "agentcore_mt_pr_1_t4_policy_engine",
                Some("agentcore_mt_pr_1_t4_policy_engine-abcdefghij"),
            ),
            (
                "arn:aws:bedrock-agentcore:us-east-1:1:memory/agentcore_mt_pr_1_t4_memory-AbCdEf1234",
                "agentcore.memory",
                "agentcore_mt_pr_1_t4_memory",
                Some("agentcore_mt_pr_1_t4_memory-AbCdEf1234"),
            ),
        ];
        for (arn, kind, name, id) in cases {
            let (k, o) = super::from_arn(arn).unwrap_or_else(|| panic!("{arn}"));
            assert_eq!((k, o.name.as_str()), (kind, name), "{arn}");
            assert_eq!(o.arn, arn);
            assert_eq!(o.id, id.unwrap_or_default(), "{arn}");
        }
        assert!(super::from_arn("arn:aws:s3vectors:us-east-1:1:bucket/b/index/i").is_none());
        let policy = "arn:aws:bedrock-agentcore:us-east-1:1:policy-engine/agentcore_mt_pr_1_t4_policy_engine-abcdefghij/policy/p-1";
        assert!(super::from_arn(policy).is_none(), "a policy goes with its engine");
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

#[cfg(test)]
mod typed_tests {
    use super::{given, Life};
    use crate::engine::CloudError;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Props {
        cluster_id: String,
    }

    /// The engine hands a kind's state back to it through JSON (`Typed`): both states of a
    /// resource that may be deleting come back as they went, and a live state is never read
    /// as a deleting one.
    #[test]
    fn a_deleting_or_live_state_survives_the_engine() {
        let round = |l: &Life<Props>| -> Life<Props> {
            serde_json::from_value(serde_json::to_value(l).unwrap()).unwrap()
        };
        assert!(round(&Life::deleting()).is_deleting());
        let live = Life::Live(Props { cluster_id: "c".into() });
        assert_eq!(round(&live).live(), Some(&Props { cluster_id: "c".into() }));
    }

    /// An identifier AWS must return is an error naming the call when it is missing, never an
    /// empty string handed to what references it.
    #[test]
    fn a_missing_identifier_is_an_error_not_an_empty_string() {
        assert_eq!(given(Some("vpc-1"), "CreateVpc").unwrap(), "vpc-1");
        match given(None, "CreateVpc") {
            Err(CloudError::Fatal(m)) => assert!(m.contains("CreateVpc"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
