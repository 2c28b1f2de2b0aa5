//! `cargo xtask permissions`: the IAM policy the identity that deploys (a CI role, a person)
//! needs, for one environment or all of them. Every API call the provisioner makes is listed here
//! with the action IAM checks for it (a test reads the sources and fails on a call this table
//! does not name), plus the actions no call shows: tagging at creation, passing a role to a
//! service, the service-linked roles AWS creates on first use.

use serde_json::{json, Value};

use crate::model::names::{PROJECT, TAG_PREFIX};

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
                // CreateDBCluster with WithExpressConfiguration ("Create with express
                // configuration", Prerequisites); not an operation of its own.
                "EnableInternetAccessGateway",
                "ListTagsForResource",
                "ModifyDBCluster",
                "ModifyDBInstance",
                "ModifyDBSubnetGroup",
                "AddTagsToResource",
            ],
        ),
        // Express clusters' master users sign in with an IAM token (rdsiam.admin_login).
        ("rds-db", vec!["connect"]),
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
                "TagRole",
                "ListRolePolicies",
                // the account's boundary: read, and put back on a role that lost it
                "GetPolicy",
                "PutRolePermissionsBoundary",
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
        // Tutorial 4's gateway, its target, its policy engine and policies.
        (
            "bedrock-agentcore-gateway",
            vec![
                "CreateGateway",
                "DeleteGateway",
                "GetGateway",
                "ListGateways",
                "UpdateGateway",
                "CreateGatewayTarget",
                "DeleteGatewayTarget",
                "GetGatewayTarget",
                "ListGatewayTargets",
                // CreatePolicy's validation calls the gateway as the caller (DG:policy-permissions)
                "InvokeGateway",
                // permission-only: a policy whose resource is one gateway's ARN
                "ManageResourceScopedPolicy",
                "CreatePolicyEngine",
                "DeletePolicyEngine",
                "GetPolicyEngine",
                "ListPolicyEngines",
                "UpdatePolicyEngine",
                "CreatePolicy",
                "DeletePolicy",
                "GetPolicy",
                "ListPolicies",
                "ListTagsForResource",
                "TagResource",
                // A gateway gets a workload identity of its own (named as the gateway; not
                // verified on AWS).
                "CreateWorkloadIdentity",
                "DeleteWorkloadIdentity",
                "GetWorkloadIdentity",
            ],
        ),
        // Tutorial 4's memory (its events are the agent's, under the boundary).
        (
            "bedrock-agentcore-memory",
            vec![
                "CreateMemory",
                "DeleteMemory",
                "GetMemory",
                "ListMemories",
                "UpdateMemory",
                "ListTagsForResource",
                "TagResource",
            ],
        ),
        (
            "lambda",
            vec![
                "CreateFunction",
                "DeleteFunction",
                "GetFunction",
                "GetFunctionConfiguration",
                "UpdateFunctionCode",
                "UpdateFunctionConfiguration",
                "AddPermission",
                "RemovePermission",
                "GetPolicy",
                // Tags in CreateFunction
                "TagResource",
                "ListTags",
            ],
        ),
    ]
}

/// The IAM prefix of a group of actions (`bedrock-inference`: Bedrock's, kept apart so that a
/// tutorial with a runtime but no Knowledge Base gets only that action of Bedrock).
fn iam_prefix(service: &str) -> &str {
    match service {
        "bedrock-inference" => "bedrock",
        "bedrock-agentcore-gateway" | "bedrock-agentcore-memory" => "bedrock-agentcore",
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
        "rdsiam" => &["rds-db", "secretsmanager"],
        "iam" => &["iam"],
        "s3vectors" => &["s3vectors"],
        "bedrock" => &["bedrock"],
        "agentcore" if kind.ends_with("runtime") || kind.ends_with("package") => {
            &["bedrock-agentcore", "logs", "s3", "bedrock-inference"]
        }
        "agentcore" if kind.ends_with("memory") => &["bedrock-agentcore-memory"],
        "agentcore" => &["bedrock-agentcore-gateway"],
        "lambda" => &["lambda", "logs"],
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

/// The most a managed policy holds, in characters (IAM does not count whitespace).
pub const MANAGED_POLICY_LIMIT: usize = 6_144;
/// The most a role's inline policies hold together, in characters.
pub const INLINE_POLICY_LIMIT: usize = 10_240;

/// A document's size as IAM counts it: its JSON without whitespace.
pub fn size(document: &Value) -> usize {
    serde_json::to_string(document).map(|s| s.len()).unwrap_or(usize::MAX)
}

/// `policy`'s statements in documents of at most `limit` characters each, in order: attached
/// together (as managed policies), they grant exactly what `policy` grants (IAM allows what any
/// attached policy allows and no Deny forbids, whichever policy holds the Deny). An error when
/// one statement alone is larger than `limit`.
pub fn parts(policy: &Value, limit: usize) -> Result<Vec<Value>, String> {
    let doc = |statements: Vec<Value>| json!({"Version": "2012-10-17", "Statement": statements});
    let mut parts: Vec<Vec<Value>> = Vec::new();
    for statement in policy["Statement"].as_array().into_iter().flatten() {
        if size(&doc(vec![statement.clone()])) > limit {
            return Err(format!(
                "statement {} alone is larger than {limit} characters",
                statement["Sid"]
            ));
        }
        match parts.last_mut() {
            Some(last) if size(&doc([last.clone(), vec![statement.clone()]].concat())) <= limit => {
                last.push(statement.clone())
            }
            _ => parts.push(vec![statement.clone()]),
        }
    }
    Ok(parts.into_iter().map(doc).collect())
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
    let n = Names::of(env);
    let mut statements: Vec<Value> = Vec::new();
    for (service, names) in actions().into_iter().filter(|(s, _)| wanted(s) || only_read(s)) {
        // Actions with the same resources and condition share one statement, in first-seen order.
        let mut groups: Vec<(Grant, Vec<String>)> = Vec::new();
        for a in names.iter().filter(|a| !only_read(service) || is_read(a)) {
            let grant = grant(service, a, &n);
            let action = format!("{}:{a}", iam_prefix(service));
            match groups.iter_mut().find(|(g, _)| *g == grant) {
                Some((_, list)) => list.push(action),
                None => groups.push((grant, vec![action])),
            }
        }
        for (grant, list) in groups {
            let mut sid = format!("{}{}", service.replace('-', "").to_uppercase(), grant.suffix);
            // Sids are unique within a policy.
            let taken = |sid: &str| statements.iter().any(|s| s["Sid"] == sid);
            if taken(&sid) {
                sid = (2..).map(|i| format!("{sid}{i}")).find(|s| !taken(s)).expect("a free Sid");
            }
            let mut statement =
                json!({"Sid": sid, "Effect": "Allow", "Action": list, "Resource": grant.resource});
            if let Some(condition) = grant.condition {
                statement["Condition"] = condition;
            }
            statements.push(statement);
        }
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
            "Sid": "LOCKBUCKET",
            "Effect": "Allow",
            "Action": ["s3:CreateBucket", "s3:PutBucketPublicAccessBlock", "s3:PutBucketTagging", "s3:TagResource"],
            "Resource": format!("arn:aws:s3:::{PROJECT}-locks-*"),
        }));
        // (a bucket pattern's `*` would match its objects too: these name the objects alone)
        statements.push(json!({
            "Sid": "LOCKS",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [
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
        ("lambda", "lambda.amazonaws.com"),
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
            "Resource": n.roles(),
            "Condition": {"StringEquals": {"iam:PassedToService": passed}},
        }));
    }
    // On an account's first Aurora cluster and first AgentCore runtime AWS creates their
    // service-linked roles, as the caller.
    let linked: Vec<&str> = [
        ("rds", "rds.amazonaws.com"),
        ("bedrock-agentcore", "bedrock-agentcore.amazonaws.com"),
        // the runtimes' workload identities (AgentCore Identity), on the first runtime
        ("bedrock-agentcore", "runtime-identity.bedrock-agentcore.amazonaws.com"),
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
            "Resource": "arn:aws:iam::*:role/aws-service-role/*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": linked}},
        }));
    }
    // A subnet or security group only in the environment's own VPC (AWS authorizes those creates
    // on the VPC too, by its tags).
    if wanted("ec2") {
        statements.push(json!({
            "Sid": "EC2INOWNVPC",
            "Effect": "Allow",
            "Action": ["ec2:CreateSubnet", "ec2:CreateSecurityGroup"],
            "Resource": "arn:aws:ec2:*:*:vpc/*",
            "Condition": n.tagged("ResourceTag"),
        }));
    }
    // The RDS-managed master password (`rds!cluster-<uuid>`, named by RDS), read by the SQL
    // steps: only that of a cluster of ours, by the tag RDS gives it.
    if wanted("rds-data") || wanted("rds") {
        statements.push(json!({
            "Sid": "RDSMASTERSECRET",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": "arn:aws:secretsmanager:*:*:secret:rds!cluster-*",
            "Condition": {"ArnLike": {"aws:ResourceTag/aws:rds:primaryDBClusterArn": format!("arn:aws:rds:*:*:cluster:{}", n.dashed)}},
        }));
        // RDS makes that secret as the caller ("Permissions required for Secrets Manager
        // integration", Aurora User Guide): only through RDS.
        statements.push(json!({
            "Sid": "RDSMAKESSECRET",
            "Effect": "Allow",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
            "Resource": "arn:aws:secretsmanager:*:*:secret:rds!cluster-*",
            "Condition": {"Bool": {"aws:ViaAWSService": "true"}},
        }));
    }
    // An encrypted cluster with an RDS-managed master password: RDS and Secrets Manager use the
    // AWS-managed keys on the caller's behalf (kms:ViaService), and make grants for themselves.
    if wanted("rds") {
        statements.push(json!({
            "Sid": "KMSVIASERVICE",
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "arn:aws:kms:*:*:key/*",
            "Condition": {
                "StringLike": {"kms:ViaService": ["rds.*.amazonaws.com", "secretsmanager.*.amazonaws.com"]},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/aws/rds", "alias/aws/secretsmanager"]},
            },
        }));
    }
    // Runtimes in PUBLIC network mode only: a runtime in VPC mode runs this identity's code
    // inside whatever VPC it names (AgentCore makes the network interfaces as itself).
    if wanted("bedrock-agentcore") {
        statements.push(json!({
            "Sid": "NOVPCRUNTIMES",
            "Effect": "Deny",
            "Action": ["bedrock-agentcore:CreateAgentRuntime", "bedrock-agentcore:UpdateAgentRuntime"],
            "Resource": "*",
            "Condition": {"Null": {"bedrock-agentcore:subnets": "false"}},
        }));
    }
    // (Removing or rewriting the boundary, attaching managed policies, rewriting trust:
    // granted by no statement here, so denied; an explicit Deny would not fit the size.)
    json!({"Version": "2012-10-17", "Statement": merged(statements)})
}

/// Statements that grant on the same resources under the same condition become one (the first's
/// Sid; the listings of every service on `"*"` are one `READ`): IAM counts a policy's size, and
/// a role's inline policies may hold 10,240 characters in all.
fn merged(statements: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for s in statements {
        let same = |o: &&mut Value| {
            o["Effect"] == s["Effect"]
                && o["Resource"] == s["Resource"]
                && o["Condition"] == s["Condition"]
        };
        match out.iter_mut().find(|o| same(o)) {
            Some(o) => {
                let actions = o["Action"].as_array_mut().expect("a list of actions");
                for a in s["Action"].as_array().into_iter().flatten() {
                    if !actions.contains(a) {
                        actions.push(a.clone());
                    }
                }
                if o["Resource"] == "*" && o.get("Condition").is_none() {
                    o["Sid"] = json!("READ");
                }
            }
            None => out.push(s),
        }
    }
    out
}

/// The name of the account's permissions boundary, the managed policy every role of every
/// environment carries (`permissions --boundary` prints it; an administrator creates it once).
pub const BOUNDARY: &str = "agentcore-mt-boundary";

/// Its ARN in `account` (`*`: any).
pub fn boundary_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:policy/{BOUNDARY}")
}

/// The account's permissions boundary: the most any role of any environment may do, whatever
/// its own policy says: what the Knowledge Base and the agents need, each only on its own
/// environment's resources (`${aws:PrincipalTag/agentcore-mt:env}`: the role's env tag, which
/// the deploy policy lets a create set to its own environment only), and nothing of IAM.
pub fn boundary_document() -> Value {
    let env = format!("${{aws:PrincipalTag/{TAG_PREFIX}env}}");
    let own = format!("{PROJECT}-{env}-t?-*");
    // Runtime names hold the environment with `_`: the role's `env-id` tag.
    let under = format!(
        "{}_${{aws:PrincipalTag/{}}}_t?_*",
        PROJECT.replace('-', "_"),
        crate::kinds::iam_role::ENV_ID
    );
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "RUNTIMELOGS", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": format!("arn:aws:logs:*:*:log-group:/aws/bedrock-agentcore/runtimes/{under}")},
        {"Sid": "LISTINGS", "Effect": "Allow", "Action": ["logs:DescribeLogGroups", "xray:GetSamplingRules", "xray:GetSamplingTargets"], "Resource": "*"},
        {"Sid": "TRACES", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
        {"Sid": "METRICS", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": "bedrock-agentcore"}}},
        {"Sid": "MODELS", "Effect": "Allow", "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
         "Resource": ["arn:aws:bedrock:*::foundation-model/*", "arn:aws:bedrock:*:*:inference-profile/*"]},
        {"Sid": "WORKLOADTOKENS", "Effect": "Allow",
         "Action": ["bedrock-agentcore:GetWorkloadAccessToken", "bedrock-agentcore:GetWorkloadAccessTokenForJWT"],
         "Resource": ["arn:aws:bedrock-agentcore:*:*:workload-identity-directory/default", format!("arn:aws:bedrock-agentcore:*:*:workload-identity-directory/default/workload-identity/{under}")]},
        {"Sid": "OWNOBJECTS", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [format!("arn:aws:s3:::{own}"), format!("arn:aws:s3:::{own}/*")]},
        {"Sid": "OWNVECTORS", "Effect": "Allow",
         "Action": ["s3vectors:PutVectors", "s3vectors:GetVectors", "s3vectors:DeleteVectors", "s3vectors:QueryVectors", "s3vectors:GetIndex"],
         "Resource": format!("arn:aws:s3vectors:*:*:bucket/{own}/index/*")},
        {"Sid": "OWNSECRETS", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
         "Resource": format!("arn:aws:secretsmanager:*:*:secret:{PROJECT}/{env}/*")},
        {"Sid": "OWNDATABASE", "Effect": "Allow",
         "Action": ["rds-data:ExecuteStatement", "rds-data:BeginTransaction", "rds-data:CommitTransaction", "rds-data:RollbackTransaction"],
         "Resource": format!("arn:aws:rds:*:*:cluster:{own}")},
        {"Sid": "FUNCTIONLOGS", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": format!("arn:aws:logs:*:*:log-group:/aws/lambda/{own}")},
        // A gateway's role: its tools' functions, its policy engine's decisions.
        {"Sid": "OWNFUNCTIONS", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": [format!("arn:aws:lambda:*:*:function:{own}"), format!("arn:aws:lambda:*:*:function:{own}:*")]},
        {"Sid": "OWNPOLICYENGINES", "Effect": "Allow",
         "Action": ["bedrock-agentcore:GetPolicyEngine", "bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions"],
         "Resource": [format!("arn:aws:bedrock-agentcore:*:*:policy-engine/{under}"), format!("arn:aws:bedrock-agentcore:*:*:gateway/{own}")]},
        // An agent's conversations: events of its environment's memories.
        {"Sid": "OWNMEMORIES", "Effect": "Allow",
         "Action": ["bedrock-agentcore:CreateEvent", "bedrock-agentcore:ListEvents"],
         "Resource": format!("arn:aws:bedrock-agentcore:*:*:memory/{under}")},
        {"Sid": "OWNKNOWLEDGE", "Effect": "Allow", "Action": ["bedrock:Retrieve"],
         "Resource": "arn:aws:bedrock:*:*:knowledge-base/*",
         "Condition": {"StringEquals": {format!("aws:ResourceTag/{TAG_PREFIX}env"): env}}},
    ]})
}

/// What the names of one environment (or of any) look like in ARNs. No environment name has a
/// part `t` + one character or `t` + digits (`check_env_name`), so `agentcore-mt-pr-1-t?-*`
/// names pr-1's resources and no other environment's (`pr-1-tx`, `pr-10` are not names).
struct Names {
    /// `agentcore-mt-<env>-t?-*`, or `agentcore-mt-*`.
    dashed: String,
    /// The same for AgentCore runtime names (no `-`).
    under: String,
    /// `agentcore-mt/<env>/*`, or `agentcore-mt/*`.
    secrets: String,
    /// The ownership tag a resource must carry (`aws:ResourceTag/...`) or a create must set
    /// (`aws:RequestTag/...`): the environment's, or, for any environment, the project's.
    tags: Vec<(String, String)>,
}

impl Names {
    fn of(env: Option<&str>) -> Names {
        match env {
            // (the env tag's key is the project's own, `agentcore-mt:env`: it alone says whose)
            Some(e) => {
                let tags = vec![(format!("{TAG_PREFIX}env"), e.to_string())];
                Names {
                    dashed: format!("{PROJECT}-{e}-t?-*"),
                    under: format!("{PROJECT}-{e}-t?-*").replace('-', "_"),
                    secrets: format!("{PROJECT}/{e}/*"),
                    tags,
                }
            }
            None => Names {
                dashed: format!("{PROJECT}-*"),
                under: format!("{PROJECT}-*").replace('-', "_"),
                secrets: format!("{PROJECT}/*"),
                tags: vec![(format!("{TAG_PREFIX}project"), PROJECT.to_string())],
            },
        }
    }

    /// A role's tags in a create or tag request: the environment's, both ways it is written
    /// (the boundary scopes runtime logs and workload tokens by `env-id`, `pr_1`).
    fn role_tagged(&self) -> Value {
        let mut condition = self.tagged("RequestTag");
        if let Some((_, env)) = self.tags.iter().find(|(k, _)| k.ends_with(":env")) {
            condition["StringEquals"]
                [format!("aws:RequestTag/{}", crate::kinds::iam_role::ENV_ID)] =
                json!(env.replace('-', "_"));
        }
        condition
    }

    fn roles(&self) -> Value {
        json!([format!("arn:aws:iam::*:role/{}", self.dashed)])
    }

    /// `StringEquals` on `aws:<which>/<ownership tag>` for every ownership tag.
    fn tagged(&self, which: &str) -> Value {
        let map: serde_json::Map<String, Value> =
            self.tags.iter().map(|(k, v)| (format!("aws:{which}/{k}"), json!(v))).collect();
        json!({ "StringEquals": map })
    }
}

/// Where and when an action is granted: its resources, its condition, and the suffix of the
/// statement's Sid.
#[derive(Debug, PartialEq)]
struct Grant {
    resource: Value,
    condition: Option<Value>,
    suffix: &'static str,
}

fn is_read(action: &str) -> bool {
    ["Get", "List", "Describe", "Head"].iter().any(|p| action.starts_with(p))
}

/// The grant of one action. By name where we choose names (roles, buckets, secrets, clusters,
/// vector buckets, runtimes, log groups); by the ownership tags (`aws:ResourceTag`, and
/// `aws:RequestTag` on creation) where the service assigns ids and supports them (Cognito, EC2,
/// Bedrock); `"*"` only for reads that name no resource or only expose no secret, and for the
/// calls AWS authorizes on `"*"` alone (listings, the tagging API, DescribeLogGroups).
fn grant(service: &str, action: &str, n: &Names) -> Grant {
    let any = || Grant { resource: json!("*"), condition: None, suffix: "READ" };
    let named = |resource: Value| Grant { resource, condition: None, suffix: "" };
    let tagged =
        |resource: Value| Grant { resource, condition: Some(n.tagged("ResourceTag")), suffix: "" };
    let creating = |resource: Value| Grant {
        resource,
        condition: Some(n.tagged("RequestTag")),
        suffix: "CREATE",
    };
    // Tags change only on what is already the environment's, and only to the environment's: a
    // tag the identity may put on anything would turn anything into "its own" for `tagged`.
    let retagging = |resource: Value| {
        let mut condition = n.tagged("RequestTag");
        for (k, v) in n.tagged("ResourceTag")["StringEquals"].as_object().expect("a map") {
            condition["StringEquals"][k] = v.clone();
        }
        Grant { resource, condition: Some(condition), suffix: "TAG" }
    };
    let d = &n.dashed;
    match service {
        // Roles only under the account's boundary (a role without it, or with another, could be
        // given any permission and trust any account); made with the environment's tags, which
        // the boundary's statements match against.
        "iam" if action == "CreateRole" => {
            let mut condition = n.role_tagged();
            condition["ArnLike"] = json!({"iam:PermissionsBoundary": boundary_arn("*")});
            Grant { resource: n.roles(), condition: Some(condition), suffix: "CREATE" }
        }
        "iam" if ["PutRolePolicy", "DeleteRolePolicy", "PutRolePermissionsBoundary"].contains(&action) => Grant {
            resource: n.roles(),
            condition: Some(json!({"ArnLike": {"iam:PermissionsBoundary": boundary_arn("*")}})),
            suffix: "BOUNDED",
        },
        "iam" if action == "TagRole" => {
            Grant { resource: n.roles(), condition: Some(n.role_tagged()), suffix: "TAG" }
        }
        "iam" if action == "GetPolicy" => Grant { suffix: "BOUNDARY", ..named(json!(boundary_arn("*"))) },
        "iam" => named(n.roles()),
        "s3" => named(json!([format!("arn:aws:s3:::{d}"), format!("arn:aws:s3:::{d}/*")])),
        "secretsmanager" if action == "ListSecrets" => any(),
        "secretsmanager" => named(json!([format!("arn:aws:secretsmanager:*:*:secret:{}", n.secrets)])),
        "rds" if is_read(action) => any(),
        // The Data API's actions in the same statement as RDS's (they apply to the cluster's ARN
        // alone, whatever else the statement lists): the policy must fit the 10,240 characters
        // of a role's inline policies.
        "rds" | "rds-data" => named(json!([
            format!("arn:aws:rds:*:*:cluster:{d}"),
            format!("arn:aws:rds:*:*:db:{d}"),
            format!("arn:aws:rds:*:*:subgrp:{d}"),
            // a protected cluster's final snapshot
            format!("arn:aws:rds:*:*:cluster-snapshot:{d}"),
            "arn:aws:rds:*:*:cluster-pg:default.*",
            "arn:aws:rds:*:*:pg:default.*",
            "arn:aws:rds:*:*:og:default:*",
        ])),
        // The database user names the environment (`agentcore_mt_<env>_t2_admin`): a cluster's
        // resource id is not known before it exists, so the user is what scopes the grant.
        "rds-db" => named(json!([format!("arn:aws:rds-db:*:*:dbuser:*/{}", n.under)])),
        "s3vectors" if action == "ListVectorBuckets" => any(),
        "s3vectors" => named(json!([
            format!("arn:aws:s3vectors:*:*:bucket/{d}"),
            format!("arn:aws:s3vectors:*:*:bucket/{d}/index/*"),
        ])),
        "cognito-idp" if action == "CreateUserPool" => creating(json!("*")),
        // UpdateUserPool carries the pool's tags (UserPoolTags): it retags as TagResource does.
        "cognito-idp" if action == "TagResource" || action == "UpdateUserPool" => {
            retagging(json!("arn:aws:cognito-idp:*:*:userpool/*"))
        }
        "cognito-idp" if action == "ListUserPools" || action == "DescribeUserPool" || action == "ListTagsForResource" => any(),
        "cognito-idp" => tagged(json!("arn:aws:cognito-idp:*:*:userpool/*")),
        "ec2" if is_read(action) => any(),
        // (these actions name only VPCs, subnets and security groups: any EC2 ARN, by condition)
        "ec2" if action == "CreateTags" => Grant {
            resource: json!("arn:aws:ec2:*:*:*"),
            condition: Some({
                let mut c = n.tagged("RequestTag");
                c["StringEquals"]["ec2:CreateAction"] = json!(["CreateVpc", "CreateSubnet", "CreateSecurityGroup"]);
                c
            }),
            suffix: "TAGS",
        },
        "ec2" if action == "CreateVpc" => creating(json!("arn:aws:ec2:*:*:vpc/*")),
        "ec2" if action.starts_with("Create") => {
            creating(json!(["arn:aws:ec2:*:*:subnet/*", "arn:aws:ec2:*:*:security-group/*"]))
        }
        "ec2" => tagged(json!("arn:aws:ec2:*:*:*")),
        "bedrock" if action == "CreateKnowledgeBase" => creating(json!("*")),
        "bedrock" if action == "TagResource" => retagging(json!("arn:aws:bedrock:*:*:knowledge-base/*")),
        "bedrock" if is_read(action) => any(),
        "bedrock" => tagged(json!("arn:aws:bedrock:*:*:knowledge-base/*")),
        "bedrock-agentcore" if action == "CreateAgentRuntime" => creating(json!("*")),
        "bedrock-agentcore" if action == "TagResource" => retagging(json!(format!("arn:aws:bedrock-agentcore:*:*:runtime/{}", n.under))),
        "bedrock-agentcore" if action == "ListAgentRuntimes" => any(),
        "bedrock-agentcore" => named(json!([
            format!("arn:aws:bedrock-agentcore:*:*:runtime/{}", n.under),
            "arn:aws:bedrock-agentcore:*:*:workload-identity-directory/default",
            format!("arn:aws:bedrock-agentcore:*:*:workload-identity-directory/default/workload-identity/{}", n.under),
        ])),
        // Gateway ids are the name, lowercased, and a suffix; engine ids the name and a suffix.
        // Both authorize on "*" alone, with the request's tags as condition keys (Service
        // Authorization Reference, as the pinned IAM data has it).
        "bedrock-agentcore-gateway" if action == "CreateGateway" || action == "CreatePolicyEngine" => {
            creating(json!("*"))
        }
        "bedrock-agentcore-gateway" if action == "ListGateways" || action == "ListPolicyEngines" => any(),
        "bedrock-agentcore-gateway" if action == "TagResource" => retagging(json!([
            format!("arn:aws:bedrock-agentcore:*:*:gateway/{d}"),
            format!("arn:aws:bedrock-agentcore:*:*:policy-engine/{}", n.under),
        ])),
        "bedrock-agentcore-gateway" => named(json!([
            format!("arn:aws:bedrock-agentcore:*:*:gateway/{d}"),
            "arn:aws:bedrock-agentcore:*:*:workload-identity-directory/default",
            format!("arn:aws:bedrock-agentcore:*:*:workload-identity-directory/default/workload-identity/{d}"),
            format!("arn:aws:bedrock-agentcore:*:*:policy-engine/{}", n.under),
            format!("arn:aws:bedrock-agentcore:*:*:policy-engine/{}/policy/*", n.under),
        ])),
        // Memory ids are the name and a suffix; CreateMemory authorizes on "*" alone, with the
        // request's tags as condition keys (the pinned IAM data).
        "bedrock-agentcore-memory" if action == "CreateMemory" => creating(json!("*")),
        "bedrock-agentcore-memory" if action == "ListMemories" => any(),
        "bedrock-agentcore-memory" if action == "TagResource" => {
            retagging(json!(format!("arn:aws:bedrock-agentcore:*:*:memory/{}", n.under)))
        }
        "bedrock-agentcore-memory" => {
            named(json!([format!("arn:aws:bedrock-agentcore:*:*:memory/{}", n.under)]))
        }
        "lambda" => named(json!([format!("arn:aws:lambda:*:*:function:{d}")])),
        "logs" if action == "DescribeLogGroups" => any(),
        "logs" => named(json!([
            format!("arn:aws:logs:*:*:log-group:/aws/bedrock-agentcore/runtimes/{}", n.under),
            format!("arn:aws:logs:*:*:log-group:/aws/lambda/{d}"),
        ])),
        _ => any(),
    }
}

#[cfg(test)]
mod tests {

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
        ("lambda", "lambda"),
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
        // The local cloud's own boundary, made by the role kind there only (on AWS an
        // administrator makes it; the deploy policy denies it).
        ("iam", "create_policy", None),
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
        let src = crate::workspace().join("xtask/src");
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
        &["as_deref", "clone", "as_ref", "to_string", "bucket", "prefix", "display", "credentials"];

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

    /// `"Resource": "*"` only for reads and for the calls AWS authorizes on `"*"` alone, and a
    /// create there only with the environment's tag in the request; under 10,240 characters (a
    /// role's inline policies, all together).
    #[test]
    fn the_policy_splits_into_managed_policies_that_grant_the_same() {
        for env in [Some("pr-1"), None] {
            let policy = super::policy(env, None);
            let parts = super::parts(&policy, super::MANAGED_POLICY_LIMIT).unwrap();
            assert!(
                parts.len() >= 2,
                "{} characters in {} part(s)",
                super::size(&policy),
                parts.len()
            );
            for p in &parts {
                assert!(super::size(p) <= super::MANAGED_POLICY_LIMIT, "{}", super::size(p));
                assert_eq!(p["Version"], "2012-10-17");
            }
            // Together: the same statements, in the same order, each once.
            let together: Vec<&serde_json::Value> =
                parts.iter().flat_map(|p| p["Statement"].as_array().unwrap()).collect();
            let original: Vec<&serde_json::Value> =
                policy["Statement"].as_array().unwrap().iter().collect();
            assert_eq!(together, original);
        }
        // A statement larger than the limit is an error, not a policy AWS would refuse.
        let policy = super::policy(Some("pr-1"), None);
        assert!(super::parts(&policy, 200).unwrap_err().contains("alone is larger than 200"));
    }

    #[test]
    fn nothing_that_changes_anything_is_granted_on_everything() {
        // Wildcard-only actions (Service Authorization Reference), each a create that must carry
        // the environment's tag, or a listing.
        const ONLY_ON_ANY: &[&str] = &[
            "cognito-idp:CreateUserPool",
            "bedrock:CreateKnowledgeBase",
            "bedrock-agentcore:CreateAgentRuntime",
            "bedrock-agentcore:CreateGateway",
            "bedrock-agentcore:CreatePolicyEngine",
            "bedrock-agentcore:CreateMemory",
            "iam:CreateServiceLinkedRole",
        ];
        for env in [Some("pr-1"), None] {
            let policy = super::policy(env, None);
            // Over a role's inline limit since tutorial 4: it is attached as managed policies.
            assert!(super::parts(&policy, super::MANAGED_POLICY_LIMIT).is_ok());
            for s in policy["Statement"].as_array().unwrap() {
                if s["Effect"] != "Allow" || s["Resource"] != "*" {
                    continue;
                }
                for a in s["Action"].as_array().unwrap() {
                    let a = a.as_str().unwrap();
                    let op = a.split(':').nth(1).unwrap();
                    let read = super::is_read(op);
                    assert!(read || ONLY_ON_ANY.contains(&a), "{a} on *: {s}");
                    if !read && a != "iam:CreateServiceLinkedRole" {
                        assert!(s["Condition"].to_string().contains("aws:RequestTag/"), "{a}: {s}");
                    }
                }
            }
        }
    }
}
