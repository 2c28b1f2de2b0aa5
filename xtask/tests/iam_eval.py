"""Evaluates recorded requests against an IAM policy with a real IAM evaluator.

usage: iam_eval.py REQUESTS.jsonl|- POLICY.json --env ENV [--expect Denied --mutating-only]
                   [--attacks OTHER_ENV] [--roles ROLES.json --boundary-doc BOUNDARY.json]

Each recorded request (XTASK_RECORD_REQUESTS) is decoded back into its operation and parameters
(contract.py), then turned into what AWS authorizes: the IAM action, each resource ARN of the
resource types the Service Authorization Reference lists for it ("*" where the action takes
none), and the condition keys AWS supplies (aws:RequestTag/*, aws:TagKeys from the request's
tags; aws:ResourceTag/* of the target: ENV's ownership tags, since the provisioner acts only on
what it owns, which the other tests check; iam:PermissionsBoundary; iam:PassedToService for the
roles a request passes; ec2:CreateAction for tags at creation). Those are evaluated by
@cloud-copilot/iam-simulate (xtask/iam-eval/simulate.mjs, its own process, strict mode: a
condition on a key AWS does not supply does not match).

--attacks OTHER: what a pull request's identity might try on what is not its environment's
(another environment OTHER's, production's), expected Denied, and AWS's findings, expected
Allowed. --roles ROLES.json --boundary-doc B.json: what the Knowledge Base and the agents do
with their roles (inline policy as deployed, under the boundary), and the same on OTHER's.

Prints one JSON object: requests, evaluations, distinct action/resource pairs, decisions, and
every evaluation whose decision is not the expected one (with the statements that nearly
matched), and every Error (an ARN that is no resource type of the action).
"""
import argparse
import json
import os
import subprocess
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contract  # noqa: E402  (the request decoder)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACCOUNT = "000000000000"
REGION = "us-east-1"
SECRET_SUFFIX = "-AbCdEf"  # Secrets Manager appends six random characters to a secret's ARN


def arn(service, resource, region=REGION, account=ACCOUNT):
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def tags_of(params):
    """The tags a request sets, as a dict, wherever the operation carries them."""
    found = {}

    def add(tags):
        if isinstance(tags, dict):
            found.update({k: v for k, v in tags.items() if isinstance(v, str)})
        elif isinstance(tags, list):
            for t in tags:
                if isinstance(t, dict):
                    k, v = t.get("Key", t.get("key")), t.get("Value", t.get("value"))
                    if k is not None:
                        found[k] = v or ""

    for key in ("Tags", "tags", "UserPoolTags"):
        add(params.get(key))
    add((params.get("CreateBucketConfiguration") or {}).get("Tags"))
    add((params.get("Tagging") or {}).get("TagSet"))
    for spec in params.get("TagSpecifications") or []:
        add(spec.get("Tags"))
    return found


def ec2_arn(resource_id):
    kind = {"vpc": "vpc", "subnet": "subnet", "sg": "security-group"}.get(resource_id.split("-")[0], "vpc")
    return arn("ec2", f"{kind}/{resource_id}")


def secret_arn(secret_id):
    return secret_id if secret_id.startswith("arn:") else arn("secretsmanager", f"secret:{secret_id}{SECRET_SUFFIX}")


def s3v_bucket(params):
    if params.get("vectorBucketArn"):
        return params["vectorBucketArn"]
    if params.get("indexArn"):
        return params["indexArn"].split("/index/")[0]
    return arn("s3vectors", f"bucket/{params.get('vectorBucketName')}")


def s3v_index(params):
    if params.get("indexArn"):
        return params["indexArn"]
    return f"{s3v_bucket(params)}/index/{params.get('indexName')}"


def rds_name(params, key, kind):
    value = params.get(key) or ""
    return value if value.startswith("arn:") else arn("rds", f"{kind}:{value}")


def authorizations(service, op, params):
    """[(action, resource ARN, extra context)] that AWS checks for one request ([] for none)."""
    prefix = contract.IAM_PREFIX.get(service) or contract.model(service).metadata.get("signingName") or service
    action = contract.IAM_ACTION.get(f"{prefix}:{op}", f"{prefix}:{op}")
    if action is None:
        return []
    one = lambda *resources: [(action, r, {}) for r in resources]
    p = params
    if service == "cognito-idp":
        if "ResourceArn" in p:
            return one(p["ResourceArn"])
        if "UserPoolId" in p:
            return one(arn("cognito-idp", f"userpool/{p['UserPoolId']}"))
        return one("*")
    if service == "s3":
        bucket = p.get("Bucket")
        if op == "DeleteObjects":
            return one(*[f"arn:aws:s3:::{bucket}/{o['Key']}" for o in (p.get("Delete") or {}).get("Objects", [])])
        if "Key" in p:
            return one(f"arn:aws:s3:::{bucket}/{p['Key']}")
        return one(f"arn:aws:s3:::{bucket}" if bucket else "*")
    if service == "secretsmanager":
        if op == "CreateSecret":
            return one(secret_arn(p["Name"]))
        if "SecretId" in p:
            return one(secret_arn(p["SecretId"]))
        return one("*")
    if service == "ec2":
        if op == "CreateVpc":
            out = one(arn("ec2", "vpc/*"))
        elif op == "CreateSubnet":
            out = one(arn("ec2", "subnet/*"), arn("ec2", f"vpc/{p['VpcId']}"))
        elif op == "CreateSecurityGroup":
            out = one(arn("ec2", "security-group/*"), arn("ec2", f"vpc/{p['VpcId']}"))
        elif op == "CreateTags":
            return one(*[ec2_arn(r) for r in p.get("Resources", [])])
        elif op.startswith("Delete"):
            rid = p.get("VpcId") or p.get("SubnetId") or p.get("GroupId")
            return one(ec2_arn(rid))
        else:
            return one("*")
        # Tags at creation are authorized as ec2:CreateTags on the new resource.
        created = out[0][1]
        return out + [("ec2:CreateTags", created, {"ec2:CreateAction": op})]
    if service == "rds":
        if op in ("ListTagsForResource", "AddTagsToResource", "RemoveTagsFromResource"):
            return one(p["ResourceName"])
        if op == "EnableHttpEndpoint":
            return one(p["ResourceArn"])
        major = (p.get("EngineVersion") or "16").split(".")[0]
        if "DBInstanceIdentifier" in p:
            out = one(rds_name(p, "DBInstanceIdentifier", "db"))
            if op == "CreateDBInstance":
                if p.get("DBClusterIdentifier"):
                    out += one(rds_name(p, "DBClusterIdentifier", "cluster"))
                out += one(arn("rds", f"pg:default.aurora-postgresql{major}"), arn("rds", f"og:default:aurora-postgresql-{major}"))
            return out
        if "DBClusterIdentifier" in p:
            out = one(rds_name(p, "DBClusterIdentifier", "cluster"))
            if op == "CreateDBCluster":
                if p.get("DBSubnetGroupName"):
                    out += one(rds_name(p, "DBSubnetGroupName", "subgrp"))
                out += one(arn("rds", f"cluster-pg:default.aurora-postgresql{major}"), arn("rds", f"og:default:aurora-postgresql-{major}"))
                if p.get("ManageMasterUserPassword"):
                    # RDS makes the master secret as the caller, through itself.
                    out += [("secretsmanager:CreateSecret", arn("secretsmanager", f"secret:rds!cluster-0123{SECRET_SUFFIX}"), {"aws:ViaAWSService": "true", "new": True})]
            if op == "DeleteDBCluster" and p.get("FinalDBSnapshotIdentifier") and not p.get("SkipFinalSnapshot"):
                out += one(arn("rds", f"cluster-snapshot:{p['FinalDBSnapshotIdentifier']}"))
            return out
        if "DBSubnetGroupName" in p:
            return one(rds_name(p, "DBSubnetGroupName", "subgrp"))
        return one("*")
    if service == "rds-data":
        return one(p["resourceArn"])
    if service == "iam":
        if "RoleName" in p:
            return one(f"arn:aws:iam::{ACCOUNT}:role/{p['RoleName']}")
        return one("*")
    if service == "s3vectors":
        if op in ("TagResource", "ListTagsForResource", "UntagResource"):
            return one(p["resourceArn"])
        if op in ("CreateIndex", "GetIndex", "DeleteIndex"):
            return one(s3v_index(p))
        if op == "ListVectorBuckets":
            return one("*")
        return one(s3v_bucket(p))
    if service in ("bedrock-agent", "bedrock-agent-runtime", "bedrock"):
        if "resourceArn" in p:
            return one(p["resourceArn"])
        if "knowledgeBaseId" in p:
            return one(arn("bedrock", f"knowledge-base/{p['knowledgeBaseId']}"))
        out = one("*")
        if op in ("CreateKnowledgeBase", "UpdateKnowledgeBase") and p.get("roleArn"):
            out += [("iam:PassRole", p["roleArn"], {"iam:PassedToService": "bedrock.amazonaws.com"})]
        return out
    if service == "resourcegroupstaggingapi":
        return one("*")
    if service == "logs":
        if op == "DeleteLogGroup":
            return one(arn("logs", f"log-group:{p['logGroupName']}"))
        return one("*")
    if service == "lambda":
        if "Resource" in p:  # TagResource, ListTags
            return one(p["Resource"])
        name = p.get("FunctionName", "")
        function = name if name.startswith("arn:") else arn("lambda", f"function:{name}")
        out = one(function)
        if op in ("CreateFunction", "UpdateFunctionConfiguration") and p.get("Role"):
            out += [("iam:PassRole", p["Role"], {"iam:PassedToService": "lambda.amazonaws.com"})]
        return out
    if service == "bedrock-agentcore-control":
        if "resourceArn" in p:
            return one(p["resourceArn"])
        if "gatewayIdentifier" in p:
            out = one(arn("bedrock-agentcore", f"gateway/{p['gatewayIdentifier']}"))
            if op == "UpdateGateway" and p.get("roleArn"):
                out += [("iam:PassRole", p["roleArn"], {"iam:PassedToService": "bedrock-agentcore.amazonaws.com"})]
            return out
        if "policyEngineId" in p:
            engine = f"policy-engine/{p['policyEngineId']}"
            if "policyId" in p:
                return one(arn("bedrock-agentcore", f"{engine}/policy/{p['policyId']}"), arn("bedrock-agentcore", engine))
            return one(arn("bedrock-agentcore", engine))
        if op == "CreateGateway":
            return one("*") + [("iam:PassRole", p["roleArn"], {"iam:PassedToService": "bedrock-agentcore.amazonaws.com"})]
        if "memoryId" in p:
            return one(arn("bedrock-agentcore", f"memory/{p['memoryId']}"))
        if "agentRuntimeId" in p:
            out = one(arn("bedrock-agentcore", f"runtime/{p['agentRuntimeId']}"))
        elif "name" in p and "Workload" in op:
            return one(arn("bedrock-agentcore", f"workload-identity-directory/default/workload-identity/{p['name']}"))
        else:
            out = one("*")
        if op in ("CreateAgentRuntime", "UpdateAgentRuntime") and p.get("roleArn"):
            out += [("iam:PassRole", p["roleArn"], {"iam:PassedToService": "bedrock-agentcore.amazonaws.com"})]
        if op == "CreateAgentRuntime":
            # The runtime's workload identity, made with it under the caller's permissions.
            name = p.get("agentRuntimeName")
            wi = arn("bedrock-agentcore", f"workload-identity-directory/default/workload-identity/{name}-*")
            out += [("bedrock-agentcore:CreateWorkloadIdentity", wi.replace("-*", "-AbCdEf1234"), {})]
        return out
    return one("*")


# Creates whose first resource ARN is the one being made (the others name its parent: a pool's
# client, a Knowledge Base's data source; or "*" / ".../*").
CREATES_NAMED = {"CreateFunction", "CreateRole", "CreateSecret", "CreateDBCluster", "CreateDBInstance", "CreateDBSubnetGroup", "CreateVectorBucket", "CreateIndex", "CreateBucket"}


def owned_tags(env):
    return {"aws:ResourceTag/agentcore-mt:project": "agentcore-mt", "aws:ResourceTag/agentcore-mt:env": env}


def context_of(action, resource, params, env, boundary, new=False):
    """The condition keys AWS supplies for one authorization. `boundary`: the permissions
    boundary the target role carries (from the requests that set it), if any."""
    ctx = {}
    tags = tags_of(params)
    if tags and not action.endswith(":ListTagsForResource"):
        for k, v in tags.items():
            ctx[f"aws:RequestTag/{k}"] = v
        ctx["aws:TagKeys"] = sorted(tags)
    if resource != "*" and not resource.endswith("/*") and not new:
        if ":secret:rds!" in resource:
            cluster = arn("rds", f"cluster:agentcore-mt-{env}-t2-claims-db")
            ctx["aws:ResourceTag/aws:rds:primaryDBClusterArn"] = cluster
        elif "-locks-" not in resource:
            ctx.update(owned_tags(env))
    if action == "s3:ListBucket" and params.get("Prefix") is not None:
        ctx["s3:prefix"] = params["Prefix"]
    if action.startswith("iam:") and ":role/" in resource:
        pb = params.get("PermissionsBoundary") if action in ("iam:CreateRole", "iam:PutRolePermissionsBoundary") else boundary
        if pb:
            ctx["iam:PermissionsBoundary"] = pb
    return ctx


def evaluations(requests_file, env, boundary):
    """Every authorization the recorded requests need, as simulate.mjs takes them. A role's
    boundary is the one its CreateRole or PutRolePermissionsBoundary request set (`boundary`:
    for roles made before the recording)."""
    out, ops = [], Counter()
    boundaries = {}
    for n, line in enumerate(open(requests_file)):
        request = json.loads(line)
        service = contract.key(request.get("service") or "")
        op, params = contract.operation_of(contract.model(service), request)
        if op is None:
            continue
        ops[f"{service}:{op.name}"] += 1
        params = params or {}
        if op.name in ("CreateRole", "PutRolePermissionsBoundary"):
            boundaries[params.get("RoleName")] = params.get("PermissionsBoundary")
        for i, (action, resource, extra) in enumerate(authorizations(service, op.name, params)):
            # What a create makes has no tags yet (the first resource it names), nor have the
            # account's defaults (parameter and option groups) or the RDS-made secret ours.
            new = (i == 0 and op.name in CREATES_NAMED) or extra.pop("new", False) or ":default" in resource
            ctx = context_of(action, resource, params, env, boundaries.get(params.get("RoleName"), boundary), new)
            ctx.update(extra)
            mutating = not any(op.name.startswith(v) for v in ("Get", "List", "Describe", "Head", "Retrieve"))
            out.append({"id": f"{n}:{service}:{op.name}", "action": action, "resource": resource, "context": ctx, "mutating": mutating})
    return out, ops


def attacks(env, other):
    """What a pull request's identity (ENV's deploy policy) might try on what is not its
    environment's, each expected Denied; and AWS's findings on what it needs, expected Allowed."""
    role = lambda name: f"arn:aws:iam::{ACCOUNT}:role/{name}"
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/agentcore-mt-boundary"
    mine = {"aws:RequestTag/agentcore-mt:project": "agentcore-mt", "aws:RequestTag/agentcore-mt:env": env, "aws:TagKeys": ["agentcore-mt:env", "agentcore-mt:project"]}
    theirs = {"aws:ResourceTag/agentcore-mt:project": "agentcore-mt", "aws:ResourceTag/agentcore-mt:env": other}
    cluster = lambda name: arn("rds", f"cluster:{name}")
    d = "Denied"
    cases = [
        ("a role without the boundary", "iam:CreateRole", role(f"agentcore-mt-{env}-t1-x"), mine, d),
        ("a role under another boundary", "iam:CreateRole", role(f"agentcore-mt-{env}-t1-x"), {**mine, "iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/admin"}, d),
        ("a role tagged as another environment's", "iam:CreateRole", role(f"agentcore-mt-{env}-t1-x"), {**mine, "aws:RequestTag/agentcore-mt:env": other, "iam:PermissionsBoundary": boundary}, d),
        ("a role named for another environment", "iam:CreateRole", role(f"agentcore-mt-{other}-t1-x"), {**mine, "iam:PermissionsBoundary": boundary}, d),
        ("a policy on a role without the boundary", "iam:PutRolePolicy", role(f"agentcore-mt-{env}-t1-x"), {}, d),
        ("the boundary removed", "iam:DeleteRolePermissionsBoundary", role(f"agentcore-mt-{env}-t1-kb-role"), {"iam:PermissionsBoundary": boundary}, d),
        ("the boundary replaced", "iam:PutRolePermissionsBoundary", role(f"agentcore-mt-{env}-t1-kb-role"), {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/admin"}, d),
        ("the boundary rewritten", "iam:CreatePolicyVersion", boundary, {}, d),
        ("an administrator policy attached", "iam:AttachRolePolicy", role(f"agentcore-mt-{env}-t1-kb-role"), {"iam:PermissionsBoundary": boundary, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}, d),
        ("someone else's role made to trust us", "iam:UpdateAssumeRolePolicy", role("customer-admin"), {}, d),
        ("a production pool's password reset", "cognito-idp:AdminSetUserPassword", arn("cognito-idp", "userpool/us-east-1_PRODPOOL"), {}, d),
        ("a user added to another environment's group", "cognito-idp:AdminAddUserToGroup", arn("cognito-idp", "userpool/us-east-1_OTHERPOOL"), theirs, d),
        ("a production pool deleted", "cognito-idp:DeleteUserPool", arn("cognito-idp", "userpool/us-east-1_PRODPOOL"), {}, d),
        ("a production pool tagged as ours (then ours by tag)", "cognito-idp:TagResource", arn("cognito-idp", "userpool/us-east-1_PRODPOOL"), mine, d),
        ("a production Knowledge Base tagged as ours", "bedrock:TagResource", arn("bedrock", "knowledge-base/PRODKB0001"), mine, d),
        ("another environment's runtime tagged as ours", "bedrock-agentcore:TagResource", arn("bedrock-agentcore", f"runtime/agentcore_mt_{other.replace('-', '_')}_t1_policy_agent-AbCdEf1234"), {**mine, **theirs}, d),
        ("a production VPC tagged as ours", "ec2:CreateTags", arn("ec2", "vpc/vpc-0prod"), mine, d),
        ("a production cluster deleted", "rds:DeleteDBCluster", cluster("customer-prod"), {}, d),
        ("another environment's cluster changed", "rds:ModifyDBCluster", cluster(f"agentcore-mt-{other}-t2-claims-db"), theirs, d),
        ("SQL on a production cluster", "rds-data:ExecuteStatement", cluster("customer-prod"), {}, d),
        ("SQL on another environment's cluster", "rds-data:ExecuteStatement", cluster(f"agentcore-mt-{other}-t2-claims-db"), theirs, d),
        ("a production master secret read", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:rds!cluster-prod{SECRET_SUFFIX}"), {"aws:ResourceTag/aws:rds:primaryDBClusterArn": cluster("customer-prod")}, d),
        ("another environment's master secret read", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:rds!cluster-other{SECRET_SUFFIX}"), {"aws:ResourceTag/aws:rds:primaryDBClusterArn": cluster(f"agentcore-mt-{other}-t2-claims-db")}, d),
        ("another environment's tenant-token key read", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:agentcore-mt/{other}/t2/tenant-token-key{SECRET_SUFFIX}"), theirs, d),
        ("retrieval from a production Knowledge Base", "bedrock:Retrieve", arn("bedrock", "knowledge-base/PRODKB0001"), {}, d),
        ("retrieval from another environment's Knowledge Base", "bedrock:Retrieve", arn("bedrock", "knowledge-base/OTHERKB001"), theirs, d),
        ("a production runtime pointed at other code", "bedrock-agentcore:UpdateAgentRuntime", arn("bedrock-agentcore", "runtime/customer_agent-AbCdEf1234"), {}, d),
        ("another environment's runtime pointed at other code", "bedrock-agentcore:UpdateAgentRuntime", arn("bedrock-agentcore", f"runtime/agentcore_mt_{other.replace('-', '_')}_t1_policy_agent-AbCdEf1234"), theirs, d),
        ("a production VPC deleted", "ec2:DeleteVpc", arn("ec2", "vpc/vpc-0prod"), {}, d),
        ("another environment's subnet deleted", "ec2:DeleteSubnet", arn("ec2", "subnet/subnet-0other"), theirs, d),
        ("a production vector bucket deleted", "s3vectors:DeleteVectorBucket", arn("s3vectors", "bucket/customer-vectors"), {}, d),
        ("another environment's documents overwritten", "s3:PutObject", f"arn:aws:s3:::agentcore-mt-{other}-t1-documents-{ACCOUNT}/regular/x.md", {}, d),
        ("another environment's lease broken", "s3:DeleteObject", f"arn:aws:s3:::agentcore-mt-locks-{ACCOUNT}-{REGION}/leases/{other}.json", {}, d),
        ("another environment's deployment record forged", "s3:PutObject", f"arn:aws:s3:::agentcore-mt-locks-{ACCOUNT}-{REGION}/environments/{other}.json", {}, d),
        ("a production log group deleted", "logs:DeleteLogGroup", arn("logs", "log-group:/aws/lambda/customer-prod"), {}, d),
        ("a role passed to EC2", "iam:PassRole", role(f"agentcore-mt-{env}-t1-kb-role"), {"iam:PassedToService": "ec2.amazonaws.com"}, d),
        ("a role whose runtime id is another environment's", "iam:CreateRole", role(f"agentcore-mt-{env}-t1-x"), {**mine, "aws:RequestTag/agentcore-mt:env-id": other.replace("-", "_"), "aws:TagKeys": ["agentcore-mt:env", "agentcore-mt:env-id", "agentcore-mt:project"], "iam:PermissionsBoundary": boundary}, d),
        ("a role retagged with another environment's runtime id", "iam:TagRole", role(f"agentcore-mt-{env}-t1-kb-role"), {**mine, "aws:RequestTag/agentcore-mt:env-id": other.replace("-", "_"), "aws:TagKeys": ["agentcore-mt:env", "agentcore-mt:env-id"]}, d),
        ("a runtime of ours inside a production VPC", "bedrock-agentcore:CreateAgentRuntime", "*", {**mine, "bedrock-agentcore:subnets": ["subnet-0prod"]}, d),
        ("our runtime moved into a production VPC", "bedrock-agentcore:UpdateAgentRuntime", arn("bedrock-agentcore", f"runtime/agentcore_mt_{env.replace('-', '_')}_t1_policy_agent-AbCdEf1234"), {"bedrock-agentcore:subnets": ["subnet-0prod"], "aws:ResourceTag/agentcore-mt:env": env}, d),
        ("our pool's tags rewritten to another environment's", "cognito-idp:UpdateUserPool", arn("cognito-idp", "userpool/us-east-1_OURPOOL"), {"aws:ResourceTag/agentcore-mt:env": env, "aws:RequestTag/agentcore-mt:env": other, "aws:TagKeys": ["agentcore-mt:env"]}, d),
        ("a subnet of ours in a production VPC", "ec2:CreateSubnet", arn("ec2", "vpc/vpc-0prod"), mine, d),
        ("a customer key used through RDS", "kms:Decrypt", arn("kms", "key/9999abcd-12ab-34cd-56ef-1234567890ab"), {"kms:ViaService": f"rds.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT, "kms:ResourceAliases": ["alias/customer-prod"]}, d),
        ("a production cluster's final snapshot", "rds:DeleteDBCluster", arn("rds", "cluster-snapshot:customer-prod-final"), {}, d),
        # AWS's findings: what deploy and destroy need on AWS.
        ("finding 1: DescribeLogGroups, authorized on * only", "logs:DescribeLogGroups", "*", {}, "Allowed"),
        ("finding 2: the runtime identity's service-linked role", "iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/runtime-identity.bedrock-agentcore.amazonaws.com/AWSServiceRoleForBedrockAgentCoreRuntimeIdentity", {"iam:AWSServiceName": "runtime-identity.bedrock-agentcore.amazonaws.com"}, "Allowed"),
        ("finding 3: the AWS-managed key through RDS", "kms:DescribeKey", arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"), {"kms:ViaService": f"rds.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT, "kms:ResourceAliases": ["alias/aws/rds"]}, "Allowed"),
        ("finding 3: a grant through Secrets Manager", "kms:CreateGrant", arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"), {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT, "kms:GrantIsForAWSResource": "true", "kms:ResourceAliases": ["alias/aws/secretsmanager"]}, "Allowed"),
        ("RDS makes the master secret as us", "secretsmanager:CreateSecret", arn("secretsmanager", f"secret:rds!cluster-0123{SECRET_SUFFIX}"), {"aws:ViaAWSService": "true"}, "Allowed"),
        ("a master secret made by hand", "secretsmanager:CreateSecret", arn("secretsmanager", f"secret:rds!cluster-0123{SECRET_SUFFIX}"), {}, d),
        ("finding 3: but no key directly", "kms:Decrypt", arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"), {"kms:CallerAccount": ACCOUNT}, d),
        ("own master secret read", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:rds!cluster-mine{SECRET_SUFFIX}"), {"aws:ResourceTag/aws:rds:primaryDBClusterArn": cluster(f"agentcore-mt-{env}-t2-claims-db")}, "Allowed"),
    ]
    out = [{"id": name, "action": a, "resource": r, "context": c, "expect": e} for name, a, r, c, e in cases]
    for case in out:
        if case["action"].startswith("kms:"):
            customer = "alias/aws/" not in json.dumps(case["context"].get("kms:ResourceAliases", ["alias/aws/"]))
            case["resourcePolicy"] = customer_key_policy() if customer else aws_managed_key_policy()
    return out


def customer_key_policy():
    """A customer-managed key's default policy: the account's IAM policies decide."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}]}


def aws_managed_key_policy():
    """An AWS-managed key's policy (aws/rds, aws/secretsmanager): any principal of the account,
    through the service only (as AWS writes them; KMS needs the key policy to allow)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}, "StringLike": {"kms:ViaService": ["rds.*.amazonaws.com", "secretsmanager.*.amazonaws.com"]}},
    }]}


def role_cases(roles, env, other):
    """What the Knowledge Base and the agents do with their roles (each role's inline policy as
    deployed, under the account's boundary, the role's env tag as its principal tag), expected
    Allowed, and the same on another environment's (or account's) resources, expected Denied."""
    cases = []
    e_, o_ = env.replace("-", "_"), other.replace("-", "_")
    mine_tags = {"aws:ResourceTag/agentcore-mt:project": "agentcore-mt", "aws:ResourceTag/agentcore-mt:env": env}
    theirs = {"aws:ResourceTag/agentcore-mt:project": "agentcore-mt", "aws:ResourceTag/agentcore-mt:env": other}
    for name, policy in roles.items():
        kb = None
        for st in policy.get("Statement", []):
            actions = st.get("Action", [])
            if "bedrock:Retrieve" in (actions if isinstance(actions, list) else [actions]):
                kb = (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])[0]
        case = lambda what, action, resource, ctx, expect: cases.append({"id": f"{name}: {what}", "role": name, "policy": policy, "action": action, "resource": resource, "context": ctx, "expect": expect})
        if name.endswith("-kb-role"):
            docs = f"arn:aws:s3:::agentcore-mt-{env}-t1-documents-{ACCOUNT}"
            case("reads its documents", "s3:GetObject", f"{docs}/regular/auto-insurance.md", {"s3:ResourceAccount": ACCOUNT}, "Allowed")
            case("writes its vectors", "s3vectors:PutVectors", arn("s3vectors", f"bucket/agentcore-mt-{env}-t1-vectors/index/agentcore-mt-{env}-t1-vector-index"), {}, "Allowed")
            case("embeds", "bedrock:InvokeModel", f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0", {}, "Allowed")
            case("reads another environment's documents", "s3:GetObject", f"arn:aws:s3:::agentcore-mt-{other}-t1-documents-{ACCOUNT}/regular/auto-insurance.md", {"s3:ResourceAccount": ACCOUNT}, "Denied")
            case("writes another environment's vectors", "s3vectors:PutVectors", arn("s3vectors", f"bucket/agentcore-mt-{other}-t1-vectors/index/agentcore-mt-{other}-t1-vector-index"), {}, "Denied")
            continue
        if name.endswith("-token-trigger-role"):
            case("writes its logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/lambda/agentcore-mt-{env}-t2-token-trigger:log-stream:x"), {}, "Allowed")
            case("writes another environment's function logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/lambda/agentcore-mt-{other}-t2-token-trigger:log-stream:x"), {}, "Denied")
            case("reads a secret", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:agentcore-mt/{env}/t2/tenant-token-key{SECRET_SUFFIX}"), mine_tags, "Denied")
            continue
        if name.endswith("-tools-role"):
            db = lambda e: "claims-db-express" if e.startswith("pr-") else "claims-db"
            case("writes its logs", "logs:CreateLogStream", arn("logs", f"log-group:/aws/lambda/agentcore-mt-{env}-t4-tools:log-stream:x"), {}, "Allowed")
            case("creates its log group", "logs:CreateLogGroup", arn("logs", f"log-group:/aws/lambda/agentcore-mt-{env}-t4-tools"), {}, "Allowed")
            case("writes the interceptor's logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/lambda/agentcore-mt-{env}-t4-tenant-interceptor:log-stream:x"), {}, "Denied")
            case("runs SQL on its cluster", "rds-data:ExecuteStatement", arn("rds", f"cluster:agentcore-mt-{env}-t2-{db(env)}"), mine_tags, "Allowed")
            case("runs SQL on another environment's", "rds-data:ExecuteStatement", arn("rds", f"cluster:agentcore-mt-{other}-t2-{db(other)}"), theirs, "Denied")
            granted = [r for st in policy.get("Statement", []) if "secretsmanager:GetSecretValue" in (st.get("Action") if isinstance(st.get("Action"), list) else [st.get("Action")]) for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])]
            for secret in ("t2/app-user-login", "t4/tool-key"):
                own = next((r for r in granted if f"/{secret}" in r), arn("secretsmanager", f"secret:agentcore-mt/{env}/{secret}{SECRET_SUFFIX}"))
                case(f"reads {secret}", "secretsmanager:GetSecretValue", own, mine_tags, "Allowed")
                case(f"reads another environment's {secret}", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:agentcore-mt/{other}/{secret}{SECRET_SUFFIX}"), theirs, "Denied")
            # The claims agent's key signs tokens for any user: the tools may not read it.
            case("reads the claims agent's tenant-token key", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:agentcore-mt/{env}/t2/tenant-token-key{SECRET_SUFFIX}"), mine_tags, "Denied")
            case("reads the master secret", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:rds!cluster-0123{SECRET_SUFFIX}"), {}, "Denied")
            continue
        if name.endswith("-interceptor-role"):
            # It reads only the request the gateway gives it: no secret, no database, no function.
            case("writes its logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/lambda/agentcore-mt-{env}-t4-tenant-interceptor:log-stream:x"), {}, "Allowed")
            case("writes another environment's function logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/lambda/agentcore-mt-{other}-t4-tenant-interceptor:log-stream:x"), {}, "Denied")
            case("reads the tools' key", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:agentcore-mt/{env}/t4/tool-key{SECRET_SUFFIX}"), mine_tags, "Denied")
            case("runs SQL", "rds-data:ExecuteStatement", arn("rds", f"cluster:agentcore-mt-{env}-t2-claims-db"), mine_tags, "Denied")
            case("invokes the tools", "lambda:InvokeFunction", arn("lambda", f"function:agentcore-mt-{env}-t4-tools"), {}, "Denied")
            case("writes the tools' logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/lambda/agentcore-mt-{env}-t4-tools:log-stream:x"), {}, "Denied")
            continue
        if name.endswith("-gateway-role"):
            function = lambda e: arn("lambda", f"function:agentcore-mt-{e}-t4-tools")
            interceptor = lambda e: arn("lambda", f"function:agentcore-mt-{e}-t4-tenant-interceptor")
            case("invokes its request interceptor", "lambda:InvokeFunction", interceptor(env), {}, "Allowed")
            case("invokes another environment's interceptor", "lambda:InvokeFunction", interceptor(other), {}, "Denied")
            engine = lambda e: arn("bedrock-agentcore", f"policy-engine/agentcore_mt_{e.replace('-', '_')}_t4_policy_engine-abcdefghij")
            gateway = lambda e: arn("bedrock-agentcore", f"gateway/agentcore-mt-{e}-t4-gateway-abcdefghij")
            case("invokes its tools", "lambda:InvokeFunction", function(env), {}, "Allowed")
            case("asks its policy engine", "bedrock-agentcore:AuthorizeAction", gateway(env), {}, "Allowed")
            case("invokes another environment's tools", "lambda:InvokeFunction", function(other), {}, "Denied")
            case("invokes the token trigger", "lambda:InvokeFunction", arn("lambda", f"function:agentcore-mt-{env}-t2-token-trigger"), {}, "Denied")
            case("asks another environment's policy engine", "bedrock-agentcore:AuthorizeAction", engine(other), {}, "Denied")
            continue
        if name.endswith("-tools-agent-role"):
            runtime = f"agentcore_mt_{e_}_t4_tools_agent-AbCdEf1234"
            granted = [r for st in policy.get("Statement", []) if "bedrock-agentcore:CreateEvent" in (st.get("Action") if isinstance(st.get("Action"), list) else [st.get("Action")]) for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])]
            # The grant names this environment's memory itself, no pattern: the local cloud
            # authorizes data-plane calls on "*", so nothing else would notice a broad one.
            if not granted or any("*" in g or f":memory/agentcore_mt_{e_}_t4_memory-" not in g for g in granted):
                raise SystemExit(f"{name}: its memory grant is not its own memory's ARN: {granted}")
            memory = granted[0]
            case("writes its runtime's logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/bedrock-agentcore/runtimes/{runtime}-DEFAULT:log-stream:x"), {}, "Allowed")
            case("keeps a turn in its memory", "bedrock-agentcore:CreateEvent", memory, {}, "Allowed")
            case("reads its memory's events", "bedrock-agentcore:ListEvents", memory, {}, "Allowed")
            case("keeps a turn in another environment's memory", "bedrock-agentcore:CreateEvent", arn("bedrock-agentcore", f"memory/agentcore_mt_{o_}_t4_memory-abcdefghij"), {}, "Denied")
            case("reads another environment's memory", "bedrock-agentcore:ListEvents", arn("bedrock-agentcore", f"memory/agentcore_mt_{o_}_t4_memory-abcdefghij"), {}, "Denied")
            case("deletes its memory's records", "bedrock-agentcore:BatchDeleteMemoryRecords", memory, {}, "Denied")
            # It reaches the tools only through the gateway, with the caller's token.
            case("invokes the tools directly", "lambda:InvokeFunction", arn("lambda", f"function:agentcore-mt-{env}-t4-tools"), {}, "Denied")
            case("reads the tools' key", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:agentcore-mt/{env}/t4/tool-key{SECRET_SUFFIX}"), mine_tags, "Denied")
            case("runs SQL", "rds-data:ExecuteStatement", arn("rds", f"cluster:agentcore-mt-{env}-t2-claims-db-express"), mine_tags, "Denied")
            case("mints a token for any user id", "bedrock-agentcore:GetWorkloadAccessTokenForUserId", arn("bedrock-agentcore", f"workload-identity-directory/default/workload-identity/{runtime}"), {}, "Denied")
            continue
        agent = "policy_agent" if "policy-agent" in name else "claims_agent"
        t = "t1" if agent == "policy_agent" else "t2"
        runtime = f"agentcore_mt_{e_}_{t}_{agent}-AbCdEf1234"
        case("writes its runtime's logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/bedrock-agentcore/runtimes/{runtime}-DEFAULT:log-stream:x"), {}, "Allowed")
        case("writes tutorial 3's runtime's logs", "logs:CreateLogStream", arn("logs", f"log-group:/aws/bedrock-agentcore/runtimes/agentcore_mt_{e_}_t3_web-AbCdEf1234-DEFAULT:log-stream:x"), {}, "Allowed")
        case("finding 1: lists log groups", "logs:DescribeLogGroups", "*", {}, "Allowed")
        case("reads its package", "s3:GetObject", f"arn:aws:s3:::agentcore-mt-{env}-{t}-agent-code-{ACCOUNT}/agents/agentcore-mt-{env}-{t}-{agent.replace('_', '-')}-package/0123.zip", {"s3:ResourceAccount": ACCOUNT}, "Allowed")
        case("gets a workload token for a verified JWT", "bedrock-agentcore:GetWorkloadAccessTokenForJWT", arn("bedrock-agentcore", f"workload-identity-directory/default/workload-identity/{runtime}"), {}, "Allowed")
        for geo in ("us", "eu", "apac", "global"):
            case(f"finding 4: invokes its model through the {geo} profile", "bedrock:InvokeModel", arn("bedrock", f"inference-profile/{geo}.anthropic.claude-sonnet-4-5-20250929-v1:0"), {}, "Allowed")
        case("finding 6: writes another environment's runtime logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/bedrock-agentcore/runtimes/agentcore_mt_{o_}_{t}_{agent}-AbCdEf1234-DEFAULT:log-stream:x"), {}, "Denied")
        case("finding 6: gets another runtime's workload token", "bedrock-agentcore:GetWorkloadAccessTokenForJWT", arn("bedrock-agentcore", f"workload-identity-directory/default/workload-identity/agentcore_mt_{o_}_{t}_{agent}-AbCdEf1234"), {}, "Denied")
        case("finding 6: reads a same-named bucket in another account", "s3:GetObject", f"arn:aws:s3:::agentcore-mt-{env}-{t}-agent-code-{ACCOUNT}/agents/x.zip", {"s3:ResourceAccount": "111111111111"}, "Denied")
        case("mints a token for any user id", "bedrock-agentcore:GetWorkloadAccessTokenForUserId", arn("bedrock-agentcore", f"workload-identity-directory/default/workload-identity/{runtime}"), {}, "Denied")
        if kb:
            case("retrieves from its Knowledge Base", "bedrock:Retrieve", kb, mine_tags, "Allowed")
            case("retrieves from another environment's", "bedrock:Retrieve", arn("bedrock", "knowledge-base/OTHERKB001"), theirs, "Denied")
        if agent == "claims_agent":
            granted = [r for st in policy.get("Statement", []) if "secretsmanager:GetSecretValue" in (st.get("Action") if isinstance(st.get("Action"), list) else [st.get("Action")]) for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])]
            for secret in ("app-user-login", "tenant-token-key"):
                own = next((r for r in granted if f"/t2/{secret}" in r), arn("secretsmanager", f"secret:agentcore-mt/{env}/t2/{secret}{SECRET_SUFFIX}"))
                case(f"reads {secret}", "secretsmanager:GetSecretValue", own, mine_tags, "Allowed")
                case(f"reads another environment's {secret}", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:agentcore-mt/{other}/t2/{secret}{SECRET_SUFFIX}"), theirs, "Denied")
            case("reads the master secret", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:rds!cluster-0123{SECRET_SUFFIX}"), {}, "Denied")
            # A pull request's cluster is its express one (stacks/02: choices), others' the full one.
            db = lambda e: "claims-db-express" if e.startswith("pr-") else "claims-db"
            case("runs SQL on its cluster", "rds-data:ExecuteStatement", arn("rds", f"cluster:agentcore-mt-{env}-t2-{db(env)}"), mine_tags, "Allowed")
            case("runs SQL on another environment's", "rds-data:ExecuteStatement", arn("rds", f"cluster:agentcore-mt-{other}-t2-{db(other)}"), theirs, "Denied")
    # A role whose own policy allows everything (a pull request's code can write any inline
    # policy) is still held by the boundary.
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for what, action, resource, ctx in [
        ("makes a role", "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/anything", {}),
        ("reads another environment's secret", "secretsmanager:GetSecretValue", arn("secretsmanager", f"secret:agentcore-mt/{other}/t2/tenant-token-key{SECRET_SUFFIX}"), theirs),
        ("reads another environment's documents", "s3:GetObject", f"arn:aws:s3:::agentcore-mt-{other}-t1-documents-{ACCOUNT}/x", {}),
        ("retrieves from another environment's Knowledge Base", "bedrock:Retrieve", arn("bedrock", "knowledge-base/OTHERKB001"), theirs),
        ("deletes a production cluster", "rds:DeleteDBCluster", arn("rds", "cluster:customer-prod"), {}),
        ("writes another environment's runtime logs", "logs:PutLogEvents", arn("logs", f"log-group:/aws/bedrock-agentcore/runtimes/agentcore_mt_{o_}_t1_policy_agent-AbCdEf1234-DEFAULT:log-stream:x"), {}),
        ("gets another environment's workload token", "bedrock-agentcore:GetWorkloadAccessTokenForJWT", arn("bedrock-agentcore", f"workload-identity-directory/default/workload-identity/agentcore_mt_{o_}_t1_policy_agent-AbCdEf1234"), {}),
        ("puts metrics in another namespace", "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Billing"}),
        ("subscribes to a Marketplace product", "aws-marketplace:Subscribe", "*", {}),
    ]:
        cases.append({"id": f"a role allowed everything under the boundary {what}", "role": f"agentcore-mt-{env}-t1-x", "policy": everything, "action": action, "resource": resource, "context": ctx, "expect": "Denied"})
    return cases


def simulate(lines, policy, boundary_doc=None, env=None):
    def request(l):
        if "role" in l:  # the role's own policy, under the boundary, tagged with its env
            ctx = {**l["context"], "aws:PrincipalTag/agentcore-mt:env": env, "aws:PrincipalTag/agentcore-mt:env-id": env.replace("-", "_"), "aws:PrincipalTag/agentcore-mt:project": "agentcore-mt"}
            return {"id": l["id"], "action": l["action"], "resource": l["resource"], "context": ctx, "policy": l["policy"], "permissionsBoundary": boundary_doc, "principal": f"arn:aws:iam::{ACCOUNT}:role/{l['role']}"}
        out = {"id": l["id"], "action": l["action"], "resource": l["resource"], "context": l["context"], "policy": policy, "principal": f"arn:aws:iam::{ACCOUNT}:role/agentcore-mt-deployer"}
        if "resourcePolicy" in l:
            out["resourcePolicy"] = l["resourcePolicy"]
        return out
    here = os.path.join(ROOT, "xtask/iam-eval")
    if not os.path.exists(os.path.join(here, "node_modules/@cloud-copilot/iam-simulate")):
        # First use on this checkout: the pinned evaluator (package-lock.json), as .ci/run does.
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=here, check=True, stdout=sys.stderr)
    node = subprocess.run(
        ["node", os.path.join(ROOT, "xtask/iam-eval/simulate.mjs")],
        input="".join(json.dumps(request(l)) + "\n" for l in lines),
        capture_output=True, text=True, check=True, cwd=os.path.join(ROOT, "xtask/iam-eval"),
    )
    return [json.loads(l) for l in node.stdout.splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("requests")
    ap.add_argument("policy")
    ap.add_argument("--env", required=True, help="whose resources the requests act on (their tags)")
    ap.add_argument("--boundary", default=None, help="the permissions boundary the roles carry")
    ap.add_argument("--expect", default="Allowed", choices=["Allowed", "Denied"], help="for the recorded requests")
    ap.add_argument("--mutating-only", action="store_true")
    ap.add_argument("--attacks", metavar="OTHER_ENV", default=None, help="add the attack and finding cases (another environment's name)")
    ap.add_argument("--roles", default=None, help="ROLES.json: the environment's roles' inline policies, by name")
    ap.add_argument("--boundary-doc", default=None, help="the account's permissions boundary document")
    a = ap.parse_args()
    policy = json.load(open(a.policy))
    lines, ops = evaluations(a.requests, a.env, a.boundary) if a.requests != "-" else ([], Counter())
    if a.mutating_only:
        lines = [l for l in lines if l["mutating"]]
    for l in lines:
        l["expect"] = a.expect
        l.pop("mutating", None)
    if a.attacks:
        lines += attacks(a.env, a.attacks)
    boundary_doc = json.load(open(a.boundary_doc)) if a.boundary_doc else None
    if a.roles:
        lines += role_cases(json.load(open(a.roles)), a.env, a.attacks or "other")
    results = simulate(lines, policy, boundary_doc, a.env)
    decisions = Counter(r["decision"] for r in results)
    wrong, errors = [], []
    # A request is allowed only if every authorization it needs is (each resource type, each
    # role it passes): expected allowed, each must be; expected denied, one must be.
    by_request = {}
    for l, r in zip(lines, results):
        by_request.setdefault(l["id"], []).append((l, r))
        if r["decision"] == "Error":
            errors.append({"id": l["id"], "action": l["action"], "resource": l["resource"], "errors": r.get("errors")})
    for rid, pairs in by_request.items():
        expect = pairs[0][0]["expect"]
        allowed = all(r["decision"] == "Allowed" for _, r in pairs)
        if (expect == "Allowed") != allowed:
            show = [(l, r) for l, r in pairs if (r["decision"] == "Allowed") != (expect == "Allowed")]
            for l, r in show or pairs:
                wrong.append({"id": rid, "action": l["action"], "resource": l["resource"], "decision": r["decision"], "matched": r.get("matched"), "near_misses": r.get("nearMisses"), "context": l["context"]})
    print(json.dumps({
        "requests": sum(ops.values()),
        "operations": len(ops),
        "evaluations": len(lines),
        "checked": len(by_request),
        "pairs": len({(l["action"], l["resource"]) for l in lines}),
        "decisions": dict(decisions),
        "unexpected": wrong,
        "errors": errors,
    }, indent=1))


if __name__ == "__main__":
    main()
