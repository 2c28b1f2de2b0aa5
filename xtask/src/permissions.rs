//! `cargo xtask permissions`: the IAM policy the identity that deploys (a CI role, a person)
//! needs, for one environment or all of them. Every API call the provisioner makes is listed here
//! with the action IAM checks for it (a test reads the sources and fails on a call this table
//! does not name), plus the actions no call shows: tagging at creation, passing a role to a
//! service, the service-linked roles AWS creates on first use.

use serde_json::{json, Value};

use crate::model::names::PROJECT;

/// Every action the provisioner needs, by service: what the SDK calls map to, and the rest.
fn actions() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "cognito-idp",
            vec![
                "AdminAddUserToGroup",
                "AdminCreateUser",
                "AdminDeleteUser",
                "AdminGetUser",
                "AdminListGroupsForUser",
                "AdminRemoveUserFromGroup",
                "AdminSetUserPassword",
                "AdminUpdateUserAttributes",
                "CreateGroup",
                "CreateUserPool",
                "CreateUserPoolClient",
                "DeleteGroup",
                "DeleteUserPool",
                "DeleteUserPoolClient",
                "DescribeUserPool",
                "DescribeUserPoolClient",
                "GetGroup",
                "ListUserPoolClients",
                "ListUserPools",
                "UpdateGroup",
                "UpdateUserPool",
                "UpdateUserPoolClient",
                // UserPoolTags in CreateUserPool
                "TagResource",
                "ListTagsForResource",
            ],
        ),
        (
            "s3",
            vec![
                "CreateBucket",
                "DeleteBucket",
                "ListBucket",
                "ListBucketVersions",
                "GetObject",
                "PutObject",
                "DeleteObject",
                "DeleteObjectVersion",
                "GetBucketTagging",
                "GetBucketVersioning",
                "PutBucketVersioning",
                "GetBucketPublicAccessBlock",
                "PutBucketPublicAccessBlock",
                "GetEncryptionConfiguration",
                "PutEncryptionConfiguration",
                // tags in CreateBucket's configuration
                "TagResource",
                "PutBucketTagging",
            ],
        ),
        (
            "secretsmanager",
            vec![
                "CreateSecret",
                "DeleteSecret",
                "DescribeSecret",
                "GetSecretValue",
                "UpdateSecret",
                "TagResource",
            ],
        ),
        (
            "ec2",
            vec![
                "CreateSecurityGroup",
                "CreateSubnet",
                "CreateVpc",
                "DeleteSecurityGroup",
                "DeleteSubnet",
                "DeleteVpc",
                "DescribeAvailabilityZones",
                "DescribeSecurityGroups",
                "DescribeSubnets",
                "DescribeVpcs",
                // TagSpecifications at creation
                "CreateTags",
            ],
        ),
        (
            "rds",
            vec![
                "CreateDBCluster",
                "CreateDBInstance",
                "CreateDBSubnetGroup",
                "DeleteDBCluster",
                "DeleteDBInstance",
                "DeleteDBSubnetGroup",
                "DescribeDBClusters",
                "DescribeDBInstances",
                "DescribeDBSubnetGroups",
                "EnableHttpEndpoint",
                "ListTagsForResource",
                "ModifyDBCluster",
                "ModifyDBInstance",
                "ModifyDBSubnetGroup",
                "AddTagsToResource",
            ],
        ),
        (
            "rds-data",
            vec![
                "BeginTransaction",
                "CommitTransaction",
                "ExecuteStatement",
                "RollbackTransaction",
            ],
        ),
        (
            "iam",
            vec![
                "CreateRole",
                "DeleteRole",
                "DeleteRolePolicy",
                "GetRole",
                "GetRolePolicy",
                "ListRoleTags",
                "PutRolePolicy",
                "UpdateAssumeRolePolicy",
                "TagRole",
                "ListRolePolicies",
            ],
        ),
        (
            "s3vectors",
            vec![
                "CreateIndex",
                "CreateVectorBucket",
                "DeleteIndex",
                "DeleteVectorBucket",
                "GetIndex",
                "GetVectorBucket",
                "ListVectorBuckets",
                "ListTagsForResource",
                "TagResource",
            ],
        ),
        (
            "bedrock",
            vec![
                "CreateDataSource",
                "CreateKnowledgeBase",
                "DeleteDataSource",
                "DeleteKnowledgeBase",
                "GetDataSource",
                "GetIngestionJob",
                "GetKnowledgeBase",
                "ListDataSources",
                "ListIngestionJobs",
                "ListKnowledgeBases",
                "ListTagsForResource",
                "StartIngestionJob",
                "UpdateDataSource",
                "UpdateKnowledgeBase",
                "Retrieve",
                "TagResource",
            ],
        ),
        // the runtime kind picks the region's cross-region inference profile for the model
        ("bedrock-inference", vec!["ListInferenceProfiles"]),
        ("tag", vec!["GetResources"]),
        // the runtimes' log groups, which AgentCore creates and destroy removes
        ("logs", vec!["DescribeLogGroups", "DeleteLogGroup"]),
        (
            "bedrock-agentcore",
            vec![
                "CreateAgentRuntime",
                "DeleteAgentRuntime",
                "GetAgentRuntime",
                "ListAgentRuntimes",
                "ListTagsForResource",
                "UpdateAgentRuntime",
                "TagResource",
                // CreateAgentRuntime makes the runtime's workload identity
                "CreateWorkloadIdentity",
                "DeleteWorkloadIdentity",
                "GetWorkloadIdentity",
            ],
        ),
    ]
}

/// The IAM prefix of a group of actions (`bedrock-inference`: Bedrock's, kept apart so that a
/// tutorial with a runtime but no Knowledge Base gets only that action of Bedrock).
fn iam_prefix(service: &str) -> &str {
    match service {
        "bedrock-inference" => "bedrock",
        other => other,
    }
}

/// The IAM services a resource kind's calls go to (`tag` and `sts` every run needs anyway).
fn services_of(kind: &str) -> &'static [&'static str] {
    match kind.split('.').next().unwrap_or_default() {
        "cognito" => &["cognito-idp"],
        "secretsmanager" => &["secretsmanager"],
        "s3" => &["s3"],
        "ec2" => &["ec2"],
        "rds" => &["rds", "ec2"],
        "rdsdata" => &["rds-data", "secretsmanager"],
        "iam" => &["iam"],
        "s3vectors" => &["s3vectors"],
        "bedrock" => &["bedrock"],
        "agentcore" => &["bedrock-agentcore", "logs", "s3", "bedrock-inference"],
        _ => &[],
    }
}

/// The resource kinds a policy is for: `full` are deployed and destroyed; `read` are only
/// observed (destroy of a tutorial reads the tutorials built on it, to refuse if one is
/// deployed, and what they build on).
pub struct Scope<'a> {
    pub full: Vec<&'a str>,
    pub read: Vec<&'a str>,
}

/// The policy document for environment `env` (`None`: every environment of this project),
/// for `scope` (`None`: every kind, in full).
pub fn policy(env: Option<&str>, scope: Option<&Scope>) -> Value {
    let services = |kinds: &[&str]| -> Vec<&'static str> {
        kinds.iter().flat_map(|k| services_of(k)).copied().collect()
    };
    let full: Option<Vec<&str>> = scope.map(|s| {
        let mut full = services(&s.full);
        full.push("tag");
        full
    });
    let read: Vec<&str> = scope.map(|s| services(&s.read)).unwrap_or_default();
    let wanted = |service: &str| full.as_ref().is_none_or(|n| n.contains(&service));
    let only_read = |service: &str| !wanted(service) && read.contains(&service);
    let dashed = match env {
        Some(e) => format!("{PROJECT}-{e}-*"),
        None => format!("{PROJECT}-*"),
    };
    let secrets = match env {
        Some(e) => format!("{PROJECT}/{e}/*"),
        None => format!("{PROJECT}/*"),
    };
    let mut statements = Vec::new();
    for (service, names) in actions().into_iter().filter(|(s, _)| wanted(s) || only_read(s)) {
        let list: Vec<String> = names
            .iter()
            .filter(|a| {
                !only_read(service)
                    || ["Get", "List", "Describe", "Head"].iter().any(|p| a.starts_with(p))
            })
            .map(|a| format!("{}:{a}", iam_prefix(service)))
            .collect();
        let resource = match service {
            // Names we choose; the rest are found or named by ids the services assign.
            "iam" => json!([format!("arn:aws:iam::*:role/{dashed}")]),
            "s3" => json!([format!("arn:aws:s3:::{dashed}"), format!("arn:aws:s3:::{dashed}/*")]),
            "secretsmanager" => json!([
                format!("arn:aws:secretsmanager:*:*:secret:{secrets}"),
                // the RDS-managed master password, read by the SQL steps
                "arn:aws:secretsmanager:*:*:secret:rds!cluster-*",
            ]),
            "logs" => json!(["arn:aws:logs:*:*:log-group:/aws/bedrock-agentcore/runtimes/*"]),
            _ => json!("*"),
        };
        statements.push(json!({
            "Sid": service.replace('-', "").to_uppercase(),
            "Effect": "Allow",
            "Action": list,
            "Resource": resource,
        }));
    }
    // The environment's lock (lifecycle/lock.rs): its lease object and its deployment record
    // (what gc dates it by) in the account's lock bucket, which the first run makes and every
    // run keeps. gc lists the records.
    {
        let (lease, record) = match env {
            Some(e) => (format!("leases/{e}.json"), format!("environments/{e}.json")),
            None => ("leases/*".into(), "environments/*".into()),
        };
        statements.push(json!({
            "Sid": "LOCKS",
            "Effect": "Allow",
            "Action": ["s3:CreateBucket", "s3:PutBucketPublicAccessBlock", "s3:PutBucketTagging", "s3:TagResource", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [
                format!("arn:aws:s3:::{PROJECT}-locks-*"),
                format!("arn:aws:s3:::{PROJECT}-locks-*/{lease}"),
                format!("arn:aws:s3:::{PROJECT}-locks-*/{record}"),
            ],
        }));
        statements.push(json!({
            "Sid": "LOCKSRECORDS",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": format!("arn:aws:s3:::{PROJECT}-locks-*"),
            "Condition": {"StringLike": {"s3:prefix": ["environments/*"]}},
        }));
    }
    // `gc` finds the environments' roles (the tagging API does not list IAM roles) and secrets
    // by name; these list calls have no resource to scope to.
    statements.push(json!({
        "Sid": "GCLISTS",
        "Effect": "Allow",
        "Action": ["iam:ListRoles", "secretsmanager:ListSecrets"],
        "Resource": "*",
    }));
    // The Knowledge Base and the runtimes are given their roles.
    let passed: Vec<&str> = [
        ("bedrock", "bedrock.amazonaws.com"),
        ("bedrock-agentcore", "bedrock-agentcore.amazonaws.com"),
    ]
    .iter()
    .filter(|(s, _)| wanted(s))
    .map(|(_, principal)| *principal)
    .collect();
    if !passed.is_empty() {
        statements.push(json!({
            "Sid": "PASSROLE",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [format!("arn:aws:iam::*:role/{dashed}")],
            "Condition": {"StringEquals": {"iam:PassedToService": passed}},
        }));
    }
    // On an account's first Aurora cluster and first AgentCore runtime AWS creates their
    // service-linked roles, as the caller.
    let linked: Vec<&str> = [
        ("rds", "rds.amazonaws.com"),
        ("bedrock-agentcore", "bedrock-agentcore.amazonaws.com"),
        ("bedrock-agentcore", "network.bedrock-agentcore.amazonaws.com"),
    ]
    .iter()
    .filter(|(s, _)| wanted(s))
    .map(|(_, name)| *name)
    .collect();
    if !linked.is_empty() {
        statements.push(json!({
            "Sid": "SERVICELINKEDROLES",
            "Effect": "Allow",
            "Action": ["iam:CreateServiceLinkedRole"],
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": linked}},
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// (SDK client field in `Clients`, IAM service prefix).
    const SERVICES: &[(&str, &str)] = &[
        ("cognito", "cognito-idp"),
        ("bedrock", "bedrock"),
        ("s3", "s3"),
        ("locks", "s3"),
        ("secrets", "secretsmanager"),
        ("ec2", "ec2"),
        ("rds", "rds"),
        ("rdsdata", "rds-data"),
        ("iam", "iam"),
        ("s3vectors", "s3vectors"),
        ("bedrockagent", "bedrock"),
        ("bedrockruntime", "bedrock"),
        ("tagging", "tag"),
        ("agentcore", "bedrock-agentcore"),
        ("sts", "sts"),
        ("logs", "logs"),
    ];

    /// SDK operations whose IAM action is not the operation's own name.
    const RENAMED: &[(&str, &str, Option<&str>)] = &[
        ("s3", "list_objects_v2", Some("s3:ListBucket")),
        ("s3", "head_bucket", Some("s3:ListBucket")),
        ("s3", "head_object", Some("s3:GetObject")),
        ("s3", "delete_objects", Some("s3:DeleteObject")),
        ("s3", "list_object_versions", Some("s3:ListBucketVersions")),
        ("s3", "delete_object", Some("s3:DeleteObjectVersion")),
        ("locks", "delete_object", Some("s3:DeleteObject")),
        ("s3", "get_public_access_block", Some("s3:GetBucketPublicAccessBlock")),
        ("s3", "put_public_access_block", Some("s3:PutBucketPublicAccessBlock")),
        ("s3", "get_bucket_encryption", Some("s3:GetEncryptionConfiguration")),
        ("s3", "put_bucket_encryption", Some("s3:PutEncryptionConfiguration")),
        // Needs no permission: who am I.
        ("sts", "get_caller_identity", None),
        // A user's own sign-in, not an IAM-authorized call.
        ("cognito", "initiate_auth", None),
    ];

    /// The IAM action checked for `op` of SDK client `client`; `None`: none is.
    fn action(client: &str, op: &str) -> Option<String> {
        if let Some((_, _, renamed)) = RENAMED.iter().find(|(c, o, _)| *c == client && *o == op) {
            return renamed.map(str::to_string);
        }
        let (_, prefix) = SERVICES.iter().find(|(c, _)| *c == client)?;
        let pascal: String = op
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        // IAM spells "Db" as "DB" in RDS actions (CreateDBCluster).
        let pascal = if *prefix == "rds" { pascal.replace("Db", "DB") } else { pascal };
        Some(format!("{prefix}:{pascal}"))
    }

    /// Every SDK call in the sources, as (client, operation, file).
    fn calls() -> Vec<(String, String, String)> {
        let clients: Vec<&str> = SERVICES.iter().map(|(c, _)| *c).collect();
        let pattern = format!(r"\b({})\s*\.\s*([a-z][a-z0-9_]*)\(\)", clients.join("|"));
        let re = regex::Regex::new(&pattern).unwrap();
        let mut out = Vec::new();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for (name, (path, _)) in crate::packaging::collect(&src, "src/").unwrap() {
            if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for c in re.captures_iter(&text) {
                    out.push((c[1].to_string(), c[2].to_string(), name.clone()));
                }
            }
        }
        out
    }

    /// Not SDK operations: methods of the same names on other values.
    const NOT_CALLS: &[&str] =
        &["as_deref", "clone", "as_ref", "to_string", "bucket", "prefix", "display"];

    #[test]
    fn every_call_the_provisioner_makes_is_in_the_policy() {
        let policy = super::policy(Some("pr-1"), None).to_string();
        let calls = calls();
        assert!(calls.len() > 80, "found only {} calls", calls.len());
        let mut missing = Vec::new();
        for (client, op, file) in &calls {
            if NOT_CALLS.contains(&op.as_str()) {
                continue;
            }
            if let Some(action) = action(client, op) {
                if !policy.contains(&format!("\"{action}\"")) {
                    missing.push(format!("{action} ({client}.{op} in {file})"));
                }
            }
        }
        assert!(missing.is_empty(), "not in the policy: {missing:#?}");
    }

    /// `--tutorial 2`: tutorial 2's kinds in full; tutorial 1's only read (destroy reads the
    /// tutorial built on 2, which builds on 1): no Knowledge Base or vector index is created.
    #[test]
    fn a_tutorials_policy_grants_what_it_deploys_and_reads_the_rest() {
        let scope = super::Scope {
            full: vec!["rds.cluster", "rdsdata.login", "agentcore.runtime"],
            read: vec!["bedrock.knowledge_base", "s3vectors.index"],
        };
        let policy = super::policy(Some("pr-1"), Some(&scope)).to_string();
        for granted in [
            "rds:CreateDBCluster",
            "rds-data:ExecuteStatement",
            "bedrock-agentcore:CreateAgentRuntime",
            "bedrock:GetKnowledgeBase",
            "s3vectors:GetIndex",
            "tag:GetResources",
        ] {
            assert!(policy.contains(&format!("\"{granted}\"")), "{granted}: {policy}");
        }
        for refused in [
            "bedrock:CreateKnowledgeBase",
            "s3vectors:CreateIndex",
            "cognito-idp:CreateUserPool",
            "bedrock.amazonaws.com",
        ] {
            assert!(!policy.contains(refused), "{refused}: {policy}");
        }
    }

    #[test]
    fn the_policy_is_scoped_to_the_environment() {
        insta::assert_snapshot!(
            serde_json::to_string_pretty(&super::policy(Some("pr-1"), None)).unwrap()
        );
        let any = super::policy(None, None).to_string();
        assert!(any.contains("role/agentcore-mt-*"));
        assert!(!any.contains("\"*:*\""));
    }
}
